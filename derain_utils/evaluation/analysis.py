"""Looking at a paired dataset before training: what is in it and how strong its drops are.

The same measures apply to synthetic and real pairs, since real data has no drop masks:
a pixel counts as covered when rainy and clean differ by more than COVER_THRESHOLD grey
levels in some channel.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..data.lensdrops import drop_style
from ..data.pairs import check_dataset, find_pairs, split_folders
from ..data.photos import embedded_photos
from ..data.synthetic import render_pairs
from ..presets import DEFAULT_DROP_STYLE, make_config
from .metrics import psnr, ssim

COVER_THRESHOLD = 8
# Real pairs differ by more than COVER_THRESHOLD almost everywhere (a veil of scattered
# light, exposure, imperfect alignment); drops proper stand out above 30 grey levels, the
# threshold of the real-pair drop masks (losses.REAL_THRESHOLD).
STRONG_THRESHOLD = 30

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


def load_sample(data: str, n: int, size: int = 128, seed: int = 0, style: str = DEFAULT_DROP_STYLE) -> list[Sample]:
    """n pairs of size x size to look at, at the scale the models train on: crops of the
    training photos with drops of the given renderer style, or aligned crops at full
    resolution of a folder's pairs (its train split when it has one), taken in turn from
    each pair."""
    if data == "synthetic":
        pairs = render_pairs(embedded_photos("train"), n, size, seed, "train", drop_style(style))
        return [(f"synthetic {i}", r, c) for i, (r, c, _) in enumerate(pairs)]
    pairs = find_pairs(data, "train" if "train" in split_folders(data)[1] else None)
    rng = np.random.default_rng(seed)
    loaded = [p.load() for p in pairs[:n]]
    sample = []
    for i in range(n):
        rain, clean = loaded[i % len(loaded)]
        top, left = (int(rng.integers(0, max(1, d - size + 1))) for d in rain.shape[:2])
        window = (slice(top, top + size), slice(left, left + size))
        sample.append((f"{pairs[i % len(loaded)].rain.name} at ({left}, {top})", rain[window], clean[window]))
    return sample


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


def darker_share(rain: np.ndarray, clean: np.ndarray) -> float:
    """Of the pixels whose luminance the drops changed by more than STRONG_THRESHOLD (drops
    proper, not the veil or exposure of real pairs), the share they made darker. Drops
    over a bright surface show a wider, darker view of the scene; a renderer whose drops
    only brighten teaches models to only darken. NaN when no pixel changed that much."""
    change = luminance(rain) - luminance(clean)
    darker, changed = int((change < -STRONG_THRESHOLD).sum()), int((np.abs(change) > STRONG_THRESHOLD).sum())
    return darker / changed if changed else float("nan")


def drop_sizes(rain: np.ndarray, clean: np.ndarray, threshold: int = STRONG_THRESHOLD, min_area: int = 4) -> np.ndarray:
    """Equivalent diameters (pixels) of the regions of one pair that changed by more than
    `threshold` grey levels; regions under min_area pixels are left out, since on real
    pairs they are mostly misalignment and noise. Touching drops count as one region."""
    from skimage.measure import label, regionprops

    regions = regionprops(label(change_map(rain, clean) > threshold, connectivity=2))
    return np.array([r.equivalent_diameter_area for r in regions if r.area >= min_area])


def drop_statistics(sample: list[Sample]) -> dict[str, np.ndarray]:
    """Per pair: covered share of the image, mean change where covered (grey levels), the
    darker share of the strongly changed pixels, and the PSNR/SSIM (RGB) of doing nothing;
    and the diameters of all its drops."""
    cover, strong, contrast, darker, in_psnr, in_ssim, sizes = [], [], [], [], [], [], []
    for _, rain, clean in sample:
        share, strength = drop_strength(rain, clean)
        cover.append(share)
        strong.append(float((change_map(rain, clean) > STRONG_THRESHOLD).mean()))
        contrast.append(strength)
        darker.append(darker_share(rain, clean))
        in_psnr.append(psnr(rain, clean))
        in_ssim.append(ssim(rain, clean))
        sizes.append(drop_sizes(rain, clean))
    return {"cover": np.array(cover), "strong": np.array(strong), "contrast": np.array(contrast), "darker": np.array(darker),
            "input_psnr": np.array(in_psnr), "input_ssim": np.array(in_ssim),
            "diameters": np.concatenate(sizes) if sizes else np.zeros(0)}


def realism_table(stats: dict[str, dict[str, np.ndarray]]) -> str:
    """Markdown: per dataset, the medians (and 10th-90th percentiles) of what the
    realism check compares, so rendered and real drops can be read side by side."""
    def spread(values: np.ndarray, scale: float = 1.0, fmt: str = ".1f") -> str:
        if not len(values):
            return "-"
        lo, mid, hi = np.nanpercentile(values * scale, [10, 50, 90])
        return f"{mid:{fmt}} ({lo:{fmt}}-{hi:{fmt}})"

    lines = [f"| data | pairs | changed > {COVER_THRESHOLD} (%) | changed > {STRONG_THRESHOLD} (%) | drops per pair | "
             "drop diameter (px) | contrast (grey levels) | darker (%) | doing nothing (dB) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for label, s in stats.items():
        n = len(s["cover"])
        lines.append(f"| {label} | {n} | {spread(s['cover'], 100)} | {spread(s['strong'], 100)} | {len(s['diameters']) / max(n, 1):.1f} | "
                     f"{spread(s['diameters'])} | {spread(s['contrast'])} | {spread(s['darker'], 100)} | {spread(s['input_psnr'])} |")
    return "\n".join(lines)


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
        found.append({"area": int(region.area), "diameter": float(region.equivalent_diameter_area),
                      "contrast": float(change[rows, cols].mean()),
                      "gain": float(10 * np.log10((before + 1e-3) / (after + 1e-3)))})
    return found


def worse_drops(rain: np.ndarray, output: np.ndarray, clean: np.ndarray, threshold: int = STRONG_THRESHOLD,
                min_area: int = 4) -> dict[str, int]:
    """How many drops of one pair a restoration made worse: PSNR counts pixels, so a model
    can gain on the whole image while it leaves some drops as darker, tinted blotches.
    Drops are the regions where rainy and clean differ by more than `threshold` grey
    levels (on real pairs also misaligned edges), at least min_area pixels as in
    drop_sizes; one is made worse when the output lies farther from the clean image there
    than the rainy image did. Counts and areas in pixels, so that images can be summed."""
    gains = [g for g in drop_gains(rain, output, clean, change_map(rain, clean) > threshold) if g["area"] >= min_area]
    worse = [g for g in gains if g["gain"] < 0]
    return {"drops": len(gains), "drops_worse": len(worse),
            "drop_area": sum(g["area"] for g in gains), "drop_area_worse": sum(g["area"] for g in worse)}


def _listed(text: str) -> list[str]:
    """The names of a comma-separated notebook parameter, e.g. "crisp, lens"."""
    return [name.strip() for name in text.split(",") if name.strip()]


def present_folders(folders: str) -> dict[str, str]:
    """The folders of a comma-separated notebook parameter that exist, by name (resolved
    from the project root); each missing one is named and left out (the real test images
    are not part of the repository)."""
    from ..paths import project_path

    found = {}
    for folder in _listed(folders):
        path = project_path(folder)
        if path.is_dir():
            found[path.name] = str(path.resolve())
        else:
            print(f"no real pairs at {folder}: left out")
    return found


def real_and_rendered(folders: str, n: int, size: int = 128, seed: int = 0, styles: str = DEFAULT_DROP_STYLE) -> dict[str, list[Sample]]:
    """Crops of size x size of pairs rendered in each style ("rendered, <style>") and of
    every folder of real pairs that is present (both comma-separated), at the same scale,
    for the realism check. Folders resolve from the project root; a missing one is
    named and skipped (the real test images are not part of the repository), and with none
    present the result is empty."""
    found = present_folders(folders)
    if not found:
        return {}
    rendered = {f"rendered, {style}": load_sample("synthetic", n, size, seed, style) for style in _listed(styles)}
    return {**rendered, **{label: load_sample(path, n, size, seed) for label, path in found.items()}}
