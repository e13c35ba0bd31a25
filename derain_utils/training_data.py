"""The training and validation sets of a run, synthetic or from a folder of pairs."""

from __future__ import annotations

from .datasets import PairedImageDataset
from .pairs import find_pairs, split_folders
from .photos import embedded_photos, folder_split
from .presets import TrainConfig
from .synthetic import render_pairs


def is_validation(key: str) -> bool:
    """About one pair in ten is held out for validation, chosen by the same name hash
    that splits photo folders, so the choice never depends on which other files exist."""
    return folder_split(key) == "val"


def build_datasets(config: TrainConfig, progress: bool = False) -> tuple[PairedImageDataset, PairedImageDataset]:
    """'synthetic': pairs rendered from the embedded training and validation photos.
    A folder: its train split (or all its pairs) with about 10% held out for validation."""
    if config.data == "synthetic":
        train = list(render_pairs(embedded_photos("train"), config.train_pairs, config.image_size, config.seed, "train", progress=progress))
        val = list(render_pairs(embedded_photos("val"), config.val_pairs, config.image_size, config.seed, "val", progress=progress))
        return (  # the drop masks are not used for training
            PairedImageDataset([(rain, clean) for rain, clean, _ in train], crop_size=config.image_size, train=True),
            PairedImageDataset([(rain, clean) for rain, clean, _ in val], crop_size=None, train=False),
        )
    _, splits = split_folders(config.data)
    pairs = find_pairs(config.data, "train" if "train" in splits else None)
    val = [p for p in pairs if is_validation(p.key)]
    if not val:
        val = pairs[-1:]
    train = [p for p in pairs if p not in val]
    if not train:
        raise ValueError(f"{config.data}: needs at least two pairs to train and validate")
    return (
        PairedImageDataset(train, crop_size=config.image_size, train=True),
        PairedImageDataset(val, crop_size=None, train=False),
    )
