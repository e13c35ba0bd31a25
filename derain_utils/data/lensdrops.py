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

The "lens" style adds the physics of Hao et al. (ICCVW 2019) in a form cheap enough for
a renderer that runs beside training: each drop is a spherical cap of a drawn contact
angle, whose surface tilt sets how far each ray is deviated (Snell's law, n = 1.333) and
where it is totally reflected (a dark rim, only on steep drops); the defocus follows a
drawn focus distance; dense tiny specks come on top of the drops.

Everything is vectorised over a batch with torch; every random draw of image ``i`` comes
from its own seed, so a pair does not depend on the batch it was rendered in.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

# A metaball of support radius R, w = (1 - r^2/R^2)^2, crosses this level at r = 0.744 R.
_LEVEL = 0.2
_VISIBLE = math.sqrt(1.0 - math.sqrt(_LEVEL))
# A drop layer blurred by at least this many of its own pixels (Gaussian sigma) is smooth
# enough to be rendered at a lower resolution and enlarged. At 0.75 the models trained on
# the lens style lost 0.2-0.5 dB on real photos (two seeds): specks thinner than a pixel of
# the smaller layer vanish. At 1.5 no 128x128 training crop of the lens style qualifies.
_SMOOTH = 1.5


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
    # Physics of the "lens" style; the neutral defaults keep the older styles as they were.
    contact: tuple[float, float] = (0.0, 0.0)  # contact angle of spherical-cap drops, degrees (0: a ball lens's linear view)
    focus: tuple[float, float] = (0.0, 0.0)  # camera focus distance / the glass's distance, log-uniform (0: blur alone)
    specks: tuple[int, int] = (0, 0)  # tiny drops per image, on top of `count`
    speck_radius: tuple[float, float] = (0.003, 0.012)  # their visible radius, log-uniform
    dim: float = 0.0  # share of drops darker than the rest: over a bright surface a drop shows a darker view of the scene
    dim_gain: tuple[float, float] = (0.4, 0.8)  # their brightness relative to the other drops
    pool: int = 4  # a drop shows the scene as seen in an image this many times smaller (its own defocus)
    layer_scale: int = 1  # the defocused drop layer is rendered at 1/layer_scale of the resolution, then enlarged

    def to_dict(self) -> dict:
        return asdict(self)


# The styles a run can train on (TrainConfig.drop_style). "crisp" draws small drops with dark
# rims over a clear scene; chapter 1 keeps it as the contrast to real drops. "soft" is
# closer to the real pairs of the realism check (docs/data.md): larger, more defocused drops
# with faint rims, under a stronger veil of scattered light. "lens" was set beside the
# real wet-lens photos (docs/journal.md, "the lens drop style"): round, bright, smooth drops
# of spherical caps, soft-edged, with specks; its model transfers to real photos, and it is
# the embedded default (presets.DEFAULT_DROP_STYLE).
# "lens-dim" darkens 40% of those drops, as real drops look over bright walls and sky; a
# model must then repaint dark drops too, which pays only with a repaint bounded to the
# surroundings' colours (`--repaint fill`, docs/training.md).
STYLES = {
    "crisp": DropStyle(),
    "soft": DropStyle(count=(20, 140), radius=(0.01, 0.12), elongated=0.2, merge=0.3, blur=(0.01, 0.04), minify=(2.0, 6.0),
                      rim=(0.05, 0.3), gain=(1.0, 1.2), haze=(0.15, 0.5), opacity=(0.5, 0.9), highlight=0.25),
    "lens": DropStyle(count=(15, 70), radius=(0.015, 0.09), elongated=0.1, merge=0.1, blur=(0.005, 0.02), minify=(3.0, 10.0),
                      rim=(0.2, 0.6), gain=(1.05, 1.3), haze=(0.4, 0.85), opacity=(0.7, 1.0), highlight=0.4,
                      contact=(30.0, 85.0), focus=(3.0, 100.0), specks=(20, 200), pool=8, layer_scale=2),
}
STYLES["lens-dim"] = replace(STYLES["lens"], dim=0.4)


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
    dim: np.ndarray  # brightness factor, 1 for most drops


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
    # The lens style's draws come after all of the above, so older styles keep their drops.
    per_image["contact"] = np.radians(rng.uniform(*style.contact)) if style.contact[1] else 0.0
    per_image["focus"] = np.exp(rng.uniform(*np.log(style.focus))) if style.focus[1] else np.inf
    if style.specks[1]:
        m = int(rng.integers(style.specks[0], style.specks[1] + 1))
        speck = np.exp(rng.uniform(*np.log(np.asarray(style.speck_radius) * side), m))
        x, y = np.append(x, rng.uniform(0, width, m)), np.append(y, rng.uniform(0, height, m))
        radius, stretch, angle = np.append(radius, speck), np.append(stretch, np.ones(m)), np.append(angle, np.full(m, np.pi / 2))
        minify = np.append(minify, rng.uniform(*style.minify, m))
        highlight = np.append(highlight, np.where(rng.random(m) < style.highlight, rng.uniform(0.25, 0.7, m), 0.0))
    dim = np.where(rng.random(len(x)) < style.dim, rng.uniform(*style.dim_gain, len(x)), 1.0) if style.dim else np.ones(len(x))
    per_drop = (x, y, radius / _VISIBLE, stretch, angle, minify, highlight, dim)
    return per_image, per_drop


def _splat(drops: _Drops, batch: int, height: int, width: int, light: np.ndarray, dimmed: bool = False):
    """Sum every drop's metaball and weighted refraction offsets (and, when some drops are
    dimmed, weighted brightness factors) into image-sized fields.

    Each drop is evaluated on a square patch around it and scattered with index_add_, so
    the cost grows with the drops' area, not with drops x pixels. Drops are grouped by
    size so that small drops do not pay for the patch of the largest one.
    """
    fields = torch.zeros(4 + dimmed, batch * height * width)
    order = np.argsort(drops.support, kind="stable")
    for group in np.array_split(order, min(8, len(order))):
        if group.size:
            flat, values = _drop_patches(drops, group, height, width, light, dimmed)
            fields.index_add_(1, flat, values)
    return fields.view(4 + dimmed, batch, height, width)


def _drop_patches(drops: _Drops, group: np.ndarray, height: int, width: int, light: np.ndarray, dimmed: bool = False):
    """Flat pixel indices and (weight, offset x, offset y, highlight[, weighted brightness
    factor]) values of some drops.

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
    values = [w, w * lens * dx, w * lens * dy, shine] + ([w * per_pixel(column(drops.dim))] if dimmed else [])
    return flat, torch.stack(values)


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
    drawn = [_draw_image_params(seed, h, w, style) for seed in seeds]
    # Where the defocus is wide the drop layer is smooth, and it is rendered at
    # 1/style.layer_scale of the resolution, then enlarged: a quarter of the pixels.
    scales = [style.layer_scale if _defocus(p) >= _SMOOTH * style.layer_scale and min(h, w) >= 32 * style.layer_scale
              else 1 for p, _ in drawn]
    groups = {s: [i for i, t in enumerate(scales) if t == s] for s in sorted(set(scales))}
    if len(groups) == 1:
        layer = _drop_layer(clean, drawn, scales[0], style)
    else:
        layer = torch.empty(b, 4, h, w)
        for scale, images in groups.items():
            layer[images] = _drop_layer(clean[images], [drawn[i] for i in images], scale, style)
    premultiplied, mask = layer[:, :3], layer[:, 3:].clamp(0.0, 1.0)
    rainy = (clean * (1.0 - mask)).add_(premultiplied).clamp_(0.0, 1.0)  # in place: a batch is large
    return rainy, mask


def _defocus(params: dict) -> float:
    """The Gaussian sigma, in pixels, of an image's drop layer: a point on the glass at
    distance g, seen with the focus at distance D, blurs in proportion to 1 - g / D."""
    return params["blur"] * (1.0 - 1.0 / params["focus"])


def _drop_layer(clean: torch.Tensor, drawn: list, scale: int, style: DropStyle) -> torch.Tensor:
    """(B, 4, H, W): the blurred drop layer of a batch, premultiplied colour and opacity,
    rendered at 1/scale of the resolution and enlarged back."""
    b, _, height, width = clean.shape
    h, w = -(-height // scale), -(-width // scale)
    per_image, cols = [], [[] for _ in range(9)]
    for i, (params, drops) in enumerate(drawn):
        per_image.append(params)
        cols[0].append(np.full(len(drops[0]), i))
        for col, values in zip(cols[1:], drops):
            col.append(values)
    drops = _Drops(*(np.concatenate(c) for c in cols))
    if scale > 1:  # pixel centres: full-resolution x lies at (x + 0.5) / scale - 0.5 in the layer
        drops.x, drops.y = (drops.x + 0.5) / scale - 0.5, (drops.y + 0.5) / scale - 0.5
        drops.support = drops.support / scale
    light = np.array([p["light"] for p in per_image])
    field, off_x, off_y, shine, *dim = _splat(drops, b, h, w, light, dimmed=bool(style.dim))

    # Opacity: the metaball level set, anti-aliased over a thin band.
    alpha = (field - _LEVEL).div_(0.05).clamp_(0.0, 1.0)[:, None]

    # Content: each pixel of a drop looks at centre - minify * offset, an inverted and
    # minified view; it is sampled from a downscaled scene (style.pool), which also defocuses it.
    total = field.clamp_min(1e-6)
    off_x, off_y = off_x.div_(total), off_y.div_(total)
    if style.contact[1]:  # spherical caps: a bent view, and a rim of totally reflected light
        bend, edge = _cap_optics(field, torch.tensor([p["contact"] for p in per_image], dtype=torch.float32))
        off_x, off_y = off_x.mul_(bend), off_y.mul_(bend)
    else:  # a ball lens: its edge darkens, 0 at the rim and ~1 in the middle of the depth
        edge = torch.exp(-((field - _LEVEL) / (1.0 - _LEVEL)).clamp(0.0, 1.0) / 0.12)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    grid = torch.stack([(2 * (xs - off_x) + 1) / w - 1, (2 * (ys - off_y) + 1) / h - 1], dim=-1)
    small = F.avg_pool2d(clean, style.pool, ceil_mode=True) if min(height, width) >= 8 * style.pool else clean
    seen = F.grid_sample(small, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    rim = torch.tensor([p["rim"] for p in per_image])[:, None, None]
    gain = torch.tensor([p["gain"] for p in per_image])[:, None, None]
    shade = gain * (1.0 - rim * edge)
    if dim:
        shade = shade * dim[0].div_(total)
    # Water scatters light: the drop's view is veiled towards the scene's bright tones.
    haze = torch.tensor([p["haze"] for p in per_image])[:, None, None, None]
    bright = torch.quantile(small.flatten(2), 0.9, dim=2)[:, :, None, None]
    colour = seen.mul_(1.0 - haze).add_(bright * haze).mul_(shade[:, None]).add_(shine[:, None]).clamp_(0.0, 1.0)

    # The camera focuses on the scene, so the drop layer is out of focus.
    sigma = torch.tensor([_defocus(p) / scale for p in per_image], dtype=torch.float32)
    # A drop in front of a defocused lens blocks only part of the light cone of each scene
    # point, so the scene still shows through it.
    alpha = alpha.mul_(torch.tensor([p["opacity"] for p in per_image])[:, None, None, None])
    layer = torch.empty(b, 4, h, w)  # premultiplied colour and opacity, blurred together
    torch.mul(colour, alpha, out=layer[:, :3])
    layer[:, 3:] = alpha
    layer = _gaussian_blur(layer, sigma)
    if scale > 1:
        layer = F.interpolate(layer, size=(height, width), mode="bilinear", align_corners=False)
    return layer


def _cap_optics(field: torch.Tensor, contact: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Refraction by spherical-cap drops of the given contact angles (radians, per image).

    A camera ray crosses the glass, meets the drop's surface where it is tilted by alpha
    (sin alpha = q sin(contact) at the relative radius q) and leaves the water (n = 1.333)
    deviated by asin(n sin alpha) - alpha; where n sin alpha > 1 it is totally reflected
    back into the drop, which then looks dark. Returns the factor that turns the ball
    lens's linear view (offset proportional to q) into the cap's, equal at the edge of the
    refracting part, and the share of light lost to total internal reflection."""
    n = 1.333
    # Whole-image arithmetic in place: a batch of fields is large.
    q = field.clamp(0.0, 1.0).sqrt_().neg_().add_(1.0).div_(1.0 - math.sqrt(_LEVEL)).clamp_(1e-3, 1.0).sqrt_()
    sin_c = torch.sin(contact).clamp_min(1e-3)[:, None, None]
    tilt = (q * sin_c).clamp_(max=1.0)

    def deviation(sin_tilt):
        return torch.asin((n * sin_tilt).clamp_(max=1.0)).sub_(torch.asin(sin_tilt))

    edge = torch.minimum(sin_c, torch.full_like(sin_c, 1.0 / n))  # sin of the tilt where refraction ends
    bend = torch.tan(deviation(tilt)).div_(torch.tan(deviation(edge))).mul_(edge / sin_c).div_(q)
    reflected = (n * tilt).sub_(1.0).div_(0.04).clamp_(0.0, 1.0)
    return bend, reflected
