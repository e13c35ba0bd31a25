import numpy as np
import pytest
import torch

import derain_utils.data.datasets as datasets
from derain_utils.data.datasets import PairedImageDataset
from derain_utils.data.pairs import find_pairs

from conftest import random_image, shared, write_image


def inverse_pairs(rng, n=3, size=(50, 70)):
    return [(image, 255 - image) for image in (random_image(rng, *size) for _ in range(n))]


def test_training_crops_stay_aligned(rng):
    data = PairedImageDataset(inverse_pairs(rng), crop_size=32, train=True)
    torch.manual_seed(0)
    for _ in range(20):
        item = data[int(torch.randint(0, 3, ()))]
        assert item["rain"].shape == item["clean"].shape == (3, 32, 32)
        assert torch.allclose(item["clean"], 1 - item["rain"])


def test_crops_are_random_and_flips_happen(rng):
    ramp = np.tile(np.arange(70, dtype=np.uint8)[None, :, None] * 3, (50, 1, 3))
    data = PairedImageDataset([(ramp, ramp)], crop_size=32)
    torch.manual_seed(0)
    firsts = [data[0]["rain"][0, 0, :2] for _ in range(40)]
    starts = {round(float(f[0]) * 255) for f in firsts}
    assert len(starts) > 5
    assert any(f[1] < f[0] for f in firsts) and any(f[1] > f[0] for f in firsts)


def test_small_images_are_padded_not_rejected(rng):
    data = PairedImageDataset(inverse_pairs(rng, 1, (20, 24)), crop_size=32)
    item = data[0]
    assert item["rain"].shape == (3, 32, 32)
    assert torch.allclose(item["clean"], 1 - item["rain"])


def test_evaluation_gives_whole_images(rng):
    data = PairedImageDataset(inverse_pairs(rng, 2, (50, 70)), crop_size=None, train=False)
    assert data[1]["rain"].shape == (3, 50, 70)


def test_files_are_decoded_once(tmp_path, rng, monkeypatch):
    for i in range(3):
        image = random_image(rng)
        write_image(tmp_path / "train" / "data" / f"{i}_rain.png", image)
        write_image(tmp_path / "train" / "gt" / f"{i}_clean.png", image)
    decoded = []
    real_read = datasets.ImagePair.load

    def counting_load(pair):
        decoded.append(pair.key)
        return real_read(pair)

    monkeypatch.setattr(datasets.ImagePair, "load", counting_load)
    data = PairedImageDataset(find_pairs(tmp_path), crop_size=16)
    for _epoch in range(3):
        for i in range(len(data)):
            data[i]
    assert sorted(decoded) == ["0", "1", "2"]


def test_bad_arrays_are_refused(rng):
    rain = random_image(rng)
    data = PairedImageDataset([(rain, rain[:-1])], crop_size=16)
    with pytest.raises(ValueError, match="pair 0"):
        data[0]


def test_real_raindrop_crops():
    data = PairedImageDataset(find_pairs(shared("raindrop_mini"), "train"), crop_size=256)
    item = data[0]
    assert item["rain"].shape == (3, 256, 256) and item["rain"].dtype == torch.float32
    assert item["name"] == "0_rain.png"


def test_real_pairs_join_the_rendered_ones_with_masks_of_their_own(tmp_path, rng, capsys):
    from derain_utils.cli import main
    from derain_utils.data.training_data import build_datasets, folder_split_pairs
    from derain_utils.presets import make_config

    for frame in range(12):  # 12 frames of one tile: the name hash holds some out
        clean = random_image(rng, 48, 48)
        rain = clean.copy()
        rain[10:20, 10:20] = np.clip(rain[10:20, 10:20].astype(int) + 80, 0, 255)  # one bright drop
        write_image(tmp_path / "pairs" / "clean" / f"f{frame}_r0c0.png", clean)
        write_image(tmp_path / "pairs" / "rain" / f"f{frame}_r0c0.png", rain)
    config = make_config("attentive", "smoke", real_pairs=str(tmp_path / "pairs"))
    train, val = build_datasets(config)
    real, held_out = folder_split_pairs(str(tmp_path / "pairs"))
    rendered, mixed = train.datasets
    assert len(rendered) == config.train_pairs and len(mixed) == len(real) * mixed.repeat
    assert mixed.repeat == max(1, round(config.train_pairs / 3 / len(real)))  # about a quarter of the crops are real
    # a quarter of 16 rendered crops is fewer than one pass over the real pairs: said, not hidden
    assert f"real_share 0.25 asks for about 5 real crops an epoch, but each of the {len(real)} real training pairs" in capsys.readouterr().err
    assert {p.key for p in mixed.pairs} == {p.key for p in real} and not {p.key for p in held_out} & {p.key for p in mixed.pairs}
    mixed.augment = False  # the colour jitter comes after the mask; compare with the pair as cropped
    item = mixed[0]
    changed = (item["rain"] - item["clean"]).abs().amax(dim=0, keepdim=True) * 255 > 30
    assert item["mask"].shape == (1, 32, 32) and torch.equal(item["mask"] > 0.5, changed)
    assert main(["train", "--preset", "real-photos", "--profile", "smoke", "--epochs", "1", "--device", "cpu",
                 "--real-pairs", str(tmp_path / "pairs"), "--out", str(tmp_path / "run")]) == 0
    saved = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["config"]
    assert saved["drop_style"] == "lens" and saved["real_pairs"] == str((tmp_path / "pairs").resolve())
    smoke = make_config("attentive", "smoke")  # the recipe's 256 crops belong to its own profile, not to smoke
    assert (saved["image_size"], saved["batch_size"], saved["real_share"]) == (smoke.image_size, smoke.batch_size, 0.1)
    assert main(["train", "--preset", "real-photos", "--experiment", "pix2pix", "--out", str(tmp_path / "no")]) == 2
    assert "--preset real-photos trains experiment attentive" in capsys.readouterr().err


def test_drop_free_crops_join_the_rendered_ones_unchanged():
    from derain_utils.data.training_data import build_datasets
    from derain_utils.presets import make_config

    config = make_config("attentive", "smoke", drop_free_share=0.2)
    train, _ = build_datasets(config)
    rendered, free = train.datasets
    assert len(rendered) == config.train_pairs and len(free) == round(config.train_pairs * 0.2 / 0.8)
    for i in range(len(free)):
        item = free[i]
        assert torch.equal(item["rain"], item["clean"]) and not item["mask"].any()
    assert len({free[i]["clean"].sum().item() for i in range(len(free))}) == len(free)  # different crops
    rainy = rendered[0]
    assert not torch.equal(rainy["rain"], rainy["clean"]) and rainy["mask"].any()
    with pytest.raises(ValueError, match="drop_free_share 1.5"):
        build_datasets(make_config("attentive", "smoke", drop_free_share=1.5))


def test_drop_free_option_checks_its_share(tmp_path, capsys):
    from derain_utils.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--experiment", "attentive", "--drop-free", "1.5", "--out", str(tmp_path / "run")])
    assert "expected a share between 0 and 1, got 1.5" in capsys.readouterr().err and not (tmp_path / "run").exists()
