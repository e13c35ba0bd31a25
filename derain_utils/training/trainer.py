"""One GAN training engine for the four experiments.

The experiments differ only in their TrainConfig: networks, loss weights, learning rates
and their schedule, label smoothing and flips. Each epoch ends with a validation pass and
an atomic checkpoint holding the networks, optimizers and random state, so
``resume=True`` continues exactly where the last finished epoch left off. A loss that is
not finite stops the run at once, before it can reach the weights or a checkpoint.
"""

from __future__ import annotations

import errno
import math
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .. import __version__
from ..data.training_data import build_datasets
from ..evaluation.inference import restore, to_model_range
from ..evaluation.metrics import discriminator_accuracy, psnr, ssim
from ..models import build_discriminator, build_generator, has_mask
from ..paths import PROJECT_ROOT, shown_path
from ..presets import TrainConfig
from . import distributed
from .averaging import averaged_copy, update_average, warmed_up
from .checkpoints import CHECKPOINT, CHECKPOINT_FORMAT, code_changed_since, git_commit, load_checkpoint, load_run, save_checkpoint, write_history
from .cores import one_thread_when_busy
from .losses import (REAL_THRESHOLD, SYNTHETIC_VISIBLE, adversarial_loss, contrastive_loss, discriminator_targets, drop_target, mask_loss,
                     pixel_loss)
from .precision import autocast, pick_device, resolve_precision
from .run_folder import NEXT, check_replaceable, free_bytes, holds_files, locked, promote, remove_leftovers, write_manifest
from .seeding import rng_state, seed_everything, set_rng_state
from .timing import RunClock

# Fields of an epoch record that measure the machine, not the training.
TIMING_FIELDS = ("seconds", "render_seconds", "images_per_s")


def drop_threshold(config: TrainConfig) -> int:
    """Grey levels of |rainy - clean| above which a pixel counts as a drop (see losses)."""
    return config.mask_threshold or (SYNTHETIC_VISIBLE if config.data == "synthetic" else REAL_THRESHOLD)


class TrainingDiverged(ArithmeticError):
    """A loss became NaN or infinite; the run folder keeps its last good checkpoint."""


