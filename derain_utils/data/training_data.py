"""The training, validation and test sets of a run, synthetic or from a folder of pairs."""

from __future__ import annotations

import math
import re
import sys
from typing import Sequence

from torch.utils.data import ConcatDataset, Dataset

from ..presets import TrainConfig
from ..training.losses import REAL_THRESHOLD
from .datasets import PairedImageDataset
from .lensdrops import DropStyle, drop_style
from .pairs import ImagePair, find_pairs, split_folders
from .photos import Photo, embedded_photos, folder_split, training_photos
from .synthetic import drop_free_pairs, render_pairs

_TILE_INDEX = re.compile(r"_r\d+c\d+$")
TEST_SPLIT = "test_a"  # a folder's held-out test split, when it has one (Raindrop's)


def frame_of(key: str) -> str:
    """The frame a pair was cut from: tiles named `<frame>_r<row>c<col>` (as in the RobotCar
    pairs) share one, so tiles of one frame never sit on both sides of the split."""
    return _TILE_INDEX.sub("", key)


def is_validation(key: str) -> bool:
    """About one frame in ten is held out for validation, chosen by the same name hash
    that splits photo folders, so the choice never depends on which other files exist."""
    return folder_split(frame_of(key)) == "val"


class FreshDrops(PairedImageDataset):
    """Synthetic training pairs rendered anew for every epoch: new crops, new drops, so a
    model never sees the same pair twice. Epoch e's pairs depend only on (seed, e), so a
    resumed run sees what it would have seen. Rendering 768 pairs at 128x128 takes about
    2 s on 2 cores; rendering the next epoch in a background thread was measured slower
    (14 s per epoch against 11.5 s), since the two compete for the same 2 cores."""

    def __init__(self, photos: Sequence[Photo], n: int, size: int, seed: int, augment: bool, style: DropStyle = DropStyle()):
        super().__init__([], crop_size=size, train=True)
        self.photos, self.n, self.size, self.seed, self.augment_crops = tuple(photos), n, size, seed, augment
        self.style = style

    def __len__(self) -> int:
        return self.n

    def set_epoch(self, epoch: int) -> None:
        self.pairs = list(render_pairs(self.photos, self.n, self.size, self.seed, style=self.style, epoch=epoch, augment=self.augment_crops))
        self._cache.clear()


def build_datasets(config: TrainConfig, progress: bool = False) -> tuple[PairedImageDataset, PairedImageDataset]:
    """'synthetic': pairs rendered from the embedded training and validation photos, one
    fixed set or (fresh_drops) a new one every epoch. A folder: its train split (or all
    its pairs) with about 10% held out for validation; a folder smaller than the profile's
    train_pairs is cropped several times per epoch."""
    if config.data == "synthetic":
        photos, style = training_photos(config.extra_photos), drop_style(config.drop_style)
        if config.fresh_drops:
            train = FreshDrops(photos, config.train_pairs, config.image_size, config.seed, config.augment, style)
        else:
            pairs = render_pairs(photos, config.train_pairs, config.image_size, config.seed, "train", style, progress=progress,
                                 augment=config.augment)
            train = PairedImageDataset(list(pairs), config.image_size, train=True)
        if config.drop_free_share:
            train = _with_drop_free_crops(train, photos, config)
        if config.real_pairs:
            train = _with_real_pairs(train, config)
        return train, build_validation_set(config, progress)
    train, _ = folder_split_pairs(config.data)
    repeat = max(1, math.ceil(config.train_pairs / len(train)))  # an epoch is at least train_pairs crops
    return PairedImageDataset(train, crop_size=config.image_size, train=True, repeat=repeat, augment=config.augment), build_validation_set(config)


def _share_of(share: float, others: int, name: str) -> int:
    """How many crops make about `share` of an epoch in which `others` crops are not theirs."""
    if not 0 < share < 1:
        raise ValueError(f"{name} {share}: expected a share between 0 and 1")
    return round(others * share / (1 - share))


