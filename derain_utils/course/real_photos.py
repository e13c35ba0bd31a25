"""Models on real photos, beside doing nothing: the course's runs (the discussion) and
the shipped model (the chapter on real photos).

Every pair of each folder of real pairs that is present (the real test images kept
outside the repository, or any folder a reader names) is restored at full resolution and
scored under every protocol. The course trains on rendered drops only and chose nothing
on these pairs, so they say how far what it learnt carries to real lenses. Where no real
pairs are at hand, the embedded test photos with rendered drops stand in for them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.images import read_rgb
from ..data.lensdrops import drop_style
from ..data.pairs import find_pairs
from ..data.photos import embedded_photos
from ..data.synthetic import rendered_photos
from ..evaluation.analysis import change_map, difference_map, luminance, present_folders
from ..evaluation.chain import as_chain
from ..evaluation.metrics import PROTOCOLS, psnr
from ..evaluation.prediction import collect_inputs
from ..evaluation.scoring import VALIDATION, evaluate, score_pairs
from ..evaluation.shipped import shipped_model
from ..evaluation.trained import Trained, load_trained
from ..paths import project_path
from ..presets import DEFAULT_DROP_STYLE
from .runs import ExperimentRun

NOTHING = "nothing"  # the rainy photo returned unchanged
RENDERED = f"test photos, {DEFAULT_DROP_STYLE} drops"  # the stand-in for real pairs: whole embedded test photos
SHEET_PHOTOS = 8  # photos on the sheet of unpaired photos
MOVED_LEVELS = 10  # a pixel has moved when one of its channels changes by more than this


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


def load_model(model: str = "", device: str = "auto") -> Trained:
    """A model file or run folder (resolved from the project root); empty: the shipped model."""
    return load_trained(project_path(model) if model else shipped_model(), device)


def rendered_pairs(seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The stand-in for real pairs: the embedded test photos, whole, with the default drops."""
    return rendered_photos("test", seed=seed, style=drop_style(DEFAULT_DROP_STYLE))


def score_model(trained: Trained, folders: str, seed: int = 0) -> dict[str, dict]:
    """For the rendered test photos and each folder of real pairs present: its number of
    pairs, mean PSNR and SSIM of doing nothing and of the model under every protocol, and
    every pair's restoration gain (RGB PSNR of the output minus that of the input), and
    the drops it made worse (analysis.worse_drops). A folder the model trained on is
    scored on its held-out frames only."""
    rendered = rendered_pairs(seed)
    results = {RENDERED: score_pairs(rendered, len(rendered), trained, progress=False)}
    for label, path in present_folders(folders).items():
        if label == trained_on(trained):
            label = f"{label}, held-out frames"
        results[label] = evaluate(path, VALIDATION if label.endswith("held-out frames") else None, trained, progress=False)
    return {label: {"pairs": r["pairs"], "scores": {NOTHING: _means(r["mean"], "input"), "model": _means(r["mean"], "model")},
                    "gains": {row["name"]: row["model_psnr_rgb"] - row["input_psnr_rgb"] for row in r["images"]},
                    "drops": r["drops"]}
            for label, r in results.items()}


def trained_on(trained: Trained) -> str:
    """The name of the folder of real pairs the model trained on ('' if none)."""
    return Path(trained.config.real_pairs).name if trained.config.real_pairs else ""


