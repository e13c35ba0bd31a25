"""The held-out image viewer: a slider in JupyterLab, a static sheet where nobody looks."""

import io

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from derain_utils.evaluation.inference import restore
from derain_utils.presets import make_config
from derain_utils.course.runs import ExperimentRun
from derain_utils.training.trainer import train
from derain_utils.course.viewer import STAGES, STATIC_ENV, blend, compare


def test_the_slide_goes_from_rainy_through_restored_to_clean(rng):
    rainy, restored, clean = (rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(3))
    images = (rainy, restored, clean)
    assert np.array_equal(blend(images, 0), rainy) and np.array_equal(blend(images, 1), restored)
    assert np.array_equal(blend(images, 2), clean) and np.array_equal(blend(images, 5), clean)
    halfway = (rainy.astype(float) + restored) / 2
    assert np.abs(blend(images, 0.5) - halfway).max() <= 0.5


def test_the_viewer_shows_what_the_model_makes_of_each_held_out_image(tmp_path, monkeypatch):
    train(make_config("pix2pix", "smoke", epochs=1), tmp_path, progress=False, device="cpu")
    run = ExperimentRun.load(tmp_path, "cpu")
    monkeypatch.delenv(STATIC_ENV, raising=False)
    view = compare(run)
    chooser, slide, picture, label = view.children
    shown = lambda: np.asarray(Image.open(io.BytesIO(picture.value)).convert("RGB"))
    rain, clean = run.val_set.arrays(0)
    assert np.array_equal(shown(), restore(run.generator, rain, run.precision))  # the slider starts on the restoration
    slide.value = 0.0
    assert np.array_equal(shown(), rain)
    chooser.value = len(run.val_set) - 1
    assert np.array_equal(shown(), run.val_set.arrays(len(run.val_set) - 1)[0])
    assert label.value.startswith(run.val_set.name(len(run.val_set) - 1)) and "doing nothing" in label.value

    monkeypatch.setenv(STATIC_ENV, "1")  # papermill and nbval: a static sheet of the first image
    sheet = compare(run, "test")
    assert isinstance(sheet, plt.Figure) and [t.get_text() for t in sheet.axes[0].get_xticklabels()] == list(STAGES)
    assert not plt.fignum_exists(sheet.number)  # closed: a notebook shows it once, as the cell's result
