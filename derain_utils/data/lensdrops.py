"""A synthetic renderer of water drops stuck on a camera lens.

Why a renderer: the real Raindrop dataset cannot ship with the project, yet the models
need pairs to learn from. Each drop is modelled as a small lens on the glass:

* shape: drops are metaballs, so neighbours merge into one blob; some are stretched and
  tilted like drops that started to run;
* content: a drop shows an inverted, minified and defocused view of the scene around
  it (a ball lens flips and shrinks what lies behind it);
* shading: the rim is dark because light there is refracted out of the camera, the body is
  a little brighter than the scene, and some drops carry a specular highlight;
* focus: the camera focuses on the scene, so the whole drop layer is blurred before it is
  composited, which gives the soft edges of real lens drops; and since a drop covers only
  part of the defocused aperture, the scene partly shows through it.

Everything is vectorised over a batch with torch; every random draw of image ``i`` comes
from its own seed, so a pair does not depend on the batch it was rendered in.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

# A metaball of support radius R, w = (1 - r^2/R^2)^2, crosses this level at r = 0.744 R.
_LEVEL = 0.2
_VISIBLE = math.sqrt(1.0 - math.sqrt(_LEVEL))


@dataclass(frozen=True)
class DropStyle:
    """Ranges the renderer draws from; lengths are fractions of the image's shorter side,
    so one style looks the same at 256x256 and at 720x480."""

    count: tuple[int, int] = (20, 160)  # drops per image
    radius: tuple[float, float] = (0.008, 0.06)  # visible radius, drawn log-uniformly
    elongated: float = 0.3  # share of drops stretched like running drops
    stretch: tuple[float, float] = (1.2, 1.9)  # major/minor axis ratio of those
    merge: float = 0.25  # share of drops placed against another one so they merge
    blur: tuple[float, float] = (0.001, 0.015)  # defocus sigma of the drop layer, log-uniform
    minify: tuple[float, float] = (2.0, 8.0)  # scene radius seen through a drop / its radius
    rim: tuple[float, float] = (0.25, 0.6)  # rim darkening
    gain: tuple[float, float] = (1.0, 1.15)  # drop body brightness relative to the scene
    haze: tuple[float, float] = (0.05, 0.4)  # veil of scattered light, towards the scene's brightest tones
    opacity: tuple[float, float] = (0.5, 1.0)  # a defocused drop covers only part of the aperture
    highlight: float = 0.35  # share of drops with a specular highlight

    def to_dict(self) -> dict:
        return asdict(self)


# The styles a run can train on (TrainConfig.drop_style). "crisp" is the default every
# committed number comes from: small drops with dark rims over a clear scene. "soft" is
# closer to the real pairs of the realism check (README): larger, more defocused drops
# with faint rims, under a stronger veil of scattered light. Issue 11 measures it.
STYLES = {
    "crisp": DropStyle(),
    "soft": DropStyle(count=(20, 140), radius=(0.01, 0.12), elongated=0.2, merge=0.3, blur=(0.01, 0.04), minify=(2.0, 6.0),
                      rim=(0.05, 0.3), gain=(1.0, 1.2), haze=(0.15, 0.5), opacity=(0.5, 0.9), highlight=0.25),
}


def drop_style(name: str) -> DropStyle:
    """A named style, or an error that lists the names."""
    if name not in STYLES:
        raise ValueError(f"drop style {name!r}: expected one of {', '.join(STYLES)}")
    return STYLES[name]


@dataclass
class _Drops:
    """Per-drop parameters of a whole batch, as flat arrays."""

    image: np.ndarray  # index of the image in the batch
    x: np.ndarray
    y: np.ndarray
    support: np.ndarray  # metaball support radius in pixels
    stretch: np.ndarray
    angle: np.ndarray
    minify: np.ndarray
    highlight: np.ndarray  # highlight amplitude, 0 for most drops


def _draw_image_params(seed: int, height: int, width: int, style: DropStyle):
    """All random draws for one image, from its own seed."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x1E45]))
    side = min(height, width)
    n = int(rng.integers(style.count[0], style.count[1] + 1))
    lo, hi = np.log(style.radius[0] * side), np.log(style.radius[1] * side)
    radius = np.exp(rng.uniform(lo, hi, n))
    x = rng.uniform(0, width, n)
    y = rng.uniform(0, height, n)
    # Some drops are moved next to an earlier one so that their metaballs merge.
    merging = np.flatnonzero(rng.random(n) < style.merge)
    merging = merging[merging > 0]
    if merging.size:
        partner = (rng.random(merging.size) * merging).astype(int)
        direction = rng.uniform(0, 2 * np.pi, merging.size)
        gap = (radius[merging] + radius[partner]) * rng.uniform(0.7, 1.05, merging.size)
        x[merging] = np.clip(x[partner] + gap * np.cos(direction), 0, width - 1)
        y[merging] = np.clip(y[partner] + gap * np.sin(direction), 0, height - 1)
    stretched = rng.random(n) < style.elongated
    stretch = np.where(stretched, rng.uniform(*style.stretch, n), 1.0)
    angle = np.pi / 2 + rng.normal(0, 0.35, n)  # running drops hang roughly vertically
    minify = rng.uniform(*style.minify, n)
    highlight = np.where(rng.random(n) < style.highlight, rng.uniform(0.25, 0.7, n), 0.0)
    per_image = {
        "blur": np.exp(rng.uniform(*np.log(style.blur))) * side,
        "haze": rng.uniform(*style.haze),
        "opacity": rng.uniform(*style.opacity),
        "rim": rng.uniform(*style.rim),
        "gain": rng.uniform(*style.gain),
        "light": rng.uniform(-np.pi, 0),  # direction the highlight sits towards (upwards)
    }
    per_drop = (x, y, radius / _VISIBLE, stretch, angle, minify, highlight)
    return per_image, per_drop


