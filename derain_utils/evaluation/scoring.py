"""Full-resolution evaluation on real pairs, comparable with published tables.

Images are never resized: the generator pads each image to the size it needs and crops
its output back (large ones go through overlapping tiles). Every number is stored with
its protocol's name, next to the score of doing nothing on the same image.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Iterable

import numpy as np
from tqdm import tqdm

from ..data.pairs import find_pairs
from ..data.training_data import folder_split_pairs
from ..training.checkpoints import atomic_write_bytes
from .analysis import STRONG_THRESHOLD, worse_drops
from .chain import Chain, as_chain, passes_text
from .metrics import PROTOCOLS, psnr, ssim
from .trained import Trained

VALIDATION = "val"
DROP_COUNTS = ("drops", "drops_worse", "drop_area", "drop_area_worse")  # analysis.worse_drops, summed over the images


def evaluate(data: str | Path, split: str | None = None, trained: Trained | Chain | None = None, protocols=PROTOCOLS,
             crop: int = 0, tile: int = 1024, scales: tuple[float, ...] = (1.0,), progress: bool = True) -> dict:
    """Per-image and mean PSNR/SSIM of the model or chain of models (when given) and of
    doing nothing. split 'val' means the pairs that `derain train --data` held out for
    validation; scales, the passes of a single model (inference.restore_at_scales)."""
    pairs = folder_split_pairs(str(data))[1] if split == VALIDATION else find_pairs(data, split)
    loaded = ((pair.rain.name, *pair.load()) for pair in pairs)
    result = score_pairs(loaded, len(pairs), trained, protocols, crop, tile, scales, progress)
    return {"data": str(data), "split": split or "all", **result}


def score_pairs(pairs: Iterable[tuple[str, np.ndarray, np.ndarray]], count: int, trained: Trained | Chain | None = None,
                protocols=PROTOCOLS, crop: int = 0, tile: int = 1024, scales: tuple[float, ...] = (1.0,),
                progress: bool = True) -> dict:
    """`evaluate` for (name, rainy, clean) arrays in memory, such as rendered pairs; count:
    how many there are, for the progress bar."""
    chain = None if trained is None else as_chain(trained, scales)
    rows = []
    for name, rain, clean in tqdm(pairs, total=count, desc="evaluating", unit="image", disable=not progress):
        row = {"name": name, "width": rain.shape[1], "height": rain.shape[0]}
        outputs = {"input": rain}
        if chain is not None:
            outputs["model"] = chain.restore(rain, tile=tile)
            row.update(worse_drops(rain, outputs["model"], clean))
        for who, image in outputs.items():
            for protocol in protocols:
                row[f"{who}_psnr_{protocol}"] = psnr(image, clean, protocol, crop)
                row[f"{who}_ssim_{protocol}"] = ssim(image, clean, protocol, crop)
        rows.append(row)
    if not rows:
        raise ValueError("no pairs to score")
    numeric = [k for k in rows[0] if k.startswith(("input_", "model_"))]
    return {
        "pairs": len(rows), "protocols": list(protocols), "border_crop": crop,
        "checkpoint": None if chain is None else chain.describe(), "scales": None if chain is None else chain.scales,
        "mean": {k: float(np.mean([r[k] for r in rows])) for k in numeric},
        "drops": None if chain is None else {k: sum(r[k] for r in rows) for k in DROP_COUNTS},
        "images": rows,
    }



def evaluation_paths(out: str | Path) -> list[Path]:
    """The files write_evaluation writes."""
    return [Path(out).with_suffix(".json"), Path(out).with_suffix(".csv")]


def write_evaluation(result: dict, out: str | Path) -> list[Path]:
    """out.json (everything) and out.csv (one row per image)."""
    json_path, csv_path = evaluation_paths(out)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(json_path, (json.dumps(result, indent=1, allow_nan=False) + "\n").encode())
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(result["images"][0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(result["images"])
    atomic_write_bytes(csv_path, text.getvalue().encode())
    return [json_path, csv_path]


def summary_lines(result: dict) -> list[str]:
    """A small table: for each protocol, the model's and doing nothing's mean PSNR/SSIM."""
    passes = passes_text(result["scales"]) if result.get("scales") else ""
    lines = [f"{result['data']} ({result['split']}, {result['pairs']} pairs, full resolution"
             + (f", border crop {result['border_crop']}" if result["border_crop"] else "")
             + (f", {passes}" if passes else "") + ")"]
    for protocol in result["protocols"]:
        m = result["mean"]
        parts = [f"doing nothing {m[f'input_psnr_{protocol}']:.2f} dB / {m[f'input_ssim_{protocol}']:.4f}"]
        if f"model_psnr_{protocol}" in m:
            parts.insert(0, f"model {m[f'model_psnr_{protocol}']:.2f} dB / {m[f'model_ssim_{protocol}']:.4f}")
        lines.append(f"  {protocol:<10} PSNR / SSIM: " + ", ".join(parts))
    drops = result.get("drops")
    if drops and drops["drops"]:
        lines.append(f"  drops (regions where rainy and clean differ by more than {STRONG_THRESHOLD} grey levels): {drops['drops']}; "
                     f"the model made {drops['drops_worse']} worse ({100 * drops['drops_worse'] / drops['drops']:.1f}%, "
                     f"{100 * drops['drop_area_worse'] / drops['drop_area']:.1f}% of their area)")
    return lines
