"""Looking at a paired dataset before training: what is in it and how strong its drops are.

The same measures apply to synthetic and real pairs, since real data has no drop masks:
a pixel counts as covered when rainy and clean differ by more than COVER_THRESHOLD grey
levels in some channel.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from .metrics import psnr, ssim
from .pairs import check_dataset, find_pairs, split_folders
from .photos import embedded_photos
from .presets import make_config
from .synthetic import render_pairs

COVER_THRESHOLD = 8

Sample = tuple[str, np.ndarray, np.ndarray]  # (name, rainy, clean)


def describe(data: str, profile: str) -> dict:
    """Pairs per split and image sizes. For the synthetic default: what a run of the
    profile renders, and from which photos."""
    if data == "synthetic":
        config = make_config("pix2pix", profile)
        size = f"{config.image_size}x{config.image_size}"
        return {
            "train": {"pairs": config.train_pairs, "sizes": {size: config.train_pairs},
                      "photos": [p.name for p in embedded_photos("train")]},
            "val": {"pairs": config.val_pairs, "sizes": {size: config.val_pairs},
                    "photos": [p.name for p in embedded_photos("val")]},
        }
    report = check_dataset(data, progress=False)
    if not report.ok:
        raise ValueError(report.describe())
    return {
        s.name: {"pairs": len(s.pairs), "sizes": {f"{w}x{h}": n for (w, h), n in Counter(s.sizes).most_common()}}
        for s in report.splits
    }


def load_sample(data: str, n: int, size: int = 128, seed: int = 0) -> list[Sample]:
    """n pairs to look at: rendered from the training photos, or the first n of a folder
    (its train split when it has one)."""
    if data == "synthetic":
        return [(f"synthetic {i}", r, c) for i, (r, c, _) in enumerate(render_pairs(embedded_photos("train"), n, size, seed, "train"))]
    pairs = find_pairs(data, "train" if "train" in split_folders(data)[1] else None)[:n]
    return [(p.rain.name, *p.load()) for p in pairs]


def change_map(rain: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """|rainy - clean| in grey levels, largest over the three channels."""
    return np.abs(rain.astype(np.int16) - clean.astype(np.int16)).max(axis=2)


def difference_map(rain: np.ndarray, clean: np.ndarray, gain: int = 4) -> np.ndarray:
    """change_map times `gain`, as a uint8 picture."""
    return np.clip(change_map(rain, clean) * gain, 0, 255).astype(np.uint8)


def drop_strength(rain: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    """Share of pixels the drops cover, and their mean change there (grey levels)."""
    change = change_map(rain, clean)
    covered = change > COVER_THRESHOLD
    return float(covered.mean()), float(change[covered].mean()) if covered.any() else 0.0


def luminance(image: np.ndarray) -> np.ndarray:
    """Full-range luminance (ITU-R BT.601 weights), 0-255."""
    return image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def drop_statistics(sample: list[Sample]) -> dict[str, np.ndarray]:
    """Per pair: covered share of the image, mean change where covered (grey levels),
    and the PSNR/SSIM (RGB) of doing nothing."""
    cover, contrast, in_psnr, in_ssim = [], [], [], []
    for _, rain, clean in sample:
        share, strength = drop_strength(rain, clean)
        cover.append(share)
        contrast.append(strength)
        in_psnr.append(psnr(rain, clean))
        in_ssim.append(ssim(rain, clean))
    return {"cover": np.array(cover), "contrast": np.array(contrast), "input_psnr": np.array(in_psnr), "input_ssim": np.array(in_ssim)}


def drop_gains(rain: np.ndarray, output: np.ndarray, clean: np.ndarray, drops: np.ndarray) -> list[dict]:
    """What a restoration did to each drop of one image. Drops are the connected regions
    of the drop mask (merged drops count as one); for each: its size (equivalent
    diameter in pixels), its contrast (mean change where it lies, grey levels) and the
    gain in dB, 10 log10(squared error of the rainy image / of the output) inside it."""
    from skimage.measure import label, regionprops

    labels = label(np.asarray(drops) > 0, connectivity=2)
    change = change_map(rain, clean)
    err_in = ((rain.astype(np.float64) - clean) ** 2).mean(axis=2)
    err_out = ((output.astype(np.float64) - clean) ** 2).mean(axis=2)
    found = []
    for region in regionprops(labels):
        rows, cols = region.coords[:, 0], region.coords[:, 1]
        before, after = err_in[rows, cols].mean(), err_out[rows, cols].mean()
        found.append({"diameter": float(region.equivalent_diameter_area), "contrast": float(change[rows, cols].mean()),
                      "gain": float(10 * np.log10((before + 1e-3) / (after + 1e-3)))})
    return found
