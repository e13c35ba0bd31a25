"""Networks rebuilt from a checkpoint's own configuration, so evaluate and predict need
no architecture flags and a file that does not fit is refused with a clear message."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from ..models import build_discriminator, build_generator
from ..presets import TrainConfig
from ..training.precision import resolve_precision
from ..training.trainer import load_run, pick_device


@dataclass
class Trained:
    path: Path
    config: TrainConfig
    generator: nn.Module  # in eval mode
    discriminator: nn.Module  # in eval mode
    state: dict  # the whole checkpoint: epoch, history, version, git_commit
    precision: str  # what inference computes in on this device (the run's setting, resolved here)

    def describe(self) -> str:
        c = self.config
        commit = (self.state.get("git_commit") or "unknown")[:10]
        return (f"{self.path}: {c.experiment} ({c.generator} generator {c.generator_options}), profile {c.profile}, "
                f"data {c.data}, {self.state['epoch']} epochs, derain {self.state.get('version')} at commit {commit}")


def load_trained(path: str | Path, device: str = "auto") -> Trained:
    """A checkpoint file, or a run folder holding checkpoint.pt."""
    path, state = load_run(path)
    config = TrainConfig.from_dict(state["config"])
    generator = build_generator(config.generator, **config.generator_options)
    discriminator = build_discriminator(config.discriminator, **config.discriminator_options)
    for name, model in (("generator", generator), ("discriminator", discriminator)):
        try:
            model.load_state_dict(state[name])
        except RuntimeError as err:
            first = str(err).strip().splitlines()[0]
            raise ValueError(
                f"{path}: its {name} weights do not fit the architecture its configuration names "
                f"({getattr(config, name)} {getattr(config, name + '_options')}): {first}"
            ) from None
    device = pick_device(device)
    return Trained(path, config, generator.to(device).eval(), discriminator.to(device).eval(), state,
                   resolve_precision(config.precision, device, warn=False))
