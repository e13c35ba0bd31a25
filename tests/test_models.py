import pytest
import torch

from derain_utils.models import build_discriminator, build_generator, count_parameters


def test_parameter_counts_match_pix2pix():
    assert count_parameters(build_generator("unet", depth=8, base=64)) == 54_413_955  # unet_256
    assert count_parameters(build_discriminator("patchgan", base=64, layers=3)) == 2_768_705


def test_output_shapes():
    x = torch.rand(2, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        unet = build_generator("unet", depth=6, base=8).eval()
        assert unet(x).shape == x.shape
        assert build_discriminator("patchgan", base=8)(x, x).shape == (2, 1, 30, 30)
        baseline = build_generator("baseline", image_size=64, base=8).eval()
        assert baseline(x[:, :, :64, :64]).shape == (2, 3, 64, 64)
        assert build_discriminator("baseline", base=8)(x, x).shape == (2, 1)
        out = unet(x)
        assert out.min() >= -1 and out.max() <= 1  # tanh


def test_generators_keep_any_input_size():
    with torch.no_grad():
        unet = build_generator("unet", depth=6, base=4).eval()
        assert unet(torch.rand(1, 3, 480, 720)).shape == (1, 3, 480, 720)
        assert unet(torch.rand(1, 3, 479, 721)).shape == (1, 3, 479, 721)
        assert unet(torch.rand(1, 3, 20, 30)).shape == (1, 3, 20, 30)  # smaller than 2**depth
        baseline = build_generator("baseline", image_size=32, base=4).eval()
        assert baseline(torch.rand(1, 3, 480, 720)).shape == (1, 3, 480, 720)


def test_weights_are_initialised_small():
    conv = build_generator("unet", depth=5, base=16).down[1][1].weight
    assert conv.std().item() == pytest.approx(0.02, rel=0.1) and abs(conv.mean().item()) < 0.002


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown generator 'resnet'; expected one of baseline, unet"):
        build_generator("resnet")


def test_residual_unet_starts_near_the_identity():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 64, 64) * 1.6 - 0.8
    with torch.no_grad():
        plain = build_generator("unet", depth=5, base=8).eval()(x)
        residual = build_generator("unet", depth=5, base=8, residual=True).eval()(x)
    assert (residual - x).abs().mean() < 0.05  # a small initial correction
    assert (plain - x).abs().mean() > 0.3  # the plain U-Net starts far from its input
    assert residual.min() >= -1 and residual.max() <= 1
