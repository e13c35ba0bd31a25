"""The generator of experiment 4: find the drops, then repaint only there.

It is a U-Net with two outputs at full resolution: a drop mask M (the attention map, one
logit per pixel) and a correction D of the rainy image. The output is

    output = rainy + sigmoid(M) * D        (blend=True)

so wherever the network is sure there is no drop, the rainy pixel passes through
unchanged: the pixels that doing nothing already gets right are hard to spoil. Upsampling is bilinear
resizing (after a convolution at the coarser level, where it is cheap), which has no
checkerboard pattern: a transposed convolution with stride 2 overlaps unevenly (Odena et
al. 2016). The network works from half resolution down; one convolution at full
resolution sees the upsampled features beside the rainy image itself, so the mask follows
the drops' edges. Its weights start at zero: an untrained network returns its input, and
training starts from the score of doing nothing instead of from noise.

With repaint="fill" the network does not write D itself: it weighs the pixel and copies of
the image seen 2 to 32 pixels away, and D = fill - rainy. A repaint that can only mix the
colours around a drop cannot overshoot them, which a model trained on dark drops as well
as bright ones otherwise does on real photos (docs/journal.md, "lens-dim drops and the
fill repaint").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..presets import REPAINTS


def _conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """3x3 convolution, batch norm, LeakyReLU. Batch norm matters here: without it the
    drop mask was learnt about four times slower (IoU 0.09 against 0.34 after 384 steps)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, inplace=True))


def _upsampled(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class _Up(nn.Module):
    """Convolve at the coarse level, resize x2, concatenate the encoder's features of
    that size, convolve."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.reduce = _conv(cin, cout)
        self.merge = _conv(2 * cout, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.merge(torch.cat([_upsampled(self.reduce(x), skip), skip], dim=1))


class AttentiveGenerator(nn.Module):
    own_init = True  # He et al.'s init, and a head that starts at zero

    def __init__(self, base: int = 16, depth: int = 4, blend: bool = True, context: tuple[int, ...] = (2, 4),
                 repaint: str = "correction", reach: tuple[int, ...] = (2, 4, 8, 16, 32)):
        super().__init__()
        if depth < 1:
            raise ValueError(f"attentive generator depth must be at least 1, got {depth}")
        if repaint not in REPAINTS:
            raise ValueError(f"repaint must be one of {', '.join(REPAINTS)}, got {repaint!r}")
        self.blend, self.repaint, self.reach = blend, repaint, tuple(reach)
        width = [min(base * 2**i, 8 * base) for i in range(depth)]
        self.multiple = 2**depth
        self.down = nn.ModuleList()
        for i in range(depth):
            self.down.append(nn.Sequential(_conv(3 if i == 0 else width[i - 1], width[i], stride=2), _conv(width[i], width[i])))
        # Dilated residual convolutions at the coarsest level: a wide view, so a drop is
        # judged against the scene around it.
        self.context = nn.ModuleList(_conv(width[-1], width[-1], dilation=d) for d in context)
        self.up = nn.ModuleList(_Up(width[i], width[i - 1]) for i in reversed(range(1, depth)))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # He et al.'s init keeps the activations' scale through LeakyReLU
                nn.init.kaiming_normal_(m.weight, a=0.2, nonlinearity="leaky_relu")
        outputs = 3 if repaint == "correction" else 1 + 8 * len(self.reach)
        self.head = nn.Conv2d(width[0] + 3, 1 + outputs, 3, padding=1)  # 1 mask logit + the repaint's channels
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        if repaint == "fill":  # nearly all weight on the pixel itself: the untrained network returns its input
            nn.init.constant_(self.head.bias[1:2], 10.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_mask(x)[0]

    def forward_with_mask(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(output in [-1, 1], drop-mask logits (B, 1, H, W)) for rainy images in [-1, 1]."""
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % self.multiple, -w % self.multiple
        padded = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else x
        skips = []
        y = padded
        for block in self.down:
            y = block(y)
            skips.append(y)
        y = skips.pop()
        for block in self.context:
            y = y + block(y)
        for up in self.up:
            y = up(y, skips.pop())
        # The head writes the output's pixels and the mask: it runs in fp32 under bf16
        # autocast (same speed; on two seeds +0.29 dB on the validation photo, docs/journal.md).
        with torch.autocast(x.device.type, enabled=False):
            head = self.head(torch.cat([_upsampled(y.float(), padded), padded.float()], dim=1))[..., :h, :w]
        logits, correction = head[:, :1], head[:, 1:]
        if self.repaint == "fill":
            correction = _fill(x.float(), correction, self.reach) - x
        weight = torch.sigmoid(logits) if self.blend else 1.0
        return (x + weight * correction).clamp(-1.0, 1.0), logits


# Copies seen up to this many pixels away stay sharp, so thin branches across a drop
# survive; blurring them too cut branches into pieces on the unpaired photos (docs/journal.md).
_SHARP = 4


def _fill(x: torch.Tensor, scores: torch.Tensor, reach: tuple[int, ...]) -> torch.Tensor:
    """A convex combination, per pixel, of the pixel itself and of copies of the image
    seen `reach` pixels away in eight directions (blurred beyond _SHARP), weighted by
    softmax(scores). Its colours are the image's own, so a repaint can never leave the
    range of its surroundings: no overshoot, and no tint the drop-free pixels around do
    not have."""
    h, w = x.shape[-2:]
    weights = torch.softmax(scores, dim=1)
    out = weights[:, :1] * x
    k = 1
    for r in reach:
        blurred = x
        if r > _SHARP:
            pooled = F.avg_pool2d(x, r // 2, ceil_mode=True)
            blurred = F.interpolate(pooled, size=(h, w), mode="bilinear", align_corners=False)
        padded = F.pad(blurred, (r, r, r, r), mode="replicate")
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dy or dx:
                    out = out + weights[:, k:k + 1] * padded[..., r + dy * r:r + dy * r + h, r + dx * r:r + dx * r + w]
                    k += 1
    return out
