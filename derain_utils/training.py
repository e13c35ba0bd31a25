"""One GAN training engine for the three experiments.

The experiments differ only in their TrainConfig: networks, L1 weight, learning rates,
label smoothing and flips. Each epoch ends with a validation pass and an atomic
checkpoint holding the networks, optimizers and random state, so ``resume=True``
continues exactly where the last finished epoch left off.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import __version__
from .checkpoints import git_commit, load_checkpoint, save_checkpoint, write_history
from .inference import autocast, restore, to_model_range
from .losses import adversarial_loss, discriminator_targets
from .metrics import discriminator_accuracy, psnr, ssim
from .models import build_discriminator, build_generator
from .paths import PROJECT_ROOT
from .presets import TrainConfig
from .seeding import rng_state, seed_everything, set_rng_state
from .training_data import build_datasets

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_FORMAT = "derain-checkpoint-1"
# Fields of an epoch record that measure the machine, not the training.
TIMING_FIELDS = ("seconds", "images_per_s")


def pick_device(name: str = "auto") -> torch.device:
    """'auto' means CUDA when a GPU is present, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


class Trainer:
    def __init__(self, config: TrainConfig, run_dir: str | Path, device: str = "auto", progress: bool = True):
        self.config = config
        self.run_dir = Path(run_dir)
        self.device = pick_device(device)
        self.progress = progress
        seed_everything(config.seed)
        self.train_set, self.val_set = build_datasets(config, progress=progress)
        self.generator = build_generator(config.generator, **config.generator_options).to(self.device)
        self.discriminator = build_discriminator(config.discriminator, **config.discriminator_options).to(self.device)
        if config.channels_last:
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr_g, betas=config.betas_g)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_d, betas=config.betas_d)
        self.history = {"epochs": [], "steps": []}
        self.baseline = self._do_nothing_scores()
        self._commit = git_commit(PROJECT_ROOT)

    # -- one step -------------------------------------------------------------------
    def _autocast(self):
        return autocast(self.device, self.config.bf16)

    def _batch(self, images: torch.Tensor) -> torch.Tensor:
        images = to_model_range(images.to(self.device, non_blocking=True))
        return images.contiguous(memory_format=torch.channels_last) if self.config.channels_last else images

    def train_step(self, rain: torch.Tensor, clean: torch.Tensor) -> dict:
        """One discriminator update, then one generator update."""
        c, G, D = self.config, self.generator, self.discriminator
        rain, clean = self._batch(rain), self._batch(clean)
        with self._autocast():
            fake = G(rain)
            real_logits = D(rain, clean)
            fake_logits = D(rain, fake.detach())
        d_loss = 0.5 * (
            adversarial_loss(real_logits, discriminator_targets(real_logits, True, c.real_label, c.fake_label, c.flip_prob))
            + adversarial_loss(fake_logits, discriminator_targets(fake_logits, False, c.real_label, c.fake_label, c.flip_prob))
        )
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()

        with self._autocast():
            g_adv = adversarial_loss(D(rain, fake), 1.0)
            g_l1 = (fake.float() - clean.float()).abs().mean()
            g_loss = g_adv + c.l1_weight * g_l1
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        acc_real, acc_fake = discriminator_accuracy(real_logits.detach(), fake_logits.detach())
        return {"g_loss": g_loss.item(), "g_adv": g_adv.item(), "g_l1": g_l1.item(), "d_loss": d_loss.item(),
                "d_acc_real": acc_real, "d_acc_fake": acc_fake}

    # -- validation -----------------------------------------------------------------
    def _do_nothing_scores(self) -> dict:
        """PSNR/SSIM of the rainy inputs themselves: the score a model must beat."""
        return _mean_scores("input", (self.val_set.arrays(i) for i in range(len(self.val_set))))

    def validate(self) -> dict:
        pairs = (self.val_set.arrays(i) for i in range(len(self.val_set)))
        return _mean_scores("val", ((restore(self.generator, rain, self.config.bf16), clean) for rain, clean in pairs))

    # -- epochs, checkpoints ----------------------------------------------------------
    def fit(self, resume: bool = False) -> dict:
        start = self._resume() if resume else 0
        steps_per_epoch = math.ceil(len(self.train_set) / self.config.batch_size)
        total = self.config.epochs * steps_per_epoch
        bar = tqdm(total=total, initial=start * steps_per_epoch, desc=f"{self.config.experiment}", unit="step",
                   mininterval=1.0, disable=not self.progress)
        with bar:
            for epoch in range(start, self.config.epochs):
                tic = time.perf_counter()
                records = []
                order = torch.randperm(len(self.train_set))
                for first in range(0, len(order), self.config.batch_size):
                    items = [self.train_set[int(i)] for i in order[first : first + self.config.batch_size]]
                    record = self.train_step(torch.stack([it["rain"] for it in items]), torch.stack([it["clean"] for it in items]))
                    records.append(record)
                    self.history["steps"].append({"epoch": epoch + 1, "step": len(self.history["steps"]) + 1, **record})
                    bar.set_postfix(epoch=epoch + 1, G=f"{record['g_loss']:.3f}", D=f"{record['d_loss']:.3f}", refresh=False)
                    bar.update()
                seconds = time.perf_counter() - tic
                summary = {"epoch": epoch + 1}
                summary.update({k: float(np.mean([r[k] for r in records])) for k in records[0]})
                summary.update(self.validate())
                summary.update(self.baseline)
                summary.update(seconds=seconds, images_per_s=len(self.train_set) / seconds)
                self.history["epochs"].append(summary)
                self._save(epoch + 1)
                bar.write(
                    f"epoch {epoch + 1}/{self.config.epochs}: val PSNR {summary['val_psnr_rgb']:.2f} dB "
                    f"(doing nothing {summary['input_psnr_rgb']:.2f}), SSIM {summary['val_ssim_rgb']:.3f} "
                    f"({summary['input_ssim_rgb']:.3f}), {seconds:.0f} s"
                )
        return self.history

    def _save(self, epochs_done: int) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "format": CHECKPOINT_FORMAT, "version": __version__, "git_commit": self._commit, "config": self.config.to_dict(),
            "epoch": epochs_done,
            "generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(), "rng": rng_state(), "history": self.history,
        }
        save_checkpoint(self.run_dir / CHECKPOINT, state)
        write_history(self.run_dir, self.history)

    def _resume(self) -> int:
        # Loaded onto the CPU: the random generators' states must be CPU tensors, and
        # load_state_dict moves weights and optimizer moments to the networks' device.
        state = load_checkpoint(self.run_dir / CHECKPOINT)
        saved = TrainConfig.from_dict(state["config"])
        if saved.to_dict() | {"epochs": 0} != self.config.to_dict() | {"epochs": 0}:
            raise ValueError(f"{self.run_dir / CHECKPOINT} was trained with another configuration; start a new run folder")
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        set_rng_state(state["rng"])
        self.history = state["history"]
        return state["epoch"]


