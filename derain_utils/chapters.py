"""What the notebooks call: a chapter's settings, its training runs, figures and numbers.

A notebook's parameters cell holds literals only. `open_chapter` turns them into paths
resolved from the project root and applies two environment variables, so the tests can
run every notebook on the smoke preset in a temporary folder:

* ``DERAIN_PROFILE`` replaces the PROFILE parameter (nbval sets it to ``smoke``);
* ``DERAIN_OUTPUT`` puts figures, metrics and runs under that folder.

Smoke runs never write into the project's ``figures/``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from torch import nn

from .analysis import drop_strength
from .checkpoints import atomic_write_bytes, load_checkpoint
from .datasets import PairedImageDataset
from .figures import save_figure
from .inference import patch_confidence, restore
from .metrics import psnr, ssim
from .paths import BUILD_DIR, FIGURES_DIR, PROJECT_ROOT, shown_path
from .presets import PROFILES, TrainConfig, make_config
from .training import CHECKPOINT, pick_device, train
from .trained import load_trained
from .training_data import build_validation_set

PROFILE_ENV = "DERAIN_PROFILE"
OUTPUT_ENV = "DERAIN_OUTPUT"
METRICS = "metrics.json"


def project_path(path: str | Path) -> Path:
    """A path from a parameter: absolute as given, relative ones from the project root."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


@dataclass(frozen=True)
class Chapter:
    profile: str
    data: str  # 'synthetic' or an absolute folder
    seed: int
    device: str
    figures_dir: Path
    runs_dir: Path

    def run(self, experiment: str, run_dir: str = "", progress: bool = True) -> "ExperimentRun":
        """The trained run of one experiment: reused when its folder already holds the
        finished run, resumed when it holds an interrupted one, trained otherwise."""
        config = make_config(experiment, self.profile, data=self.data, seed=self.seed)
        folder = project_path(run_dir) if run_dir else self.runs_dir / experiment
        checkpoint = folder / CHECKPOINT
        if checkpoint.is_file():
            state = load_checkpoint(checkpoint)
            saved = TrainConfig.from_dict(state["config"])
            if saved != config:
                changed = sorted(k for k, v in config.to_dict().items() if saved.to_dict().get(k) != v)
                raise ValueError(
                    f"{folder} holds a {saved.experiment} run with other settings ({', '.join(changed)}); "
                    "pass another RUN_DIR, or delete that folder to train again"
                )
            if state["epoch"] < config.epochs:
                print(f"continuing the interrupted run in {folder} from epoch {state['epoch']}")
                train(config, folder, resume=True, device=self.device, progress=progress)
            else:
                print(f"reusing the finished run in {folder}")
        else:
            train(config, folder, device=self.device, progress=progress)
        return ExperimentRun.load(folder, self.device)

    def save(self, fig: plt.Figure, number: int, slug: str) -> None:
        """Save a figure as figN_<slug>.png and .pdf in this chapter's figure folder."""
        paths = save_figure(fig, f"fig{number}_{slug}", self.figures_dir)
        print("saved " + ", ".join(shown_path(p) for p in paths))

    def record(self, section: str, values: dict) -> None:
        """Merge one section of numbers into metrics.json beside the figures."""
        path = self.figures_dir / METRICS
        metrics = json.loads(path.read_text()) if path.is_file() else {}
        metrics[section] = values
        metrics["setup"] = {"profile": self.profile, "data": shown_path(self.data), "seed": self.seed}
        self.figures_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, (json.dumps(metrics, indent=2, sort_keys=True) + "\n").encode())

    def metrics(self) -> dict:
        path = self.figures_dir / METRICS
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no metrics yet; run the experiment notebooks first")
        return json.loads(path.read_text())


