"""Synthetic rainy/clean pairs: random crops of clean photos with rendered lens drops.

Sample ``i`` of a stream depends only on (seed, stream, i), or (seed, stream, epoch, i)
for the fresh drops of one training epoch, so a dataset is the same whatever the batch
size, and its first k pairs are the pairs of a smaller dataset.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from tqdm import tqdm

from .. import __version__
from .augmentation import JITTER, jitter_colours
from .images import write_png
from .lensdrops import DropStyle, render_drops
from .photos import Photo, clean_photos, embedded_photos, random_crop

MANIFEST = "synth.json"
# Folder written for each photo split; Raindrop has no validation folder, and the val
# photos stay reserved for validation during training.
OUTPUT_SPLITS = {"train": "train", "test": "test_a"}
_STREAM = {"train": 1, "val": 2, "test": 3}
_FRESH = 4  # the stream of training pairs rendered anew each epoch
_WHOLE = 5  # drops on whole photos (rendered_photos)
_DROP_FREE = 6  # crops left without drops (drop_free_pairs)

def augment_crop(crop: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Colour jitter, a random order of the colour channels and, half of the time, a
    vertical flip of a clean crop before the drops are rendered on it, so the drops stay
    physically right: they still hang down and show the changed scene. random_crop
    already flips left-right. A drop looks the same whatever the scene's hue, but six
    training photos have few hues: without the shuffled channels the mask found half the
    drops' pixels on the red-brown validation photo (IoU 0.20 against 0.39)."""
    crop = jitter_colours([crop], rng.uniform(*JITTER, 3).tolist())[0]
    crop = crop[rng.permutation(3)]
    return crop.flip(-2) if rng.random() < 0.5 else crop


