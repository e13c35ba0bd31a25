import json
import re
import shutil
from dataclasses import replace

import pytest
import torch

import derain_utils.training.trainer as training
from conftest import interrupted_at_step
from derain_utils.cli import main
from derain_utils.presets import make_config
from derain_utils.training.trainer import TIMING_FIELDS, Trainer, train


def without_timing(history):
    return {"epochs": [{k: v for k, v in e.items() if k not in TIMING_FIELDS} for e in history["epochs"]],
            "steps": history["steps"]}


@pytest.mark.parametrize("experiment", ["baseline", "pix2pix", "stabilized"])
def test_one_step_changes_both_networks(tmp_path, experiment):
    trainer = Trainer(make_config(experiment, "smoke"), tmp_path, device="cpu", progress=False)
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in (trainer.generator, trainer.discriminator)]
    batch = [trainer.train_set[i] for i in range(4)]
    record = trainer.train_step(torch.stack([b["rain"] for b in batch]), torch.stack([b["clean"] for b in batch]))
    for model, old in zip((trainer.generator, trainer.discriminator), before):
        changed = [k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.equal(v, old[k])]
        assert len(changed) > len(old) // 2
    assert record["g_l1"] > 0 and 0 <= record["d_acc_real"] <= 1
    weight = trainer.config.l1_weight
    assert weight == (0 if experiment == "baseline" else 100)
    assert record["g_loss"] == pytest.approx(record["g_adv"] + weight * record["g_l1"], rel=1e-5)


@pytest.mark.parametrize("experiment", ["baseline", "pix2pix", "stabilized", "attentive"])
def test_the_paper_profile_trains(tmp_path, experiment, capsys):
    """The report's full-size networks (256x256, 64 base channels) through one real epoch
    of two images, on the CPU: the GPU profile is the same code on another device."""
    config = make_config(experiment, "paper", train_pairs=2, val_pairs=1, epochs=1)
    history = train(config, tmp_path, device="cpu")
    assert "the paper profile is the report's GPU setting" in capsys.readouterr().err  # a CPU run is told how long
    epoch = history["epochs"][0]
    assert (config.image_size, config.batch_size, epoch["epoch"]) == (256, 16, 1)
    assert epoch["g_loss"] > 0
    if experiment == "attentive":  # it starts as the identity: one step leaves it near doing nothing
        assert abs(epoch["val_psnr_rgb"] - epoch["input_psnr_rgb"]) < 2.0  # measured 1.10 dB below
    else:
        assert 0 < epoch["val_psnr_rgb"] < epoch["input_psnr_rgb"]
    assert (tmp_path / "checkpoint.pt").is_file()


def test_same_seed_same_history(tmp_path):
    config = make_config("pix2pix", "smoke")
    first = train(config, tmp_path / "a", progress=False, device="cpu")
    second = train(config, tmp_path / "b", progress=False, device="cpu")
    assert without_timing(first) == without_timing(second)
    other = train(make_config("pix2pix", "smoke", seed=1), tmp_path / "c", progress=False, device="cpu")
    assert without_timing(other) != without_timing(first)


def test_resumed_run_equals_uninterrupted_run(tmp_path, monkeypatch):
    config = make_config("stabilized", "smoke", epochs=3)
    full = train(config, tmp_path / "full", progress=False, device="cpu")

    with interrupted_at_step(monkeypatch, 6):  # in the middle of epoch 2
        train(config, tmp_path / "cut", progress=False, device="cpu")
    assert len(training.load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["history"]["epochs"]) == 1
    resumed = train(config, tmp_path / "cut", resume=True, progress=False, device="cpu")
    assert len(resumed["epochs"]) == 3
    assert without_timing(resumed) == without_timing(full)


def test_with_loader_workers_a_run_repeats_and_resumes(tmp_path, monkeypatch):
    """The GPU's data path on the CPU: DataLoader workers crop the batches; a run still
    repeats, and resumes exactly."""
    monkeypatch.setattr(training, "loader_workers", lambda device: 2)
    config = make_config("attentive", "smoke", epochs=3)
    full = train(config, tmp_path / "full", progress=False, device="cpu")
    assert without_timing(train(config, tmp_path / "again", progress=False, device="cpu")) == without_timing(full)
    with interrupted_at_step(monkeypatch, 6):
        train(config, tmp_path / "cut", progress=False, device="cpu")
    assert without_timing(train(config, tmp_path / "cut", resume=True, progress=False, device="cpu")) == without_timing(full)


