"""Image-quality metrics under named protocols.

PSNR and SSIM come from scikit-image; this module only fixes what is compared:

* ``rgb``: all three channels in 0-255;
* ``y-basicsr``: luminance as BasicSR and MATLAB's rgb2ycbcr define it, Y in 16-235,
  the convention of most published Raindrop tables;
* ``y-opencv``: OpenCV's full-range luminance (0-255, rounded), as in the original
  AttentiveGAN evaluation code. It scores about 1.32 dB lower than ``y-basicsr``, since
  the BasicSR range is 219/255 as wide (20 log10(255/219) = 1.32).

SSIM uses Wang et al.'s settings (Gaussian window, sigma 1.5, population covariance).
An optional border crop drops `crop` pixels on each side first. Every number that the
project reports carries its protocol's name.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

PROTOCOLS = ("rgb", "y-basicsr", "y-opencv")
SSIM_SIGMA = 1.5
SSIM_WINDOW = 2 * int(3.5 * SSIM_SIGMA + 0.5) + 1  # skimage's Gaussian window, truncated at 3.5 sigma: 11 pixels


def to_protocol(image: np.ndarray, protocol: str) -> np.ndarray:
    """An (H, W, 3) uint8 image as the float array that the protocol compares."""
    rgb = np.asarray(image, dtype=np.float64)
    if protocol == "rgb":
        return rgb
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    if protocol == "y-basicsr":
        return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0
    if protocol == "y-opencv":
        return np.round(0.299 * r + 0.587 * g + 0.114 * b)
    raise ValueError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")


def _prepared(pred: np.ndarray, target: np.ndarray, protocol: str, crop: int):
    if pred.shape != target.shape:
        raise ValueError(f"cannot compare images of shapes {pred.shape} and {target.shape}")
    if crop:
        if min(pred.shape[:2]) - 2 * crop < SSIM_WINDOW:
            raise ValueError(f"--crop {crop} leaves less than {SSIM_WINDOW} pixels a side of a {pred.shape[1]}x{pred.shape[0]} "
                             f"image, too little for SSIM; use a --crop below {(min(pred.shape[:2]) - SSIM_WINDOW) // 2 + 1}")
        pred, target = pred[crop:-crop, crop:-crop], target[crop:-crop, crop:-crop]
    return to_protocol(pred, protocol), to_protocol(target, protocol)


# PSNR of equal images is infinite; it is reported as this ceiling instead, so that a mean
# over pairs stays a number and a JSON file stays valid JSON. Images that score more differ
# in a handful of values at most (one grey level in one value of a 720x480 photo: 108 dB).
PSNR_CEILING = 100.0


def psnr(pred: np.ndarray, target: np.ndarray, protocol: str = "rgb", crop: int = 0) -> float:
    """PSNR in dB of two (H, W, 3) uint8 images; PSNR_CEILING when they are equal."""
    a, b = _prepared(pred, target, protocol, crop)
    if np.array_equal(a, b):
        return PSNR_CEILING
    return min(PSNR_CEILING, float(peak_signal_noise_ratio(b, a, data_range=255.0)))


def ssim(pred: np.ndarray, target: np.ndarray, protocol: str = "rgb", crop: int = 0) -> float:
    """SSIM of two (H, W, 3) uint8 images; 1 when they are equal."""
    a, b = _prepared(pred, target, protocol, crop)
    return float(
        structural_similarity(
            b, a, data_range=255.0, channel_axis=-1 if a.ndim == 3 else None,
            gaussian_weights=True, sigma=SSIM_SIGMA, use_sample_covariance=False,
        )
    )


def region_psnr(pred: np.ndarray, target: np.ndarray, mask: np.ndarray, protocol: str = "rgb") -> dict[str, float]:
    """PSNR inside and outside a drop mask (any nonzero value counts as inside)."""
    a, b = _prepared(pred, target, protocol, 0)
    inside = np.asarray(mask).reshape(mask.shape[:2]) > 0
    out = {}
    for name, where in (("inside", inside), ("outside", ~inside)):
        if not where.any():
            out[name] = float("nan")
            continue
        mse = np.mean((a[where] - b[where]) ** 2)
        out[name] = PSNR_CEILING if mse == 0 else min(PSNR_CEILING, float(10 * np.log10(255.0**2 / mse)))
    return out


def discriminator_accuracy(real_logits, fake_logits) -> tuple[float, float]:
    """Share of real patches called real (logit > 0) and of fake patches called fake."""
    return float((real_logits > 0).float().mean()), float((fake_logits < 0).float().mean())
