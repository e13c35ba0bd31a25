"""Benchmarks whose timings are reported, never asserted in tests."""

from __future__ import annotations

import time
from dataclasses import replace

import torch

from .lensdrops import render_drops
from .photos import embedded_photos
from .synthetic import render_pairs


def bench_renderer(size: int = 256, batch: int = 32, pairs: int = 512, threads: int = 1) -> dict:
    """Pairs per second of render_drops alone, and of the whole pipeline (crop + render +
    conversion to uint8), on `threads` CPU threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _bench_renderer(size, batch, pairs, threads)
    finally:
        torch.set_num_threads(previous)


def _bench_renderer(size: int, batch: int, pairs: int, threads: int) -> dict:
    photos = embedded_photos("train")
    clean = torch.stack([torch.from_numpy(p.pixels[:size, :size].copy()).permute(2, 0, 1).float() / 255 for p in photos if min(p.pixels.shape[:2]) >= size])
    clean = clean.repeat((batch + len(clean) - 1) // len(clean), 1, 1, 1)[:batch]
    render_drops(clean, list(range(batch)))  # warm-up
    rounds = max(1, pairs // batch)
    start = time.perf_counter()
    for r in range(rounds):
        render_drops(clean, list(range(r * batch, (r + 1) * batch)))
    renderer = rounds * batch / (time.perf_counter() - start)
    start = time.perf_counter()
    for _ in render_pairs(photos, rounds * batch, size, seed=1, batch=batch):
        pass
    pipeline = rounds * batch / (time.perf_counter() - start)
    result = {"size": size, "batch": batch, "threads": threads, "renderer_pairs_per_s": renderer, "pipeline_pairs_per_s": pipeline}
    print(f"lens-drop renderer at {size}x{size}, batch {batch}, {threads} thread(s), torch {torch.__version__}:")
    print(f"  render_drops only:            {renderer:7.1f} pairs/s")
    print(f"  crop + render + uint8 output: {pipeline:7.1f} pairs/s")
    return result


def bench_training(experiment: str = "pix2pix", profile: str = "cpu", steps: int = 10, device: str = "auto") -> dict:
    """Training images per second of one experiment's step, with and without bfloat16
    autocast and the channels_last layout. Whether bf16 pays off depends on the
    processor: it needs native bf16 support (e.g. AVX512-BF16, AMX, or a recent GPU)."""
    import tempfile

    from .presets import make_config
    from .training import Trainer

    results = {}
    base = make_config(experiment, profile, train_pairs=8, val_pairs=1)
    with tempfile.TemporaryDirectory() as run_dir:
        for bf16 in (False, True):
            for channels_last in (False, True):
                trainer = Trainer(replace(base, bf16=bf16, channels_last=channels_last), run_dir, device=device, progress=False)
                size = (base.batch_size, 3, base.image_size, base.image_size)
                rain, clean = torch.rand(size), torch.rand(size)
                for _ in range(2):  # warm-up
                    trainer.train_step(rain, clean)
                start = time.perf_counter()
                for _ in range(steps):
                    trainer.train_step(rain, clean)
                if trainer.device.type == "cuda":
                    torch.cuda.synchronize()
                rate = steps * base.batch_size / (time.perf_counter() - start)
                results[f"bf16={bf16}, channels_last={channels_last}"] = rate
    print(f"{experiment} training steps at the {profile} profile ({base.image_size}x{base.image_size}, batch {base.batch_size}), "
          f"{trainer.device}, {torch.get_num_threads()} thread(s), torch {torch.__version__}:")
    for name, rate in results.items():
        print(f"  {name:<34} {rate:7.1f} images/s")
    return results
