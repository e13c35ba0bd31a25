"""The baseline GAN of experiment 1: an encoder-decoder with a 128-d bottleneck.

Everything the generator knows about the image must pass through 128 numbers, which
is why its outputs are blurry: the experiment shows what a plain GAN without skip
connections or a pixel loss can do.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _up_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, cout, 3, padding=1))


class Encoder(nn.Module):
    """4 blocks of 3x3 conv, batch norm, ReLU, 2x2 average pooling after every second
    block (width 32, doubling at each pooling), adaptive pooling and a linear layer."""

    def __init__(self, base: int = 32, latent: int = 128, pooled: int = 8):
        super().__init__()
        self.features = nn.Sequential(
            _conv_block(3, base), _conv_block(base, base), nn.AvgPool2d(2),
            _conv_block(base, 2 * base), _conv_block(2 * base, 2 * base), nn.AvgPool2d(2),
            nn.AdaptiveAvgPool2d(pooled),
        )
        self.to_latent = nn.Linear(2 * base * pooled * pooled, latent)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_latent(self.features(x).flatten(1))


class BaselineGenerator(nn.Module):
    """Encoder, then the mirrored decoder: a linear layer up to a (2*base, S/4, S/4) map,
    4 blocks of batch norm, ReLU, 3x3 conv with 2x upsampling after every second block,
    and a tanh output. S is the training image size; other sizes are resized to S and back.
    """

    def __init__(self, image_size: int = 256, base: int = 32, latent: int = 128):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"baseline image_size must be a multiple of 4, got {image_size}")
        self.image_size = image_size
        self.start = (2 * base, image_size // 4, image_size // 4)
        self.encoder = Encoder(base, latent)
        self.from_latent = nn.Linear(latent, 2 * base * (image_size // 4) ** 2)
        self.decoder = nn.Sequential(
            _up_block(2 * base, 2 * base), _up_block(2 * base, 2 * base), nn.Upsample(scale_factor=2),
            _up_block(2 * base, base), _up_block(base, base), nn.Upsample(scale_factor=2),
            nn.Conv2d(base, 3, 3, padding=1), nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        if tuple(size) != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size,) * 2, mode="bilinear", align_corners=False, antialias=True)
        y = self.decoder(self.from_latent(self.encoder(x)).view(-1, *self.start))
        if tuple(size) != (self.image_size, self.image_size):
            y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
        return y


class BaselineDiscriminator(nn.Module):
    """The same encoder and a linear real/fake logit; it sees only the (clean or
    generated) image, as the report's baseline does."""

    def __init__(self, base: int = 32, latent: int = 128):
        super().__init__()
        self.encoder = Encoder(base, latent)
        self.head = nn.Linear(latent, 1)

    def forward(self, rainy: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(image))
