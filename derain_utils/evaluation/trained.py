"""Networks rebuilt from a checkpoint's own configuration, so evaluate and predict need
no architecture flags and a file that does not fit is refused with a clear message."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from ..models import build_discriminator, build_generator
from ..paths import shown_path
from ..presets import TrainConfig
from ..training.precision import resolve_precision
from ..training.checkpoints import check_run_state, checkpoint_file, load_checkpoint
from ..training.precision import pick_device
from .shipped import model_state


@dataclass
class Trained:
    path: Path
    config: TrainConfig
    generator: nn.Module  # in eval mode
    discriminator: nn.Module | None  # in eval mode; None for a model file, which holds the generator only
    state: dict  # the whole checkpoint or model file: epoch, version, git_commit (a run's: history too)
    precision: str  # what inference computes in on this device (the run's setting, resolved here)

    @property
    def scales(self) -> tuple[float, ...]:
        """The scales a model file runs at (evaluation/shipped.py); a run's model at full size."""
        return tuple(self.state.get("scales", (1.0,)))

    @property
    def flips(self) -> str:
        """The self-ensemble a model file runs with (inference.FLIPS); a run's model: none."""
        return self.state.get("flips", "none")

    def describe(self) -> str:
        c = self.config
        commit = (self.state.get("git_commit") or "unknown")[:10]
        data = c.data + (f" ({c.drop_style} drops)" if c.data == "synthetic" else "")
        if c.real_pairs:
            data += f" and the real pairs of {c.real_pairs}"
        return (f"{shown_path(self.path)}: {c.experiment} ({c.generator} generator {c.generator_options}), profile {c.profile}, "
                f"data {data}, {self.state['epoch']} epochs, derain {self.state.get('version')} at commit {commit}")


def load_trained(path: str | Path, device: str = "auto") -> Trained:
    """A checkpoint file, a run folder holding checkpoint.pt, or a model file (`derain export`)."""
    path = checkpoint_file(path)
    loaded = load_checkpoint(path)  # read once, whichever kind of file it is
    state = model_state(loaded)
    if state is None:
        check_run_state(path, loaded)
        state = loaded
    missing = [key for key in ("config", "generator") if key not in state]
    if missing:
        raise ValueError(f"{path}: the file lacks its {' and '.join(missing)}; it is damaged or was not written by derain")
    config = TrainConfig.from_dict(state["config"])
    generator = build_generator(config.generator, **config.generator_options)
    discriminator = build_discriminator(config.discriminator, **config.discriminator_options) if "discriminator" in state else None
    for name, model in (("generator", generator), ("discriminator", discriminator)):
        if model is None:
            continue
        bad = [k for k, v in state[name].items() if hasattr(v, "is_floating_point") and v.is_floating_point() and not v.isfinite().all()]
        if bad:
            raise ValueError(f"{path}: its {name} has weights that are not finite numbers (NaN or infinite, e.g. {bad[0]}); "
                             "it would paint black images: use an earlier checkpoint or train again")
        try:
            model.load_state_dict(state[name])
        except RuntimeError as err:
            first = str(err).strip().splitlines()[0]
            raise ValueError(
                f"{path}: its {name} weights do not fit the architecture its configuration names "
                f"({getattr(config, name)} {getattr(config, name + '_options')}): {first}"
            ) from None
    device = pick_device(device)
    discriminator = discriminator.to(device).eval() if discriminator is not None else None
    return Trained(path, config, generator.to(device).eval(), discriminator, state,
                   resolve_precision(config.precision, device, warn=False))
