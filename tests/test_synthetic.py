import json

import numpy as np
import pytest

from derain_utils.cli import main
from derain_utils.data.images import read_rgb
from derain_utils.data.photos import PHOTO_SPLITS, embedded_photos, folder_photos
from derain_utils.data.synthetic import render_pairs, rendered_photos, write_synthetic_dataset
from derain_utils.data.lensdrops import drop_style

from conftest import shared


def test_embedded_photos_are_split_without_overlap():
    names = {split: {p.name for p in embedded_photos(split)} for split in PHOTO_SPLITS}
    assert all(names.values())
    assert not (names["train"] & names["val"]) and not (names["train"] & names["test"]) and not (names["val"] & names["test"])
    assert {"motorcycle_left", "motorcycle_right"} <= names["train"]  # one scene, one split


def test_render_pairs_is_deterministic_and_prefix_stable():
    photos = embedded_photos("val")
    first = list(render_pairs(photos, 5, 64, seed=3, batch=2))
    again = list(render_pairs(photos, 3, 64, seed=3, batch=4))
    for (r1, c1, m1), (r2, c2, m2) in zip(first, again):
        assert np.array_equal(r1, r2) and np.array_equal(c1, c2) and np.array_equal(m1, m2)
    assert first[0][0].shape == (64, 64, 3) and first[0][2].shape == (64, 64, 1)
    assert first[0][0].dtype == np.uint8


def test_synth_then_check_data_round_trip(tmp_path, capsys):
    out = tmp_path / "synth"
    assert main(["synth", "--out", str(out), "--n", "6", "--size", "48", "--seed", "2"]) == 0
    assert main(["check-data", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "train: 6 pairs at 48x48" in printed and "test_a: 1 pairs at 48x48" in printed
    manifest = json.loads((out / "synth.json").read_text())
    assert manifest["photos"]["test_a"] == ["chelsea", "grace_hopper"]
    mask = read_rgb(out / "train" / "mask" / "0_mask.png")
    rain, clean = read_rgb(out / "train" / "data" / "0_rain.png"), read_rgb(out / "train" / "gt" / "0_clean.png")
    changed = np.abs(rain.astype(int) - clean).max(2) > 1
    assert changed.any() and not (changed & (mask[:, :, 0] == 0)).any()


def test_synth_never_replaces_what_it_did_not_write(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"precious")
    assert main(["synth", "--out", str(mine), "--n", "2", "--size", "32"]) == 2
    assert main(["synth", "--out", str(mine), "--n", "2", "--size", "32", "--overwrite"]) == 2
    assert "not written by derain synth" in capsys.readouterr().err
    assert (mine / "holiday.jpg").read_bytes() == b"precious" and len(list(mine.iterdir())) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left over


def test_synth_overwrite_replaces_an_earlier_output(tmp_path):
    out = tmp_path / "synth"
    write_synthetic_dataset(out, n=4, size=32, progress=False)
    with pytest.raises(FileExistsError, match="not empty"):
        write_synthetic_dataset(out, n=2, size=32, progress=False)
    write_synthetic_dataset(out, n=2, size=32, overwrite=True, progress=False)
    assert sorted(p.name for p in (out / "train" / "data").iterdir()) == ["0_rain.png", "1_rain.png"]


def test_user_photo_folder_works_like_the_default(tmp_path):
    folder = shared("clean_photos", "kodak24")
    splits = {s: [p.name for p in folder_photos(folder, s)] for s in PHOTO_SPLITS}
    assert sum(map(len, splits.values())) == 24 and all(splits.values())
    out = write_synthetic_dataset(tmp_path / "kodak", clean=folder, n=3, size=64, progress=False)
    assert main(["check-data", str(out), "--quiet"]) == 0


def test_tiny_photo_folder_still_holds_photos_out(tmp_path, rng):
    from conftest import random_image, write_image

    for name in ("a.png", "b.png", "c.png"):
        write_image(tmp_path / name, random_image(rng, 80, 80))
    splits = {s: [p.name for p in folder_photos(tmp_path, s)] for s in PHOTO_SPLITS}
    assert sorted(sum(splits.values(), [])) == ["a", "b", "c"] and all(splits.values())


def test_rendered_photos_put_drops_on_whole_held_out_photos_the_same_way_every_time():
    first = rendered_photos("test", copies=2, seed=0, style=drop_style("lens"))
    photos = embedded_photos("test")
    assert [name for name, _, _ in first] == [f"{p.name} {k}" for p in photos for k in (1, 2)]
    for (name, rain, clean), photo in zip(first, [p for p in photos for _ in (1, 2)]):
        assert rain.shape == photo.pixels.shape and np.array_equal(clean, photo.pixels)
        changed = np.abs(rain.astype(int) - clean).max(axis=2) > 8
        assert 0.01 < changed.mean() < 0.9, name  # drops, but not a repainted photo
    assert not np.array_equal(first[0][1], first[1][1])  # two copies, two sets of drops
    again = rendered_photos("test", copies=2, seed=0, style=drop_style("lens"))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(first, again))
    assert not np.array_equal(rendered_photos("test", 1, seed=1, style=drop_style("lens"))[0][1], first[0][1])
