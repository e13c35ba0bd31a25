"""Looking, not only reading: slide from a held-out image's rainy input through the
model's restoration to its clean target, and pick the image from a list.

In JupyterLab this is an ipywidgets slider and dropdown. Where nobody can move a slider
(papermill in `derain reproduce`, nbval in the tests: both set DERAIN_STATIC) or
ipywidgets is missing, the same images are drawn as one static sheet instead.
"""

from __future__ import annotations

import io
import os

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from ..evaluation.inference import restore
from ..evaluation.metrics import psnr
from .figures import pair_sheet

STATIC_ENV = "DERAIN_STATIC"
STAGES = ("rainy input", "restored", "clean target")


def blend(images: tuple[np.ndarray, np.ndarray, np.ndarray], position: float) -> np.ndarray:
    """The picture at `position` on the slide: 0 is the rainy input, 1 the restoration,
    2 the clean target; in between, a cross-fade of the two neighbours."""
    position = float(np.clip(position, 0.0, 2.0))
    first = min(int(position), 1)
    t = position - first
    mixed = (1 - t) * images[first].astype(np.float32) + t * images[first + 1].astype(np.float32)
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def compare(run, split: str = "val"):
    """A viewer of the run's held-out images of `split` ('val' or 'test')."""
    dataset = run.val_set if split == "val" else run.test_set
    if dataset is None:
        raise ValueError(f"{run.folder}: no {split} images to look at")
    cache: dict[int, tuple] = {}

    def images(index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if index not in cache:
            rain, clean = dataset.arrays(index)
            cache[index] = (rain, restore(run.generator, rain, run.precision), clean)
        return cache[index]

    def caption(index: int) -> str:
        rain, out, clean = images(index)
        return f"{dataset.name(index)}: restored {psnr(out, clean):.2f} dB, doing nothing {psnr(rain, clean):.2f} dB"

    def static():  # shown once, as the cell's result: closed, so the inline backend does not show it again
        sheet = pair_sheet([images(0)], STAGES, [caption(0)])
        plt.close(sheet)
        return sheet

    if os.environ.get(STATIC_ENV):
        return static()
    try:
        import ipywidgets as widgets
    except ImportError:
        return static()

    picture = widgets.Image(format="png")
    label = widgets.Label()
    chooser = widgets.Dropdown(options=[(dataset.name(i), i) for i in range(len(dataset))], description="image")
    slide = widgets.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.05, readout=False,
                                description="rainy - restored - clean", style={"description_width": "initial"},
                                layout=widgets.Layout(width="40em"))

    def show(_=None):
        buffer = io.BytesIO()
        Image.fromarray(blend(images(chooser.value), slide.value)).save(buffer, format="PNG")
        picture.value = buffer.getvalue()
        label.value = caption(chooser.value)

    chooser.observe(show, names="value")
    slide.observe(show, names="value")
    show()
    return widgets.VBox([chooser, slide, picture, label])
