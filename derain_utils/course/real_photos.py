"""The course's models on real photos, beside doing nothing.

Every pair of each folder of real pairs that is present (the real test images kept
outside the repository, or any folder a reader names) is restored at full resolution and
scored under every protocol. The course trains on rendered drops only and chose nothing
on these pairs, so they say how far what it learnt carries to real lenses.
"""

from __future__ import annotations

from ..evaluation.analysis import present_folders
from ..evaluation.metrics import PROTOCOLS
from ..evaluation.scoring import evaluate
from ..evaluation.trained import load_trained
from .runs import ExperimentRun

NOTHING = "nothing"  # the rainy photo returned unchanged


def score_runs(runs: dict[str, ExperimentRun], folders: str, device: str = "auto") -> dict[str, dict]:
    """For each folder present (comma-separated, as a notebook parameter): its number of
    pairs and, for doing nothing and every run, mean PSNR and SSIM under every protocol."""
    scored = {}
    for label, path in present_folders(folders).items():
        scores = {}
        for name, run in runs.items():
            result = evaluate(path, trained=load_trained(run.folder, device), progress=False)
            if not scores:
                scores[NOTHING] = _means(result["mean"], "input")
            scores[name] = _means(result["mean"], "model")
        scored[label] = {"pairs": result["pairs"], "scores": scores}
    return scored


def _means(mean: dict, who: str) -> dict[str, dict[str, float]]:
    return {p: {"psnr": mean[f"{who}_psnr_{p}"], "ssim": mean[f"{who}_ssim_{p}"]} for p in PROTOCOLS}


def real_table(real: dict[str, dict], names: dict[str, str], protocol: str = "rgb") -> str:
    """Markdown: one row per method (names: run key -> label, doing nothing first), one
    PSNR / SSIM column per folder, under one protocol."""
    if not real:
        return ""
    folders = list(real)
    header = "| method | " + " | ".join(f"{f} ({real[f]['pairs']} pairs): PSNR / SSIM" for f in folders) + " |"
    lines = [header, "| --- |" + " ---: |" * len(folders)]
    for key, label in {NOTHING: "Doing nothing (rainy input)", **names}.items():
        cells = []
        for f in folders:
            s = real[f]["scores"].get(key)
            cells.append("-" if s is None else f"{s[protocol]['psnr']:.2f} dB / {s[protocol]['ssim']:.3f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