def test_run_folders_are_never_mixed(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--experiment", "pix2pix", "--profile", "smoke", "--epochs", "1", "--out", str(run)]
    assert main(args) == 0
    assert "doing nothing" in capsys.readouterr().out
    assert main(args) == 2
    assert "pass --resume to continue its run or --overwrite" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    assert main(["train", "--experiment", "baseline", "--profile", "smoke", "--out", str(other), "--overwrite"]) == 2
    assert (other / "notes.txt").read_text() == "keep me"
    assert main(["train", "--experiment", "baseline", "--profile", "smoke", "--out", str(tmp_path / "none"), "--resume"]) == 2
    # bad data is found before anything is written: no empty folder, and a run to be replaced stays
    before = (run / "checkpoint.pt").read_bytes()
    for out in (tmp_path / "new", run):
        assert main(args[:-1] + [str(out), "--data", str(tmp_path / "no such data"), "--overwrite"]) == 2
    assert "no such data: dataset folder not found" in capsys.readouterr().err
    assert not (tmp_path / "new").exists() and (run / "checkpoint.pt").read_bytes() == before


def test_resume_refuses_another_experiment(tmp_path):
    train(make_config("pix2pix", "smoke", epochs=1), tmp_path, progress=False, device="cpu")
    trainer = Trainer(make_config("stabilized", "smoke"), tmp_path, device="cpu", progress=False)
    with pytest.raises(ValueError, match="another configuration"):
        trainer.fit(resume=True)


def test_training_on_a_folder_of_real_pairs(tmp_path):
    from conftest import shared

    data = shared("robotcar_pairs")
    history = train(make_config("pix2pix", "smoke", data=str(data), epochs=1), tmp_path, progress=False, device="cpu")
    assert 10 < history["epochs"][0]["input_psnr_rgb"] < 20  # RobotCar drops are hard: about 13 dB


def test_a_small_folder_is_cropped_several_times_per_epoch(tmp_path, rng):
    from conftest import random_image, write_image
    from derain_utils.data.training_data import build_datasets

    for i in range(5):
        image = random_image(rng, 48, 64)
        write_image(tmp_path / "rain" / f"{i}.png", image)
        write_image(tmp_path / "clean" / f"{i}.png", image)
    train_set, val_set = build_datasets(make_config("pix2pix", "smoke", data=str(tmp_path)))  # 16 crops per epoch
    pairs = len(train_set.pairs)
    assert pairs + len(val_set) == 5 and len(val_set) >= 1
    assert len(train_set) == pairs * -(-16 // pairs) >= 16
    assert train_set[len(train_set) - 1]["name"] == train_set.name(pairs - 1)


@pytest.mark.parametrize("frames", [30, 2])  # the hash holds out 2 of 30 frames, and none of 2 (the last goes)
def test_tiles_of_one_frame_stay_on_one_side_of_the_split(tmp_path, rng, frames):
    from conftest import random_image, write_image
    from derain_utils.data.training_data import folder_split_pairs

    image = random_image(rng, 8, 8)
    for frame in range(frames):
        for tile in ("r0c0", "r0c1", "r1c0", "r1c1"):
            for side in ("rain", "clean"):
                write_image(tmp_path / side / f"{frame * 100}-{frame}_{tile}.png", image)
    train, val = folder_split_pairs(str(tmp_path))
    val_frames = {p.key.split("_")[0] for p in val}
    assert val_frames and not val_frames & {p.key.split("_")[0] for p in train}
    assert len(val) == 4 * len(val_frames) and len(train) + len(val) == 4 * frames


def test_residual_repaint_dark_weight_and_ema_flags_reach_the_checkpoint(tmp_path, capsys):
    assert main(["train", "--experiment", "pix2pix", "--profile", "smoke", "--epochs", "1", "--residual",
                 "--device", "cpu", "--out", str(tmp_path / "r")]) == 0
    config = training.load_checkpoint(tmp_path / "r" / "checkpoint.pt")["config"]
    assert config["generator_options"]["residual"] is True
    assert main(["train", "--experiment", "baseline", "--profile", "smoke", "--residual", "--out", str(tmp_path / "b")]) == 2
    assert "--residual applies to the U-Net" in capsys.readouterr().err
    assert main(["train", "--experiment", "attentive", "--profile", "smoke", "--epochs", "1", "--repaint", "fill",
                 "--drop-style", "lens-dim", "--dark-weight", "0.3", "--ema", "0.99", "--device", "cpu", "--out", str(tmp_path / "f")]) == 0
    config = training.load_checkpoint(tmp_path / "f" / "checkpoint.pt")["config"]
    assert config["generator_options"]["repaint"] == "fill" and config["drop_style"] == "lens-dim" and config["dark_weight"] == 0.3
    assert config["ema"] == 0.99
    assert main(["train", "--experiment", "pix2pix", "--profile", "smoke", "--repaint", "fill", "--out", str(tmp_path / "p")]) == 2
    assert "--repaint applies to the generator of experiment 4" in capsys.readouterr().err


def test_a_run_says_how_long_it_will_take_before_it_is_done(tmp_path, capsys):
    config = make_config("pix2pix", "smoke", train_pairs=24, epochs=2, precision="fp32")
    train(config, tmp_path, device="cpu")
    out = capsys.readouterr().out
    timed = re.search(r"timed 4 steps: ([\d.]+) images/s \(fp32, (.+)\); 12 steps take about (\d+) s plus validation", out)
    assert timed and float(timed.group(1)) > 0, out
    first, second = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert first.startswith("epoch 1/2") and re.search(r", about \d+ s left$", first) and "left" not in second
    assert json.loads((tmp_path / "history.json").read_text())["precision"] == "fp32"


def test_the_generator_step_leaves_the_discriminator_alone(tmp_path):
    """D's weights get gradients only from D's own loss: the generator's step through D
    neither computes nor leaves any, and D can learn again afterwards."""
    trainer = Trainer(make_config("pix2pix", "smoke", precision="fp32"), tmp_path, device="cpu", progress=False)
    batch = [trainer.train_set[i] for i in range(4)]
    rain, clean = torch.stack([b["rain"] for b in batch]), torch.stack([b["clean"] for b in batch])
    trainer.train_step(rain, clean)
    d_grads = [p.grad.clone() for p in trainer.discriminator.parameters()]
    trainer.opt_d.zero_grad(set_to_none=True)
    rain_m, fake = training.to_model_range(rain), None
    with torch.no_grad():
        fake = trainer.generator(rain_m)
    loss = training.adversarial_loss(trainer.discriminator(rain_m, fake), 1.0)
    loss.backward()  # requires_grad was switched back on after the step
    assert all(p.requires_grad and p.grad is not None for p in trainer.discriminator.parameters())
    assert any(not torch.equal(a, p.grad) for a, p in zip(d_grads, trainer.discriminator.parameters()))


def test_fp16_steps_go_through_a_gradient_scaler(tmp_path, monkeypatch):
    monkeypatch.setattr(training, "resolve_precision", lambda requested, device: "fp16")
    trainer = Trainer(make_config("attentive", "smoke"), tmp_path, device="cpu", progress=False)
    assert trainer.precision == "fp16" and set(trainer.scalers) == {"g", "d"}
    batch = [trainer.train_set[i] for i in range(4)]
    before = [p.clone() for p in trainer.generator.parameters()]
    batch = [torch.stack([b[k] for b in batch]) for k in ("rain", "clean", "mask")]
    for _ in range(20):  # steps whose scaled gradients overflow are skipped, and the scale shrinks
        record = trainer.train_step(*batch)
        if any(not torch.equal(a, p) for a, p in zip(before, trainer.generator.parameters())):
            break
    else:
        raise AssertionError("20 fp16 steps never updated the generator")
    assert all(torch.isfinite(torch.tensor(v)) for v in record.values() if isinstance(v, float))
    assert 0 < trainer.scalers["g"].get_scale() <= 65536.0


def test_a_run_can_start_from_another_runs_weights(tmp_path, capsys):
    """Fine-tuning: `derain train --init-from RUN` starts both networks from RUN's weights
    (e.g. a model trained on synthetic drops, then on real pairs); other networks are refused."""
    source = tmp_path / "synthetic"
    train(make_config("attentive", "smoke", epochs=1), source, progress=False, device="cpu")
    saved = training.load_checkpoint(source / "checkpoint.pt")
    tuned = Trainer(make_config("attentive", "smoke", seed=1, init_from=str(source)), tmp_path / "tuned", device="cpu", progress=False)
    for model, name in ((tuned.generator, "generator"), (tuned.discriminator, "discriminator")):
        assert all(torch.equal(v, saved[name][k]) for k, v in model.state_dict().items())
    fresh = Trainer(make_config("attentive", "smoke", seed=1), tmp_path / "fresh", device="cpu", progress=False)
    assert not torch.equal(fresh.generator.state_dict()["down.0.0.0.weight"], saved["generator"]["down.0.0.0.weight"])
    with pytest.raises(ValueError, match=r"synthetic/checkpoint.pt: its generator is attentive .*this run's unet"):
        Trainer(make_config("pix2pix", "smoke", init_from=str(source)), tmp_path / "other", device="cpu", progress=False)
    with pytest.raises(FileNotFoundError, match="nowhere/checkpoint.pt: no checkpoint here"):
        Trainer(make_config("attentive", "smoke", init_from=str(tmp_path / "nowhere" / "checkpoint.pt")), tmp_path / "x",
                device="cpu", progress=False)


def test_a_fine_tuning_run_resumes_without_the_run_it_started_from(tmp_path):
    """--resume continues from the run's own checkpoint: the run it was initialised from
    may have been moved or deleted meanwhile, and its weights must not come back."""
    source, tuned = tmp_path / "synthetic", tmp_path / "tuned"
    train(make_config("attentive", "smoke", epochs=1), source, progress=False, device="cpu")
    config = make_config("attentive", "smoke", epochs=1, seed=1, init_from=str(source))
    train(config, tuned, progress=False, device="cpu")
    after_one = training.load_checkpoint(tuned / "checkpoint.pt")["generator"]
    shutil.rmtree(source)
    history = train(replace(config, epochs=2), tuned, resume=True, progress=False, device="cpu")
    assert [e["epoch"] for e in history["epochs"]] == [1, 2]
    after_two = training.load_checkpoint(tuned / "checkpoint.pt")["generator"]
    assert not all(torch.equal(v, after_one[k]) for k, v in after_two.items())  # epoch 2 trained on


def test_the_weight_average_moves_a_share_of_the_way_and_keeps_batch_statistics():
    from derain_utils.training.averaging import averaged_copy, update_average, warmed_up

    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    average = averaged_copy(model)
    start = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
        model[1].running_mean.fill_(3.0)
    update_average(average, model, decay=0.75)
    assert torch.allclose(average[0].weight, start + 0.25)  # a quarter of the way to the new weights
    assert torch.equal(average[1].running_mean, model[1].running_mean)
    assert not average[0].weight.requires_grad
    assert warmed_up(0.999, 0) == pytest.approx(0.1) and warmed_up(0.999, 890) == pytest.approx(0.99)
    assert warmed_up(0.999, 10**6) == 0.999


def test_a_run_with_a_weight_average_saves_both_and_resumes_exactly(tmp_path, monkeypatch):
    config = make_config("attentive", "smoke", epochs=3, ema=0.9)
    full = train(config, tmp_path / "full", progress=False, device="cpu")
    state = training.load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    differs = [k for k, v in state["generator"].items() if v.is_floating_point() and not torch.equal(v, state["generator_trained"][k])]
    assert len(differs) > len(state["generator"]) // 2  # "generator" is the average, not the last step's weights
    plain = train(replace(config, ema=0.0), tmp_path / "plain", progress=False, device="cpu")
    assert [e["val_psnr_rgb"] for e in plain["epochs"]] != [e["val_psnr_rgb"] for e in full["epochs"]]  # validation scores the average

    with interrupted_at_step(monkeypatch, 6):  # in the middle of epoch 2
        train(config, tmp_path / "cut", progress=False, device="cpu")
    assert without_timing(train(config, tmp_path / "cut", resume=True, progress=False, device="cpu")) == without_timing(full)
