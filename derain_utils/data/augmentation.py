"""Paired augmentation: one random colour change for every image of a pair.

Only six embedded photos train the synthetic default, so a model can learn their colours
by heart; jittering brightness, contrast and saturation shows it more kinds of scene.
Rendered pairs are jittered before the drops go on (synthetic.render_pairs), real pairs
both alike (datasets.PairedImageDataset).
"""

from __future__ import annotations

from typing import Sequence

import torch

JITTER = (0.8, 1.2)  # range of the brightness, contrast and saturation factors


def jitter_colours(images: Sequence[torch.Tensor], factors: Sequence[float]) -> list[torch.Tensor]:
    """(brightness, contrast, saturation) factors applied to (3, H, W) images in [0, 1].
    Contrast pivots on the last image's mean (the clean one of a pair), so all images of
    a pair change alike."""
    brightness, contrast, saturation = factors
    pivot = images[-1].mean() * brightness

    def change(x: torch.Tensor) -> torch.Tensor:
        x = (x * brightness - pivot) * contrast + pivot
        grey = x.mean(dim=0, keepdim=True)
        return ((x - grey) * saturation + grey).clamp_(0.0, 1.0)

    return [change(x) for x in images]