def render_pairs(
    photos: Sequence[Photo],
    n: int,
    size: int,
    seed: int,
    stream: str = "train",
    style: DropStyle = DropStyle(),
    batch: int = 32,
    progress: bool = False,
    epoch: int | None = None,
    augment: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield n (rainy, clean, mask) uint8 arrays of shape (size, size, 3|3|1).

    epoch: render the fresh training pairs of that epoch (a stream of their own);
    augment: colour-jitter, channel-shuffle and flip each clean crop before the drops go on."""
    if not photos:
        raise ValueError("no clean photos to render drops on")
    if n < 0 or size < 16:
        raise ValueError(f"need n >= 0 and size >= 16, got n={n}, size={size}")
    with tqdm(total=n, desc=f"rendering {stream} pairs", unit="pair", disable=not progress) as bar:
        for start in range(0, n, batch):
            keys = [[seed, _STREAM[stream], i] if epoch is None else [seed, _FRESH, epoch, i] for i in range(start, min(n, start + batch))]
            clean, seeds = _drawn_crops(photos, keys, size, augment)
            rainy, mask = render_drops(clean, seeds, style)
            for r, c, m in zip(_to_uint8(rainy), _to_uint8(clean), _to_uint8(mask)):
                yield r, c, m
            bar.update(len(seeds))


def _drawn_crops(photos: Sequence[Photo], keys: list[list[int]], size: int, augment: bool) -> tuple[torch.Tensor, list[int]]:
    """One clean crop per seed key, and the seed its drops are rendered from."""
    crops, seeds = [], []
    for key in keys:
        rng = np.random.default_rng(np.random.SeedSequence(key))
        crop = random_crop(photos[int(rng.integers(len(photos)))], size, rng)
        crops.append(augment_crop(crop, rng) if augment else crop)
        seeds.append(int(rng.integers(2**62)))
    return torch.stack(crops), seeds


def drop_free_pairs(photos: Sequence[Photo], n: int, size: int, seed: int, augment: bool = False) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """n crops without drops as (rainy, clean, mask) pairs whose rainy image is the clean
    one and whose mask is empty: they teach a model to leave a picture alone where there
    is nothing to remove (the shipped model changed a third of a drop-free photo's pixels
    by more than 10 grey levels, repainting defocused highlights)."""
    if n <= 0:
        return []
    clean, _ = _drawn_crops(photos, [[seed, _DROP_FREE, i] for i in range(n)], size, augment)
    crops = _to_uint8(clean)
    return [(c, c.copy(), np.zeros((size, size, 1), np.uint8)) for c in crops]


def rendered_photos(split: str, copies: int = 2, seed: int = 0, style: DropStyle = DropStyle()) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The embedded photos of one split, whole, each with `copies` different sets of drops:
    (name, rainy, clean) uint8 pairs at full resolution, held-out pairs for a model when no
    real ones are at hand."""
    pairs = []
    for i, photo in enumerate(embedded_photos(split)):
        clean = torch.from_numpy(photo.pixels).permute(2, 0, 1)[None].float().div_(255.0)
        for k in range(copies):
            rng = np.random.default_rng(np.random.SeedSequence([seed, _WHOLE, _STREAM[split], i, k]))
            rainy, _ = render_drops(clean, [int(rng.integers(2**62))], style)
            pairs.append((f"{photo.name} {k + 1}", _to_uint8(rainy)[0], photo.pixels))
    return pairs


def write_synthetic_dataset(
    out: str | Path,
    clean: str | Path = "default",
    n: int = 256,
    size: int = 256,
    seed: int = 0,
    n_test: int | None = None,
    style: DropStyle = DropStyle(),
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write pairs in the Raindrop layout: train/ from training photos, test_a/ from test
    photos, each with data/, gt/ and mask/, plus a synth.json manifest.

    The dataset is built in a hidden folder beside `out` and moved into place at the end,
    so an interrupted run leaves nothing half-written. An existing non-empty `out` is only
    replaced with overwrite=True, and only if it is an earlier derain synth output.
    """
    out = Path(out)
    _check_target(out, overwrite)
    n_test = max(1, n // 8) if n_test is None else n_test
    counts = {"train": n, "test": n_test}
    photos = {split: clean_photos(clean, split) for split in OUTPUT_SPLITS}
    manifest = {
        "generator": "derain synth",
        "version": __version__,
        "clean": str(clean),
        "size": size,
        "seed": seed,
        "pairs": {OUTPUT_SPLITS[s]: counts[s] for s in OUTPUT_SPLITS},
        "photos": {OUTPUT_SPLITS[s]: [p.name for p in photos[s]] for s in OUTPUT_SPLITS},
        "style": style.to_dict(),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        for split, folder in OUTPUT_SPLITS.items():
            dirs = [staging / folder / sub for sub in ("data", "gt", "mask")]
            for d in dirs:
                d.mkdir(parents=True)
            pairs = render_pairs(photos[split], counts[split], size, seed, split, style, progress=progress)
            with ThreadPoolExecutor(max_workers=2) as pool:  # PNG compression releases the GIL
                pending = []
                for i, (rainy, clean_img, mask) in enumerate(pairs):
                    for d, kind, image in zip(dirs, ("rain", "clean", "mask"), (rainy, clean_img, mask[:, :, 0])):
                        pending.append(pool.submit(write_png, d / f"{i}_{kind}.png", image))
                    if len(pending) >= 96 or i == counts[split] - 1:  # bounded memory
                        for write in pending:
                            write.result()  # re-raises a failed write
                        pending.clear()
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        _move_into_place(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _check_target(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} is not empty; choose an empty folder or pass --overwrite to replace an earlier derain synth output")
        if not (out / MANIFEST).is_file():
            raise FileExistsError(f"{out} was not written by derain synth (no {MANIFEST}); refusing to replace it")


def _move_into_place(staging: Path, out: Path) -> None:
    if out.is_dir() and any(out.iterdir()):
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        out.rename(old / out.name)
        staging.rename(out)
        shutil.rmtree(old)
    else:
        if out.is_dir():
            out.rmdir()
        staging.rename(out)


def _to_uint8(batch: torch.Tensor) -> np.ndarray:
    return batch.mul(255.0).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
