"""The training curves: tidy tables of what a run measured, drawn the same way every time."""

import hashlib

import numpy as np

from derain_utils.course import plots
from derain_utils.course.figures import save_figure


def _history(epochs=3, steps=8):
    rng = np.random.default_rng(0)
    return {
        "steps": [{"epoch": e, "g_loss": float(rng.normal(10 - e, 1)), "d_acc_real": float(rng.integers(0, 2)),
                   "d_acc_fake": float(rng.integers(0, 2))} for e in range(1, epochs + 1) for _ in range(steps)],
        "epochs": [{"epoch": e, "g_loss": 10.0 - e, "d_acc_real": 0.5, "d_acc_fake": 0.25, "val_psnr_rgb": 20.0 + e,
                    "input_psnr_rgb": 22.0} for e in range(1, epochs + 1)],
    }


def test_step_table_places_steps_within_their_epoch_and_smooths_over_a_quarter_epoch():
    history = _history()
    table = plots.step_table(history, [("g_loss", "G"), ("d_acc_real", "D real")])
    assert len(table) == 2 * 24 and set(table["series"]) == {"G", "D real"}
    g = table[table["series"] == "G"]
    assert np.allclose(g["epoch"].to_numpy()[:9], [0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 1.125])
    values = np.array([s["g_loss"] for s in history["steps"]])
    assert np.isclose(g["smoothed"].iloc[5], values[4:6].mean())  # window 2 (8 steps / 4), centred: steps 5 and 6
    epochs = plots.epoch_table(history, [("g_loss", "G")])
    assert epochs["value"].tolist() == [9.0, 8.0, 7.0] and epochs["epoch"].tolist() == [1, 2, 3]


def test_curve_figures_are_byte_identical_across_draws(tmp_path):
    digests = []
    for attempt in range(2):
        paths = save_figure(plots.accuracy_and_psnr(_history()), f"acc{attempt}", tmp_path)
        paths += save_figure(plots.training_curves(_history(), [("generator", [("g_loss", "G")])], psnr=True), f"g{attempt}", tmp_path)
        digests.append([hashlib.sha256(p.read_bytes()).hexdigest() for p in paths])
    assert digests[0] == digests[1]


def test_a_sheet_keeps_every_pixel_and_enlarges_patch_maps_without_smoothing():
    from matplotlib import colormaps

    from derain_utils.course.figures import SHEET_GAP, pair_sheet, sheet_image

    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (4, 6), dtype=np.uint8)
    patches = np.array([[0.0, 1.0], [0.25, 0.5]])  # one value per 2x3 patch
    sheet = sheet_image([photo, grey, patches], n_cols=3)
    g = SHEET_GAP
    assert sheet.shape == (4 + 2 * g, 3 * 6 + 4 * g, 3)
    assert np.allclose(sheet[g:g + 4, g:g + 6], photo / 255.0, atol=1e-6)
    assert np.allclose(sheet[g:g + 4, 2 * g + 6:2 * g + 12], grey[..., None] / 255.0, atol=1e-6)
    enlarged = sheet[g:g + 4, 3 * g + 12:3 * g + 18]
    assert np.allclose(enlarged[2, 4], colormaps["viridis"](0.5)[:3], atol=1e-6)  # bottom-right patch, no blending
    assert np.all(sheet[:g] == 1.0) and np.all(sheet[:, g + 6:2 * g + 6] == 1.0)  # white gaps
    fig = pair_sheet([[photo, grey, patches]], ("rainy", "grey", "D"), ["pair 0"])
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["rainy", "grey", "D"] and len(fig.axes) == 2  # + colour bar
    # a photo of another shape is scaled to fit, its shape kept, centred on white
    tall = np.full((8, 6, 3), 40, np.uint8)
    fitted = sheet_image([photo, tall], n_cols=2)[g:g + 4, 2 * g + 6:2 * g + 12]
    assert np.allclose(fitted[:, 1:4], 40 / 255.0, atol=1e-6)  # 8 x 6 into 4 x 6: 4 x 3, from column 1
    assert np.all(fitted[:, :1] == 1.0) and np.all(fitted[:, 4:] == 1.0)


def test_the_ablation_figure_draws_the_seed_spread_around_the_default():
    rows = [{"row": name, "psnr": 20.0 + gain, "input_psnr": 20.0, "test_psnr": 19.0 + gain / 2, "test_input_psnr": 19.0}
            for name, gain in (("default", 2.0), ("no blending", 1.0))]
    fig = plots.ablation_bars(rows, {"validation": 0.8, "test": 1.5})
    ax = fig.axes[0]
    bands = [p for p in ax.patches if p.get_alpha() == 0.15]
    spans = sorted((round(p.get_x(), 6), round(p.get_x() + p.get_width(), 6)) for p in bands)
    assert spans == [(0.25, 1.75), (1.6, 2.4)]  # the test gain 1.0 +- 0.75, the validation gain 2.0 +- 0.4
    assert not [p for p in plots.ablation_bars(rows).axes[0].patches if p.get_alpha() == 0.15]