def _with_drop_free_crops(rendered: Dataset, photos: Sequence[Photo], config: TrainConfig) -> Dataset:
    """Rendered pairs with about drop_free_share of crops that carry no drops, one fixed set.
    With real pairs mixed in, about half of these crops come from their clean training
    frames: a model that sees only veiled real photos learns to darken every real photo."""
    if config.real_pairs:
        frames = [Photo(pair.key, pair.load()[1]) for pair in folder_split_pairs(config.real_pairs)[0]]
        photos = list(photos) * max(1, len(frames) // len(photos)) + frames
    free = drop_free_pairs(photos, _share_of(config.drop_free_share, len(rendered), "drop_free_share"), config.image_size, config.seed,
                           config.augment)
    return _Mixed([rendered, PairedImageDataset(free, config.image_size, train=True)])


def _with_real_pairs(rendered: Dataset, config: TrainConfig) -> Dataset:
    """Rendered pairs with a folder's real training pairs mixed in, about real_share of the
    crops. The folder's validation frames stay out, so `derain evaluate --split val`
    scores frames the run never saw. A real pair's drop mask is where it changes by more
    than REAL_THRESHOLD grey levels, as when a run trains on the folder alone."""
    wanted = _share_of(config.real_share, len(rendered), "real_share")
    real, _ = folder_split_pairs(config.real_pairs)
    repeat = max(1, round(wanted / len(real)))
    if repeat * len(real) > 1.5 * wanted:  # every training pair is cropped at least once an epoch
        print(f"note: real_share {config.real_share} asks for about {wanted} real crops an epoch, but each of the {len(real)} "
              f"real training pairs is cropped once an epoch: {len(real)} real crops, "
              f"{len(real) / (len(real) + len(rendered)):.0%} of the epoch", file=sys.stderr)
    mixed = PairedImageDataset(real, config.image_size, train=True, repeat=repeat, augment=config.augment,
                               mask_threshold=config.mask_threshold or REAL_THRESHOLD)
    return _Mixed([rendered, mixed])


class _Mixed(ConcatDataset):
    """Rendered and real pairs in one epoch; fresh drops still get each epoch's pairs."""

    def set_epoch(self, epoch: int) -> None:
        for part in self.datasets:
            if hasattr(part, "set_epoch"):
                part.set_epoch(epoch)


def build_validation_set(config: TrainConfig, progress: bool = False) -> PairedImageDataset:
    """The held-out images a run is scored on while it trains, as whole images."""
    if config.data == "synthetic":
        val = render_pairs(embedded_photos("val"), config.val_pairs, config.image_size, config.seed, "val", drop_style(config.drop_style),
                           progress=progress)
        return PairedImageDataset(list(val), crop_size=None, train=False)
    _, val = folder_split_pairs(config.data)
    return PairedImageDataset(val, crop_size=None, train=False)


def build_test_set(config: TrainConfig) -> PairedImageDataset | None:
    """Images on which no choice was made: pairs rendered from the embedded test photos,
    or a folder's test_a split. None when a folder has no test split."""
    if config.data == "synthetic":
        test = render_pairs(embedded_photos("test"), config.val_pairs, config.image_size, config.seed, "test", drop_style(config.drop_style))
        return PairedImageDataset(list(test), crop_size=None, train=False)
    if TEST_SPLIT not in split_folders(config.data)[1]:
        return None
    return PairedImageDataset(find_pairs(config.data, TEST_SPLIT), crop_size=None, train=False)


def folder_split_pairs(folder: str) -> tuple[list[ImagePair], list[ImagePair]]:
    """(train, validation) pairs of a folder, as `derain train` splits them."""
    _, splits = split_folders(folder)
    pairs = find_pairs(folder, "train" if "train" in splits else None)
    val = [p for p in pairs if is_validation(p.key)] or [p for p in pairs if frame_of(p.key) == frame_of(pairs[-1].key)]
    train = [p for p in pairs if p not in val]
    if not train:
        raise ValueError(f"{folder}: needs at least two pairs to train and validate")
    return train, val