def open_chapter(profile: str = "cpu", data: str = "synthetic", seed: int = 0, device: str = "auto",
                 figures_dir: str = "", runs_dir: str = "") -> Chapter:
    """Settings of one notebook from its parameters cell (see the module docstring)."""
    profile = os.environ.get(PROFILE_ENV) or profile
    if profile not in PROFILES:
        raise ValueError(f"PROFILE = {profile!r}: expected one of {', '.join(PROFILES)}")
    output = os.environ.get(OUTPUT_ENV)
    default_root = Path(output) if output else BUILD_DIR / "smoke" if profile == "smoke" else None
    figures = project_path(figures_dir) if figures_dir else default_root / "figures" if default_root else FIGURES_DIR
    if profile == "smoke" and figures.resolve() == FIGURES_DIR.resolve():
        raise ValueError("the smoke profile never writes into figures/; pick another FIGURES_DIR")
    runs = project_path(runs_dir) if runs_dir else (default_root or BUILD_DIR) / "runs" / profile
    if data != "synthetic":
        folder = project_path(data)
        if not folder.is_dir():
            raise FileNotFoundError(f"DATA = {data!r}: no folder {folder}")
        data = str(folder)
    print(f"profile {profile}, data {shown_path(data)}, seed {seed}, device {pick_device(device)}; "
          f"figures in {shown_path(figures)}, runs in {shown_path(runs)}")
    return Chapter(profile, data, seed, device, figures, runs)


@dataclass
class ExperimentRun:
    """A finished training run: its configuration, history and networks (in eval mode)."""

    folder: Path
    config: TrainConfig
    history: dict
    generator: nn.Module
    discriminator: nn.Module
    val_set: PairedImageDataset

    @classmethod
    def load(cls, folder: Path, device: str = "auto") -> "ExperimentRun":
        t = load_trained(folder, device)
        return cls(folder, t.config, t.state["history"], t.generator, t.discriminator, build_validation_set(t.config))

    @property
    def last(self) -> dict:
        return self.history["epochs"][-1]

    def sample_rows(self, n: int = 4, confidence: bool = False) -> tuple[list, list[str]]:
        """Rows of (rainy, restored, clean[, discriminator confidence on the restored image])
        for n held-out images spread evenly over the validation set, and their labels:
        name, PSNR of the output and of the rainy input."""
        indices = np.linspace(0, len(self.val_set) - 1, min(n, len(self.val_set))).round().astype(int)
        rows, names = [], []
        for i in indices:
            rain, clean = self.val_set.arrays(int(i))
            out = restore(self.generator, rain, self.config.bf16)
            row = [rain, out, clean]
            if confidence:
                row.append(patch_confidence(self.discriminator, rain, out))
            rows.append(row)
            names.append(f"{self.val_set.name(int(i))}\n{psnr(out, clean):.1f} dB (rainy {psnr(rain, clean):.1f})")
        return rows, names

    def per_image(self) -> list[dict]:
        """PSNR/SSIM (RGB) of the model and of doing nothing on every held-out image,
        with the drops' coverage and strength as the data chapter measures them."""
        rows = []
        for i in range(len(self.val_set)):
            rain, clean = self.val_set.arrays(i)
            out = restore(self.generator, rain, self.config.bf16)
            cover, contrast = drop_strength(rain, clean)
            rows.append({
                "name": self.val_set.name(i), "psnr": psnr(out, clean), "ssim": ssim(out, clean),
                "input_psnr": psnr(rain, clean), "input_ssim": ssim(rain, clean),
                "drop_cover": cover, "drop_contrast": contrast,
            })
        return rows

    def summary(self) -> dict:
        """The numbers the report quotes for this run (held-out images, RGB protocol)."""
        epochs = self.history["epochs"]
        best = max(epochs, key=lambda e: e["val_psnr_rgb"])
        return {
            "experiment": self.config.experiment, "protocol": "rgb", "held_out_images": len(self.val_set),
            "epochs": len(epochs), "steps": len(self.history["steps"]),
            "psnr": self.last["val_psnr_rgb"], "ssim": self.last["val_ssim_rgb"],
            "input_psnr": self.last["input_psnr_rgb"], "input_ssim": self.last["input_ssim_rgb"],
            "best_psnr": best["val_psnr_rgb"], "best_epoch": best["epoch"],
            "train_seconds": float(sum(e["seconds"] for e in epochs)),
            "images_per_s": float(np.mean([e["images_per_s"] for e in epochs])),
            "final_g_loss": self.last["g_loss"], "final_d_loss": self.last["d_loss"],
            "final_d_acc_real": self.last["d_acc_real"], "final_d_acc_fake": self.last["d_acc_fake"],
            "mean_d_acc_last_half": float(np.mean([(e["d_acc_real"] + e["d_acc_fake"]) / 2 for e in epochs[len(epochs) // 2:]])),
        }
