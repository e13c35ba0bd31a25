"""The 70x70 PatchGAN discriminator of Pix2Pix.

It scores overlapping 70x70 patches instead of the whole image, so it judges local
texture and leaves global structure to the L1 loss. Conditioned on the rainy input by
channel concatenation, it answers "is this a plausible clean version of this rainy
patch?". Its logit map is 30x30 for a 256x256 input.

With mask_channels=1 it also sees the drop mask, the same for the real and the generated
image, so it knows where to look without being told which is which (a row of experiment
4's ablation; it gained nothing measurable, so the default leaves it out).
"""

from __future__ import annotations

import torch
from torch import nn


class PatchDiscriminator(nn.Module):
    def __init__(self, base: int = 64, layers: int = 3, conditional: bool = True, mask_channels: int = 0):
        super().__init__()
        self.conditional = conditional
        self.mask_channels = mask_channels
        blocks = [nn.Conv2d((6 if conditional else 3) + mask_channels, base, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        width = base
        for n in range(1, layers + 1):
            out = base * min(2**n, 8)
            stride = 2 if n < layers else 1
            blocks += [nn.Conv2d(width, out, 4, stride, 1, bias=False), nn.BatchNorm2d(out), nn.LeakyReLU(0.2, inplace=True)]
            width = out
        blocks.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.net = nn.Sequential(*blocks)

    def forward(self, rainy: torch.Tensor, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self._input(rainy, image, mask))

    def features(self, rainy: torch.Tensor, image: torch.Tensor, mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The activations after each LeakyReLU, for the contrastive regulariser."""
        x, found = self._input(rainy, image, mask), []
        for layer in self.net:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                found.append(x)
        return found

    def _input(self, rainy, image, mask):
        if self.mask_channels and mask is None:
            raise ValueError("this discriminator also needs the drop mask")
        parts = ([rainy] if self.conditional else []) + [image] + ([mask.to(image.dtype)] if self.mask_channels else [])
        return torch.cat(parts, dim=1) if len(parts) > 1 else image
