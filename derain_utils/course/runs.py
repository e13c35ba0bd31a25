"""A finished training run, and what the chapters read from it: samples, masks, scores
on the validation and test images, per-image numbers and the summary the report quotes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.datasets import PairedImageDataset
from ..data.training_data import build_test_set, build_validation_set
from ..evaluation.analysis import drop_gains, drop_strength
from ..evaluation.inference import image_tensor, patch_confidence, restore, restore_with_mask
from ..evaluation.metrics import psnr, ssim
from ..evaluation.trained import load_trained
from ..models import has_mask
from ..presets import TrainConfig
from ..training.losses import drop_target
from ..training.trainer import drop_threshold, mean_scores


@dataclass
class ExperimentRun:
    """A finished training run: its configuration, history and networks (in eval mode)."""

    folder: Path
    config: TrainConfig
    history: dict
    generator: nn.Module
    discriminator: nn.Module
    val_set: PairedImageDataset
    test_set: PairedImageDataset | None  # images no choice was made on; None for a folder without test_a
    precision: str  # of inference on this device

    @classmethod
    def load(cls, folder: Path, device: str = "auto") -> "ExperimentRun":
        t = load_trained(folder, device)
        return cls(folder, t.config, t.state["history"], t.generator, t.discriminator, build_validation_set(t.config),
                   build_test_set(t.config), t.precision)

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
            out = restore(self.generator, rain, self.precision)
            row = [rain, out, clean]
            if confidence:  # a mask-conditioned discriminator sees the drops the generator found
                mask = restore_with_mask(self.generator, rain)[1] > 0.5 if has_mask(self.generator) else None
                row.append(patch_confidence(self.discriminator, rain, out, mask))
            rows.append(row)
            names.append(f"{self.val_set.name(int(i))}\n{psnr(out, clean):.1f} dB (rainy {psnr(rain, clean):.1f})")
        return rows, names

    def drops(self, index: int) -> np.ndarray:
        """The drop pixels of a held-out image as the run was trained to find them,
        (H, W) float 0/1: the renderer's mask where the drop visibly changes the picture,
        or |rainy - clean| above the real-data threshold."""
        rain, clean = self.val_set.arrays(index)
        mask = self.val_set.mask(index)
        renderer = None if mask is None else torch.from_numpy(mask).permute(2, 0, 1)[None].float() / 255.0
        target = drop_target(image_tensor(rain), image_tensor(clean), drop_threshold(self.config), renderer)
        return target[0, 0].numpy()

    def mask_rows(self, n: int = 4, indices=None) -> tuple[list, list[str]]:
        """For a generator that predicts a drop mask: rows of (rainy, predicted mask, true
        drop pixels, restored, clean) for held-out images (n spread evenly, or the given
        indices), and their labels."""
        if indices is None:
            indices = np.linspace(0, len(self.val_set) - 1, min(n, len(self.val_set))).round().astype(int)
        rows, names = [], []
        for i in map(int, indices):
            rain, clean = self.val_set.arrays(i)
            out, mask = restore_with_mask(self.generator, rain)
            rows.append([rain, mask, self.drops(i).astype(np.float32), out, clean])
            names.append(f"{self.val_set.name(i)}\n{psnr(out, clean):.1f} dB (rainy {psnr(rain, clean):.1f})")
        return rows, names

    def failures(self) -> dict:
        """Where the model gains and where it loses on the held-out images: PSNR inside and
        outside the drops, from squared errors pooled over all images, and every drop's
        gain with its size and contrast (analysis.drop_gains)."""
        error = {(region, who): 0.0 for region in ("inside", "outside") for who in ("input", "model")}
        pixels = {"inside": 0, "outside": 0}
        drops = []
        for i in range(len(self.val_set)):
            rain, clean = self.val_set.arrays(i)
            out = restore(self.generator, rain, self.precision)
            inside = self.drops(i) > 0
            for who, image in (("input", rain), ("model", out)):
                squared = ((image.astype(np.float64) - clean) ** 2).mean(axis=2)
                for region, where in (("inside", inside), ("outside", ~inside)):
                    error[region, who] += squared[where].sum()
            pixels["inside"] += int(inside.sum())
            pixels["outside"] += int((~inside).sum())
            drops += drop_gains(rain, out, clean, inside)
        regions = {region: {who: float(10 * np.log10(255.0**2 * pixels[region] / max(error[region, who], 1e-9)))
                            for who in ("input", "model")} for region in pixels}
        return {"regions": regions, "drop_share": pixels["inside"] / sum(pixels.values()), "drops": drops}

    def test_scores(self) -> dict:
        """Mean PSNR/SSIM (RGB) of the model and of doing nothing on the test images, which
        no choice of this project was made on; empty without a test set."""
        if self.test_set is None:
            return {}
        pairs = [self.test_set.arrays(i) for i in range(len(self.test_set))]
        scores = mean_scores("test", ((restore(self.generator, rain, self.precision), clean) for rain, clean in pairs))
        scores.update(mean_scores("test_input", pairs))
        return {"test_images": len(pairs), "test_psnr": scores["test_psnr_rgb"], "test_ssim": scores["test_ssim_rgb"],
                "test_input_psnr": scores["test_input_psnr_rgb"], "test_input_ssim": scores["test_input_ssim_rgb"]}

    def per_image(self) -> list[dict]:
        """PSNR/SSIM (RGB) of the model and of doing nothing on every held-out image,
        with the drops' coverage and strength as the data chapter measures them."""
        rows = []
        for i in range(len(self.val_set)):
            rain, clean = self.val_set.arrays(i)
            out = restore(self.generator, rain, self.precision)
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
            "final_g_loss": self.last["g_loss"],
            **(self._discriminator_summary() if "d_loss" in self.last else {}),
            **self.test_scores(),
        }

    def _discriminator_summary(self) -> dict:
        epochs = self.history["epochs"]
        return {"final_d_loss": self.last["d_loss"], "final_d_acc_real": self.last["d_acc_real"],
                "final_d_acc_fake": self.last["d_acc_fake"],
                "mean_d_acc_last_half": float(np.mean([(e["d_acc_real"] + e["d_acc_fake"]) / 2 for e in epochs[len(epochs) // 2:]]))}


def failure_summary(failures: dict) -> dict:
    """What metrics.json keeps of ExperimentRun.failures(): PSNR inside and outside the
    drops for the model and for doing nothing, the drops' share of the pixels, and how many
    drops end closer to the clean photo."""
    return {"drop_share": failures["drop_share"], **failures["regions"], "drops": len(failures["drops"]),
            "drops_better": sum(d["gain"] > 0 for d in failures["drops"])}
