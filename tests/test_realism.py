"""The model-free realism check: real and rendered pairs measured the same way."""

import numpy as np
import pytest

from conftest import shared
from derain_utils.evaluation import analysis
from derain_utils.data.images import write_png


def disc_pair(size=96, drops=((30, 30, 10), (60, 60, 20)), change=50):
    clean = np.full((size, size, 3), 100, np.uint8)
    rain = clean.copy()
    yy, xx = np.mgrid[:size, :size]
    for cy, cx, d in drops:
        rain[(yy - cy) ** 2 + (xx - cx) ** 2 <= (d / 2) ** 2] += change
    rain[5, 5] += change  # a one-pixel speck: misalignment or noise, not a drop
    return rain, clean


def test_drop_sizes_are_the_diameters_of_the_changed_regions():
    rain, clean = disc_pair()
    sizes = np.sort(analysis.drop_sizes(rain, clean))
    assert len(sizes) == 2 and abs(sizes[0] - 10) < 1 and abs(sizes[1] - 20) < 1
    assert len(analysis.drop_sizes(rain, clean, threshold=60)) == 0  # a 50-level change is not above 60


def test_the_realism_table_reports_what_was_measured():
    rain, clean = disc_pair()
    faint = clean.copy()
    faint[0, 0] += 5  # changed, but by less than any threshold
    stats = analysis.drop_statistics([("a", rain, clean), ("b", faint, clean)])
    covered = ((rain != clean).any(axis=2)).mean()
    assert stats["strong"][0] == pytest.approx(covered) and stats["strong"][1] == 0
    table = analysis.realism_table({"discs": stats})
    row = table.splitlines()[2].split(" | ")
    assert row[0] == "| discs" and row[1] == "2" and row[4] == "1.0"  # 2 pairs, 2 drops in all


def test_the_darker_share_counts_the_pixels_drops_made_darker():
    rain, clean = disc_pair(change=50)  # every drop brightens
    assert analysis.darker_share(rain, clean) == 0.0
    shade = clean.copy()
    shade[:48] -= 40  # the top half darkened as well: half the changed pixels, and more
    both = np.where(shade != clean, shade, rain)
    changed = (np.abs(analysis.luminance(both) - analysis.luminance(clean)) > analysis.STRONG_THRESHOLD).sum()
    assert analysis.darker_share(both, clean) == pytest.approx(48 * 96 / changed)
    assert np.isnan(analysis.darker_share(clean, clean))  # nothing changed: no share to report


def test_real_pairs_are_cropped_at_full_resolution(tmp_path):
    rng = np.random.default_rng(0)
    rain, clean = (rng.integers(0, 256, (60, 90, 3), dtype=np.uint8) for _ in range(2))
    for kind, image in (("rain", rain), ("clean", clean)):
        (tmp_path / kind).mkdir()
        write_png(tmp_path / kind / "a.png", image)
    sample = analysis.load_sample(str(tmp_path), 3, size=32, seed=1)
    assert len(sample) == 3
    for name, r, c in sample:
        left, top = (int(v) for v in name.split("at (")[1].rstrip(")").split(", "))
        assert r.shape == c.shape == (32, 32, 3)
        assert np.array_equal(r, rain[top : top + 32, left : left + 32]) and np.array_equal(c, clean[top : top + 32, left : left + 32])


def test_missing_real_folders_are_named_and_skipped(tmp_path, capsys):
    assert analysis.real_and_rendered(str(tmp_path / "nowhere"), 2, size=32) == {}
    assert "no real pairs at" in capsys.readouterr().out


def test_real_raindrop_pairs_sit_beside_rendered_ones():
    compared = analysis.real_and_rendered(str(shared("raindrop_mini")), 4, size=64, seed=0, styles="crisp, lens")
    assert list(compared) == ["rendered, crisp", "rendered, lens", "raindrop_mini"]
    assert all(r.shape == (64, 64, 3) for sample in compared.values() for _, r, _ in sample)
