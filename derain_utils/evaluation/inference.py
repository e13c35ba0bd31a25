"""Trained networks applied to whole images: restorations and PatchGAN confidence maps."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..training.precision import autocast


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] images to the [-1, 1] range of the tanh generators."""
    return images * 2.0 - 1.0


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] model outputs, (B, 3, H, W), to (B, H, W, 3) uint8."""
    return ((images.float().clamp(-1, 1) + 1.0) * 127.5 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def image_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """An (H, W, 3) uint8 image as a (1, 3, H, W) tensor in the models' [-1, 1] range."""
    return to_model_range(torch.from_numpy(np.require(image, requirements=["C", "W"])).permute(2, 0, 1)[None].float().div(255.0)).to(device)


# Self-ensembles: the tensor dimensions each pass flips ((B, C, H, W): 3 mirrors left to
# right, 2 top to bottom). The outputs, flipped back, are averaged before rounding. Chosen
# for the shipped model on the choice sets (docs/model.md); each flip adds one pass.
FLIPS = {"none": ((),), "h": ((), (3,)), "hv": ((), (3,), (2,), (2, 3))}


@torch.no_grad()
def restore(generator: nn.Module, image: np.ndarray, precision: str = "fp32", flips: str = "none") -> np.ndarray:
    """The generator's clean version of one rainy (H, W, 3) uint8 image, same size; with
    flips, the mean of its outputs for the flipped copies (FLIPS), each flipped back."""
    if flips not in FLIPS:
        raise ValueError(f"flips {flips!r}: expected one of {', '.join(FLIPS)}")
    device = next(generator.parameters()).device
    was_training = generator.training
    generator.eval()
    x = image_tensor(image, device)
    total = 0.0
    try:
        for dims in FLIPS[flips]:
            with autocast(device, precision):
                output = generator(x.flip(dims) if dims else x)
            output = output.float()
            total = total + (output.flip(dims) if dims else output)
    finally:
        generator.train(was_training)
    return to_uint8(total / len(FLIPS[flips]))[0]


@torch.no_grad()
def restore_with_mask(generator: nn.Module, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a generator that predicts a drop mask: its clean version of one rainy (H, W, 3)
    uint8 image, and the mask, (H, W) float in [0, 1]."""
    device = next(generator.parameters()).device
    was_training = generator.training
    generator.eval()
    try:
        output, logits = generator.forward_with_mask(image_tensor(image, device))
    finally:
        generator.train(was_training)
    return to_uint8(output)[0], torch.sigmoid(logits.float())[0, 0].cpu().numpy()


@torch.no_grad()
def patch_confidence(discriminator: nn.Module, rainy: np.ndarray, image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """How real the discriminator finds each patch of `image` (given the rainy input, and
    the drop mask (H, W) in [0, 1] for a discriminator that sees one): sigmoid of its
    logit map, stretched to the image size, in [0, 1]."""
    device = next(discriminator.parameters()).device
    was_training = discriminator.training
    discriminator.eval()
    inputs = [image_tensor(rainy, device), image_tensor(image, device)]
    if getattr(discriminator, "mask_channels", 0):
        inputs.append(torch.from_numpy(np.asarray(mask, np.float32))[None, None].to(device))
    try:
        logits = discriminator(*inputs).float()
    finally:
        discriminator.train(was_training)
    if logits.ndim == 2:  # a whole-image discriminator: one score for the picture
        logits = logits[:, :, None, None]
    confidence = F.interpolate(torch.sigmoid(logits), size=image.shape[:2], mode="bilinear", align_corners=False)
    return confidence[0, 0].cpu().numpy()


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile origins along one axis: a stride of tile - overlap, the last tile flush with the end."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, tile - overlap))
    return starts + [length - tile]


def _ramp(tile: int, overlap: int) -> np.ndarray:
    """Blending weight along one axis: rises over `overlap` pixels at both ends, so the
    seams between tiles fade instead of showing. Never zero, so lone edges still count."""
    x = np.arange(tile) + 0.5
    return np.clip(np.minimum(x, tile - x) / max(overlap, 1), 1e-3, 1.0)


def restore_tiled(generator: nn.Module, image: np.ndarray, tile: int = 512, overlap: int = 64, precision: str = "fp32",
                  flips: str = "none") -> np.ndarray:
    """restore() for images of any size in bounded memory: overlapping tiles of at most
    tile x tile pixels, blended with linear ramps. An image that fits one tile is
    restored whole, exactly as restore() does."""
    if overlap >= tile:
        raise ValueError(f"tile overlap ({overlap}) must be smaller than the tile ({tile})")
    h, w = image.shape[:2]
    if h <= tile and w <= tile:
        return restore(generator, image, precision, flips)
    th, tw = min(tile, h), min(tile, w)
    # float32 sums: 16 bytes a pixel beside the 3 of the image, whatever the tile count
    total = np.zeros((h, w, 3), np.float32)
    weight = np.zeros((h, w), np.float32)
    window = (_ramp(th, overlap)[:, None] * _ramp(tw, overlap)[None, :]).astype(np.float32)
    for top in _starts(h, th, overlap):
        for left in _starts(w, tw, overlap):
            out = restore(generator, image[top : top + th, left : left + tw], precision, flips)
            total[top : top + th, left : left + tw] += out * window[..., None]
            weight[top : top + th, left : left + tw] += window
    total /= weight[..., None]
    total += 0.5
    return np.clip(total, 0, 255, out=total).astype(np.uint8)


def restore_at_scales(generator: nn.Module, image: np.ndarray, scales: tuple[float, ...] = (1.0,), tile: int = 512,
                      overlap: int = 64, precision: str = "fp32", flips: str = "none") -> np.ndarray:
    """restore_tiled() once per scale, each pass on the output of the one before. A pass at
    a scale below 1 restores a smaller copy and adds its correction, enlarged, to the
    full-resolution image, so the detail the network never saw is kept: a model trained
    on drops of a few pixels then also reaches drops larger than those (docs/evaluation.md;
    what it gained on real photos: docs/journal.md). With scales (1,) this is restore_tiled().
    Every pass is a self-ensemble of `flips` (FLIPS)."""
    out = image
    for scale in scales:
        if not 0 < scale <= 1:
            raise ValueError(f"restoration scale {scale}: expected a number in (0, 1]")
        if scale == 1:
            out = restore_tiled(generator, out, tile, overlap, precision, flips)
            continue
        h, w = out.shape[:2]
        full = torch.from_numpy(np.require(out, requirements=["C", "W"])).permute(2, 0, 1)[None].float()
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        small = F.interpolate(full, size=size, mode="bilinear", antialias=True, align_corners=False).round_().clamp_(0, 255)
        small = small[0].permute(1, 2, 0).to(torch.uint8).numpy()
        restored = restore_tiled(generator, small, tile, overlap, precision, flips)
        correction = torch.from_numpy(restored.astype(np.float32) - small).permute(2, 0, 1)[None]
        full += F.interpolate(correction, size=(h, w), mode="bilinear", align_corners=False)
        out = full.round_().clamp_(0, 255)[0].permute(1, 2, 0).to(torch.uint8).numpy()
    return out
