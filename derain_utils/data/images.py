"""Reading and writing images as RGB uint8 arrays, with errors that name the file."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


def image_files(folder: str | Path) -> list[Path]:
    """The image files of a folder and its subfolders, sorted."""
    return [p for p in sorted(Path(folder).rglob("*")) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]


class ImageReadError(ValueError):
    """An image file that cannot be decoded; the message names the file."""


def to_rgb_uint8(array: np.ndarray) -> np.ndarray:
    """Convert grayscale, RGBA and 16-bit arrays to (H, W, 3) uint8.

    Real datasets mix formats; the models only ever see 8-bit RGB, so we convert
    instead of rejecting. Alpha is dropped (drop photos are never transparent).
    """
    a = np.asarray(array)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype.kind == "f":
        a = np.clip(a, 0.0, 1.0) * 255.0 + 0.5
    elif a.dtype == np.uint16 or (a.dtype != np.uint8 and a.max(initial=0) > 255):
        a = a.astype(np.uint32) >> 8  # 16-bit samples: keep the high byte
    a = a.astype(np.uint8)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"cannot convert an array of shape {array.shape} to RGB")
    return np.require(a, requirements=["C", "W"])  # torch wants writable memory


def read_rgb(path: str | Path) -> np.ndarray:
    """Decode an image fully into (H, W, 3) uint8, or raise ImageReadError naming it."""
    path = Path(path)
    try:
        with warnings.catch_warnings():  # photos up to the limit below are welcome: no alarm for them
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(path)
        with opened as im:
            im.load()  # forces a full decode, so truncated files fail here, not later
            ImageOps.exif_transpose(im, in_place=True)  # a phone's portrait photo, upright as it is shown
            if im.mode.startswith("I") or im.mode in ("RGB", "RGBA", "L"):
                array = np.asarray(im)  # 16-bit modes keep their depth for to_rgb_uint8
            else:
                array = np.asarray(im.convert("RGB"))  # palette, CMYK, LA, 1-bit
    except FileNotFoundError:
        raise ImageReadError(f"{path}: file not found") from None
    except Image.DecompressionBombError:
        raise ImageReadError(f"{path}: over {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels, more than derain decodes "
                             "(a decompression bomb, or a photo to scale down first)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(f"{path}: unreadable or corrupt image ({err})") from None
    return to_rgb_uint8(array)


def write_png(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 image as PNG with no timestamp, so equal arrays give equal bytes."""
    Image.fromarray(array).save(path, format="PNG", optimize=False, compress_level=6)
