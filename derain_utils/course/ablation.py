"""The report's future work as an ablation of experiment 4.

Each row changes one idea of the ``attentive`` experiment, and every row trains for the
same number of epochs, so its numbers say what that idea is worth here. The choice of the
default is made on the validation photo; the test photos are scored for the record.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..presets import TrainConfig
from ..training.trainer import ensure_trained, is_finished
from .runs import ExperimentRun

# Row name -> (what it changes, the configuration change). Dict values merge into the
# default's options.
ROWS = {
    "default": ("experiment 4 as it is", {}),
    "no augmentation": ("no colour jitter, channel shuffle or vertical flips", {"augment": False}),
    "no mask supervision": ("the mask is learnt only through the output (no BCE on it)", {"mask_weight": 0.0}),
    "no blending": ("output = rainy + correction, the mask only an auxiliary task", {"generator_options": {"blend": False}}),
    "fresh drops": ("new drops on new crops every epoch instead of one fixed set", {"fresh_drops": True}),
    "plain L1": ("drop pixels weigh as much as the others", {"drop_weight": 0.0}),
    "D sees the mask": ("the PatchGAN sees (rainy, image, drop mask)", {"discriminator_options": {"mask_channels": 1}}),
    "no adversarial term": ("no discriminator: L1 and mask losses only", {"adv_weight": 0.0}),
    "pix2pix's adversarial weight": ("adversarial term 1/100 of L1 instead of 1/1000", {"adv_weight": 1.0}),
    "contrastive": ("plus contrastive regularisation in D's features", {"contrast_weight": 1.0}),
}


# The rows a reproduction trains: the default and the three ideas chapter 5's reading rests
# on, augmentation (the only row apart from the default on the validation photo in the
# full table on lens drops, docs/journal.md) and the mask's supervision and blending, the
# two ideas the chapter is built on. `derain ablate` and `make ablation` train every row;
# chapter 5 then shows the full table.
SHORT_ROWS = ("default", "no augmentation", "no mask supervision", "no blending")


def ablation_rows(default: TrainConfig, folder: Path) -> dict:
    """Every row when all of them are finished in `folder` (trained by `derain ablate`),
    else the short ablation's."""
    if all(is_finished(row_config(default, change), Path(folder) / slug(name)) for name, (_, change) in ROWS.items()):
        return ROWS
    return {name: row for name, row in ROWS.items() if name in SHORT_ROWS}


def row_config(default: TrainConfig, change: dict) -> TrainConfig:
    """The default configuration with one row's change; dict values are merged."""
    merged = {k: {**getattr(default, k), **v} if isinstance(v, dict) else v for k, v in change.items()}
    return replace(default, **merged)


def slug(name: str) -> str:
    return name.replace(" ", "_")


def run_ablation(default: TrainConfig, folder: Path, epochs: int = 0, device: str = "auto", progress: bool = True,
                 rows: dict = ROWS) -> list[dict]:
    """Train (or reuse) every row into folder/<row>, each for `epochs` (0: the default's
    number); returns one result per row: validation and test scores, with doing nothing's."""
    if epochs:
        default = replace(default, epochs=epochs)
    results = []
    for name, (description, change) in rows.items():
        print(f"ablation row {name!r}: {description}")
        run_dir = Path(folder) / slug(name)
        ensure_trained(row_config(default, change), run_dir, device, progress)
        summary = ExperimentRun.load(run_dir, device).summary()
        results.append({"row": name, "change": description, **{k: summary.get(k) for k in (
            "epochs", "train_seconds", "psnr", "ssim", "input_psnr", "input_ssim",
            "test_psnr", "test_ssim", "test_input_psnr", "test_input_ssim")}})
    return results


def ablation_table(results: list[dict]) -> str:
    """The ablation as Markdown: each row's gain over doing nothing, validation and test."""
    first = results[0]
    has_test = first.get("test_psnr") is not None
    head = "| row | what changes | val PSNR | gain | val SSIM |" + (" test PSNR | gain | test SSIM |" if has_test else "") + " time |"
    lines = [head, "| --- | --- |" + " ---: |" * (head.count("|") - 3)]
    lines.append(f"| doing nothing | the rainy input | {first['input_psnr']:.2f} | - | {first['input_ssim']:.3f} |"
                 + (f" {first['test_input_psnr']:.2f} | - | {first['test_input_ssim']:.3f} |" if has_test else "") + " - |")
    for r in results:
        line = f"| {r['row']} | {r['change']} | {r['psnr']:.2f} | {r['psnr'] - r['input_psnr']:+.2f} | {r['ssim']:.3f} |"
        if has_test:
            line += f" {r['test_psnr']:.2f} | {r['test_psnr'] - r['test_input_psnr']:+.2f} | {r['test_ssim']:.3f} |"
        lines.append(line + f" {r['train_seconds'] / 60:.1f} min |")
    return "\n".join(lines)
