"""An exponential moving average of the generator's weights (Polyak averaging).

A GAN's generator never settles: the adversarial game moves its weights from step to step,
so where a run happens to stop decides part of what it does (how dark it paints a drop it
cannot see under, for one). The average of the last thousand or so steps is the centre of
that wandering, which is why restoration GANs ship it (ESRGAN, BasicSR's `ema_decay`).
"""

from __future__ import annotations

import copy

import torch


def averaged_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A frozen copy that update_average keeps as the running average of `model`."""
    return copy.deepcopy(model).eval().requires_grad_(False)


def warmed_up(decay: float, step: int) -> float:
    """The decay at a step of the run: (1 + step) / (10 + step) until that reaches `decay`.
    Without it the average of a short run is still partly its starting weights (with 0.999,
    12% of them after 2,000 steps), and experiment 4's generator starts as the identity."""
    return min(decay, (1.0 + step) / (10.0 + step))


@torch.no_grad()
def update_average(average: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """average <- decay * average + (1 - decay) * model, for every weight; buffers (batch
    statistics) are copied, as they are not weights of the game."""
    torch._foreach_lerp_(list(average.parameters()), list(model.parameters()), 1.0 - decay)
    for mine, theirs in zip(average.buffers(), model.buffers()):
        mine.copy_(theirs)
