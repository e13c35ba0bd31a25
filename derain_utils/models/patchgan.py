"""The 70x70 PatchGAN discriminator of Pix2Pix.

It scores overlapping 70x70 patches instead of the whole image, so it judges local
texture and leaves global structure to the L1 loss. Conditioned on the rainy input by
channel concatenation, it answers "is this a plausible clean version of this rainy
patch?". Its logit map is 30x30 for a 256x256 input.
"""

from __future__ import annotations

import torch
from torch import nn


class PatchDiscriminator(nn.Module):
    def __init__(self, base: int = 64, layers: int = 3, conditional: bool = True):
        super().__init__()
        self.conditional = conditional
        blocks = [nn.Conv2d(6 if conditional else 3, base, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        width = base
        for n in range(1, layers + 1):
            out = base * min(2**n, 8)
            stride = 2 if n < layers else 1
            blocks += [nn.Conv2d(width, out, 4, stride, 1, bias=False), nn.BatchNorm2d(out), nn.LeakyReLU(0.2, inplace=True)]
            width = out
        blocks.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.net = nn.Sequential(*blocks)

    def forward(self, rainy: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([rainy, image], dim=1) if self.conditional else image)
