import numpy as np
import pytest

from derain_utils.data.pairs import DataError, check_dataset, find_pairs
from derain_utils.data.images import ImageReadError

from conftest import random_image, shared, write_image


def make_raindrop(root, split, names, rng, size=(40, 60)):
    """Write pairs whose clean image is the inverse of the rainy one, so a test can
    tell whether the right two files were paired."""
    for rain_name, clean_name in names:
        rain = random_image(rng, *size)
        write_image(root / split / "data" / rain_name, rain)
        write_image(root / split / "gt" / clean_name, 255 - rain)


def test_pairs_match_by_number_not_by_sort_order(tmp_path, rng):
    names = [("10_rain.png", "10_clean.jpg"), ("2_rain.jpeg", "002_clean.png"), ("1_rain.JPG", "1_clean.png")]
    make_raindrop(tmp_path, "train", names, rng)
    pairs = find_pairs(tmp_path, "train")
    assert [p.key for p in pairs] == ["1", "2", "10"]
    assert [(p.rain.name, p.clean.name) for p in pairs] == [
        ("1_rain.JPG", "1_clean.png"), ("2_rain.jpeg", "002_clean.png"), ("10_rain.png", "10_clean.jpg")]
    for pair in pairs:  # each clean image is its rainy twin's inverse, up to JPEG loss
        rain, clean = pair.load()
        assert np.abs(clean.astype(int) + rain - 255).mean() < 12


def test_generic_layout_pairs_by_name(tmp_path, rng):
    for name in ("b.png", "a.png", "c.png"):
        image = random_image(rng)
        write_image(tmp_path / "rain" / name, image)
        write_image(tmp_path / "clean" / name, 255 - image)
    report = check_dataset(tmp_path, progress=False)
    assert report.ok and report.layout == "generic"
    assert report.splits[0].describe() == "all: 3 pairs at 60x40"


def test_missing_root_and_missing_split(tmp_path, rng):
    with pytest.raises(DataError, match="nowhere: dataset folder not found"):
        find_pairs(tmp_path / "nowhere")
    make_raindrop(tmp_path, "train", [("1_rain.png", "1_clean.png")], rng)
    with pytest.raises(DataError, match="split 'test_a' not found; present: train"):
        find_pairs(tmp_path, "test_a")
    with pytest.raises(DataError, match="no Raindrop splits"):
        find_pairs(tmp_path / "train" / "data")


def test_twins_missing_either_way_are_named(tmp_path, rng):
    make_raindrop(tmp_path, "train", [("1_rain.png", "1_clean.png"), ("2_rain.png", "2_clean.png"), ("3_rain.png", "3_clean.png")], rng)
    (tmp_path / "train" / "gt" / "2_clean.png").unlink()
    (tmp_path / "train" / "data" / "3_rain.png").unlink()
    with pytest.raises(DataError) as err:
        find_pairs(tmp_path)
    text = str(err.value)
    assert "2_rain.png: no clean twin" in text
    assert "3_clean.png: no rainy twin" in text


def test_size_mismatch_names_file_and_both_sizes(tmp_path, rng):
    write_image(tmp_path / "train" / "data" / "7_rain.png", random_image(rng, 40, 60))
    write_image(tmp_path / "train" / "gt" / "7_clean.png", random_image(rng, 48, 64))
    report = check_dataset(tmp_path, progress=False)
    assert not report.ok
    assert str(report.problems[0]).endswith("7_rain.png: size 60x40 differs from its clean twin 7_clean.png at 64x48")
    with pytest.raises(ImageReadError, match="7_rain.png: size 60x40 differs"):
        find_pairs(tmp_path)[0].load()


def test_corrupt_file_and_odd_names_are_reported(tmp_path, rng):
    make_raindrop(tmp_path, "train", [("1_rain.png", "1_clean.png"), ("2_rain.png", "2_clean.png")], rng)
    clean = tmp_path / "train" / "gt" / "2_clean.png"
    clean.write_bytes(clean.read_bytes()[:300])
    write_image(tmp_path / "train" / "data" / "rain_3.png", random_image(rng))
    (tmp_path / "train" / "data" / "notes.txt").write_text("ignored")
    report = check_dataset(tmp_path, progress=False)
    messages = [str(p) for p in report.problems]
    assert any(m.startswith(str(clean)) and "corrupt" in m for m in messages)
    assert any("rain_3.png: name does not match the <N>_rain.png|jpg pattern of data/" in m for m in messages)
    assert len(messages) == 2
    assert report.splits[0].describe() == "train: 2 pairs at 60x40, 1 refused (see the problems)"


def test_real_raindrop_pairs():
    root = shared("raindrop_mini")
    report = check_dataset(root, progress=False)
    assert report.ok
    assert [s.describe() for s in report.splits] == ["train: 4 pairs at 720x480"]
    rain, clean = find_pairs(root, "train")[0].load()
    assert rain.shape == clean.shape == (480, 720, 3) and rain.dtype == np.uint8
    # A real pair differs, but only moderately: same scene, drops on one side.
    assert 5 < np.abs(rain.astype(float) - clean).mean() < 60


def test_real_generic_pairs():
    report = check_dataset(shared("robotcar_pairs"), progress=False)
    assert report.ok and report.splits[0].describe() == "all: 90 pairs at 256x256"
