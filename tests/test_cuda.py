"""The CUDA paths: the engine's step, resume with the GPU's random state, bf16 and fp16
autocast, tiled inference. Skipped without a GPU; benchmarks/gpu_check.sh runs them
whenever one is at hand (`pytest -m cuda`)."""

import numpy as np
import pytest
import torch

import derain_utils.training.trainer as training
from conftest import interrupted_at_step
from derain_utils.evaluation.inference import restore_tiled
from derain_utils.models import build_generator
from derain_utils.presets import make_config
from derain_utils.training.trainer import Trainer, train

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def batch(config, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (config.batch_size, 3, config.image_size, config.image_size)
    return torch.rand(shape, generator=g), torch.rand(shape, generator=g), torch.rand((shape[0], 1) + shape[2:], generator=g)


@pytest.mark.parametrize("experiment", ["pix2pix", "attentive"])
def test_a_step_on_the_gpu_changes_both_networks(tmp_path, experiment):
    trainer = Trainer(make_config(experiment, "smoke"), tmp_path, device="cuda", progress=False)
    assert trainer.workers > 0  # batches come from DataLoader workers, in pinned memory
    before = [p.detach().clone() for p in (*trainer.generator.parameters(), *trainer.discriminator.parameters())]
    record = trainer.train_step(*batch(trainer.config))
    after = list(trainer.generator.parameters()) + list(trainer.discriminator.parameters())
    assert all(p.is_cuda for p in after)
    assert all(np.isfinite(v) for v in record.values())
    changed = [not torch.equal(a, b) for a, b in zip(before, after)]
    n_g = len(list(trainer.generator.parameters()))
    assert any(changed[:n_g]) and any(changed[n_g:])


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_on_the_gpu(tmp_path, precision):
    trainer = Trainer(make_config("pix2pix", "smoke", precision=precision), tmp_path, device="cuda", progress=False)
    assert trainer.precision == precision
    assert bool(trainer.scalers) == (precision == "fp16")  # fp16 gradients go through a scaler
    with trainer._autocast():
        out = trainer.generator(torch.zeros(1, 3, 32, 32, device="cuda"))
    assert out.dtype == {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    losses = [trainer.train_step(*batch(trainer.config, seed))["g_l1"] for seed in range(8)]
    assert np.all(np.isfinite(losses))
    if precision == "fp16":
        assert trainer.scalers["g"].get_scale() > 0


def test_auto_precision_on_the_gpu(tmp_path):
    trainer = Trainer(make_config("pix2pix", "smoke"), tmp_path, device="cuda", progress=False)
    assert trainer.precision == ("bf16" if torch.cuda.is_bf16_supported() else "fp16")


def test_a_resumed_gpu_run_follows_the_uninterrupted_one(tmp_path, monkeypatch):
    """The checkpoint holds the GPU's random state (the U-Net's dropout draws from it),
    and DataLoader workers draw their seeds from torch's generator: a resumed run repeats
    the uninterrupted one, up to cuDNN's non-deterministic sums."""
    config = make_config("pix2pix", "smoke", epochs=3)
    full = train(config, tmp_path / "full", progress=False, device="cuda")
    with interrupted_at_step(monkeypatch, 6):  # in the middle of epoch 2
        train(config, tmp_path / "cut", progress=False, device="cuda")
    state = training.load_checkpoint(tmp_path / "cut" / "checkpoint.pt")
    assert len(state["rng"]["cuda"]) == torch.cuda.device_count()
    trainer = Trainer(config, tmp_path / "cut", device="cuda", progress=False)
    trainer._resume()
    assert torch.equal(torch.cuda.get_rng_state(), state["rng"]["cuda"][0])
    resumed = train(config, tmp_path / "cut", resume=True, progress=False, device="cuda")
    for a, b in zip(full["epochs"], resumed["epochs"]):
        assert b["val_psnr_rgb"] == pytest.approx(a["val_psnr_rgb"], abs=0.05)
        assert b["g_l1"] == pytest.approx(a["g_l1"], rel=0.02)


def test_tiled_inference_on_the_gpu_matches_the_cpu(rng):
    torch.manual_seed(0)
    generator = build_generator("unet", depth=5, base=8).eval()
    image = rng.integers(0, 256, (300, 420, 3), dtype=np.uint8)
    on_cpu = restore_tiled(generator, image, tile=128, overlap=32).astype(int)
    on_gpu = restore_tiled(generator.cuda(), image, tile=128, overlap=32).astype(int)
    assert on_gpu.shape == on_cpu.shape == image.shape
    assert np.abs(on_gpu - on_cpu).max() <= 2  # TF32 convolutions round a little differently
    in_bf16 = restore_tiled(generator, image, tile=128, overlap=32, precision="bf16").astype(int)
    assert np.abs(in_bf16 - on_cpu).mean() < 2
