"""The training and validation sets of a run, synthetic or from a folder of pairs."""

from __future__ import annotations

import math
import re

from .datasets import PairedImageDataset
from .pairs import ImagePair, find_pairs, split_folders
from .photos import embedded_photos, folder_split
from .presets import TrainConfig
from .synthetic import render_pairs


_TILE_INDEX = re.compile(r"_r\d+c\d+$")


def frame_of(key: str) -> str:
    """The frame a pair was cut from: tiles named `<frame>_r<row>c<col>` (as in the RobotCar
    pairs) share one, so tiles of one frame never sit on both sides of the split."""
    return _TILE_INDEX.sub("", key)


def is_validation(key: str) -> bool:
    """About one frame in ten is held out for validation, chosen by the same name hash
    that splits photo folders, so the choice never depends on which other files exist."""
    return folder_split(frame_of(key)) == "val"


def build_datasets(config: TrainConfig, progress: bool = False) -> tuple[PairedImageDataset, PairedImageDataset]:
    """'synthetic': pairs rendered from the embedded training and validation photos.
    A folder: its train split (or all its pairs) with about 10% held out for validation;
    a folder smaller than the profile's train_pairs is cropped several times per epoch."""
    if config.data == "synthetic":
        train = render_pairs(embedded_photos("train"), config.train_pairs, config.image_size, config.seed, "train", progress=progress)
        # the drop masks are not used for training
        return PairedImageDataset([(r, c) for r, c, _ in train], config.image_size, train=True), build_validation_set(config, progress)
    train, _ = folder_split_pairs(config.data)
    repeat = max(1, math.ceil(config.train_pairs / len(train)))  # an epoch is at least train_pairs crops
    return PairedImageDataset(train, crop_size=config.image_size, train=True, repeat=repeat), build_validation_set(config)


def build_validation_set(config: TrainConfig, progress: bool = False) -> PairedImageDataset:
    """The held-out images a run is scored on, as whole images."""
    if config.data == "synthetic":
        val = render_pairs(embedded_photos("val"), config.val_pairs, config.image_size, config.seed, "val", progress=progress)
        return PairedImageDataset([(r, c) for r, c, _ in val], crop_size=None, train=False)
    _, val = folder_split_pairs(config.data)
    return PairedImageDataset(val, crop_size=None, train=False)


def folder_split_pairs(folder: str) -> tuple[list[ImagePair], list[ImagePair]]:
    """(train, validation) pairs of a folder, as `derain train` splits them."""
    _, splits = split_folders(folder)
    pairs = find_pairs(folder, "train" if "train" in splits else None)
    val = [p for p in pairs if is_validation(p.key)] or [p for p in pairs if frame_of(p.key) == frame_of(pairs[-1].key)]
    train = [p for p in pairs if p not in val]
    if not train:
        raise ValueError(f"{folder}: needs at least two pairs to train and validate")
    return train, val
