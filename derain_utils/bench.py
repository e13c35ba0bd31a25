"""Benchmarks whose timings are reported, never asserted in tests."""

from __future__ import annotations

import time

import torch

from .lensdrops import render_drops
from .photos import embedded_photos
from .synthetic import render_pairs


def bench_renderer(size: int = 256, batch: int = 32, pairs: int = 512, threads: int = 1) -> dict:
    """Pairs per second of render_drops alone, and of the whole pipeline (crop + render +
    conversion to uint8), on `threads` CPU threads."""
    torch.set_num_threads(threads)
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
