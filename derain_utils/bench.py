"""Benchmarks whose timings are reported, never asserted in tests."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import torch

from .data.lensdrops import drop_style, render_drops
from .data.photos import embedded_photos
from .data.synthetic import render_pairs
from .presets import DEFAULT_DROP_STYLE
from .training.precision import describe_device
from .training.precision import pick_device


def bench_decoding(folder: str, rounds: int = 5) -> dict:
    """Images per second decoded to (H, W, 3) uint8 arrays, one thread, by Pillow (what
    images.read_rgb uses) and by torchvision.io.decode_image, over every image of a folder
    (subfolders too); each file is read into memory first, so only decoding is timed. On
    Raindrop's 720x480 photos torchvision was 1.03-1.04x Pillow (benchmarks/README.md):
    not worth a second decoder (torchvision 0.29 also deprecates its own, for TorchCodec),
    so read_rgb keeps Pillow and its error messages."""
    import io

    import numpy as np
    from PIL import Image
    from torchvision.io import ImageReadMode, decode_image

    from .data.images import image_files

    files = image_files(folder)
    if not files:
        raise FileNotFoundError(f"{folder}: no images to decode")
    encoded = [p.read_bytes() for p in files]
    as_tensors = [torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in encoded]

    def pillow():
        for b in encoded:
            with Image.open(io.BytesIO(b)) as im:
                np.asarray(im.convert("RGB"))

    def torchvision():
        for t in as_tensors:
            decode_image(t, mode=ImageReadMode.RGB).permute(1, 2, 0).numpy()

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rates = {}
        for name, decode in (("Pillow", pillow), ("torchvision.io.decode_image", torchvision)):
            decode()  # warm-up
            tic = time.perf_counter()
            for _ in range(rounds):
                decode()
            rates[name] = rounds * len(files) / (time.perf_counter() - tic)
    finally:
        torch.set_num_threads(threads)
    kinds = sorted({p.suffix.lower() for p in files})
    print(f"decoding {len(files)} images ({', '.join(kinds)}) of {folder}, one thread, {describe_device(torch.device('cpu'))}")
    for name, rate in rates.items():
        print(f"  {name:<28} {rate:8.1f} images/s  x{rate / rates['Pillow']:.2f}")
    return rates


def bench_renderer(size: int = 256, batch: int = 32, pairs: int = 512, threads: int = 1, style: str = DEFAULT_DROP_STYLE) -> dict:
    """Pairs per second of render_drops alone, and of the whole pipeline (crop + render +
    conversion to uint8), on `threads` CPU threads, for one of the renderer's styles."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _bench_renderer(size, batch, pairs, threads, style)
    finally:
        torch.set_num_threads(previous)


def _bench_renderer(size: int, batch: int, pairs: int, threads: int, style: str) -> dict:
    drops = drop_style(style)
    photos = embedded_photos("train")
    clean = torch.stack([torch.from_numpy(p.pixels[:size, :size].copy()).permute(2, 0, 1).float() / 255 for p in photos if min(p.pixels.shape[:2]) >= size])
    clean = clean.repeat((batch + len(clean) - 1) // len(clean), 1, 1, 1)[:batch]
    render_drops(clean, list(range(batch)), drops)  # warm-up
    rounds = max(1, pairs // batch)
    start = time.perf_counter()
    for r in range(rounds):
        render_drops(clean, list(range(r * batch, (r + 1) * batch)), drops)
    renderer = rounds * batch / (time.perf_counter() - start)
    start = time.perf_counter()
    for _ in render_pairs(photos, rounds * batch, size, seed=1, style=drops, batch=batch):
        pass
    pipeline = rounds * batch / (time.perf_counter() - start)
    result = {"size": size, "batch": batch, "threads": threads, "style": style, "renderer_pairs_per_s": renderer,
              "pipeline_pairs_per_s": pipeline}
    print(f"lens-drop renderer, style {style}, at {size}x{size}, batch {batch}, {threads} thread(s), torch {torch.__version__}, "
          f"{describe_device(torch.device('cpu'))}:")
    print(f"  render_drops only:            {renderer:7.1f} pairs/s")
    print(f"  crop + render + uint8 output: {pipeline:7.1f} pairs/s")
    return result


def bench_training(experiment: str = "pix2pix", profile: str = "cpu", steps: int = 5, device: str = "auto",
                   recipe: bool = True, rounds: int = 5) -> dict:
    """Training images per second of one experiment's step three ways: the default path
    (the profile's memory layout, precision 'auto'), the plain fp32 eager step of the same
    networks, and, with `recipe`, the original pix2pix recipe (U-Net 256 of 8 levels and
    64 base channels, 70x70 PatchGAN, 256x256, batch 8, fp32) as a fixed yardstick. The
    first two are the median of `rounds` rounds of `steps` steps after one warm-up step,
    printed with their range: one round moved 1.6x within a session on a shared VM
    (docs/journal.md, "a bench that says how far it can be trusted")."""
    from .presets import make_config
    from .training.cores import busy_note
    from .training.timing import measure_rates

    busy = busy_note()
    if busy:
        print(f"note: {busy}; the rates below are a busy machine's, not this machine's")
    default = make_config(experiment, profile)
    paths = {"default path": default, "plain fp32 eager": replace(default, precision="fp32", channels_last=False)}
    if recipe:
        paths["original pix2pix recipe"] = make_config(
            "pix2pix", "paper", batch_size=8, precision="fp32", channels_last=False,
            generator_options=dict(depth=8, base=64), discriminator_options=dict(base=64))
    results, spread, precisions = {}, {}, {}
    for name, config in paths.items():
        # One warm-up step, as for every number in benchmarks/README.md (the estimates warm up longer);
        # the original recipe takes seconds a step: one round of two steps
        slow = name.startswith("original")
        rates, precisions[name] = measure_rates(config, device, steps=2 if slow else steps, warmup=1, rounds=1 if slow else rounds)
        results[name], spread[name] = float(np.median(rates)), (min(rates), max(rates), len(rates))
    print(f"{experiment} training step, {profile} profile ({default.image_size}x{default.image_size}, batch {default.batch_size}), "
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(f"device: {describe_device(pick_device(device))}")
    plain = results["plain fp32 eager"]
    for name, rate in results.items():
        config = paths[name]
        layout = "channels_last" if config.channels_last else "contiguous"
        low, high, count = spread[name]
        rounds_text = f"median of {count} rounds, {low:.2f}-{high:.2f}" if count > 1 else "one round"
        print(f"  {name:<24} {rate:7.2f} images/s  x{rate / plain:5.2f}  ({precisions[name]}, {layout}; {rounds_text})")
    return results