class Trainer:
    def __init__(self, config: TrainConfig, run_dir: str | Path, device: str = "auto", progress: bool = True,
                 workers: int | None = None, resume: bool = False, replaces: Path | None = None):
        self.config = config
        self.run_dir = Path(run_dir)
        self.replaces = replaces  # the run folder whose old run this one replaces after its first epoch
        self.rank = distributed.join()  # rank 0 of 1, unless torchrun started several processes
        self.device = distributed.device_of(self.rank, pick_device(device))
        self.progress = progress and self.rank.main
        self.workers = loader_workers(self.device) if workers is None else workers
        self.precision = resolve_precision(config.precision, self.device)
        # Each process of a torchrun launch draws its own crops, flips and dropout; the
        # networks start alike all the same (DistributedDataParallel copies rank 0's).
        seed_everything(config.seed + self.rank.rank)
        self.train_set, self.val_set = build_datasets(config, progress=progress)
        self.generator = build_generator(config.generator, **config.generator_options).to(self.device)
        self.discriminator = build_discriminator(config.discriminator, **config.discriminator_options).to(self.device)
        if config.init_from and not resume:  # a resumed run continues from its own checkpoint
            self._start_from(Path(config.init_from))
        if config.channels_last:
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)
        # With config.ema, the weights that are validated, saved as "generator" and shipped
        # are the running average; the trained ones are saved beside it for a resume.
        self.average = averaged_copy(self.generator) if config.ema else None
        # What the step calls: the networks themselves, or their DistributedDataParallel
        # wrappers, which average the gradients over the processes of a torchrun launch.
        self._g, self._d = distributed.wrap(GeneratorStep(self.generator), self.rank), distributed.wrap(self.discriminator, self.rank)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr_g, betas=config.betas_g)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_d, betas=config.betas_d)
        # fp16 needs its gradients scaled so that small ones do not underflow; bf16 does not.
        self.scalers = {name: torch.amp.GradScaler(self.device.type) for name in ("g", "d")} if self.precision == "fp16" else {}
        self._has_mask = has_mask(self.generator)
        self._threshold = drop_threshold(config)
        self._uses_drops = bool(config.mask_weight or config.drop_weight or getattr(self.discriminator, "mask_channels", 0))
        if config.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"lr_schedule {config.lr_schedule!r}: expected 'constant' or 'cosine'")
        if config.mask_weight and not self._has_mask:
            raise ValueError(f"mask_weight needs a generator that predicts a drop mask; {config.generator!r} does not")
        self._epoch = self._step = 0  # where training stands, for messages
        self.history = {"epochs": [], "steps": [], "precision": self.precision}
        self.baseline = self._do_nothing_scores()
        self._commit = git_commit(PROJECT_ROOT)

    def _start_from(self, source: Path) -> None:
        """Both networks' weights from another finished run with the same networks, e.g. a
        model trained on synthetic drops, to be fine-tuned on real pairs. The optimizers and
        the learning-rate schedule start afresh."""
        path, state = load_run(source)
        saved = TrainConfig.from_dict(state["config"])
        for name in ("generator", "discriminator"):
            theirs, ours = ((getattr(cfg, name), getattr(cfg, f"{name}_options")) for cfg in (saved, self.config))
            if theirs != ours:
                raise ValueError(f"{path}: its {name} is {theirs[0]} {theirs[1]}, this run's {ours[0]} {ours[1]}; "
                                 "a run can only start from one with the same networks (same experiment and profile)")
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])

    # -- one step -------------------------------------------------------------------
    def _autocast(self):
        return autocast(self.device, self.precision)

    def _batch(self, images: torch.Tensor) -> torch.Tensor:
        images = to_model_range(images.to(self.device, non_blocking=True))
        return images.contiguous(memory_format=torch.channels_last) if self.config.channels_last else images

    def _judge(self, rain: torch.Tensor, image: torch.Tensor, drops: torch.Tensor | None, network: torch.nn.Module) -> torch.Tensor:
        """The discriminator's logits; a mask-conditioned one sees the same drop mask for
        the real and the generated image. network: the discriminator or its wrapper."""
        if getattr(self.discriminator, "mask_channels", 0):
            return network(rain, image, drops)
        return network(rain, image)

    def train_step(self, rain: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor | None = None) -> dict:
        """One discriminator update, then one generator update. mask: the renderer's drop
        mask in [0, 1], when the pairs are rendered."""
        c, D = self.config, self.discriminator
        rain, clean = self._batch(rain), self._batch(clean)
        if mask is not None:
            mask = mask.to(self.device, non_blocking=True)
        drops = drop_target(rain, clean, self._threshold, mask) if self._uses_drops else None
        adversarial = c.adv_weight > 0
        with self._autocast():
            fake, logits = self._g(rain)
            if adversarial:
                real_logits = self._judge(rain, clean, drops, self._d)
                fake_logits = self._judge(rain, fake.detach(), drops, self._d)
        record = {}
        if adversarial:
            d_loss = 0.5 * (
                adversarial_loss(real_logits, discriminator_targets(real_logits, True, c.real_label, c.fake_label, c.flip_prob))
                + adversarial_loss(fake_logits, discriminator_targets(fake_logits, False, c.real_label, c.fake_label, c.flip_prob))
            )
            self._check_finite("discriminator", d_loss)
            self._update(d_loss, self.opt_d, D, "d")
            acc_real, acc_fake = discriminator_accuracy(real_logits.detach(), fake_logits.detach())
            record.update(d_loss=d_loss.item(), d_acc_real=acc_real, d_acc_fake=acc_fake)

        # The generator's loss needs gradients through D, not D's own weight gradients, which
        # the next D update would discard: skipping them saves a third of D's backward pass.
        D.requires_grad_(False)
        try:
            g_loss, terms = self._generator_loss(rain, clean, fake, logits, drops, adversarial)
        finally:
            D.requires_grad_(True)
        self._check_finite("generator", g_loss)
        self._update(g_loss, self.opt_g, self.generator, "g")
        if self.average is not None:
            update_average(self.average, self.generator, warmed_up(self.config.ema, self._step))
        return distributed.mean_over_ranks({"g_loss": g_loss.item(), **{k: v.item() for k, v in terms.items()}, **record}, self.rank)

    def _generator_loss(self, rain, clean, fake, logits, drops, adversarial: bool) -> tuple[torch.Tensor, dict]:
        c, D = self.config, self.discriminator
        with self._autocast():
            # D itself, not its wrapper: its weights are frozen here, nothing to average
            terms = {"g_adv": adversarial_loss(self._judge(rain, fake, drops, D), 1.0)} if adversarial else {}
            terms["g_l1"] = pixel_loss(fake, clean, drops, c.drop_weight, c.dark_weight)
            if c.mask_weight:
                terms["g_mask"] = mask_loss(logits, drops)
            if c.contrast_weight:
                with torch.no_grad():
                    positive, negative = D.features(rain, clean, drops), D.features(rain, rain, drops)
                terms["g_contrast"] = contrastive_loss(D.features(rain, fake, drops), positive, negative)
            weights = {"g_adv": c.adv_weight, "g_l1": c.l1_weight, "g_mask": c.mask_weight, "g_contrast": c.contrast_weight}
            g_loss = sum(weights[k] * v for k, v in terms.items())
        return g_loss, terms

    def _update(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, model: torch.nn.Module, name: str) -> None:
        """Backward, clipping and the optimizer step, through the gradient scaler in fp16."""
        optimizer.zero_grad(set_to_none=True)
        scaler = self.scalers.get(name)
        if scaler is None:
            loss.backward()
            self._clip(model)
            optimizer.step()
            return
        scaler.scale(loss).backward()
        if self.config.clip_grad:
            scaler.unscale_(optimizer)
            self._clip(model)
        scaler.step(optimizer)
        scaler.update()

    def _check_finite(self, network: str, loss: torch.Tensor) -> None:
        if not torch.isfinite(loss):
            done = len(self.history["epochs"])
            kept = (f"{self.run_dir / CHECKPOINT} still holds epoch {done}, the last good one" if done
                    else "no epoch finished, so no checkpoint was written")
            raise TrainingDiverged(
                f"the {network} loss became {loss.item()} at epoch {self._epoch + 1}, step {self._step + 1} of the run; {kept}. "
                "Start again with --precision fp32 or another --seed; the learning rates and gradient clipping are "
                "not command-line options, but from Python: train(make_config(..., lr_g=1e-4, clip_grad=1.0), folder)"
            )

    def _clip(self, model: torch.nn.Module) -> None:
        if self.config.clip_grad:
            torch.nn.utils.clip_grad_norm_(model.parameters(), self.config.clip_grad)

    def _set_learning_rates(self, step: int, total: int) -> None:
        """A cosine schedule decays both learning rates from their set value to zero; a
        function of the step alone, so a resumed run follows the same curve."""
        if self.config.lr_schedule == "constant":
            return
        scale = 0.5 * (1.0 + math.cos(math.pi * step / total))
        for optimizer, lr in ((self.opt_g, self.config.lr_g), (self.opt_d, self.config.lr_d)):
            for group in optimizer.param_groups:
                group["lr"] = lr * scale

    # -- validation -----------------------------------------------------------------
    def _do_nothing_scores(self) -> dict:
        """PSNR/SSIM of the rainy inputs themselves: the score a model must beat."""
        return mean_scores("input", (self.val_set.arrays(i) for i in range(len(self.val_set))))

    @property
    def scored_generator(self) -> torch.nn.Module:
        """What validation scores and the checkpoint's "generator" holds: the averaged
        weights with config.ema, else the trained ones."""
        return self.generator if self.average is None else self.average

    def validate(self) -> dict:
        pairs = (self.val_set.arrays(i) for i in range(len(self.val_set)))
        return mean_scores("val", ((restore(self.scored_generator, rain, self.precision), clean) for rain, clean in pairs))

    # -- epochs, checkpoints ----------------------------------------------------------
    def fit(self, resume: bool = False) -> dict:
        start = self._resume() if resume else 0
        steps_per_epoch = distributed.steps_per_epoch(len(self.train_set), self.config.batch_size, self.rank)
        total = self.config.epochs * steps_per_epoch
        bar = tqdm(total=total, initial=start * steps_per_epoch, desc=f"{self.config.experiment}", unit="step",
                   mininterval=1.0, disable=not self.progress)
        clock = RunClock(total - start * steps_per_epoch, self.config.batch_size, self.precision, self.device)
        threads = one_thread_when_busy(self.device) if self.rank.world == 1 else nullcontext("")
        with bar, threads as busy:
            if busy and self.progress:
                bar.write(busy)
            for epoch in range(start, self.config.epochs):
                tic = time.perf_counter()
                records = []
                if hasattr(self.train_set, "set_epoch"):  # fresh drops: render this epoch's pairs
                    self.train_set.set_epoch(epoch)
                render_seconds = time.perf_counter() - tic
                for batch in self._batches(distributed.same_order(torch.randperm(len(self.train_set)), self.rank)):
                    self._epoch, self._step = epoch, len(self.history["steps"])
                    self._set_learning_rates(self._step, total)
                    record = self.train_step(**batch)
                    if (said := clock.step_done()) and self.progress:
                        bar.write(said)
                    records.append(record)
                    self.history["steps"].append({"epoch": epoch + 1, "step": len(self.history["steps"]) + 1, **record})
                    bar.set_postfix(epoch=epoch + 1, G=f"{record['g_loss']:.3f}",
                                    **({"D": f"{record['d_loss']:.3f}"} if "d_loss" in record else {}), refresh=False)
                    bar.update()
                seconds = time.perf_counter() - tic
                rng_states = distributed.gather(rng_state(), self.rank)  # every process's, for an exact resume
                if not self.rank.main:  # rank 0 validates and writes
                    continue
                summary = {"epoch": epoch + 1}
                summary.update({k: float(np.mean([r[k] for r in records])) for k in records[0]})
                summary.update(self.validate())
                summary.update(self.baseline)
                summary.update(seconds=seconds, render_seconds=render_seconds, images_per_s=len(self.train_set) / seconds)
                self.history["epochs"].append(summary)
                self._save(epoch + 1, rng_states)
                if self.replaces is not None:  # the new run has an epoch to show: now the old one goes
                    promote(self.run_dir, self.replaces)
                    self.run_dir, self.replaces = self.replaces, None
                bar.write(
                    f"epoch {epoch + 1}/{self.config.epochs}: val PSNR {summary['val_psnr_rgb']:.2f} dB "
                    f"(doing nothing {summary['input_psnr_rgb']:.2f}), SSIM {summary['val_ssim_rgb']:.3f} "
                    f"({summary['input_ssim_rgb']:.3f}), {seconds:.0f} s{clock.left(epoch + 1 - start, self.config.epochs - epoch - 1)}"
                )
        return self.history

    def _batches(self, order: torch.Tensor):
        """One epoch's batches in `order`. With workers, DataLoader processes crop and stack
        them into pinned memory while the GPU computes; without, the main process does,
        which on a CPU is faster, since workers would take cores from the step itself."""
        items = distributed.share(order, self.config.batch_size, self.rank)  # its slice of each global batch
        size = self.config.batch_size // self.rank.world
        if not self.workers:
            for first in range(0, len(items), size):
                yield stack_items([self.train_set[i] for i in items[first : first + size]])
            return
        # Not persistent: fresh drops are re-rendered in this process every epoch, and
        # workers started afterwards see them. Workers draw their seeds from torch's
        # generator, so a run still repeats and resumes exactly with the same workers.
        yield from torch.utils.data.DataLoader(self.train_set, batch_size=size, sampler=items, num_workers=self.workers,
                                               collate_fn=stack_items, pin_memory=self.device.type == "cuda")

    def _save(self, epochs_done: int, rng_states: list[dict]) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "format": CHECKPOINT_FORMAT, "version": __version__, "git_commit": self._commit, "config": self.config.to_dict(),
            "epoch": epochs_done,
            "generator": self.scored_generator.state_dict(), "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(), "rng": rng_states[0], "history": self.history,
        }
        if self.average is not None:
            state["generator_trained"] = self.generator.state_dict()
        if len(rng_states) > 1:
            state["rng_ranks"] = rng_states
        write_manifest(self.run_dir, self.config.experiment)
        save_checkpoint(self.run_dir / CHECKPOINT, state)
        write_history(self.run_dir, self.history)

    def checkpoint_bytes(self) -> int:
        """About what one checkpoint takes: both networks' weights and Adam's two moments."""
        params = sum(p.numel() * p.element_size() for net in (self.generator, self.discriminator) for p in net.parameters())
        return 3 * params + (1 << 20)

    def _resume(self) -> int:
        # Loaded onto the CPU: the random generators' states must be CPU tensors, and
        # load_state_dict moves weights and optimizer moments to the networks' device.
        state = load_checkpoint(self.run_dir / CHECKPOINT)
        saved = TrainConfig.from_dict(state["config"])
        if saved.to_dict() | {"epochs": 0} != self.config.to_dict() | {"epochs": 0}:
            raise ValueError(f"{self.run_dir / CHECKPOINT} was trained with another configuration; start a new run folder")
        self.generator.load_state_dict(state.get("generator_trained", state["generator"]))
        if self.average is not None:
            self.average.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        ranks = state.get("rng_ranks", [state["rng"]])
        set_rng_state(ranks[self.rank.rank] if len(ranks) == self.rank.world else state["rng"])
        self.history = state["history"]
        return state["epoch"]


