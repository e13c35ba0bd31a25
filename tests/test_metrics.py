import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from derain_utils.training.losses import discriminator_targets
from derain_utils.evaluation.metrics import PSNR_CEILING, discriminator_accuracy, psnr, region_psnr, ssim, to_protocol

from conftest import shared


@pytest.fixture
def pair(rng):
    target = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    noise = rng.normal(0, 12, target.shape)
    return np.clip(target + noise, 0, 255).astype(np.uint8), target


def test_rgb_metrics_equal_scikit_image(pair):
    pred, target = pair
    assert psnr(pred, target) == pytest.approx(peak_signal_noise_ratio(target, pred, data_range=255))
    expected = structural_similarity(target.astype(float), pred.astype(float), data_range=255, channel_axis=-1,
                                     gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert ssim(pred, target) == pytest.approx(expected)


def test_identical_images(pair):
    assert psnr(pair[1], pair[1]) == PSNR_CEILING and ssim(pair[1], pair[1]) == pytest.approx(1.0)


def test_luminance_conventions_differ_by_1_32_db(pair):
    pred, target = pair
    gap = psnr(pred, target, "y-basicsr") - psnr(pred, target, "y-opencv")
    assert gap == pytest.approx(20 * math.log10(255 / 219), abs=0.05)  # 1.32 dB
    assert to_protocol(np.full((1, 1, 3), 255, np.uint8), "y-basicsr").item() == pytest.approx(235)


def test_border_crop_and_regions(pair):
    pred, target = pair
    pred = pred.copy()
    pred[:4] = target[:4] ^ 0xFF  # a damaged border
    assert psnr(pred, target, crop=4) > psnr(pred, target) + 3
    mask = np.zeros(target.shape[:2], np.uint8)
    mask[:4] = 255
    regions = region_psnr(pred, target, mask)
    assert regions["inside"] < 10 < regions["outside"]


def test_real_pairs_do_nothing_scores():
    """The published do-nothing scores of the four real Raindrop train pairs."""
    from derain_utils.data.pairs import find_pairs

    pairs = [p.load() for p in find_pairs(shared("raindrop_mini"), "train")]
    assert np.mean([psnr(r, c, "y-basicsr") for r, c in pairs]) == pytest.approx(19.27, abs=0.01)
    assert np.mean([psnr(r, c, "rgb") for r, c in pairs]) == pytest.approx(17.56, abs=0.01)


def test_label_smoothing_and_flips_give_the_targets_they_claim():
    torch.manual_seed(0)
    logits = torch.zeros(40_000, 1, 3, 3)
    real = discriminator_targets(logits, True, 0.9, 0.1, 0.075)
    fake = discriminator_targets(logits, False, 0.9, 0.1, 0.075)
    assert real.unique().tolist() == pytest.approx([0.1, 0.9])
    assert torch.equal(real.amin((1, 2, 3)), real.amax((1, 2, 3)))  # a sample flips whole
    flipped = (real[:, 0, 0, 0] < 0.5).float().mean().item()
    assert flipped == pytest.approx(0.075, abs=0.004)  # 4 standard errors
    assert (fake[:, 0, 0, 0] > 0.5).float().mean().item() == pytest.approx(0.075, abs=0.004)
    plain = discriminator_targets(logits, True, 1.0, 0.0, 0.0)
    assert torch.equal(plain, torch.ones_like(logits))


def test_discriminator_accuracy():
    assert discriminator_accuracy(torch.tensor([1.0, -1, 2, 3]), torch.tensor([-1.0, -2])) == (0.75, 1.0)
