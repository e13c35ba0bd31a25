"""Finding rainy/clean pairs on disk and checking them.

Two layouts are understood:

* the Raindrop dataset's: ``<root>/<split>/data/<N>_rain.<ext>`` with
  ``<root>/<split>/gt/<N>_clean.<ext>``, splits train, test_a and test_b. Pairs are
  matched by the number N, never by sort order, since copies of the dataset differ in
  extensions and zero padding. An optional ``mask/<N>_mask.png`` (written by
  ``derain synth``) is picked up too. A split folder itself may also be given as root.
* a generic one: ``<root>/rain/<name>`` with ``<root>/clean/<name>``, matched by file
  name without extension; it forms a single split called ``all``.
"""

from __future__ import annotations

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..evaluation.metrics import SSIM_WINDOW
from .images import IMAGE_EXTENSIONS, ImageReadError, read_rgb

RAINDROP_SPLITS = ("train", "test_a", "test_b")
GENERIC_SPLIT = "all"
_NAME = re.compile(r"^(\d+)_(rain|clean|mask)\.(png|jpe?g)$", re.IGNORECASE)


# The smallest side every command takes: evaluate's SSIM compares 11x11 Gaussian windows,
# and check-data flags anything smaller.
MIN_SIDE = SSIM_WINDOW


def too_small(path: Path, shape) -> str | None:
    """The message for an image too small for derain, else None."""
    if min(shape[:2]) >= MIN_SIDE:
        return None
    return f"{shape[1]}x{shape[0]} is too small: derain needs at least {MIN_SIDE} pixels a side"


