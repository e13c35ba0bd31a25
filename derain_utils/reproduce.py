"""Regenerate the report's figures: execute every numbered notebook in order with papermill.

Executed copies go to an ignored build folder; figures and metrics.json to figures/ (or
wherever FIGURES_DIR points). Training runs are kept in build/runs/<profile>/, so an
interrupted reproduction continues where it stopped and a finished one is reused.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from .chapters import OUTPUT_ENV, PROFILE_ENV
from .paths import BUILD_DIR, PROJECT_ROOT, shown_path

NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"


class ReproduceError(RuntimeError):
    pass


def _source_cell(source: Path, executed_index: int) -> int:
    """1-based number of a cell in the source notebook, given its index in the executed
    copy, which has papermill's injected-parameters cell after the parameters cell."""
    import nbformat

    cells = nbformat.read(source, as_version=4).cells
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    return executed_index + (0 if tagged and executed_index > tagged[0] + 1 else 1)


def notebooks() -> list[Path]:
    found = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise FileNotFoundError(f"{NOTEBOOKS_DIR}: no numbered notebooks")
    return found


def reproduce(profile: str = "cpu", data: str = "synthetic", seed: int = 0, device: str = "auto",
              figures_dir: str = "", runs_dir: str = "", out_dir: Path = BUILD_DIR / "notebooks",
              kernel: str = "python3") -> list[Path]:
    """Run every notebook with these parameters; returns the executed copies."""
    parameters = dict(PROFILE=profile, DATA=data, SEED=seed, DEVICE=device, FIGURES_DIR=figures_dir, RUNS_DIR=runs_dir)
    hidden = {name: os.environ.pop(name) for name in (PROFILE_ENV, OUTPUT_ENV) if name in os.environ}
    for name in hidden:  # the kernels inherit the environment; the parameters given here must win
        print(f"note: ignoring {name} from the environment while the notebooks run")
    try:
        return _run_all(parameters, Path(out_dir), kernel)
    finally:
        os.environ.update(hidden)


def _run_all(parameters: dict, out_dir: Path, kernel: str) -> list[Path]:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    out_dir.mkdir(parents=True, exist_ok=True)
    todo, done = notebooks(), []
    start = time.perf_counter()
    for i, source in enumerate(todo, 1):
        target = out_dir / source.name
        print(f"[{i}/{len(todo)}] {source.name}", flush=True)
        tic = time.perf_counter()
        try:
            # The notebooks' own output (training progress, epoch lines, findings) streams to the
            # terminal as it is produced, instead of a per-cell bar that sits still while a model
            # trains. The kernel process's own log is silenced: its start-up notice and the socket
            # traceback it prints when Ctrl-C shuts it down are not the notebook's output.
            papermill.execute_notebook(source, target, parameters=parameters, kernel_name=kernel, cwd=str(source.parent),
                                       progress_bar=False, stdout_file=sys.stdout, stderr_file=sys.stderr,
                                       extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
        except PapermillExecutionError as err:
            first_line = (err.source.strip().splitlines() or [""])[0]
            raise ReproduceError(
                f"{shown_path(source)} failed in cell {_source_cell(source, err.cell_index)} ({err.ename}: {err.evalue}), "
                f"the cell that starts with: {first_line}\nthe executed copy with the full traceback is {target}"
            ) from None
        print(f"[{i}/{len(todo)}] {source.name} done in {time.perf_counter() - tic:.0f} s", flush=True)
        done.append(target)
    print(f"all {len(todo)} notebooks ran in {(time.perf_counter() - start) / 60:.1f} min")
    return done
