"""Run files written atomically, so an interrupted run never leaves a torn file."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import tempfile
from pathlib import Path

import torch

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_FORMAT = "derain-checkpoint-1"


def file_mode() -> int:
    """The mode a new file gets under the user's umask: temporary files start at 0600,
    and a file renamed into place should not keep that."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename it over `path`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path: Path, state: dict) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no checkpoint here") from None
    except Exception as err:  # a torn or foreign file
        raise ValueError(f"{path}: not a readable derain checkpoint ({err})") from None


def write_history(run_dir: Path, history: dict) -> None:
    """history.json (epochs and steps) and history.csv (one row per epoch)."""
    atomic_write_bytes(run_dir / "history.json", (json.dumps(history, indent=1) + "\n").encode())
    epochs = history["epochs"]
    if epochs:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(epochs[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(epochs)
        atomic_write_bytes(run_dir / "history.csv", text.getvalue().encode())


def _git(root: Path, *args: str) -> subprocess.CompletedProcess | None:
    """git run in `root`; None where git is missing or hangs."""
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None


def git_commit(root: Path) -> str | None:
    """The commit the code was run from, when it runs from a git checkout."""
    out = _git(root, "rev-parse", "HEAD")
    return out.stdout.strip() or None if out is not None and out.returncode == 0 else None


def code_changed_since(root: Path, commit: str | None) -> bool | None:
    """Whether the package's code that trains a run differs from `commit` (committed or
    not); None when git cannot tell (no checkout, an unknown commit). A finished run is
    reused by its configuration alone, so this is what says that its code has moved on.
    The course's code (derain_utils/course) only reads and draws runs, so it is left out."""
    out = _git(root, "diff", "--quiet", commit, "--", "derain_utils", ":(exclude)derain_utils/course") if commit else None
    return None if out is None else {0: False, 1: True}.get(out.returncode)


def checkpoint_file(path: str | Path) -> Path:
    """The checkpoint of a run folder, or the file itself."""
    path = Path(path)
    return path / CHECKPOINT if path.is_dir() else path


def check_run_state(path: Path, state) -> None:
    """Refuse anything that `derain train` did not write."""
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a derain checkpoint (written by `derain train`)")


def load_run(path: str | Path) -> tuple[Path, dict]:
    """(checkpoint file, its state) of a run folder or checkpoint file."""
    path = checkpoint_file(path)
    state = load_checkpoint(path)
    check_run_state(path, state)
    return path, state
