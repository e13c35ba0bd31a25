"""The report's plots, drawn from what a run measured (its history), never from made-up data.

Training curves are seaborn line plots of tidy tables (one row per step or per epoch), in
the one theme figures.py sets for every figure."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .figures import sheet_image  # importing figures also sets the theme every figure is drawn in

Series = Sequence[tuple[str, str]]  # (history key, legend label)


def step_table(history: dict, series: Series) -> pd.DataFrame:
    """One row per step and series: progress in epochs (step 1 of 100 in epoch 1 is 0.01),
    the value, and its running mean over a quarter of an epoch, centred (steps jump a lot:
    an accuracy per batch is 0 or 1 for a confident discriminator)."""
    steps = pd.DataFrame(history["steps"])
    within = steps.groupby("epoch").cumcount() + 1
    x = steps["epoch"] - 1 + within / steps.groupby("epoch")["epoch"].transform("size")
    window = max(1, len(steps) // len(history["epochs"]) // 4)
    return pd.concat([pd.DataFrame({"epoch": x, "value": steps[key], "series": label,
                                    "smoothed": steps[key].rolling(window, center=True, min_periods=1).mean()})
                      for key, label in series], ignore_index=True)


def epoch_table(history: dict, series: Series) -> pd.DataFrame:
    """One row per epoch and series: the epoch's value (a mean over its steps, or a score)."""
    epochs = pd.DataFrame(history["epochs"])
    return pd.concat([pd.DataFrame({"epoch": epochs["epoch"], "value": epochs[key], "series": label}) for key, label in series],
                     ignore_index=True)


def _curves(ax, history: dict, series: Series) -> None:
    """Every step as a faint line, its running mean as a line, every epoch's mean as a dot."""
    steps, epochs = step_table(history, series), epoch_table(history, series)
    palette = dict(zip([label for _, label in series], sns.color_palette(n_colors=len(series))))
    common = dict(x="epoch", hue="series", palette=palette, estimator=None, errorbar=None, ax=ax)
    sns.lineplot(data=steps, y="value", lw=0.5, alpha=0.3, legend=False, **common)
    sns.lineplot(data=steps, y="smoothed", lw=1.4, **common)
    sns.scatterplot(data=epochs, x="epoch", y="value", hue="series", palette=palette, s=16, zorder=3, legend=False, ax=ax)
    ax.set(xlabel="epoch", ylabel="")
    ax.legend(title=None, fontsize=8)


def training_curves(history: dict, panels: Sequence[tuple[str, Series]], title: str = "", psnr: bool = False) -> plt.Figure:
    """One panel per (panel title, series): every step faint, a running mean, epoch means as
    dots; psnr=True adds the held-out PSNR per epoch beside doing nothing as a last panel."""
    fig, axes = plt.subplots(1, len(panels) + psnr, figsize=(4.2 * (len(panels) + psnr), 3.2), squeeze=False)
    if psnr:
        _psnr_panel(axes[0][-1], history)
    for ax, (panel_title, series) in zip(axes[0], panels):
        _curves(ax, history, series)
        ax.set_title(panel_title, fontsize=10)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _psnr_panel(ax, history: dict) -> None:
    scores = epoch_table(history, [("val_psnr_rgb", "model")])
    sns.lineplot(data=scores, x="epoch", y="value", marker="o", markersize=4, color=sns.color_palette()[2], label="model", ax=ax)
    ax.axhline(history["epochs"][0]["input_psnr_rgb"], color="0.4", ls="--", lw=1, label="doing nothing (rainy input)")
    ax.set_title("PSNR on held-out images (RGB)", fontsize=10)
    ax.set(xlabel="epoch", ylabel="dB")
    ax.legend(fontsize=8)


def psnr_curve(history: dict) -> plt.Figure:
    """Validation PSNR per epoch next to the score of doing nothing on the same images."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    _psnr_panel(ax, history)
    fig.tight_layout()
    return fig


def accuracy_and_psnr(history: dict) -> plt.Figure:
    """Discriminator accuracy on real and on generated images, beside the validation PSNR."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    _curves(left, history, [("d_acc_real", "real called real"), ("d_acc_fake", "generated called fake")])
    real, fake = epoch_table(history, [("d_acc_real", "")]), epoch_table(history, [("d_acc_fake", "")])
    mean = real.assign(value=(real["value"] + fake["value"]) / 2)
    sns.lineplot(data=mean, x="epoch", y="value", color="k", lw=2, label="accuracy (mean of both)", ax=left)
    left.set(ylim=(0, 1.02), ylabel="share of patches judged right")
    left.set_title("discriminator accuracy (per patch)", fontsize=10)
    left.legend(fontsize=8)
    _psnr_panel(right, history)
    fig.tight_layout()
    return fig


