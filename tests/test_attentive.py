"""Experiment 4: the mask-predicting generator, its losses, data and training safeguards."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import derain_utils.training.trainer as training
from conftest import random_image, shared, write_image
from derain_utils.course.ablation import ROWS, ablation_table, row_config, run_ablation
from derain_utils.evaluation.analysis import drop_gains, worse_drops
from derain_utils.cli import main
from derain_utils.data.datasets import PairedImageDataset
from derain_utils.training.losses import REAL_THRESHOLD, SYNTHETIC_VISIBLE, contrastive_loss, drop_target, pixel_loss
from derain_utils.models import build_discriminator, build_generator
from derain_utils.data.photos import embedded_photos, training_photos
from derain_utils.presets import make_config
from derain_utils.data.synthetic import augment_crop
from derain_utils.training.trainer import Trainer, TrainingDiverged, train
from derain_utils.data.training_data import FreshDrops, build_test_set


def smooth_images(n=1, size=128, seed=0):
    torch.manual_seed(seed)
    x = torch.rand(n, 3, size, size) * 2 - 1
    return F.avg_pool2d(F.pad(x, (8, 8, 8, 8), mode="reflect"), 17, 1)


def checkerboard(y: torch.Tensor) -> float:
    """The period-2 (checkerboard) share of an image's variation."""
    kernel = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).view(1, 1, 2, 2) / 4
    return (F.conv2d(y.reshape(-1, 1, *y.shape[-2:]), kernel).abs().mean() / (y - y.mean()).abs().mean()).item()


def test_an_untrained_generator_returns_its_input_and_keeps_any_size():
    x = smooth_images(2, 64)
    generator = build_generator("attentive", base=8, depth=3).eval()
    with torch.no_grad():
        assert torch.equal(generator(x), x)  # training starts from doing nothing
        odd = torch.rand(1, 3, 37, 53) * 2 - 1
        output, logits = generator.forward_with_mask(odd)
    assert output.shape == odd.shape and logits.shape == (1, 1, 37, 53)


def test_pixels_the_mask_leaves_out_pass_through_unchanged():
    x = smooth_images(1, 64)
    generator = build_generator("attentive", base=8, depth=3).eval()
    with torch.no_grad():
        generator.head.bias.copy_(torch.tensor([-30.0, 0.5, -0.5, 0.5]))  # no drop anywhere, a large correction
        assert (generator(x) - x).abs().max() < 1e-6
        generator.head.bias[0] = 30.0  # drops everywhere: the correction is applied
        assert (generator(x) - (x + torch.tensor([0.5, -0.5, 0.5]).view(1, 3, 1, 1)).clamp(-1, 1)).abs().max() < 1e-5
        unblended = build_generator("attentive", base=8, depth=3, blend=False).eval()
        unblended.head.bias.copy_(torch.tensor([-30.0, 0.5, -0.5, 0.5]))
        assert (unblended(x) - x).abs().max() > 0.4  # without blending the mask does not gate


def test_a_fill_repaint_starts_at_the_input_and_never_leaves_the_colours_around():
    """repaint='fill' mixes the pixel and copies of the image around it; whatever the
    weights, no channel goes past the image's darkest or brightest value, where the
    correction repaint overshoots freely."""
    x = smooth_images(1, 64) * 0.5  # values in about [-0.5, 0.5]
    x[..., 24:40, 24:40] = -0.9  # a dark drop on a grey wall
    fill = build_generator("attentive", base=8, depth=3, repaint="fill").eval()
    with torch.no_grad():
        assert (fill(x) - x).abs().max() < 0.005  # untrained: nearly the input
        torch.manual_seed(1)
        fill.head.weight.normal_(0, 0.5)
        fill.head.bias[:2] = torch.tensor([30.0, 0.0])  # drops everywhere, no preference for the pixel itself
        y = fill(x)
        correction = build_generator("attentive", base=8, depth=3).eval()
        correction.head.weight.normal_(0, 0.5)
        correction.head.bias[0] = 30.0
        z = correction(x)
    assert (y - x).abs().mean() > 0.05  # it repaints
    assert y.amin() >= x.amin() - 1e-5 and y.amax() <= x.amax() + 1e-5
    assert z.amin() < x.amin() - 0.05 or z.amax() > x.amax() + 0.05
    with pytest.raises(ValueError, match="repaint must be one of correction, fill, got 'paint'"):
        build_generator("attentive", repaint="paint")


