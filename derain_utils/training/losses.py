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


# Drop pixels, for the mask supervision and the drop-weighted L1 (experiment 4).
# Synthetic pairs have no noise: outside the renderer's mask rainy and clean differ by at
# most one grey level. The renderer's mask also covers drops that change nothing visible
# (a drop over a flat sky shows sky), which no network can find, so the target is the
# renderer's mask where the drop changes the picture by more than SYNTHETIC_VISIBLE levels.
# Real pairs are never perfectly aligned or equally exposed: their |rainy - clean| is
# large along every edge. REAL_THRESHOLD is the largest threshold at which repainting only
# the marked pixels perfectly would still score about 30 dB on the real pairs of
# ../shared/data (29.9 dB on RobotCar, 28.4 on Raindrop; doing nothing scores 13.3 and
# 17.6): far above what any model here reaches, so the mask loses nothing that counts.
# It is also the 30/255 per channel that AttentiveGAN's reimplementations use.
SYNTHETIC_VISIBLE = 6
REAL_THRESHOLD = 30


def drop_target(rain: torch.Tensor, clean: torch.Tensor, threshold: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 1, H, W) float 0/1: where |rainy - clean| exceeds `threshold` grey levels in some
    channel (images in [-1, 1]), and, when the renderer's mask is given, lies inside it."""
    changed = (rain.float() - clean.float()).abs().amax(dim=1, keepdim=True) > 2.0 * threshold / 255.0
    if mask is not None:
        changed &= mask > 0
    return changed.float()


def pixel_loss(output: torch.Tensor, target: torch.Tensor, drops: torch.Tensor | None = None, drop_weight: float = 0.0,
               dark_weight: float = 0.0) -> torch.Tensor:
    """Mean absolute error; with drop_weight, a drop pixel counts 1 + drop_weight times, so
    the few pixels where the work is are not drowned by the many that are right already.
    With dark_weight, a value below the target counts 1 + dark_weight times: the loss of a
    quantile above the median, so where the model cannot know what a drop hides it errs
    towards light rather than towards a dark disc (docs/training.md)."""
    difference = output.float() - target.float()
    error = difference.abs()
    if dark_weight:
        error = error * (1.0 + dark_weight * (difference < 0))
    if not drop_weight:
        return error.mean()
    weight = 1.0 + drop_weight * drops
    return (error * weight).sum() / (weight.sum() * error.shape[1])


def mask_loss(logits: torch.Tensor, drops: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the predicted drop mask (logits) against the drop pixels."""
    return F.binary_cross_entropy_with_logits(logits.float(), drops)


def contrastive_loss(output: list[torch.Tensor], positive: list[torch.Tensor], negative: list[torch.Tensor]) -> torch.Tensor:
    """Contrastive regularisation (Wu et al. 2021, CVPR) in a feature space that needs no
    downloaded weights, the discriminator's: for each layer, the distance from the output
    to the clean target divided by its distance to the rainy input. Pulling the output
    towards one and pushing it away from the other lowers the ratio."""
    terms = [(o.float() - p.float()).abs().mean() / ((o.float() - n.float()).abs().mean() + 1e-7)
             for o, p, n in zip(output, positive, negative)]
    return torch.stack(terms).mean()
