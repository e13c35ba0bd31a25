"""Score models on the sets the shipped model is chosen on, never on the test-only photos.

The shipped model (docs/model.md) may be chosen on RobotCar validation frames and on
synthetic held-out photos only. This script scores one or more models (run folders,
checkpoints or model files; the shipped model when none is given) on those sets, so that
a recipe is judged against a criterion written before it trained:

* lens drops rendered on the embedded validation photo, whole (4 sets of drops);
* lens drops on the 12 validation photos of ../shared/data/clean_photos (Kodak24, CBSD68,
  McMaster; those whose file name the split of `--extra-photos` holds out), whole, 2 sets each;
* the same 12 photos with sharper, smaller drops (real small drops are sharper than the
  lens style's);
* the RobotCar held-out frame (the pairs `derain train --real-pairs` holds out);
* the 12 photos dry: what a model does to a photo without drops.

For each: the gain in RGB PSNR over doing nothing with the model's SSIM, the mean luminance
shift of the output against the clean photo (grey levels: negative is darker), the gain
inside rendered drops by diameter, and the share of the drop area the model made worse
(`analysis.worse_drops`). Every model runs in fp32 with its own self-ensemble, so that the
scores do not depend on whether the CPU computes bf16.

    python benchmarks/choice_sets.py [MODEL ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from derain_utils.data.images import read_rgb
from derain_utils.data.lensdrops import drop_style, render_drops
from derain_utils.data.photos import embedded_photos, folder_split
from derain_utils.data.training_data import folder_split_pairs
from derain_utils.evaluation.analysis import drop_gains, luminance, worse_drops
from derain_utils.evaluation.chain import as_chain
from derain_utils.evaluation.metrics import psnr, ssim
from derain_utils.evaluation.shipped import shipped_model
from derain_utils.evaluation.trained import load_trained
from derain_utils.paths import PROJECT_ROOT

SHARED = PROJECT_ROOT.parent / "shared" / "data"
LENS = drop_style("lens")
SHARPER = replace(LENS, blur=(0.001, 0.02), radius=(0.008, 0.09))
BINS = (12, 30, 60)  # drop diameters (px) that split the per-drop gains


def validation_photos(folder: Path) -> list[tuple[str, np.ndarray]]:
    """The clean photos whose file name falls in the validation split, as `--extra-photos`
    splits each of the three folders (tif included)."""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff"))
    return [(p.stem, read_rgb(p)) for p in files if folder_split(p.name) == "val"]


def with_drops(photos, copies: int, style, stream: int) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(name, rainy, clean, drop mask) of each photo under `copies` sets of drops."""
    pairs = []
    for i, (name, pixels) in enumerate(photos):
        clean = torch.from_numpy(pixels).permute(2, 0, 1)[None].float().div_(255.0)
        for k in range(copies):
            rng = np.random.default_rng(np.random.SeedSequence([0, stream, i, k]))
            rainy, mask = render_drops(clean, [int(rng.integers(2**62))], style)
            rainy = (rainy[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()
            pairs.append((f"{name} {k + 1}", rainy, pixels, mask[0, 0].numpy() > 0.1))
    return pairs


def choice_sets(real_pairs: Path, clean_folder: Path) -> dict[str, list]:
    photos = validation_photos(clean_folder)
    embedded = [(p.name, p.pixels) for p in embedded_photos("val")]
    robotcar = [(p.rain.name, *p.load(), None) for p in folder_split_pairs(str(real_pairs))[1]]
    return {"validation photo": with_drops(embedded, 4, LENS, 1),
            "12 photos": with_drops(photos, 2, LENS, 2),
            "sharper drops": with_drops(photos, 2, SHARPER, 3),
            "RobotCar frame": robotcar,
            "dry": [(name, pixels, pixels, None) for name, pixels in photos]}


def score(restore, pairs) -> dict:
    """Mean scores of one model on one set."""
    rows, drops, worse = [], [], {"drop_area": 0, "drop_area_worse": 0}
    for name, rain, clean, mask in pairs:
        out = restore(rain)
        rows.append((psnr(out, clean) - psnr(rain, clean), psnr(out, clean), ssim(out, clean), ssim(rain, clean),
                     float(luminance(out).mean() - luminance(clean).mean())))
        if mask is not None:
            drops += drop_gains(rain, out, clean, mask)
        if rain is not clean:
            counts = worse_drops(rain, out, clean)
            worse = {k: worse[k] + counts[k] for k in worse}
    gain, out_psnr, out_ssim, in_ssim, shift = np.mean(rows, axis=0)
    diameters = np.array([d["diameter"] for d in drops])
    gains = np.array([d["gain"] for d in drops])
    edges = (0, *BINS, np.inf)
    by_size = [float(gains[(diameters >= lo) & (diameters < hi)].mean()) if ((diameters >= lo) & (diameters < hi)).any() else None
               for lo, hi in zip(edges[:-1], edges[1:])]
    return {"gain": gain, "psnr": out_psnr, "ssim": out_ssim, "input_ssim": in_ssim, "shift": shift,
            "drop_gains": by_size if drops else None,
            "area_worse": worse["drop_area_worse"] / worse["drop_area"] if worse["drop_area"] else None}


def line(model: str, set_name: str, s: dict) -> str:
    if set_name == "dry":
        return f"| {model} | {set_name} | {s['psnr']:.2f} dB ({s['ssim']:.4f}) | {s['shift']:+.2f} | | |"
    sizes = " / ".join("-" if g is None else f"{g:.2f}" for g in s["drop_gains"]) if s["drop_gains"] else ""
    area = "" if s["area_worse"] is None else f"{100 * s['area_worse']:.1f}%"
    return (f"| {model} | {set_name} | {s['gain']:+.2f} ({s['ssim']:.4f}; {s['input_ssim']:.4f}) | {s['shift']:+.2f} | "
            f"{sizes} | {area} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", help="run folders, checkpoints or model files (default: the shipped model)")
    parser.add_argument("--real-pairs", type=Path, default=SHARED / "robotcar_pairs")
    parser.add_argument("--clean-photos", type=Path, default=SHARED / "clean_photos")
    parser.add_argument("--flips", default=None, help="self-ensemble for every model (default: each model's own)")
    parser.add_argument("--json", type=Path, help="also write every score here")
    args = parser.parse_args(argv)
    for folder in (args.real_pairs, args.clean_photos):
        if not folder.is_dir():
            sys.exit(f"{folder}: folder not found (the choice sets need the real pairs and clean photos of ../shared/data)")
    sets = choice_sets(args.real_pairs, args.clean_photos)
    print("| model | set | gain, dB (SSIM; doing nothing) | shift | drops < 12 / 12-30 / 30-60 / > 60 px, dB | area made worse |")
    print("| --- | --- | ---: | ---: | --- | ---: |")
    results = {}
    for path in args.models or [str(shipped_model())]:
        trained = load_trained(path, device="cpu")
        trained.precision = "fp32"
        chain = as_chain(trained)
        if args.flips:
            chain = replace(chain, flips=args.flips)
        results[path] = {}
        for set_name, pairs in sets.items():
            with torch.inference_mode():
                results[path][set_name] = score(lambda image: chain.restore(image, tile=1024), pairs)
            print(line(Path(path).name if Path(path).is_file() else path, set_name, results[path][set_name]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