def test_the_head_computes_in_fp32_under_bf16_autocast():
    """The rest of the network may run in bf16; the layer that writes the pixels and the
    mask does not, so its outputs keep fp32's resolution."""
    x = smooth_images(1, 64)
    torch.manual_seed(0)
    generator = build_generator("attentive", base=8, depth=3).eval()
    torch.nn.init.normal_(generator.head.weight, 0, 0.1)
    with torch.no_grad():
        reference, reference_logits = generator.forward_with_mask(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            output, logits = generator.forward_with_mask(x)
    assert output.dtype == logits.dtype == torch.float32
    assert logits.unique().numel() > 2000  # of 4,096 pixels: all distinct here, 1,443 from a head in bf16
    assert (output - reference).abs().max() < 0.005  # the bf16 features still move it a little (measured 0.00025)


def test_resize_convolution_upsampling_prints_no_checkerboard():
    x = smooth_images(1, 128)
    torch.manual_seed(1)
    attentive = build_generator("attentive", base=8, depth=3).eval()
    torch.nn.init.normal_(attentive.head.weight, 0, 0.1)  # a trained-looking head
    unet = build_generator("unet", depth=4, base=8).eval()  # transposed convolutions
    with torch.no_grad():
        assert checkerboard(attentive(x) - x) < 0.05  # measured 0.016
        assert checkerboard(unet(x)) > 0.3  # measured 0.61


def test_the_mask_discriminator_needs_and_uses_the_mask():
    x = smooth_images(2, 64)
    mask = (torch.rand(2, 1, 64, 64) > 0.5).float()
    d = build_discriminator("patchgan", base=8, mask_channels=1).eval()
    with pytest.raises(ValueError, match="needs the drop mask"):
        d(x, x)
    with torch.no_grad():
        assert not torch.equal(d(x, x, mask), d(x, x, 1 - mask))
        features = d.features(x, x, mask)
    assert len(features) == 4 and features[0].shape == (2, 8, 32, 32)


def test_drop_target_thresholds_the_change_inside_the_renderer_mask():
    clean = torch.zeros(1, 3, 1, 4)
    rain = clean.clone()
    rain[0, 1, 0, 0] = 2 * 7 / 255  # 7 grey levels in one channel: a drop
    rain[0, 0, 0, 1] = 2 * 5 / 255  # 5 grey levels: too faint to see
    rain[0, 2, 0, 2] = 2 * 40 / 255  # strong, but outside the renderer's mask
    mask = torch.tensor([1.0, 1.0, 0.0, 1.0]).view(1, 1, 1, 4)
    assert drop_target(rain, clean, SYNTHETIC_VISIBLE, mask).flatten().tolist() == [1, 0, 0, 0]
    assert drop_target(rain, clean, SYNTHETIC_VISIBLE).flatten().tolist() == [1, 0, 1, 0]
    assert drop_target(rain, clean, REAL_THRESHOLD).flatten().tolist() == [0, 0, 1, 0]


def test_pixel_loss_weighs_drop_pixels():
    target = torch.zeros(1, 3, 1, 2)
    output = torch.tensor([[[[1.0, 0.0]]] * 3]).view(1, 3, 1, 2)  # error 1 on pixel 0, 0 on pixel 1
    drops = torch.tensor([[[[1.0, 0.0]]]])
    assert pixel_loss(output, target).item() == pytest.approx(0.5)
    assert pixel_loss(output, target, drops, drop_weight=4.0).item() == pytest.approx(5 / 6)  # weights 5 and 1
    assert pixel_loss(output, target, 1 - drops, drop_weight=4.0).item() == pytest.approx(1 / 6)


def test_pixel_loss_counts_pixels_darker_than_the_target_more():
    target = torch.zeros(1, 3, 1, 2)
    output = torch.tensor([-1.0, 0.5]).view(1, 1, 1, 2).expand(1, 3, 1, 2)  # pixel 0 too dark by 1, pixel 1 too light by 0.5
    assert pixel_loss(output, target).item() == pytest.approx(0.75)
    assert pixel_loss(output, target, dark_weight=0.3).item() == pytest.approx((1.3 + 0.5) / 2)
    drops = torch.tensor([[[[1.0, 0.0]]]])
    assert pixel_loss(output, target, drops, 4.0, 0.3).item() == pytest.approx((5 * 1.3 + 0.5) / 6)  # drop weights 5 and 1


def test_contrastive_loss_falls_as_the_output_moves_from_rainy_to_clean():
    clean, rain = [torch.zeros(1, 4, 8, 8)], [torch.ones(1, 4, 8, 8)]
    losses = [contrastive_loss([torch.full((1, 4, 8, 8), t)], clean, rain).item() for t in (0.9, 0.5, 0.1, 0.0)]
    assert losses == sorted(losses, reverse=True) and losses[-1] == 0.0
    assert losses[0] == pytest.approx(0.9 / 0.1, rel=1e-4)


def test_one_attentive_step_trains_both_networks_and_weighs_every_term(tmp_path):
    config = make_config("attentive", "smoke", contrast_weight=0.5)
    trainer = Trainer(config, tmp_path, device="cpu", progress=False)
    batch = [trainer.train_set[i] for i in range(4)]
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in (trainer.generator, trainer.discriminator)]
    record = trainer.train_step(**{k: torch.stack([b[k] for b in batch]) for k in ("rain", "clean", "mask")})
    for model, old in zip((trainer.generator, trainer.discriminator), before):
        assert any(v.is_floating_point() and not torch.equal(v, old[k]) for k, v in model.state_dict().items())
    expected = (config.adv_weight * record["g_adv"] + config.l1_weight * record["g_l1"] + config.mask_weight * record["g_mask"]
                + config.contrast_weight * record["g_contrast"])
    assert record["g_loss"] == pytest.approx(expected, rel=1e-5)
    assert record["g_mask"] > 0 and 0 < record["g_contrast"]