def _splat(drops: _Drops, batch: int, height: int, width: int, light: np.ndarray):
    """Sum every drop's metaball and weighted refraction offsets into image-sized fields.

    Each drop is evaluated on a square patch around it and scattered with index_add_, so
    the cost grows with the drops' area, not with drops x pixels. Drops are grouped by
    size so that small drops do not pay for the patch of the largest one.
    """
    fields = torch.zeros(4, batch * height * width)
    order = np.argsort(drops.support, kind="stable")
    for group in np.array_split(order, min(8, len(order))):
        if group.size:
            flat, values = _drop_patches(drops, group, height, width, light)
            fields.index_add_(1, flat, values)
    return fields.view(4, batch, height, width)


def _drop_patches(drops: _Drops, group: np.ndarray, height: int, width: int, light: np.ndarray):
    """Flat pixel indices and (weight, offset x, offset y, highlight) values of some drops.

    Only the metaball's footprint is evaluated on the whole square patch; everything else
    is computed for the pixels inside a drop alone (about half the patch, less for
    stretched drops)."""

    def column(values):
        return torch.from_numpy(np.ascontiguousarray(values[group])).float()[:, None, None]

    support = column(drops.support)
    half = int(np.ceil((drops.support[group] * np.sqrt(drops.stretch[group])).max())) + 1  # a stretched drop's long axis
    offs = torch.arange(-half, half + 1, dtype=torch.float32)
    cx, cy = column(drops.x), column(drops.y)
    px = torch.round(cx) + offs[None, None, :]  # (n, 1, side): columns of each patch
    py = torch.round(cy) + offs[None, :, None]  # (n, side, 1): rows
    dx, dy = px - cx, py - cy  # offset of each patch pixel from the drop centre
    # u^2 + v^2 of the drop's own axes (u along the long one, stretched), as a quadratic
    # form in (dx, dy): three terms on the whole patch instead of two rotations.
    angle = column(drops.angle)
    cos, sin = torch.cos(angle), torch.sin(angle)
    stretch = column(drops.stretch)
    along, across = 1.0 / (support * support * stretch), stretch / (support * support)
    a = along * cos * cos + across * sin * sin
    b = 2.0 * (along - across) * cos * sin
    c = along * sin * sin + across * cos * cos
    w = (1.0 - (a * dx * dx + b * dx * dy + c * dy * dy)).clamp_min(0.0) ** 2
    keep = (w > 0) & ((px >= 0) & (px < width)) & ((py >= 0) & (py < height))
    side = 2 * half + 1
    index = keep.view(-1).nonzero().squeeze(1)  # kept pixels, as indices into the (n, side, side) patches
    drop = index // (side * side)
    row, col = (index // side) % side, index % side

    def per_pixel(values):  # a per-drop (n, 1, 1) value at every kept pixel
        return values.reshape(-1).index_select(0, drop)

    w = w.view(-1).index_select(0, index)
    dx, dy = dx.reshape(-1).index_select(0, drop * side + col), dy.reshape(-1).index_select(0, drop * side + row)

    # A specular highlight: a small bright spot off-centre, towards the light.
    direction = light[drops.image]
    spot = 0.35 * _VISIBLE * support
    sx = dx - per_pixel(column(np.cos(direction)) * spot)
    sy = dy - per_pixel(column(np.sin(direction)) * spot)
    shine = per_pixel(column(drops.highlight)) * torch.exp(-(sx * sx + sy * sy) / per_pixel(2 * (0.3 * spot) ** 2))

    lens = per_pixel(1.0 + column(drops.minify))
    corner = torch.from_numpy(drops.image[group]) * (height * width) + (py[:, 0, 0].long() * width + px[:, 0, 0].long())
    flat = corner.index_select(0, drop) + row * width + col
    return flat, torch.stack([w, w * lens * dx, w * lens * dy, shine])


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with one sigma per image, truncated at 3 sigma so that
    pixels far from any drop stay exactly zero. Images are blurred in groups of equal
    kernel width, so a batch pays for each image's own kernel, not the widest one."""
    b, c, h, w = x.shape
    sigma = sigma.clamp_min(1e-3)
    halves = torch.ceil(3 * sigma).long().clamp(1, min(h, w) - 1)
    out = torch.empty_like(x)
    for half in torch.unique(halves).tolist():
        images = (halves == half).nonzero().squeeze(1)
        count = len(images)
        t = torch.arange(-half, half + 1, dtype=torch.float32)
        s = sigma[images, None]
        k = torch.exp(-(t * t) / (2 * s * s)) * (t.abs() <= 3 * s)
        k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (count * c, taps)
        y = F.pad(x.index_select(0, images).reshape(1, count * c, h, w), (half, half, half, half), mode="reflect")
        y = F.conv2d(y, k[:, None, None, :], groups=count * c)
        out.index_copy_(0, images, F.conv2d(y, k[:, None, :, None], groups=count * c).view(count, c, h, w))
    return out


def render_drops(
    clean: torch.Tensor, seeds: Sequence[int], style: DropStyle = DropStyle()
) -> tuple[torch.Tensor, torch.Tensor]:
    """Render lens drops onto a batch of clean images.

    clean: (B, 3, H, W) float in [0, 1]; seeds: one integer per image.
    Returns (rainy, mask): rainy (B, 3, H, W) in [0, 1], and mask (B, 1, H, W), the drop
    layer's opacity in [0, 1]. Wherever mask is 0, rainy equals clean exactly.
    """
    if clean.ndim != 4 or clean.shape[1] != 3:
        raise ValueError(f"clean must be (B, 3, H, W), got {tuple(clean.shape)}")
    if len(seeds) != clean.shape[0]:
        raise ValueError(f"{len(seeds)} seeds for a batch of {clean.shape[0]} images")
    clean = clean.float().cpu()
    b, _, h, w = clean.shape
    per_image, cols = [], [[] for _ in range(8)]
    for i, seed in enumerate(seeds):
        params, drops = _draw_image_params(seed, h, w, style)
        per_image.append(params)
        cols[0].append(np.full(len(drops[0]), i))
        for col, values in zip(cols[1:], drops):
            col.append(values)
    drops = _Drops(*(np.concatenate(c) for c in cols))
    light = np.array([p["light"] for p in per_image])
    field, off_x, off_y, shine = _splat(drops, b, h, w, light)

    # Opacity: the metaball level set, anti-aliased over a thin band.
    alpha = ((field - _LEVEL) / 0.05).clamp(0.0, 1.0)[:, None]
    depth = ((field - _LEVEL) / (1.0 - _LEVEL)).clamp(0.0, 1.0)  # 0 at the rim, ~1 in the middle

    # Content: each pixel of a drop looks at centre - minify * offset, an inverted and
    # minified view; it is sampled from a 4x-downscaled scene, which also defocuses it.
    total = field.clamp_min(1e-6)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    src_x = xs - off_x / total
    src_y = ys - off_y / total
    grid = torch.stack([(2 * src_x + 1) / w - 1, (2 * src_y + 1) / h - 1], dim=-1)
    small = F.avg_pool2d(clean, 4, ceil_mode=True) if min(h, w) >= 32 else clean
    seen = F.grid_sample(small, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    rim = torch.tensor([p["rim"] for p in per_image])[:, None, None]
    gain = torch.tensor([p["gain"] for p in per_image])[:, None, None]
    shade = gain * (1.0 - rim * torch.exp(-depth / 0.12))
    # Water scatters light: the drop's view is veiled towards the scene's bright tones.
    haze = torch.tensor([p["haze"] for p in per_image])[:, None, None, None]
    bright = torch.quantile(small.flatten(2), 0.9, dim=2)[:, :, None, None]
    veiled = seen * (1.0 - haze) + bright * haze
    colour = (veiled * shade[:, None] + shine[:, None]).clamp(0.0, 1.0)

    # The camera focuses on the scene, so the drop layer is out of focus.
    sigma = torch.tensor([p["blur"] for p in per_image], dtype=torch.float32)
    # A drop in front of a defocused lens blocks only part of the light cone of each scene
    # point, so the scene still shows through it.
    alpha = alpha * torch.tensor([p["opacity"] for p in per_image])[:, None, None, None]
    layer = torch.empty(b, 4, h, w)  # premultiplied colour and opacity, blurred together
    torch.mul(colour, alpha, out=layer[:, :3])
    layer[:, 3:] = alpha
    layer = _gaussian_blur(layer, sigma)
    premultiplied, mask = layer[:, :3], layer[:, 3:].clamp(0.0, 1.0)
    rainy = (clean * (1.0 - mask) + premultiplied).clamp(0.0, 1.0)
    return rainy, mask
