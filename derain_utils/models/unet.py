"""The Pix2Pix U-Net generator.

Strided 4x4 convolutions halve the image down to a bottleneck; transposed convolutions
bring it back, each concatenated with the encoder features of the same size, so fine
detail skips the bottleneck. Depth 6 is the report's network; depth 8 with 64 base
channels is the original pix2pix "unet_256" (54,413,955 parameters).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class UNetGenerator(nn.Module):
    def __init__(self, depth: int = 6, base: int = 64, dropout: float = 0.5, residual: bool = False):
        super().__init__()
        self.residual = residual
        if depth < 2:
            raise ValueError(f"U-Net depth must be at least 2, got {depth}")
        ch = [min(base * 2**i, 8 * base) for i in range(depth)]
        self.multiple = 2**depth
        self.down = nn.ModuleList()
        for i in range(depth):
            layers = [] if i == 0 else [nn.LeakyReLU(0.2, inplace=True)]
            layers.append(nn.Conv2d(3 if i == 0 else ch[i - 1], ch[i], 4, 2, 1, bias=False))
            if 0 < i < depth - 1:
                layers.append(nn.BatchNorm2d(ch[i]))
            self.down.append(nn.Sequential(*layers))
        # As in pix2pix, dropout sits in the widest up blocks next to the bottleneck.
        dropped = set(range(depth - 2, depth - 2 - max(0, depth - 5), -1))
        self.up = nn.ModuleList()
        for i in reversed(range(depth)):
            cin = ch[i] if i == depth - 1 else 2 * ch[i]
            if i == 0:
                layers = [nn.ReLU(inplace=True), nn.ConvTranspose2d(cin, 3, 4, 2, 1)] + ([] if residual else [nn.Tanh()])
            else:
                layers = [nn.ReLU(inplace=True), nn.ConvTranspose2d(cin, ch[i - 1], 4, 2, 1, bias=False), nn.BatchNorm2d(ch[i - 1])]
                if i in dropped and dropout:
                    layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.residual:  # a correction added to the input, so untouched pixels start exact
            return (x + self._unet(x)).clamp(-1.0, 1.0)
        return self._unet(x)

    def _unet(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % self.multiple, -w % self.multiple
        if pad_h or pad_w:  # any size works: mirror-pad to a multiple, crop back after
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = self.up[0](skips.pop())
        for block in self.up[1:]:
            x = block(torch.cat([x, skips.pop()], dim=1))
        return x[..., :h, :w]
