"""Trained networks applied to whole images: restorations and PatchGAN confidence maps."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] images to the [-1, 1] range of the tanh generators."""
    return images * 2.0 - 1.0


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] model outputs, (B, 3, H, W), to (B, H, W, 3) uint8."""
    return ((images.float().clamp(-1, 1) + 1.0) * 127.5 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def image_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """An (H, W, 3) uint8 image as a (1, 3, H, W) tensor in the models' [-1, 1] range."""
    return to_model_range(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().div(255.0)).to(device)


def autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()


@torch.no_grad()
def restore(generator: nn.Module, image: np.ndarray, bf16: bool = False) -> np.ndarray:
    """The generator's clean version of one rainy (H, W, 3) uint8 image, same size."""
    device = next(generator.parameters()).device
    was_training = generator.training
    generator.eval()
    try:
        with autocast(device, bf16):
            return to_uint8(generator(image_tensor(image, device)))[0]
    finally:
        generator.train(was_training)


@torch.no_grad()
def patch_confidence(discriminator: nn.Module, rainy: np.ndarray, image: np.ndarray) -> np.ndarray:
    """How real the discriminator finds each patch of `image` (given the rainy input):
    sigmoid of its logit map, stretched to the image size, in [0, 1]."""
    device = next(discriminator.parameters()).device
    was_training = discriminator.training
    discriminator.eval()
    try:
        logits = discriminator(image_tensor(rainy, device), image_tensor(image, device)).float()
    finally:
        discriminator.train(was_training)
    if logits.ndim == 2:  # a whole-image discriminator: one score for the picture
        logits = logits[:, :, None, None]
    confidence = F.interpolate(torch.sigmoid(logits), size=image.shape[:2], mode="bilinear", align_corners=False)
    return confidence[0, 0].cpu().numpy()
