"""Trained models run one after another, each on the last one's output and at its own
scales. No single model clears both kinds of real drop: a fill model (it can only mix the
colours around a pixel) clears dark, opaque drops without overshooting, and a correction
model un-veils what half-transparent drops let through. In a row they do both
(docs/journal.md, "two models in a row")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .inference import restore_at_scales
from .trained import Trained, load_trained


@dataclass(frozen=True)
class Chain:
    steps: tuple[tuple[Trained, tuple[float, ...]], ...]  # (model, its scales), in the order they run
    flips: str | None = None  # the self-ensemble of every model (inference.FLIPS); None: each model's own

    def restore(self, image: np.ndarray, tile: int = 512, overlap: int = 64) -> np.ndarray:
        for trained, scales in self.steps:
            flips = self.flips or trained.flips
            image = restore_at_scales(trained.generator, image, scales, tile, overlap, trained.precision, flips)
        return image

    @property
    def scales(self) -> list[list[float]]:
        return [list(scales) for _, scales in self.steps]

    def describe(self) -> str:
        return "\nthen ".join(trained.describe() + (f", at scales {_text(scales)}" if scales != (1.0,) else "")
                              + _flips_text(self.flips or trained.flips) for trained, scales in self.steps)


def as_chain(model: Trained | Chain, scales: tuple[float, ...] = (1.0,)) -> Chain:
    """A single model at the given scales becomes a chain of one; a chain keeps its own scales."""
    if isinstance(model, Chain):
        if tuple(scales) != (1.0,):
            raise ValueError("a chain carries the scales of each of its models; pass them to load_chain, not here")
        return model
    return Chain(((model, tuple(scales)),))


def load_chain(checkpoints: Sequence[str | Path], scales: Sequence[tuple[float, ...] | None] = (),
               device: str = "auto", flips: str | None = None) -> Chain:
    """Models in the order given; scales: one per model (None: that model's own), or none
    for each model's own (a model file's stored scales, a run's model at full size);
    flips: every model's self-ensemble (None: each model's own)."""
    if not checkpoints:
        raise ValueError("no checkpoint given")
    if scales and len(scales) != len(checkpoints):
        raise ValueError(f"{len(checkpoints)} checkpoints and {len(scales)} sets of scales: give one per checkpoint")
    models = [load_trained(path, device) for path in checkpoints]
    per_model = scales or [None] * len(models)
    return Chain(tuple((m, tuple(m.scales if s is None else s)) for m, s in zip(models, per_model)), flips)


def passes_text(scales: list[list[float]]) -> str:
    """What a summary line says about Chain.scales: '' for one model at full size."""
    if len(scales) == 1:
        return "" if list(scales[0]) == [1.0] else f"the model at scales {_text(scales[0])}"
    return f"{len(scales)} models in a row, at scales " + " then ".join(_text(s) for s in scales)


def _flips_text(flips: str) -> str:
    return {"none": "", "h": ", averaged with its mirror image", "hv": ", averaged over four flips"}[flips]


def _text(scales) -> str:
    return ", ".join(f"{s:g}" for s in scales)