def _mean_scores(prefix: str, pairs) -> dict:
    """Mean RGB PSNR and SSIM of (prediction, target) uint8 pairs, keys named by protocol."""
    scores = np.array([(psnr(pred, target), ssim(pred, target)) for pred, target in pairs])
    return {f"{prefix}_psnr_rgb": float(scores[:, 0].mean()), f"{prefix}_ssim_rgb": float(scores[:, 1].mean())}


def check_run_dir(run_dir: str | Path, resume: bool, overwrite: bool) -> bool:
    """Refuse to mix two runs in one folder: an existing run is only continued (resume)
    or, when asked, replaced (overwrite). Returns whether an existing run is replaced."""
    run_dir = Path(run_dir)
    if resume:
        if not (run_dir / CHECKPOINT).is_file():
            raise FileNotFoundError(f"{run_dir / CHECKPOINT}: nothing to resume")
        return False
    if run_dir.exists() and any(run_dir.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{run_dir} already holds files; pass --resume to continue its run or --overwrite to replace it")
        if not (run_dir / CHECKPOINT).is_file():
            raise FileExistsError(f"{run_dir} holds files but no {CHECKPOINT}; refusing to replace a folder that is not a derain run")
        return True
    return False


def train(config: TrainConfig, run_dir: str | Path, resume: bool = False, overwrite: bool = False,
          device: str = "auto", progress: bool = True) -> dict:
    """Train one experiment into run_dir; returns the history (also in history.json)."""
    replaced = check_run_dir(run_dir, resume, overwrite)
    if resume:  # the saved configuration wins, except for a longer schedule
        saved = TrainConfig.from_dict(load_checkpoint(Path(run_dir) / CHECKPOINT)["config"])
        config = replace(saved, epochs=config.epochs)
    trainer = Trainer(config, run_dir, device, progress)  # reads the data: bad data leaves the folder as it was
    if config.profile == "paper" and trainer.device.type == "cpu" and progress:
        steps = config.epochs * math.ceil(len(trainer.train_set) / config.batch_size)
        print(f"note: the paper profile is the report's GPU setting: {steps:,} steps of {config.batch_size} images at "
              f"{config.image_size}x{config.image_size}, and a 2-core CPU takes about 5 s per step (17 hours for "
              "200 epochs of Pix2Pix). --profile cpu trains in about 5 minutes.", file=sys.stderr)
    if replaced:
        shutil.rmtree(run_dir)
    return trainer.fit(resume=resume)