def histogram_panel(ax, values: dict[str, Sequence[np.ndarray]], title: str, bins: int = 64) -> None:
    """Normalised histograms of 0-255 values (all arrays of a label pooled), one line per label."""
    edges = np.linspace(0, 256, bins + 1)
    for label, arrays in values.items():
        counts, _ = np.histogram(np.concatenate([np.ravel(a) for a in arrays]), bins=edges, density=True)
        ax.plot((edges[:-1] + edges[1:]) / 2, counts, label=label)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("luminance (0-255)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


def ablation_bars(results: Sequence[dict], spread: dict | None = None) -> plt.Figure:
    """Each ablation row's PSNR gain over doing nothing, on the validation photo (where the
    choices are made) and on the test photos (scored for the record). spread: how far the
    default row moved over seeds ({"validation": dB, "test": dB}), drawn as a band around
    the default's gain: a row inside it is not told apart from the default."""
    names = [r["row"] for r in results][::-1]
    y = np.arange(len(names))
    sets = [("validation", "psnr", "input_psnr")]
    if results[0].get("test_psnr") is not None:
        sets.append(("test", "test_psnr", "test_input_psnr"))
    height = 0.8 / len(sets)
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.6))
    for i, (label, key, nothing) in enumerate(sets):
        gains = [r[key] - r[nothing] for r in results][::-1]
        ax.barh(y + (i - (len(sets) - 1) / 2) * height, gains, height, color=f"C{i}", label=f"{label} photos")
        if spread:
            ax.axvspan(gains[-1] - spread[label] / 2, gains[-1] + spread[label] / 2, color=f"C{i}", alpha=0.15, lw=0,
                       zorder=0, label=f"the default's spread over seeds ({label})")  # behind the bars
    ax.axvline(0, color="0.3", lw=1)
    ax.set_yticks(y, names)
    ax.set_xlabel("PSNR gain over doing nothing (dB, RGB)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)  # above: never over a bar
    fig.tight_layout()
    return fig


def _binned_means(x: np.ndarray, y: np.ndarray, bins: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Mean of y in bins of x holding equal numbers of points, at each bin's median x."""
    order = np.argsort(x)
    chunks = [c for c in np.array_split(order, min(bins, len(x))) if len(c)]
    return np.array([np.median(x[c]) for c in chunks]), np.array([y[c].mean() for c in chunks])


def failure_analysis(failures: dict) -> plt.Figure:
    """Three views of where a restoration gains: PSNR inside and outside the drops, and
    every drop's gain against its size and against its contrast, with binned means."""
    fig, (regions, size, contrast) = plt.subplots(1, 3, figsize=(13, 3.4))
    names = ("inside", "outside")
    for i, (who, label) in enumerate((("input", "doing nothing"), ("model", "model"))):
        values = [failures["regions"][r][who] for r in names]
        bars = regions.bar(np.arange(2) + (i - 0.5) * 0.38, values, 0.38, color=f"C{i}" if who == "model" else "0.6", label=label)
        regions.bar_label(bars, fmt="%.1f", fontsize=8)
    regions.set_xticks(np.arange(2), [f"inside drops ({failures['drop_share']:.0%})", f"outside ({1 - failures['drop_share']:.0%})"])
    regions.set(ylabel="PSNR (dB, RGB)", title="inside and outside the drops")
    regions.legend(fontsize=8)
    drops = failures["drops"]
    gain = np.array([d["gain"] for d in drops])
    for ax, key, label in ((size, "diameter", "drop diameter (pixels)"), (contrast, "contrast", "drop contrast (grey levels)")):
        x = np.array([d[key] for d in drops])
        ax.scatter(x, gain, s=4, alpha=0.25, color="C0", label=f"{len(drops)} drops")
        ax.plot(*_binned_means(x, gain), "o-", color="C3", ms=4, label="mean per bin")
        ax.axhline(0, color="0.3", ls="--", lw=1)
        ax.set(xlabel=label, ylabel="gain in the drop (dB)", title=f"gain against drop {key}")
        ax.set_xscale("log")
        ax.legend(fontsize=8)
    for ax in (regions, size, contrast):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def real_vs_rendered(samples: dict[str, Sequence], stats: dict[str, dict], per_row: int = 5) -> plt.Figure:
    """Rainy crops of every dataset at the same scale (one row each, pixels shown 1:1 in
    size), and the distributions the realism check compares: drop diameters, the share of
    strongly changed pixels and the score of doing nothing."""
    n = len(samples)
    fig = plt.figure(figsize=(2.1 * per_row, 2.1 * n + 2.8))
    grid = fig.add_gridspec(n + 1, per_row * 3, height_ratios=[1] * n + [1.25])
    for r, (label, sample) in enumerate(samples.items()):
        picks = np.linspace(0, len(sample) - 1, min(per_row, len(sample))).round().astype(int)
        ax = fig.add_subplot(grid[r, :])
        ax.imshow(sheet_image([sample[i][1] for i in picks], per_row), interpolation="nearest")
        ax.set(xticks=[], yticks=[])
        ax.grid(False)
        ax.set_ylabel(label, fontsize=9)
    panels = [("diameters", "drop diameter (pixels), weighted by drop area", np.geomspace(2, 200, 25), True),
              ("strong", "pixels changed by > 30 grey levels (%)", np.linspace(0, 100, 21), False),
              ("input_psnr", "doing nothing (dB, RGB)", np.linspace(5, 45, 21), False)]
    for k, (key, xlabel, bins, log) in enumerate(panels):
        ax = fig.add_subplot(grid[n, per_row * k : per_row * (k + 1)])
        for label, s in stats.items():
            values = s[key] * (100 if key == "strong" else 1)
            weights = values**2 if key == "diameters" else None  # where the drop pixels are, not the count of specks
            ax.hist(values, bins=bins, weights=weights, density=True, histtype="step", linewidth=1.5, label=label)
        ax.set(xlabel=xlabel, yticks=[])
        if log:
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout(pad=0.4)
    return fig
