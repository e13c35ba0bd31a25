"""What makes a folder a derain run, and who may write to it.

A run folder is derain's only if it holds the manifest that `derain train` writes, so
`--overwrite` never replaces anything else. One process at a time writes to a folder: a
lock file inside it, held with fcntl, refuses a second train, resume, overwrite or predict
at once and names the process that holds it. The kernel releases the lock when its
process dies, however it dies, so a lock left by a killed process is simply taken over.
A replaced run stays in place until the new one has finished its first epoch.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from .. import __version__
from ..paths import PROJECT_ROOT
from .checkpoints import CHECKPOINT, atomic_write_bytes

MANIFEST = "derain-run.json"
MANIFEST_FORMAT = "derain-run-1"
LOCK = ".derain.lock"
NEXT = ".next"  # the new run of an --overwrite, until its first epoch is done
RUN_FILES = (MANIFEST, CHECKPOINT, "history.json", "history.csv")  # what derain train writes
_TEMP_PREFIXES = tuple(f".{name}." for name in RUN_FILES)  # atomic_write_bytes' temporary files


class FolderInUse(FileExistsError):
    """Another derain process holds the folder's lock."""


@contextmanager
def locked(folder: Path, command: str):
    """Hold `folder`'s lock (creating the folder) for one derain command; refuse at once
    when another process holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise FolderInUse(f"{folder} is in use by {holder}; wait for it to finish, or choose another folder") from None
        # The holder before us may have removed the file between our open and our lock:
        # then the lock we hold is on a file nobody else will see, so take the new one.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    left = os.pread(fd, 200, 0).decode(errors="replace").strip()
    if left:
        print(f"note: {folder}: taking over the lock left by {left}, which is no longer running", file=sys.stderr)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"process {os.getpid()} (derain {command})".encode(), 0)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def remove_leftovers(folder: Path) -> list[str]:
    """Temporary files of a save that was killed mid-write, and the unfinished new run of
    a killed --overwrite (the run it was to replace is intact); call it holding the lock."""
    gone = []
    for entry in folder.iterdir() if folder.is_dir() else ():
        if entry.name.startswith(_TEMP_PREFIXES) and entry.is_file():
            entry.unlink()
            gone.append(entry.name)
        elif entry.name == NEXT and entry.is_dir():
            shutil.rmtree(entry)
            gone.append(entry.name)
    return gone


def holds_files(folder: Path) -> bool:
    """Whether `folder` holds anything beyond a lock, a killed save's leftovers, and the
    manifest of a run killed before its first checkpoint."""
    return folder.is_dir() and any(e.name not in (LOCK, NEXT, MANIFEST) and not e.name.startswith(_TEMP_PREFIXES)
                                   for e in folder.iterdir())


def check_replaceable(run_dir: Path, protected: list[Path]) -> None:
    """Refuse to --overwrite anything but a derain run folder that holds derain's files only,
    and never the current folder, the project, the data, or a folder above them."""
    where = run_dir.resolve()
    if where == Path.cwd().resolve():
        raise FileExistsError(f"--out {run_dir} is the current folder; --overwrite never replaces it: choose a run folder")
    for kept in [PROJECT_ROOT, *protected]:
        kept = kept.resolve()
        if where == kept or where in kept.parents:
            raise FileExistsError(f"--out {run_dir} holds {kept}; --overwrite never replaces a folder above the project or the data")
    if not (run_dir / MANIFEST).is_file():
        raise FileExistsError(f"{run_dir} has no {MANIFEST}, so it is not a run folder that derain train made; "
                              "--overwrite replaces only those: choose another --out, or move its files away yourself")
    foreign = sorted(e.name for e in run_dir.iterdir() if e.name not in (*RUN_FILES, LOCK, NEXT) and not e.name.startswith(_TEMP_PREFIXES))
    if foreign:
        raise FileExistsError(f"{run_dir} holds files that derain train did not write ({', '.join(foreign[:3])}"
                              f"{', ...' if len(foreign) > 3 else ''}); move them out before --overwrite")


def write_manifest(run_dir: Path, experiment: str) -> None:
    """Mark `run_dir` as a derain run (once, with its first checkpoint)."""
    if (run_dir / MANIFEST).is_file():
        return
    manifest = {"format": MANIFEST_FORMAT, "written_by": "derain train", "version": __version__, "experiment": experiment,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    atomic_write_bytes(run_dir / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())


def promote(new: Path, run_dir: Path) -> None:
    """Move the new run's files over the old run's, the checkpoint last, so that the folder
    holds one whole run or the other's checkpoint at every moment; then drop the rest."""
    for name in sorted(RUN_FILES, key=lambda n: n == CHECKPOINT):
        if (new / name).exists():
            os.replace(new / name, run_dir / name)
        else:
            (run_dir / name).unlink(missing_ok=True)
    shutil.rmtree(new)


def free_bytes(folder: Path) -> int:
    """Free space where `folder` is or would be created."""
    while not folder.exists():
        folder = folder.parent
    return shutil.disk_usage(folder).free