def test_without_the_adversarial_term_the_discriminator_is_left_alone(tmp_path):
    trainer = Trainer(make_config("attentive", "smoke", adv_weight=0.0), tmp_path, device="cpu", progress=False)
    batch = [trainer.train_set[i] for i in range(4)]
    before = {k: v.clone() for k, v in trainer.discriminator.state_dict().items()}
    record = trainer.train_step(**{k: torch.stack([b[k] for b in batch]) for k in ("rain", "clean", "mask")})
    assert "d_loss" not in record and "g_adv" not in record
    assert all(torch.equal(v, before[k]) for k, v in trainer.discriminator.state_dict().items())


def test_fresh_drops_change_every_epoch_and_repeat_per_seed():
    photos = embedded_photos("train")
    a, b = FreshDrops(photos, 4, 32, seed=0, augment=True), FreshDrops(photos, 4, 32, seed=0, augment=True)
    a.set_epoch(0)
    first = [a.arrays(i) for i in range(4)]
    a.set_epoch(1)
    b.set_epoch(0)
    assert all(np.array_equal(x[0], b.arrays(i)[0]) for i, x in enumerate(first))  # same seed and epoch, same pairs
    assert not any(np.array_equal(x[1], a.arrays(i)[1]) for i, x in enumerate(first))  # a new epoch, new crops
    assert a[0]["mask"].shape == (1, 32, 32)


def test_rendering_augmentation_shuffles_the_colour_channels():
    """A grey-free crop with red < green < blue: jitter keeps that order (it scales and
    pivots all channels alike), so the order seen after augment_crop is the shuffle's."""
    crop = torch.tensor([0.2, 0.5, 0.8]).view(3, 1, 1).expand(3, 16, 16).clone()
    orders = set()
    for seed in range(40):
        out = augment_crop(crop, np.random.default_rng(seed))
        orders.add(tuple(out.mean(dim=(1, 2)).argsort().tolist()))
    assert len(orders) == 6


