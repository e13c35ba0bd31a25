"""PyTorch datasets of rainy/clean pairs for training and evaluation."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from .augmentation import JITTER, jitter_colours
from .pairs import ImagePair


class PairedImageDataset(Dataset):
    """Rainy/clean pairs as float tensors in [0, 1], shape (3, H, W).

    train=True gives aligned random crops: the same window and the same left-right flip
    are applied to both images, so the pair stays pixel-aligned; augment=True adds the
    same colour jitter to both. train=False gives whole images for evaluation. Decoded
    images are kept in memory as uint8 (about 1 MB per 720x480 pair), so only the first
    epoch decodes files; with DataLoader workers, use persistent_workers=True so the cache
    survives between epochs.

    Items are ImagePair (decoded lazily) or (rainy, clean) uint8 arrays already in memory,
    or (rainy, clean, mask) for rendered pairs: the renderer's drop mask, (H, W, 1) uint8,
    then travels with them as "mask". Real pairs mixed into rendered ones need a mask too
    (a batch stacks like with like): mask_threshold derives it from the pair itself, the
    pixels where rainy and clean differ by more than that many grey levels.
    """

    def __init__(self, pairs: Sequence[ImagePair | tuple[np.ndarray, ...]], crop_size: int | None = 256, train: bool = True,
                 repeat: int = 1, augment: bool = False, mask_threshold: int | None = None):
        if train and not crop_size:
            raise ValueError("training crops need a crop_size")
        self.pairs = list(pairs)
        self.crop_size = crop_size
        self.train = train
        self.repeat = repeat  # a small folder is visited `repeat` times per epoch, with other crops each time
        self.augment = augment
        self.mask_threshold = mask_threshold
        self._crop = _aligned_crop(crop_size) if train else None
        self._cache: dict[int, tuple[np.ndarray, ...]] = {}

    def __len__(self) -> int:
        return len(self.pairs) * self.repeat

    def name(self, index: int) -> str:
        index %= len(self.pairs)
        item = self.pairs[index]
        return item.rain.name if isinstance(item, ImagePair) else f"pair {index}"

    def arrays(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The decoded (rainy, clean) uint8 arrays of one pair, from the cache when there."""
        return self._arrays(index)[:2]

    def mask(self, index: int) -> np.ndarray | None:
        """The renderer's drop mask of a rendered pair, (H, W, 1) uint8; None for real pairs."""
        arrays = self._arrays(index)
        return arrays[2] if len(arrays) > 2 else None

    def _arrays(self, index: int) -> tuple[np.ndarray, ...]:
        index %= len(self.pairs)
        if index not in self._cache:
            item = self.pairs[index]
            pair = item.load() if isinstance(item, ImagePair) else _checked(item, index)
            self._cache[index] = tuple(np.require(a, requirements=["C", "W"]) for a in pair)
        return self._cache[index]

    def __getitem__(self, index: int) -> dict:
        images = [torch.from_numpy(a).permute(2, 0, 1) for a in self._arrays(index)]
        if self.train and min(images[0].shape[1:]) <= self.crop_size // 2:  # mirror padding reaches half the side at most
            h, w = images[0].shape[1:]
            item = self.pairs[index % len(self.pairs)]
            raise ValueError(f"{item.rain if isinstance(item, ImagePair) else self.name(index)}: {w}x{h} is too small for training crops of {self.crop_size} "
                             f"(at least {self.crop_size // 2 + 1} pixels a side); leave it out, or train at a smaller --profile")
        if self.train:
            images = [x.as_subclass(torch.Tensor) for x in self._crop(*(tv_tensors.Image(x) for x in images))]
        item = {"rain": images[0].float() / 255.0, "clean": images[1].float() / 255.0, "name": self.name(index)}
        if len(images) == 2 and self.mask_threshold is not None:
            changed = (images[0].short() - images[1].short()).abs().amax(dim=0, keepdim=True) > self.mask_threshold
            images.append(changed.to(torch.uint8) * 255)
        if self.augment:
            item["rain"], item["clean"] = jitter_colours([item["rain"], item["clean"]], torch.empty(3).uniform_(*JITTER).tolist())
        if len(images) > 2:
            item["mask"] = images[2].float() / 255.0
        return item


def _aligned_crop(size: int) -> v2.Transform:
    """One random window and flip for all images of a pair (torchvision's v2 transforms draw
    their parameters once per call, for every image passed); small ones are mirror-padded."""
    return v2.Compose([v2.RandomCrop(size, pad_if_needed=True, padding_mode="reflect"), v2.RandomHorizontalFlip()])


def _checked(item, index: int) -> tuple[np.ndarray, ...]:
    rain, clean = item[:2]
    if len(item) not in (2, 3) or rain.shape != clean.shape or rain.dtype != np.uint8 or rain.ndim != 3 or rain.shape[2] != 3:
        raise ValueError(f"pair {index}: expected two (H, W, 3) uint8 arrays of one size, got {rain.shape} {rain.dtype} and {clean.shape} {clean.dtype}")
    if len(item) == 3 and item[2].shape[:2] != rain.shape[:2]:
        raise ValueError(f"pair {index}: its mask is {item[2].shape[:2]}, the images {rain.shape[:2]}")
    return tuple(item)
