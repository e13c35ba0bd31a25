"""How long training takes on this machine: measured, never assumed.

A few training steps are timed on random images of the run's size, with the run's own
networks and settings; everything else (how many steps, validation) is counted, so an
estimate is the same arithmetic on every machine and only the measured rate differs.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import replace

import torch

from ..presets import TrainConfig
from .precision import describe_device

# Validation, checkpoints and fresh drops add about this share to the training steps
# (measured: 30 epochs of experiment 4 took 369 s, its steps alone 335 s).
OVERHEAD = 1.1


def format_duration(seconds: float) -> str:
    """A rough duration for people: '40 s', '7 min', '2.5 h'."""
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class RunClock:
    """Says how long a run will take: once from its first timed steps, then, after each
    epoch (validation included), how long is left."""

    TIMED = 4  # steps timed after the first, which pays for warm-up and allocation

    def __init__(self, steps: int, batch: int, precision: str, device: torch.device):
        self.steps, self.batch, self.precision, self.device = steps, batch, precision, device
        self.done, self.first = 0, 0.0
        self.start = time.perf_counter()

    def step_done(self) -> str:
        self.done += 1
        if self.done == 1:
            self.first = time.perf_counter()
        if self.done != 1 + self.TIMED or self.steps <= self.done:
            return ""
        rate = self.TIMED * self.batch / (time.perf_counter() - self.first)
        return (f"timed {self.TIMED} steps: {rate:.1f} images/s ({self.precision}, {describe_device(self.device)}); "
                f"{self.steps:,} steps take about {format_duration(self.steps * self.batch / rate)} plus validation")

    def left(self, epochs_done: int, epochs_left: int) -> str:
        if not epochs_left:
            return ""
        per_epoch = (time.perf_counter() - self.start) / epochs_done
        return f", about {format_duration(per_epoch * epochs_left)} left"


def measure_rate(config: TrainConfig, device: str = "auto", steps: int = 4, warmup: int = 3) -> tuple[float, str]:
    """Training images per second of `config`'s step on `device` (rendering fresh drops
    included), and the precision the step ran in. The networks are built afresh; no run
    folder is touched. Three warm-up steps: after one, the rate was 10-20% below what the
    runs then trained at (docs/journal.md, "the whole course in 30 minutes")."""
    rates, precision = measure_rates(config, device, steps, warmup, rounds=1)
    return rates[0], precision


def measure_rates(config: TrainConfig, device: str = "auto", steps: int = 4, warmup: int = 3,
                  rounds: int = 1) -> tuple[list[float], str]:
    """measure_rate() `rounds` times over on one set of networks, after one warm-up: the
    spread of the rounds says how far one number can be trusted on this machine."""
    from .trainer import Trainer

    probe = replace(config, train_pairs=config.batch_size, val_pairs=1, epochs=1)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(probe, run_dir, device=device, progress=False)
        render = 0.0
        if hasattr(trainer.train_set, "set_epoch"):  # fresh drops: one batch rendered per step
            tic = time.perf_counter()
            trainer.train_set.set_epoch(1)
            render = time.perf_counter() - tic
        size = (config.batch_size, 3, config.image_size, config.image_size)
        rain, clean = torch.rand(size), torch.rand(size)
        mask = torch.rand(size[:1] + size[2:])[:, None] if config.data == "synthetic" else None
        for _ in range(warmup):
            trainer.train_step(rain, clean, mask)
        rates = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(steps):
                trainer.train_step(rain, clean, mask)
            if trainer.device.type == "cuda":
                torch.cuda.synchronize()
            rates.append(steps * config.batch_size / (time.perf_counter() - start + steps * render))
        return rates, trainer.precision


def run_seconds(config: TrainConfig, rate: float, epochs: int | None = None) -> float:
    """Estimated wall time of `epochs` (default: all) epochs of `config` at `rate` images/s."""
    epochs = config.epochs if epochs is None else epochs
    steps = epochs * math.ceil(config.train_pairs / config.batch_size)
    return OVERHEAD * steps * config.batch_size / rate
