"""PyTorch datasets of rainy/clean pairs for training and evaluation."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .pairs import ImagePair


class PairedImageDataset(Dataset):
    """Rainy/clean pairs as float tensors in [0, 1], shape (3, H, W).

    train=True gives aligned random crops: the same window and the same left-right flip
    are applied to both images, so the pair stays pixel-aligned. train=False gives whole
    images for evaluation. Decoded images are kept in memory as uint8 (about 1 MB per
    720x480 pair), so only the first epoch decodes files; with DataLoader workers, use
    persistent_workers=True so the cache survives between epochs.

    Items are ImagePair (decoded lazily) or (rainy, clean) uint8 arrays already in memory.
    """

    def __init__(self, pairs: Sequence[ImagePair | tuple[np.ndarray, np.ndarray]], crop_size: int | None = 256, train: bool = True,
                 repeat: int = 1):
        if train and not crop_size:
            raise ValueError("training crops need a crop_size")
        self.pairs = list(pairs)
        self.crop_size = crop_size
        self.train = train
        self.repeat = repeat  # a small folder is visited `repeat` times per epoch, with other crops each time
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.pairs) * self.repeat

    def name(self, index: int) -> str:
        index %= len(self.pairs)
        item = self.pairs[index]
        return item.rain.name if isinstance(item, ImagePair) else f"pair {index}"

    def arrays(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The decoded (rainy, clean) uint8 arrays of one pair, from the cache when there."""
        index %= len(self.pairs)
        if index not in self._cache:
            item = self.pairs[index]
            pair = item.load() if isinstance(item, ImagePair) else _checked(item, index)
            self._cache[index] = tuple(np.require(a, requirements=["C", "W"]) for a in pair)
        return self._cache[index]

    def __getitem__(self, index: int) -> dict:
        rain, clean = (torch.from_numpy(a).permute(2, 0, 1) for a in self.arrays(index))
        if self.train:
            rain, clean = _aligned_crop(rain, clean, self.crop_size)
        return {"rain": rain.float() / 255.0, "clean": clean.float() / 255.0, "name": self.name(index)}


def _aligned_crop(rain: torch.Tensor, clean: torch.Tensor, size: int):
    """One random window and flip for both images; small images are mirror-padded first."""
    h, w = rain.shape[1:]
    if h < size or w < size:
        pad = (0, max(0, size - w), 0, max(0, size - h))
        rain, clean = (F.pad(x[None].float(), pad, mode="reflect")[0].to(x.dtype) for x in (rain, clean))
        h, w = rain.shape[1:]
    top = int(torch.randint(0, h - size + 1, ()))
    left = int(torch.randint(0, w - size + 1, ()))
    rain = rain[:, top : top + size, left : left + size]
    clean = clean[:, top : top + size, left : left + size]
    if torch.rand(()) < 0.5:
        rain, clean = rain.flip(-1), clean.flip(-1)
    return rain, clean


def _checked(item, index: int) -> tuple[np.ndarray, np.ndarray]:
    rain, clean = item
    if rain.shape != clean.shape or rain.dtype != np.uint8 or rain.ndim != 3 or rain.shape[2] != 3:
        raise ValueError(f"pair {index}: expected two (H, W, 3) uint8 arrays of one size, got {rain.shape} {rain.dtype} and {clean.shape} {clean.dtype}")
    return rain, clean
