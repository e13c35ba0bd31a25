"""Regenerate the report's figures: execute every numbered notebook in order with papermill.

Executed copies go to an ignored build folder; figures and metrics.json to figures/ (or
wherever FIGURES_DIR points). Training runs are kept in build/runs/<profile>/, so an
interrupted reproduction continues where it stopped and a finished one is reused.

A reproduction that writes the committed figures/ also writes each executed chapter back
over its source in notebooks/, cleaned (`publish`): a reader on GitHub then sees every
chapter with the figures and numbers of the committed run, without running anything.
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from ..paths import BUILD_DIR, FIGURES_DIR, PROJECT_ROOT, shown_path
from ..presets import TrainConfig
from ..training.checkpoints import atomic_write_bytes
from .chapters import OUTPUT_ENV, PRECISION_ENV, PROFILE_ENV, runs_folder
from .viewer import STATIC_ENV

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
              figures_dir: str = "", runs_dir: str = "", out_dir: Path | None = None,
              kernel: str = "python3", precision: str = "", estimate: bool = True) -> list[Path]:
    """Run every notebook with these parameters; returns the executed copies (in out_dir,
    build/notebooks/ by default). figures_dir: figures/ when empty (but for smoke runs);
    a run that writes figures/ also publishes every executed chapter over its source.
    precision (if given) replaces the runs' 'auto'; estimate: first say how long it will
    take here."""
    if not figures_dir and profile != "smoke":  # a smoke run keeps to its own folder (chapters.open_chapter)
        figures_dir = str(FIGURES_DIR)
    publish_to = NOTEBOOKS_DIR if figures_dir and Path(figures_dir).resolve() == FIGURES_DIR.resolve() else None
    parameters = dict(PROFILE=profile, DATA=data, SEED=seed, DEVICE=device, FIGURES_DIR=figures_dir, RUNS_DIR=runs_dir)
    # The kernels inherit the environment: the parameters given here must win over it, and
    # executed copies show static sheets, not widgets nobody can move.
    ignored = (PROFILE_ENV, OUTPUT_ENV) + ((PRECISION_ENV,) if precision else ())
    with _kernel_environment(ignored, {STATIC_ENV: "1", **({PRECISION_ENV: precision} if precision else {})}):
        if estimate:
            print(announce(profile, data, seed, device, runs_folder(profile, runs_dir),
                           os.environ.get(PRECISION_ENV) or "auto"), flush=True)
        return _run_all(parameters, Path(out_dir or BUILD_DIR / "notebooks"), kernel, publish_to)


@contextmanager
def _kernel_environment(ignored: tuple[str, ...], values: dict[str, str]):
    """Unset `ignored` (saying so) and set `values` while the notebooks run; afterwards the
    environment is exactly what it was."""
    saved = {name: os.environ.get(name) for name in (*ignored, *values)}
    for name in ignored:
        if os.environ.pop(name, None) is not None:
            print(f"note: ignoring {name} from the environment while the notebooks run")
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# What the chapters do besides training (starting kernels, rendering pairs, drawing
# figures, scoring the models), measured in a reproduction on a 2-core AMX Xeon (312 s),
# and what the real test pairs add where they are present (chapters 6 and 7 score every
# model on them; 94 s): docs/journal.md, "the whole course in 30 minutes".
CHAPTERS_SECONDS = 220
REAL_DATA_SECONDS = 95


def announce(profile: str, data: str, seed: int, device: str, runs_dir: Path, precision: str = "auto") -> str:
    """How long a reproduction will take on this machine, from a few timed steps of each
    network; finished runs in runs_dir count nothing, interrupted ones what is left of
    them. On a machine that other processes keep busy it says so instead: steps timed
    then would overstate the time many times over."""
    from ..training.cores import busy_note
    from ..training.precision import describe_device, pick_device
    from ..training.timing import format_duration, measure_rate, run_seconds

    busy = busy_note()
    if busy:
        return (f"{busy}, so no estimate is given: steps timed now would say little about a quiet machine. "
                f"Expect the reproduction to take several times longer than it would alone (`top` names the other processes).")
    rates, seconds, shown = {}, {}, {}  # shown: the first measured rate of each label
    for label, config, folder in training_jobs(profile, data, seed, runs_dir, precision):
        left = config.epochs - _epochs_done(folder)
        if left <= 0:
            continue
        key = (config.generator, str(config.generator_options), str(config.discriminator_options))
        if key not in rates:
            rates[key], used = measure_rate(config, device)
            shown.setdefault(label, rates[key])
        seconds[label] = seconds.get(label, 0.0) + run_seconds(config, rates[key], left)
    rest = CHAPTERS_SECONDS + (REAL_DATA_SECONDS if _real_data_present() else 0)
    if not seconds:
        return f"every training run is already finished: only the chapters' figures and scores are computed (about {format_duration(rest)})"
    parts = ", ".join(f"{label} {format_duration(s)}" for label, s in seconds.items())
    return (f"this reproduction should take about {format_duration(sum(seconds.values()) + rest)} here ({parts}, then "
            f"{format_duration(rest)} for figures and scores); timed steps: {', '.join(f'{k} {v:.0f}' for k, v in shown.items())} "
            f"images/s ({used}, {describe_device(pick_device(device))})")


def _real_data_present() -> bool:
    """Whether any folder of real pairs that a chapter reads by default (its REAL_DATA
    parameter) exists here."""
    import ast

    import papermill

    from ..paths import project_path

    for notebook in notebooks():
        real = papermill.inspect_notebook(str(notebook)).get("REAL_DATA")
        if real and any(project_path(f.strip()).is_dir() for f in ast.literal_eval(real["default"]).split(",") if f.strip()):
            return True
    return False


def training_jobs(profile: str, data: str, seed: int, runs_dir: Path, precision: str = "auto") -> list[tuple[str, TrainConfig, Path]]:
    """Every training run of a reproduction, as (label, configuration, run folder): the
    four experiments, then the rows of experiment 4's ablation (the short one, unless every
    row is already finished)."""
    from ..presets import ABLATION_EPOCHS, EXPERIMENTS, make_config
    from .ablation import ablation_rows, row_config, slug

    configs = {e: make_config(e, profile, data=data, seed=seed, precision=precision) for e in EXPERIMENTS}
    ablation = replace(configs["attentive"], epochs=ABLATION_EPOCHS[profile])
    jobs = [(e, c, runs_dir / e) for e, c in configs.items()]
    rows = ablation_rows(ablation, runs_dir / "ablation")
    return jobs + [("ablation", row_config(ablation, change), runs_dir / "ablation" / slug(name)) for name, (_, change) in rows.items()]


def _epochs_done(folder: Path) -> int:
    history = folder / "history.json"
    return len(json.loads(history.read_text()).get("epochs", [])) if history.is_file() else 0


def publish(executed: Path, target: Path, root: Path = PROJECT_ROOT) -> None:
    """Write an executed notebook over its source as a reader should see it: without
    papermill's injected-parameters cell and bookkeeping, outputs as a reader should see
    them (outputs.clean_outputs, outputs.compact_images), paths inside the project `root`
    shown from it, code cells numbered 1, 2, ... The parameters cell keeps its literals, so
    the chapter still runs, and reproduces, as it did."""
    import nbformat

    from .outputs import clean_outputs, compact_images

    book = nbformat.read(executed, as_version=4)
    book.cells = [c for c in book.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    book.metadata.pop("papermill", None)
    count = 0
    for cell in book.cells:
        for key in ("papermill", "execution"):
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            count += 1
            cell.execution_count = count
            cell.outputs = compact_images(clean_outputs(cell.outputs))
            for output in cell.outputs:
                if output.output_type == "stream":
                    output.text = output.text.replace(f"{Path(root).resolve()}/", "")
                if "execution_count" in output:
                    output.execution_count = count
    atomic_write_bytes(target, (nbformat.writes(book) + "\n").encode())


def _run_all(parameters: dict, out_dir: Path, kernel: str, publish_to: Path | None = None) -> list[Path]:
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
        if publish_to is not None:
            publish(target, publish_to / source.name)
        done.append(target)
    print(f"all {len(todo)} notebooks ran in {(time.perf_counter() - start) / 60:.1f} min")
    return done