def test_augmentation_changes_both_images_of_a_pair_alike(rng):
    image = random_image(rng, 40, 60)
    dataset = PairedImageDataset([(image, image.copy())], crop_size=32, train=True, augment=True)
    torch.manual_seed(3)
    items = [dataset[0] for _ in range(4)]
    assert all(torch.equal(it["rain"], it["clean"]) for it in items)  # one colour change for both
    plain = PairedImageDataset([(image, image.copy())], crop_size=32, train=True)
    torch.manual_seed(3)
    assert not torch.equal(plain[0]["rain"], items[0]["rain"])


def test_a_resumed_attentive_run_equals_an_uninterrupted_one(tmp_path, monkeypatch):
    from conftest import interrupted_at_step

    config = make_config("attentive", "smoke", epochs=3)
    full = train(config, tmp_path / "full", progress=False, device="cpu")
    with interrupted_at_step(monkeypatch, 6):  # in epoch 2: fresh drops, cosine schedule
        train(config, tmp_path / "cut", progress=False, device="cpu")
    resumed = train(config, tmp_path / "cut", resume=True, progress=False, device="cpu")
    strip = lambda h: [{k: v for k, v in e.items() if k not in training.TIMING_FIELDS} for e in h["epochs"]]
    assert strip(resumed) == strip(full) and resumed["steps"] == full["steps"]


def test_the_cosine_schedule_decays_the_learning_rates_to_zero(tmp_path):
    config = make_config("attentive", "smoke")
    trainer = Trainer(config, tmp_path, device="cpu", progress=False)
    for step, scale in ((0, 1.0), (50, 0.5), (100, 0.0)):
        trainer._set_learning_rates(step, 100)
        assert trainer.opt_g.param_groups[0]["lr"] == pytest.approx(config.lr_g * scale, abs=1e-12)
        assert trainer.opt_d.param_groups[0]["lr"] == pytest.approx(config.lr_d * scale, abs=1e-12)


def test_a_loss_that_blows_up_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    real_loss, calls = training.pixel_loss, []

    def exploding(*args, **kwargs):
        calls.append(1)
        return real_loss(*args, **kwargs) * (float("nan") if len(calls) == 7 else 1.0)  # step 3 of epoch 2

    monkeypatch.setattr(training, "pixel_loss", exploding)
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"generator loss became nan at epoch 2, step 7 of the run; .*still holds epoch 1"):
        train(make_config("attentive", "smoke", epochs=3), run, progress=False, device="cpu")
    state = training.load_checkpoint(run / "checkpoint.pt")
    assert state["epoch"] == 1 and all(torch.isfinite(v).all() for v in state["generator"].values() if v.is_floating_point())

    calls.clear()
    monkeypatch.setattr(training, "pixel_loss", lambda *a, **k: real_loss(*a, **k) * float("inf"))
    assert main(["train", "--experiment", "attentive", "--profile", "smoke", "--device", "cpu", "--out", str(tmp_path / "new")]) == 2
    err = capsys.readouterr().err
    assert "generator loss became inf at epoch 1, step 1" in err and "no epoch finished, so no checkpoint was written" in err


