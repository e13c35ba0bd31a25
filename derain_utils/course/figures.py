"""Figures: one function saves them all, with fixed metadata so reruns give equal files."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from torchvision.utils import make_grid

from ..paths import FIGURES_DIR

# One theme for every figure of the course: seaborn's, with a light grid, fonts sized for print.
sns.set_theme(context="paper", style="whitegrid", palette="deep", rc={"grid.alpha": 0.5})

_PNG_METADATA = {"Software": "derain"}
_PDF_METADATA = {"Creator": "derain", "Producer": "derain", "CreationDate": None}


def figure_paths(name: str, folder: str | Path = FIGURES_DIR) -> list[Path]:
    """The files save_figure writes."""
    return [Path(folder) / f"{name}.png", Path(folder) / f"{name}.pdf"]


def save_figure(fig: plt.Figure, name: str, folder: str | Path = FIGURES_DIR, dpi: int = 150) -> list[Path]:
    """Write `name`.png and `name`.pdf into `folder` (figures/ by default)."""
    paths = figure_paths(name, folder)
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(paths[0], dpi=dpi, bbox_inches="tight", metadata=_PNG_METADATA)
    fig.savefig(paths[1], bbox_inches="tight", metadata=_PDF_METADATA)
    return paths


SHEET_GAP = 3  # white pixels between the images of a sheet


def pair_sheet(rows: Sequence[Sequence[np.ndarray]], titles: Sequence[str], row_labels: Sequence[str] = ()) -> plt.Figure:
    """A grid with one row per sample and one column per image kind (e.g. rainy | clean | mask),
    laid out by torchvision's make_grid. uint8 images are drawn as they are; float maps in
    [0, 1] (a drop mask, the discriminator's confidence) in viridis, with one colour bar;
    a map smaller than the images (one value per patch) is enlarged without smoothing."""
    n_rows, n_cols = len(rows), len(titles)
    h, w = rows[0][0].shape[:2]
    sheet = sheet_image([image for images in rows for image in images], n_cols)
    fig, ax = plt.subplots(figsize=(2.6 * n_cols * w / max(h, w) + 0.4, 2.6 * n_rows * h / max(h, w)))
    ax.imshow(sheet, interpolation="nearest")
    def centres(count: int, size: int) -> list[float]:  # of the images along one side of the sheet
        return [SHEET_GAP + i * (size + SHEET_GAP) + size / 2 for i in range(count)]

    ax.set_xticks(centres(n_cols, w), titles, fontsize=10)
    ax.set_yticks(centres(len(row_labels[:n_rows]), h), row_labels[:n_rows], fontsize=8, rotation=90, va="center")
    ax.xaxis.tick_top()
    ax.tick_params(length=0, pad=2)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if any(image.dtype.kind == "f" for images in rows for image in images):
        fig.colorbar(ScalarMappable(cmap="viridis"), ax=ax, fraction=0.03, pad=0.01)
    fig.tight_layout(pad=0.3)
    return fig


def sheet_image(images: Sequence[np.ndarray], n_cols: int) -> np.ndarray:
    """The images in rows of n_cols, SHEET_GAP white pixels apart, as one (H, W, 3) float
    image in [0, 1]. Every image fills the first one's size: maps stretched to it, photos
    of another shape scaled to fit inside it and centred on white, their shape kept."""
    h, w = images[0].shape[:2]
    tiles = torch.stack([_tile(image, h, w) for image in images])
    return make_grid(tiles, nrow=n_cols, padding=SHEET_GAP, pad_value=1.0).permute(1, 2, 0).numpy()


def _tile(image: np.ndarray, h: int, w: int) -> torch.Tensor:
    """One image of a sheet as a (3, h, w) float tensor in [0, 1]."""
    if image.dtype.kind == "f":  # a map in [0, 1]
        image = torch.from_numpy(np.ascontiguousarray(np.squeeze(image), dtype=np.float32))
        image = torch.nn.functional.interpolate(image[None, None], size=(h, w), mode="nearest")[0, 0].numpy()
        rgb = colormaps["viridis"](np.clip(image, 0.0, 1.0))[..., :3]
        return torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)
    image = np.squeeze(image)
    rgb = torch.from_numpy(np.ascontiguousarray(np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image))
    tile = rgb.permute(2, 0, 1).float() / 255.0
    if tile.shape[1:] == (h, w):
        return tile
    scale = min(h / tile.shape[1], w / tile.shape[2])
    size = (max(1, round(tile.shape[1] * scale)), max(1, round(tile.shape[2] * scale)))
    fitted = torch.nn.functional.interpolate(tile[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0]
    canvas = torch.ones(3, h, w)
    top, left = (h - size[0]) // 2, (w - size[1]) // 2
    canvas[:, top:top + size[0], left:left + size[1]] = fitted.clamp(0.0, 1.0)
    return canvas
