"""The adversarial loss and the discriminator's targets (label smoothing and flips)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def discriminator_targets(logits: torch.Tensor, real: bool, real_label: float, fake_label: float, flip_prob: float) -> torch.Tensor:
    """Targets for the discriminator on a batch of logits.

    Smoothing moves the targets inwards (e.g. real 0.9, fake 0.1), so a discriminator
    that is already sure stops being pushed further; flipping swaps the targets of a
    random share of the samples (the whole logit map of a sample), a noisy teacher that
    keeps the discriminator from overpowering the generator.
    """
    own, other = (real_label, fake_label) if real else (fake_label, real_label)
    target = torch.full_like(logits, own)
    if flip_prob > 0:
        flipped = torch.rand((logits.shape[0],) + (1,) * (logits.ndim - 1), device=logits.device) < flip_prob
        target = torch.where(flipped, torch.full_like(logits, other), target)
    return target


def adversarial_loss(logits: torch.Tensor, target: torch.Tensor | float) -> torch.Tensor:
    """Binary cross-entropy on logits (numerically stable, unlike BCE after a sigmoid)."""
    if not torch.is_tensor(target):
        target = torch.full_like(logits, float(target))
    return F.binary_cross_entropy_with_logits(logits.float(), target.float())
