"""What the notebooks call: a chapter's settings, its training runs, figures and numbers.

A notebook's parameters cell holds literals only. `open_chapter` turns them into paths
resolved from the project root and applies three environment variables, so the tests can
run every notebook on the smoke preset in a temporary folder:

* ``DERAIN_PROFILE`` replaces the PROFILE parameter (nbval sets it to ``smoke``);
* ``DERAIN_OUTPUT`` puts figures, metrics and runs under that folder;
* ``DERAIN_PRECISION`` replaces the runs' precision 'auto' (``derain reproduce --precision``).

A chapter run by hand (JupyterLab) writes its figures and metrics into build/figures/:
only `derain reproduce`, which names figures/ explicitly, updates the committed ones.
Smoke runs never write into the project's ``figures/``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import matplotlib.pyplot as plt

from ..paths import BUILD_DIR, FIGURES_DIR, project_path, shown_path
from ..presets import ABLATION_EPOCHS, PRECISIONS, PROFILES, TrainConfig, make_config
from ..training.checkpoints import atomic_write_bytes
from ..training.precision import resolve_precision
from ..training.trainer import ensure_trained, pick_device
from .ablation import ROWS, ablation_rows, run_ablation
from .figures import save_figure
from .runs import ExperimentRun

PROFILE_ENV = "DERAIN_PROFILE"
OUTPUT_ENV = "DERAIN_OUTPUT"
PRECISION_ENV = "DERAIN_PRECISION"
METRICS = "metrics.json"
INTERACTIVE_FIGURES = BUILD_DIR / "figures"  # where a chapter run by hand saves what it draws


@dataclass(frozen=True)
class Chapter:
    profile: str
    data: str  # 'synthetic' or an absolute folder
    seed: int
    device: str
    figures_dir: Path
    runs_dir: Path
    precision: str = "auto"

    def config(self, experiment: str) -> TrainConfig:
        return make_config(experiment, self.profile, data=self.data, seed=self.seed, precision=self.precision)

    def run(self, experiment: str, run_dir: str = "", progress: bool = True) -> ExperimentRun:
        """The trained run of one experiment: reused when its folder already holds the
        finished run, resumed when it holds an interrupted one, trained otherwise."""
        config = self.config(experiment)
        folder = project_path(run_dir) if run_dir else self.runs_dir / experiment
        ensure_trained(config, folder, self.device, progress)
        return ExperimentRun.load(folder, self.device)

    def ablation(self, epochs: int = 0, progress: bool = True) -> list[dict]:
        """Experiment 4's ablation, every row trained for `epochs` (0: the profile's
        ablation budget), in RUNS_DIR/ablation: the full table when `derain ablate` has
        trained all of its rows there, else the short one (ablation.SHORT_ROWS)."""
        default = replace(self.config("attentive"), epochs=epochs or ABLATION_EPOCHS[self.profile])
        folder = self.runs_dir / "ablation"
        rows = ablation_rows(default, folder)
        if len(rows) == len(ROWS):
            print(f"the full ablation: all {len(ROWS)} rows, trained by `derain ablate` in {shown_path(folder)}")
        else:
            print(f"the short ablation: {len(rows)} of the {len(ROWS)} rows. `make ablation` (or `derain ablate --out "
                  f"{shown_path(folder)}`) trains the others; run this chapter again afterwards to see the full table")
        return run_ablation(default, folder, device=self.device, progress=progress, rows=rows)

    def save(self, fig: plt.Figure, number: int, slug: str) -> None:
        """Save a figure as figN_<slug>.png and .pdf in this chapter's figure folder."""
        paths = save_figure(fig, f"fig{number}_{slug}", self.figures_dir)
        print("saved " + ", ".join(shown_path(p) for p in paths))

    def record(self, section: str, values: dict) -> None:
        """Merge one section of numbers into metrics.json beside the figures."""
        path = self.figures_dir / METRICS
        metrics = json.loads(path.read_text()) if path.is_file() else {}
        metrics[section] = values
        metrics["setup"] = {"profile": self.profile, "data": shown_path(self.data), "seed": self.seed,
                            "precision": resolve_precision(self.precision, pick_device(self.device), warn=False)}
        self.figures_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, (json.dumps(metrics, indent=2, sort_keys=True) + "\n").encode())

    def metrics(self) -> dict:
        path = self.figures_dir / METRICS
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no metrics yet; run the experiment notebooks first")
        return json.loads(path.read_text())


def open_chapter(profile: str = "cpu", data: str = "synthetic", seed: int = 0, device: str = "auto",
                 figures_dir: str = "", runs_dir: str = "") -> Chapter:
    """Settings of one notebook from its parameters cell (see the module docstring)."""
    profile = os.environ.get(PROFILE_ENV) or profile
    if profile not in PROFILES:
        raise ValueError(f"PROFILE = {profile!r}: expected one of {', '.join(PROFILES)}")
    precision = os.environ.get(PRECISION_ENV) or "auto"
    if precision not in PRECISIONS:
        raise ValueError(f"{PRECISION_ENV} = {precision!r}: expected one of {', '.join(PRECISIONS)}")
    output = os.environ.get(OUTPUT_ENV)
    default_root = _output_root(profile, output)
    figures = project_path(figures_dir) if figures_dir else default_root / "figures" if default_root else INTERACTIVE_FIGURES
    if profile == "smoke" and figures.resolve() == FIGURES_DIR.resolve():
        raise ValueError("the smoke profile never writes into figures/; pick another FIGURES_DIR")
    runs = runs_folder(profile, runs_dir, output)
    if data != "synthetic":
        folder = project_path(data)
        if not folder.is_dir():
            raise FileNotFoundError(f"DATA = {data!r}: no folder {folder}")
        data = str(folder)
    print(f"profile {profile}, data {shown_path(data)}, seed {seed}, device {pick_device(device)}, precision {precision}; "
          f"figures in {shown_path(figures)}, runs in {shown_path(runs)}")
    return Chapter(profile, data, seed, device, figures, runs, precision)


def _output_root(profile: str, output: str | None) -> Path | None:
    return Path(output) if output else BUILD_DIR / "smoke" if profile == "smoke" else None


def runs_folder(profile: str, runs_dir: str = "", output: str | None = None) -> Path:
    """Where a chapter's training runs live: RUNS_DIR, else build/runs/<profile> (or the
    smoke or DERAIN_OUTPUT folder's runs/<profile>)."""
    return project_path(runs_dir) if runs_dir else (_output_root(profile, output) or BUILD_DIR) / "runs" / profile