def protocol_table(scored: dict[str, dict]) -> str:
    """Markdown: one row per set and protocol, doing nothing beside the model and the gain,
    and on each set's first row the drops the model made worse, which no protocol changes."""
    lines = ["| pairs | protocol | doing nothing: PSNR / SSIM | model: PSNR / SSIM | gain (dB) | drops made worse: of their area |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for label, r in scored.items():
        for i, p in enumerate(PROTOCOLS):
            nothing, model = r["scores"][NOTHING][p], r["scores"]["model"][p]
            lines.append(f"| {label} ({r['pairs']}) | {p} | {nothing['psnr']:.2f} dB / {nothing['ssim']:.3f} | "
                         f"{model['psnr']:.2f} dB / {model['ssim']:.3f} | {model['psnr'] - nothing['psnr']:+.2f} | "
                         f"{_worse(r.get('drops')) if i == 0 else ''} |")
    return "\n".join(lines)


def _worse(drops: dict | None) -> str:
    """'312 of 1555: 3.7%' (drops made worse, of all drops: their share of the drops' area)."""
    if not drops or not drops["drops"]:
        return "-"
    return f"{drops['drops_worse']} of {drops['drops']}: {100 * drops['drop_area_worse'] / drops['drop_area']:.1f}%"


def picked_pairs(trained: Trained, folders: str, scored: dict, seed: int = 0) -> tuple[list, list[str]]:
    """Rows (rainy, output, clean) for a sheet: of each set scored (score_model's result),
    the pair where the model gains least and the one where it gains most."""
    loaders = {RENDERED: {name: (lambda pair=(rain, clean): pair) for name, rain, clean in rendered_pairs(seed)}}
    for label, path in present_folders(folders).items():
        key = f"{label}, held-out frames" if label == trained_on(trained) else label
        loaders[key] = {pair.rain.name: pair.load for pair in find_pairs(path)}
    rows, names = [], []
    for label, gains in ((label, r["gains"]) for label, r in scored.items()):
        for name in dict.fromkeys((min(gains, key=gains.get), max(gains, key=gains.get))):
            rain, clean = loaders[label][name]()
            rows.append((rain, restore_photo(trained, rain), clean))
            names.append(f"{label.split(',')[0]}\n{name}\n{gains[name]:+.2f} dB")
    return rows, names


def restore_photo(trained: Trained, image: np.ndarray) -> np.ndarray:
    """The model's output for one photo, at the model's own scales and flips."""
    return as_chain(trained, trained.scales).restore(image)


def unpaired_photos(folder: str, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """Rainy photos without a clean twin: the first SHEET_PHOTOS of `folder` (from the
    project root) when it is present, else the rendered test photos."""
    path = project_path(folder) if folder else None
    if path is None or not path.is_dir():
        print(f"no photos at {folder}: the sheet shows the test photos with rendered drops" if folder
              else "no PHOTOS folder given: the sheet shows the test photos with rendered drops")
        return [(name, rain) for name, rain, _ in rendered_pairs(seed)]
    return [(f.name, read_rgb(f)) for f in collect_inputs([path])[:SHEET_PHOTOS]]


def unpaired_rows(trained: Trained, folder: str, seed: int = 0) -> tuple[list, list[str], dict[str, float]]:
    """Rows (photo, derained) of the unpaired photos (unpaired_photos), their labels, and
    each photo's brightness shift."""
    rows, shifts = [], {}
    for name, photo in unpaired_photos(folder, seed):
        output = restore_photo(trained, photo)
        rows.append((photo, output))
        shifts[name] = brightness_shift(photo, output)
    return rows, [f"{name}\n{shift:+.1f} grey levels" for name, shift in shifts.items()], shifts


def brightness_shift(photo: np.ndarray, output: np.ndarray) -> float:
    """Mean luminance of the output minus that of the photo, in grey levels: a model that
    only removes bright drops lowers it a little; one that darkens the scene, a lot."""
    return float(luminance(output).mean() - luminance(photo).mean())


def drop_free_scores(trained: Trained) -> dict[str, dict[str, float]]:
    """The embedded test photos without a single drop, through the model, which should
    hand them back unchanged: PSNR against the photo itself, the brightness shift, and the
    share of pixels moved by more than MOVED_LEVELS grey levels. A model that repaints
    what merely looks like a drop (a defocused highlight, bright fur) shows it here."""
    scores = {}
    for photo in embedded_photos("test"):
        output = restore_photo(trained, photo.pixels)
        scores[photo.name] = {"psnr": psnr(output, photo.pixels), "brightness_shift": brightness_shift(photo.pixels, output),
                              "moved": float((change_map(output, photo.pixels) > MOVED_LEVELS).mean())}
    return scores


def drop_free_table(scores: dict[str, dict[str, float]]) -> str:
    """Markdown: one row per drop-free photo (drop_free_scores)."""
    lines = [f"| photo, no drops | PSNR against itself | brightness shift | pixels moved > {MOVED_LEVELS} levels |",
             "| --- | ---: | ---: | ---: |"]
    lines += [f"| {name} | {s['psnr']:.2f} dB | {s['brightness_shift']:+.1f} | {s['moved']:.1%} |" for name, s in scores.items()]
    return "\n".join(lines)


def drop_rows(samples: dict[str, list], per_set: int = 2) -> tuple[list, list[str]]:
    """Rows (rainy, clean, |rainy - clean| x4) of the first crops of each set of
    analysis.real_and_rendered, with their labels."""
    rows, names = [], []
    for label, sample in samples.items():
        for name, rain, clean in sample[:per_set]:
            rows.append((rain, clean, difference_map(rain, clean)))
            names.append(f"{label}: {name}")
    return rows, names