@dataclass(frozen=True)
class ImagePair:
    """One rainy image and its clean twin (and, for synthetic data, the drop mask)."""

    key: str
    rain: Path
    clean: Path
    mask: Path | None = None

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """Both images as (H, W, 3) uint8; a size mismatch names the file and both sizes."""
        rain, clean = read_rgb(self.rain), read_rgb(self.clean)
        if rain.shape != clean.shape:
            raise ImageReadError(f"{self.rain}: {_size_mismatch(self, rain.shape, clean.shape)}")
        if small := too_small(self.rain, rain.shape):
            raise ImageReadError(f"{self.rain}: {small}")
        return rain, clean


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class DataError(ValueError):
    """A dataset that cannot be used as it is; lists every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the dataset:\n{lines}")


@dataclass
class SplitReport:
    name: str
    pairs: list[ImagePair]
    sizes: Counter = field(default_factory=Counter)  # (width, height) -> pairs

    def describe(self) -> str:
        if not self.pairs:
            return f"{self.name}: 0 pairs"
        sizes = ", ".join(
            f"{w}x{h}" + (f" ({n})" if len(self.sizes) > 1 else "") for (w, h), n in self.sizes.most_common()
        )
        refused = len(self.pairs) - sum(self.sizes.values())
        return f"{self.name}: {len(self.pairs)} pairs at {sizes}" + (f", {refused} refused (see the problems)" if refused else "")


@dataclass
class DataReport:
    root: Path
    layout: str
    splits: list[SplitReport]
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        lines = [f"{self.root} ({self.layout} layout)"]
        lines += [s.describe() for s in self.splits]
        if self.problems:
            lines.append(f"{len(self.problems)} problem(s):")
            lines += [f"  - {p}" for p in self.problems]
        else:
            lines.append("no problems found")
        return "\n".join(lines)


def split_folders(root: str | Path, split: str | None = None) -> tuple[str, dict[str, Path]]:
    """The layout of `root` and its split folders, or DataError when there are none."""
    root = Path(root)
    if not root.is_dir():
        raise DataError([Problem(root, "dataset folder not found")])
    if (root / "rain").is_dir() or (root / "clean").is_dir():
        layout, found = "generic", {GENERIC_SPLIT: root}
    elif (root / "data").is_dir() or (root / "gt").is_dir():
        layout, found = "Raindrop", {root.name: root}
    else:
        layout = "Raindrop"
        found = {name: root / name for name in RAINDROP_SPLITS if (root / name).is_dir()}
        if not found:
            raise DataError(
                [Problem(root, "no Raindrop splits (train/, test_a/, test_b/ with data/ and gt/) "
                               "and no rain/ + clean/ folders")]
            )
    if split is not None:
        if split not in found:
            raise DataError([Problem(root / split, f"split {split!r} not found; present: {', '.join(found)}")])
        found = {split: found[split]}
    return layout, found


def list_pairs(folder: Path, layout: str) -> tuple[list[ImagePair], list[Problem]]:
    """Pair the files of one split folder by name; no image is decoded here."""
    if layout == "generic":
        rain_dir, clean_dir, mask_dir = folder / "rain", folder / "clean", folder / "mask"
        rain, problems = _index(rain_dir, lambda p: (p.stem, "rain"))
        clean, more = _index(clean_dir, lambda p: (p.stem, "clean"))
    else:
        rain_dir, clean_dir, mask_dir = folder / "data", folder / "gt", folder / "mask"
        rain, problems = _index(rain_dir, _raindrop_key("rain"))
        clean, more = _index(clean_dir, _raindrop_key("clean"))
    problems += more
    masks = _index(mask_dir, _raindrop_key("mask"))[0] if mask_dir.is_dir() else {}
    for key in sorted(rain.keys() - clean.keys(), key=_natural):
        problems.append(Problem(rain[key], f"no clean twin in {clean_dir}"))
    for key in sorted(clean.keys() - rain.keys(), key=_natural):
        problems.append(Problem(clean[key], f"no rainy twin in {rain_dir}"))
    pairs = [ImagePair(key, rain[key], clean[key], masks.get(key)) for key in sorted(rain.keys() & clean.keys(), key=_natural)]
    return pairs, problems


def find_pairs(root: str | Path, split: str | None = None) -> list[ImagePair]:
    """All pairs of a dataset (or of one split), or DataError listing what is wrong."""
    layout, folders = split_folders(root, split)
    pairs, problems = [], []
    for folder in folders.values():
        found, issues = list_pairs(folder, layout)
        pairs += found
        problems += issues
    if problems:
        raise DataError(problems)
    if not pairs:
        raise DataError([Problem(Path(root), "no image pairs found")])
    return pairs


def check_dataset(root: str | Path, split: str | None = None, progress: bool = True) -> DataReport:
    """Pair every file and decode every image: the full check behind `derain check-data`."""
    layout, folders = split_folders(root, split)
    reports, problems = [], []
    for name, folder in folders.items():
        pairs, issues = list_pairs(folder, layout)
        problems += issues
        reports.append(SplitReport(name, pairs))
    jobs = [(report, pair) for report in reports for pair in report.pairs]
    with ThreadPoolExecutor(max_workers=2) as pool:  # decoding releases the GIL
        results = pool.map(lambda job: _check_pair(job[1]), jobs)
        for (report, pair), (size, issues) in tqdm(
            zip(jobs, results), total=len(jobs), desc="checking pairs", unit="pair", disable=not progress
        ):
            problems += issues
            if size is not None:
                report.sizes[size] += 1
    return DataReport(Path(root), layout, reports, problems)


def _check_pair(pair: ImagePair) -> tuple[tuple[int, int] | None, list[Problem]]:
    """Decode both images of a pair fully: truncated files only fail past the header."""
    shapes, problems = {}, []
    for path in (pair.rain, pair.clean):
        try:
            shapes[path] = read_rgb(path).shape
        except ImageReadError as err:
            problems.append(Problem(path, str(err).removeprefix(f"{path}: ")))
    if problems:
        return None, problems
    rain, clean = shapes[pair.rain], shapes[pair.clean]
    if rain != clean:
        return None, [Problem(pair.rain, _size_mismatch(pair, rain, clean))]
    if small := too_small(pair.rain, rain):
        return None, [Problem(pair.rain, small)]
    return (rain[1], rain[0]), []


def _size_mismatch(pair: ImagePair, rain_shape, clean_shape) -> str:
    return (
        f"size {rain_shape[1]}x{rain_shape[0]} differs from its clean twin "
        f"{pair.clean.name} at {clean_shape[1]}x{clean_shape[0]}"
    )


def _raindrop_key(kind: str):
    def key(path: Path):
        """(pair number, kind), or None for a name off the <N>_<kind>.<ext> pattern."""
        match = _NAME.match(path.name)
        if not match or match.group(2).lower() != kind:
            return None
        return str(int(match.group(1))), kind

    return key


def _index(folder: Path, key_of) -> tuple[dict[str, Path], list[Problem]]:
    """Map pair key -> file for the images in one folder."""
    if not folder.is_dir():
        return {}, [Problem(folder, "folder not found")]
    files, problems = {}, []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        key = key_of(path)
        if key is None:
            problems.append(Problem(path, f"name does not match the <N>_{_kind(folder)}.png|jpg pattern of {folder.name}/"))
        elif key[0] in files:
            problems.append(Problem(path, f"same pair number as {files[key[0]].name}"))
        else:
            files[key[0]] = path
    return files, problems


def _kind(folder: Path) -> str:
    return {"data": "rain", "gt": "clean"}.get(folder.name, folder.name)


def _natural(key: str):
    return (0, int(key), "") if key.isdigit() else (1, 0, key)