class GeneratorStep(torch.nn.Module):
    """The generator's training forward, (output, mask logits or None), as one module
    call: DistributedDataParallel averages the gradients of what goes through a call."""

    def __init__(self, generator: torch.nn.Module):
        super().__init__()
        self.generator = generator
        self.masks = has_mask(generator)

    def forward(self, rain: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.generator.forward_with_mask(rain) if self.masks else (self.generator(rain), None)


def loader_workers(device: torch.device) -> int:
    """DataLoader workers for a device: several on a GPU, so cropping never starves it;
    none on a CPU, where the training step already uses every core."""
    return min(8, (os.cpu_count() or 1) - 1) if device.type == "cuda" else 0


def stack_items(items: list[dict]) -> dict:
    """A batch of dataset items: rainy, clean and (rendered pairs) mask, stacked."""
    return {k: torch.stack([it[k] for it in items]) for k in ("rain", "clean", "mask") if k in items[0]}


def mean_scores(prefix: str, pairs) -> dict:
    """Mean RGB PSNR and SSIM of (prediction, target) uint8 pairs, keys named by protocol."""
    scores = np.array([(psnr(pred, target), ssim(pred, target)) for pred, target in pairs])
    return {f"{prefix}_psnr_rgb": float(scores[:, 0].mean()), f"{prefix}_ssim_rgb": float(scores[:, 1].mean())}


def check_run_dir(run_dir: str | Path, resume: bool, overwrite: bool, protected: list[Path] = ()) -> bool:
    """Refuse to mix two runs in one folder: an existing run is only continued (resume)
    or, when asked, replaced (overwrite; run_folder.check_replaceable says what may be).
    Returns whether an existing run is replaced."""
    run_dir = Path(run_dir)
    _refuse_a_file(run_dir)
    if resume:
        if overwrite:
            raise ValueError("--resume continues the run and --overwrite replaces it: pass one of them")
        if not (run_dir / CHECKPOINT).is_file():
            raise FileNotFoundError(f"{run_dir / CHECKPOINT}: nothing to resume (no epoch of a run finished there); "
                                    "start the run again without --resume")
        return False
    if holds_files(run_dir):
        if not overwrite:
            raise FileExistsError(f"{run_dir} already holds files; pass --resume to continue its run or --overwrite to replace it")
        check_replaceable(run_dir, list(protected))
        return True
    return False


def _refuse_a_file(run_dir: Path) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise FileExistsError(f"{run_dir} is a file, not a folder; name a folder for the run")


def saved_run(run_dir: str | Path) -> tuple[TrainConfig, int]:
    """The configuration of the run that --resume continues, and its finished epochs."""
    check_run_dir(run_dir, resume=True, overwrite=False)
    state = load_checkpoint(Path(run_dir) / CHECKPOINT)
    return TrainConfig.from_dict(state["config"]), state["epoch"]


def resumed_config(run_dir: str | Path, saved: TrainConfig, done: int, config: TrainConfig, given: dict[str, tuple[str, ...]],
                   epochs: int | None) -> TrainConfig:
    """The run in `run_dir` (its configuration and finished epochs: saved_run) continued as
    it was. given: each option the user typed and the configuration fields it sets, which
    `config` holds; one that disagrees with the run is refused with both values named. Only
    an explicit `epochs` changes the schedule, and only to at least the epochs done."""
    for option, names in given.items():
        for name in names:
            ours, theirs = getattr(config, name), getattr(saved, name)
            if ours != theirs and not _same_folder(ours, theirs):
                raise ValueError(f"{option} asks for {name} {ours!r}, but the run in {run_dir} was trained with {theirs!r}; "
                                 "--resume continues a run as it was: leave the option out, or train a new run in another --out")
    if epochs is not None and epochs < done:
        raise ValueError(f"--epochs {epochs}: the run in {run_dir} has finished {done} epochs already")
    return replace(saved, epochs=epochs or saved.epochs)


def _same_folder(a, b) -> bool:
    return isinstance(a, str) and isinstance(b, str) and bool(a) and bool(b) and a != "synthetic" and Path(a).resolve() == Path(b).resolve()


def is_finished(config: TrainConfig, folder: Path) -> bool:
    """Whether `folder` holds a finished run of exactly this configuration."""
    checkpoint = folder / CHECKPOINT
    if not checkpoint.is_file():
        return False
    state = load_checkpoint(checkpoint)
    return TrainConfig.from_dict(state["config"]) == config and state["epoch"] >= config.epochs


def ensure_trained(config: TrainConfig, folder: Path, device: str = "auto", progress: bool = True) -> None:
    """Reuse the finished run in `folder`, resume an interrupted one, or train a new one;
    a folder holding a run with other settings is refused."""
    checkpoint = folder / CHECKPOINT
    if not checkpoint.is_file():
        train(config, folder, device=device, progress=progress)
        return
    state = load_checkpoint(checkpoint)
    saved = TrainConfig.from_dict(state["config"])
    if saved != config:
        changed = sorted(k for k, v in config.to_dict().items() if saved.to_dict().get(k) != v)
        raise ValueError(f"{folder} holds a {saved.experiment} run with other settings ({', '.join(changed)}); "
                         "pass another RUN_DIR, or delete that folder to train again")
    if state["epoch"] < config.epochs:
        print(f"continuing the interrupted run in {shown_path(folder)} from epoch {state['epoch']}")
        train(config, folder, resume=True, device=device, progress=progress)
    elif code_changed_since(PROJECT_ROOT, state.get("git_commit")):
        print(f"reusing the finished run in {shown_path(folder)}, trained at commit {state['git_commit'][:10]}: the code in derain_utils "
              "has changed since, so its numbers may differ from a new run; delete the folder to train it again")
    else:
        print(f"reusing the finished run in {shown_path(folder)}")


def train(config: TrainConfig, run_dir: str | Path, resume: bool = False, overwrite: bool = False,
          device: str = "auto", progress: bool = True) -> dict:
    """Train one experiment into run_dir; returns the history (also in history.json).
    The folder is locked for the whole run (run_folder.locked). With overwrite, the new run
    trains beside the old one, which stays whole until the new one's first epoch is saved."""
    run_dir = Path(run_dir)
    protected = [Path(p) for p in (config.data, config.extra_photos, config.real_pairs, config.init_from) if p and p != "synthetic"]
    _refuse_a_file(run_dir)  # before the folder is made for its lock
    created = not run_dir.exists()
    try:
        with locked(run_dir, "train") if distributed.main_process() else nullcontext():
            if distributed.main_process():
                remove_leftovers(run_dir)
            replaced = check_run_dir(run_dir, resume, overwrite, protected)
            if resume:  # the saved configuration wins, except for a longer schedule
                saved = TrainConfig.from_dict(load_checkpoint(run_dir / CHECKPOINT)["config"])
                config = replace(saved, epochs=config.epochs)
            # Reads the data and the run it starts from: bad input leaves the folder as it was.
            trainer = Trainer(config, run_dir / NEXT if replaced else run_dir, device, progress, resume=resume,
                              replaces=run_dir if replaced else None)
            _check_space(run_dir, trainer.checkpoint_bytes())
            if config.profile == "paper" and trainer.device.type == "cpu" and trainer.progress:
                steps = config.epochs * math.ceil(len(trainer.train_set) / config.batch_size)
                print(f"note: the paper profile is the report's GPU setting: {steps:,} steps of {config.batch_size} images at "
                      f"{config.image_size}x{config.image_size}; how long that takes on this CPU is said after its first steps "
                      "(hours to days on a laptop). --profile cpu trains in minutes.", file=sys.stderr)
            return trainer.fit(resume=resume)
    finally:
        if created and run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()  # nothing was saved: leave no empty folder behind


def _check_space(run_dir: Path, needed: int) -> None:
    """Room for a checkpoint and its temporary copy, before any training."""
    free = free_bytes(run_dir)
    if free < 2 * needed:
        raise OSError(errno.ENOSPC, f"only {free / 1e6:.0f} MB free, and a checkpoint of this run takes about "
                                    f"{needed / 1e6:.0f} MB (twice that while it is written): free some space or "
                                    "choose another --out", str(run_dir))
