"""Figures: one function saves them all, with fixed metadata so reruns give equal files."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from .paths import FIGURES_DIR

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


def pair_sheet(rows: Sequence[Sequence[np.ndarray]], titles: Sequence[str], row_labels: Sequence[str] = ()) -> plt.Figure:
    """A grid with one row per sample and one column per image kind (e.g. rainy | clean | mask).
    uint8 images are drawn as they are; float maps in [0, 1] get a colour scale."""
    n_rows, n_cols = len(rows), len(titles)
    h, w = rows[0][0].shape[:2]
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.6 * n_cols * w / max(h, w) + 0.4, 2.6 * n_rows * h / max(h, w)), squeeze=False)
    for r, images in enumerate(rows):
        for c, image in enumerate(images):
            ax = axes[r][c]
            if image.dtype.kind == "f":  # a map in [0, 1], e.g. discriminator confidence
                shown = ax.imshow(image, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
                fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
            else:
                ax.imshow(image if image.ndim == 3 and image.shape[2] == 3 else np.squeeze(image), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=10)
            if c == 0 and r < len(row_labels):
                ax.set_ylabel(row_labels[r], fontsize=8)
    fig.tight_layout(pad=0.3)
    return fig