def test_extra_photos_join_the_embedded_ones_subfolders_included(tmp_path, rng, capsys):
    write_image(tmp_path / "a" / "one.png", random_image(rng, 48, 48))
    write_image(tmp_path / "b" / "two.jpg", random_image(rng, 48, 64))
    names = [p.name for p in training_photos(tmp_path)]
    assert names[: len(embedded_photos("train"))] == [p.name for p in embedded_photos("train")]
    assert names[len(embedded_photos("train")):] == ["a/one", "b/two"]
    out = tmp_path / "run"
    assert main(["train", "--experiment", "attentive", "--profile", "smoke", "--epochs", "1", "--device", "cpu",
                 "--extra-photos", str(tmp_path), "--out", str(out)]) == 0
    assert json.loads((out / "history.json").read_text())["epochs"][0]["epoch"] == 1
    assert training.load_checkpoint(out / "checkpoint.pt")["config"]["extra_photos"] == str(tmp_path.resolve())
    for option in (["--extra-photos", str(tmp_path)], ["--drop-style", "soft"], ["--real-pairs", str(tmp_path)], ["--drop-free", "0.1"]):
        assert main(["train", "--experiment", "attentive", "--data", str(tmp_path), *option, "--out", str(tmp_path / "no")]) == 2
        assert "--extra-photos, --drop-style, --real-pairs and --drop-free shape the synthetic data" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def test_the_test_photos_are_held_out_from_everything():
    test = build_test_set(make_config("attentive", "smoke"))
    assert len(test) == 4
    names = {p.name for p in embedded_photos("test")}
    assert names == {"chelsea", "grace_hopper"} and not names & {p.name for p in training_photos()}


def test_real_pairs_use_the_real_threshold(tmp_path):
    data = shared("robotcar_pairs")
    trainer = Trainer(make_config("attentive", "smoke", data=str(data)), tmp_path, device="cpu", progress=False)
    assert trainer._threshold == REAL_THRESHOLD and build_test_set(trainer.config) is None


def test_ablation_rows_change_one_thing_and_are_reused(tmp_path, capsys):
    default = make_config("attentive", "smoke")
    no_blend = row_config(default, ROWS["no blending"][1])
    assert no_blend.generator_options == {**default.generator_options, "blend": False}
    assert {k for k, v in no_blend.to_dict().items() if default.to_dict()[k] != v} == {"generator_options"}
    rows = {name: ROWS[name] for name in ("default", "no adversarial term")}
    results = run_ablation(default, tmp_path, epochs=1, device="cpu", progress=False, rows=rows)
    assert [r["row"] for r in results] == ["default", "no adversarial term"] and all(r["epochs"] == 1 for r in results)
    again = run_ablation(default, tmp_path, epochs=1, device="cpu", progress=False, rows=rows)
    assert capsys.readouterr().out.count("reusing the finished run") == 2 and again == results
    table = ablation_table(results)
    assert f"| {results[1]['psnr']:.2f} | {results[1]['psnr'] - results[1]['input_psnr']:+.2f} |" in table


def test_drop_gains_measure_each_drop():
    clean = np.full((20, 20, 3), 100, np.uint8)
    rain = clean.copy()
    rain[2:6, 2:6] = 180  # drop one, 4x4
    rain[10:18, 10:18] = 140  # drop two, 8x8
    drops = (rain != clean).any(axis=2)
    output = rain.copy()
    output[2:6, 2:6] = clean[2:6, 2:6]  # the first drop removed, the second kept
    found = sorted(drop_gains(rain, output, clean, drops), key=lambda d: d["diameter"])
    assert [round(d["diameter"], 2) for d in found] == [4.51, 9.03]
    assert [d["contrast"] for d in found] == [80.0, 40.0]
    assert found[0]["gain"] > 30 and found[1]["gain"] == 0.0
    assert [d["area"] for d in found] == [16, 64]


def test_worse_drops_counts_the_drops_a_restoration_harms():
    clean = np.full((40, 40, 3), 100, np.uint8)
    rain = clean.copy()
    rain[2:6, 2:6] = 180  # three drops: 16, 64 and 36 px
    rain[10:18, 10:18] = 140
    rain[30:36, 30:36] = 60
    rain[25, 2] = 200  # one changed pixel: under min_area, not a drop
    output = rain.copy()
    output[2:6, 2:6] = clean[2:6, 2:6]  # removed
    output[10:18, 10:18] = 190  # made worse: 90 levels off where the drop was 40
    output[30:36, 30:36] = 70  # lighter, still 30 levels off: better than 40
    assert worse_drops(rain, output, clean) == {"drops": 3, "drops_worse": 1, "drop_area": 116, "drop_area_worse": 64}
    assert worse_drops(rain, clean, clean)["drops_worse"] == 0
    assert worse_drops(rain, rain, clean, threshold=50)["drops"] == 1  # the two 40-level drops are no longer drops
