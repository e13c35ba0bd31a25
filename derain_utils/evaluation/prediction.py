"""Derain the user's own photos at their own size.

Outputs are PNG files named after their inputs. Nothing is written until every output
path is known to be safe: an input is never overwritten, an existing output only with
overwrite=True. resume=True keeps the outputs an interrupted run wrote (each is written
atomically, so an existing one is whole) and derains the rest. A file that cannot be read
is reported by name and skipped.
"""

from __future__ import annotations

import os
import tempfile
from glob import escape as glob_escape
from pathlib import Path

from tqdm import tqdm

from ..data.images import IMAGE_EXTENSIONS, ImageReadError, read_rgb, write_png
from ..training.checkpoints import file_mode
from ..training.run_folder import locked
from .chain import Chain, as_chain
from .trained import Trained


def collect_inputs(inputs: list[str | Path]) -> list[Path]:
    """Image files given directly, and the image files inside given folders (not recursive)."""
    files = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            if not found:
                raise FileNotFoundError(f"{item}: no .png, .jpg or .jpeg images in this folder")
            files += found
        elif item.is_file():
            files.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    return files


def output_path(source: Path, out_dir: Path) -> Path:
    """Where the derained copy of `source` goes: a PNG named after it."""
    return Path(out_dir) / f"{Path(source).stem}.png"


def plan_outputs(files: list[Path], out_dir: Path, overwrite: bool = False, resume: bool = False) -> list[Path]:
    """Output path of each input, after checking that writing them loses nothing."""
    if overwrite and resume:
        raise ValueError("--overwrite replaces existing outputs and --resume keeps them: pass one of them")
    outputs = [output_path(f, out_dir) for f in files]
    inputs = {f.resolve() for f in files}
    seen: dict[Path, Path] = {}
    for source, target in zip(files, outputs):
        if target.resolve() in inputs:
            raise FileExistsError(f"{target} is an input; choose another --out folder (inputs are never overwritten)")
        if target in seen:
            raise FileExistsError(f"{seen[target]} and {source} would both be written to {target}; derain them separately")
        seen[target] = source
    existing = [t for t in outputs if t.exists()]
    if existing and not (overwrite or resume):
        raise FileExistsError(f"{len(existing)} output file(s) exist already, e.g. {existing[0]}; "
                              "pass --resume to keep them and derain the rest, or --overwrite to replace them")
    return outputs


def predict(trained: Trained | Chain, inputs: list[str | Path], out_dir: str | Path, overwrite: bool = False,
            resume: bool = False, tile: int = 512, overlap: int = 64, scales: tuple[float, ...] = (1.0,),
            progress: bool = True) -> tuple[list[Path], list[str]]:
    """Derain every input into out_dir with a model or a chain of models; returns the written
    files and one message per skipped file."""
    chain = as_chain(trained, scales)
    files = collect_inputs(inputs)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"--out {out_dir} is a file; name a folder for the derained photos")
    if not overlap < tile:
        raise ValueError(f"--overlap {overlap} must be smaller than --tile {tile}")
    created = not out_dir.exists()
    try:
        with locked(out_dir, "predict"):
            return _predict_locked(chain, files, out_dir, overwrite, resume, tile, overlap, progress)
    finally:
        if created and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()


def _predict_locked(chain: Chain, files: list[Path], out_dir: Path, overwrite: bool, resume: bool, tile: int, overlap: int,
                    progress: bool) -> tuple[list[Path], list[str]]:
    outputs = plan_outputs(files, out_dir, overwrite, resume)
    for target in outputs:  # what a killed write left: _write_atomically's temporary files
        for left in out_dir.glob(f".{glob_escape(target.stem)}.*.png"):
            left.unlink()
    todo = [(source, target) for source, target in zip(files, outputs) if not (resume and target.exists())]
    if resume and progress:
        print(f"{len(files) - len(todo)} of {len(files)} image(s) were derained already")
    written, skipped = [], []
    bar = tqdm(todo, desc="deraining", unit="image", disable=not progress)
    for source, target in bar:
        try:
            image = read_rgb(source)
        except ImageReadError as err:
            skipped.append(str(err))
            bar.write(f"skipped {err}")
            continue
        result = chain.restore(image, tile=tile, overlap=overlap)
        _write_atomically(target, result)
        written.append(target)
    return written, skipped


def _write_atomically(path: Path, image) -> None:
    """A temporary file renamed into place: an interrupted run leaves no half-written PNG."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    os.fchmod(fd, file_mode())
    os.close(fd)
    try:
        write_png(tmp, image)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
