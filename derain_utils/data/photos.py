"""Clean photos to render drops on: the embedded default set, or a folder of the user's.

The embedded set is made of the natural photos that ship inside scikit-image and
matplotlib, so the project runs on a fresh install with no download. Photos, not crops,
are split into train / val / test, so no number is ever measured on a photo that was
trained on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .images import image_files, read_rgb, to_rgb_uint8

PHOTO_SPLITS = ("train", "val", "test")

# Held-out photos of the embedded set; every other photo is for training. The two
# motorcycle views are one scene, so they stay together in train. Of the packages'
# grayscale photos only two outdoor ones are used, so colour photos dominate.
EMBEDDED_SPLIT = {"coffee": "val", "chelsea": "test", "grace_hopper": "test"}


@dataclass(frozen=True)
class Photo:
    name: str
    pixels: np.ndarray  # (H, W, 3) uint8


def _embedded_loaders():
    import matplotlib.cbook
    import skimage.data as data

    def motorcycle(view):
        return lambda: data.stereo_motorcycle()[0 if view == "left" else 1]

    def grace_hopper():
        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
            return read_rgb(f.name)

    return {
        "astronaut": data.astronaut,
        "rocket": data.rocket,
        "motorcycle_left": motorcycle("left"),
        "motorcycle_right": motorcycle("right"),
        "camera": data.camera,
        "grass": data.grass,
        "coffee": data.coffee,
        "chelsea": data.chelsea,
        "grace_hopper": grace_hopper,
    }


@lru_cache(maxsize=None)
def embedded_photos(split: str) -> tuple[Photo, ...]:
    """The embedded photos of one split ('train', 'val' or 'test')."""
    _check_split(split)
    return tuple(
        Photo(name, to_rgb_uint8(load()))
        for name, load in _embedded_loaders().items()
        if EMBEDDED_SPLIT.get(name, "train") == split
    )


def folder_split(name: str) -> str:
    """Deterministic split of a user's photo by its file name (about 80/10/10).

    Hashing the name, not sorting, keeps a photo in its split when others are added.
    """
    bucket = int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) % 10
    return "val" if bucket == 0 else "test" if bucket == 1 else "train"


def folder_photos(folder: str | Path, split: str | None) -> tuple[Photo, ...]:
    """Photos of one split from a folder of the user's clean images (png, jpg, jpeg),
    subfolders included; split None takes them all.

    With fewer than ten photos the hash may leave a split empty; then the last photos in
    name order are held out, so val and test always have one photo when there are three.
    """
    if split is not None:
        _check_split(split)
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: clean photo folder not found")
    files = {p.relative_to(folder).as_posix(): p for p in image_files(folder)}
    if not files:
        raise FileNotFoundError(f"{folder}: no .png, .jpg or .jpeg photos in this folder or its subfolders")
    splits = {name: folder_split(name) for name in files}
    if len(files) >= 3:
        for held_out in ("val", "test"):
            if held_out not in splits.values():
                splits[[name for name in files if splits[name] == "train"][-1]] = held_out
    chosen = [name for name in files if split is None or splits[name] == split]
    if not chosen:
        raise ValueError(f"{folder}: no photo falls in the {split!r} split ({len(files)} photos)")
    return tuple(Photo(name.rsplit(".", 1)[0], read_rgb(files[name])) for name in chosen)


def training_photos(extra: str | Path = "") -> tuple[Photo, ...]:
    """The embedded training photos, plus every photo of the user's folder `extra`
    (validation and test stay on the embedded held-out photos)."""
    return embedded_photos("train") + (folder_photos(extra, None) if extra else ())


def clean_photos(source: str | Path, split: str) -> tuple[Photo, ...]:
    """'default' for the embedded set, otherwise a folder path."""
    return embedded_photos(split) if str(source) == "default" else folder_photos(source, split)


def random_crop(photo: Photo, size: int, rng: np.random.Generator, zoom=(1.0, 2.5)) -> torch.Tensor:
    """A square crop of size x zoom photo pixels (at most the photo's shorter side),
    resized to size x size and flipped left-right half of the time. Keeping zoom small
    keeps the photo's own sharpness, as in a camera frame, instead of packing a whole
    photo's detail into a few pixels. Returns (3, size, size) float in [0, 1]."""
    h, w, _ = photo.pixels.shape
    side = min(h, w, max(1, int(round(size * rng.uniform(*zoom)))))
    top = int(rng.integers(0, h - side + 1))
    left = int(rng.integers(0, w - side + 1))
    crop = torch.from_numpy(photo.pixels[top : top + side, left : left + side]).permute(2, 0, 1)
    crop = crop[None].float().div_(255.0)
    if side != size:
        crop = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=side > size, align_corners=False)
    if rng.random() < 0.5:
        crop = crop.flip(-1)
    return crop[0].clamp_(0.0, 1.0)


def _check_split(split: str) -> None:
    if split not in PHOTO_SPLITS:
        raise ValueError(f"unknown photo split {split!r}; expected one of {', '.join(PHOTO_SPLITS)}")
