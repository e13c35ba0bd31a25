"""Generators and discriminators of the four experiments, built by name."""

from __future__ import annotations

from torch import nn

from .attentive import AttentiveGenerator
from .baseline import BaselineDiscriminator, BaselineGenerator
from .patchgan import PatchDiscriminator
from .unet import UNetGenerator

GENERATORS = {"baseline": BaselineGenerator, "unet": UNetGenerator, "attentive": AttentiveGenerator}
DISCRIMINATORS = {"baseline": BaselineDiscriminator, "patchgan": PatchDiscriminator}


def build_generator(name: str, **options) -> nn.Module:
    """e.g. build_generator("unet", depth=6), with weights drawn from N(0, 0.02) unless the
    network initialises itself (own_init)."""
    model = _lookup(GENERATORS, name, "generator")(**options)
    return model if getattr(model, "own_init", False) else init_weights(model)


def has_mask(generator: nn.Module) -> bool:
    """Whether the generator also predicts a drop mask (forward_with_mask)."""
    return hasattr(generator, "forward_with_mask")


def build_discriminator(name: str, **options) -> nn.Module:
    """e.g. build_discriminator("patchgan", base=64), with weights drawn from N(0, 0.02)."""
    return init_weights(_lookup(DISCRIMINATORS, name, "discriminator")(**options))


def init_weights(model: nn.Module) -> nn.Module:
    """The DCGAN/pix2pix initialisation: conv and linear weights N(0, 0.02), batch-norm
    scales N(1, 0.02), biases 0."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _lookup(table: dict, name: str, kind: str):
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r}; expected one of {', '.join(table)}")
    return table[name]
