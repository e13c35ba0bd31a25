from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared(*parts: str) -> Path:
    """A folder of ../shared/data, or skip the test when it is absent (a fresh clone)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present")
    return path


def write_image(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def random_image(rng: np.random.Generator, height: int = 40, width: int = 60) -> np.ndarray:
    """A smooth random colour image (JPEG keeps it within a few levels)."""
    coarse = Image.fromarray(rng.integers(0, 256, (4, 6, 3), dtype=np.uint8))
    return np.asarray(coarse.resize((width, height), Image.BILINEAR))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@contextmanager
def interrupted_at_step(monkeypatch, step: int):
    """Training raises KeyboardInterrupt at its `step`-th step, as Ctrl-C would mid-epoch."""
    from derain_utils.training.trainer import Trainer

    real_step, calls = Trainer.train_step, []

    def dying_step(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == step:
            raise KeyboardInterrupt
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "train_step", dying_step)
    try:
        with pytest.raises(KeyboardInterrupt):
            yield
    finally:
        monkeypatch.setattr(Trainer, "train_step", real_step)
