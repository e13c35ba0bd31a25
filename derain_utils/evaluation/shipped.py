"""The one model shipped with derain, for real photos, and the file format it ships in.

A run folder holds both networks, the optimizers and the whole history (tens of MB); a
model file holds what inference needs: the generator's weights in half precision, its
configuration, the scales and flips it runs at, and where it came from. `derain export`
writes one; `derain predict` and `derain evaluate` use the shipped one when no
--checkpoint is given.
docs/model.md is its model card.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from ..paths import shown_path
from ..presets import TrainConfig
from ..training.checkpoints import load_checkpoint, save_checkpoint
from ..training.checkpoints import load_run
from .inference import FLIPS

MODEL_FORMAT = "derain-model-1"
SHIPPED_MODEL = Path(__file__).resolve().parent.parent / "weights" / "real-photos.pt"
# The file's hash as committed: a test checks it, and docs/model.md states it.
SHIPPED_SHA256 = "910eec515664e33455fdbbbbb93c1cd84b8b68f5e0fbfa7142aefe56deaf3456"


def export_model(run: str | Path, out: str | Path, scales: tuple[float, ...] = (1.0,), flips: str = "none") -> Path:
    """The generator of a finished run as a model file. Its weights are stored in float16
    (half the size; the scores it gives are checked against the run's own in tests) and
    widened back to float32 when loaded."""
    if flips not in FLIPS:
        raise ValueError(f"flips {flips!r}: expected one of {', '.join(FLIPS)}")
    _, state = load_run(run)
    weights = {k: v.half() if v.is_floating_point() else v for k, v in state["generator"].items()}
    model = {
        "format": MODEL_FORMAT, "config": _portable(state["config"]), "generator": weights, "scales": [float(s) for s in scales],
        "flips": flips,
        "epoch": state["epoch"], "version": state.get("version"), "git_commit": state.get("git_commit"),
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out, model)
    return out


def _portable(config: dict) -> dict:
    """The run's configuration with its folders named, not placed: a file that travels
    should not carry the paths of the machine it was trained on."""
    folders = ("data", "extra_photos", "real_pairs", "init_from")
    return {k: Path(v).name if k in folders and v and Path(v).is_absolute() else v for k, v in config.items()}


def read_model(path: str | Path) -> dict | None:
    """The state of a model file, or None when `path` is something else (a run)."""
    path = Path(path)
    return None if path.is_dir() else model_state(load_checkpoint(path))


def model_state(state) -> dict | None:
    """A loaded file's state with its weights widened to float32 when it is a model file,
    else None."""
    if not (isinstance(state, dict) and state.get("format") == MODEL_FORMAT):
        return None
    state["generator"] = {k: v.float() if v.is_floating_point() else v for k, v in state["generator"].items()}
    TrainConfig.from_dict(state["config"])  # refuses a file of another version early
    return state


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shipped_model() -> Path:
    """The shipped model file, refused with a clear message when missing or altered."""
    if not SHIPPED_MODEL.is_file():
        raise FileNotFoundError(f"{shown_path(SHIPPED_MODEL)}: the shipped model is missing; restore it with "
                                "`git checkout -- derain_utils/weights` or pass --checkpoint RUN")
    return SHIPPED_MODEL
