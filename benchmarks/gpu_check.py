"""The GPU check: every CUDA path of the project, timed, in one short run.

A GPU is lent to this project now and then, for minutes, so the check is prepared ahead
and run as is (benchmarks/gpu_check.sh). On a GPU it uses the paper profile; on a
machine without one it runs the same steps at the smoke profile, which a test does so
that the script cannot rot. Every step runs even when an earlier one failed; the
summary table at the end says what failed, and gpu_check.json under --out holds every
number.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path

import torch

from derain_utils.paths import PROJECT_ROOT
from derain_utils.training.precision import cpu_capability, describe_device
from derain_utils.presets import EXPERIMENTS, make_config
from derain_utils.course.reproduce import training_jobs
from derain_utils.course.runs import ExperimentRun
from derain_utils.training.timing import format_duration, measure_rate
from derain_utils.training.trainer import Trainer, pick_device

BEST = "attentive"  # the experiment that beats doing nothing (report/report.md)
NOTEBOOK = "03_pix2pix.ipynb"


def device_facts(device: torch.device) -> dict:
    facts = {"device": describe_device(device), "torch": torch.__version__, "cpu": cpu_capability(), "cpu_cores": os.cpu_count()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        facts.update(cuda=torch.version.cuda, memory_gib=round(props.total_memory / 2**30, 1), capability=f"{props.major}.{props.minor}",
                     multiprocessors=props.multi_processor_count, bf16=torch.cuda.is_bf16_supported())
    return facts


def cuda_tests(out: Path) -> dict:
    """The tests marked `cuda` (tests/test_cuda.py); without a GPU they are skipped."""
    log = out / "cuda_tests.log"
    command = [sys.executable, "-m", "pytest", "-m", "cuda", "tests/test_cuda.py", "-q", "-p", "no:cacheprovider", "-o", "addopts=-ra"]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True)
    log.write_text(result.stdout + result.stderr)
    last = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
    if result.returncode not in (0, 5):  # 5: nothing ran (every test skipped or deselected)
        raise RuntimeError(f"pytest -m cuda: {last} (see {log.name})")
    return {"summary": last}


def epoch_times(profile: str, device: str, work: Path) -> dict:
    """Two epochs of each experiment: the first pays for warm-up, the second is the
    steady epoch. The training step alone is timed too, so the difference shows what
    the data path (rendering, cropping, copying) costs."""
    times = {}
    for experiment in EXPERIMENTS:
        config = make_config(experiment, profile, epochs=2)
        tic = time.perf_counter()
        trainer = Trainer(config, work / experiment, device=device, progress=False)
        setup = time.perf_counter() - tic
        tic = time.perf_counter()
        epochs = trainer.fit()["epochs"]
        validation = (time.perf_counter() - tic - sum(e["seconds"] for e in epochs)) / len(epochs)  # and the checkpoint
        step_rate, precision = measure_rate(config, device, steps=10, warmup=3)
        layout_rate, _ = measure_rate(replace(config, channels_last=not config.channels_last), device, steps=10, warmup=3)
        times[experiment] = {
            "setup_s": setup, "epoch1_s": epochs[0]["seconds"], "epoch_s": epochs[-1]["seconds"], "validation_s": validation,
            "render_s": epochs[-1]["render_seconds"], "images_per_s": epochs[-1]["images_per_s"], "step_images_per_s": step_rate,
            "other_layout_step_images_per_s": layout_rate, "channels_last": config.channels_last, "precision": precision,
            "workers": trainer.workers, "val_psnr": epochs[-1]["val_psnr_rgb"], "input_psnr": epochs[-1]["input_psnr_rgb"],
        }
        print(f"  {experiment:<10} epoch {times[experiment]['epoch_s']:.1f} s (first {times[experiment]['epoch1_s']:.1f} s, "
              f"data set-up {setup:.1f} s, validation {validation:.1f} s); {times[experiment]['images_per_s']:.0f} images/s per epoch, "
              f"{step_rate:.0f} for the step alone ({precision})", flush=True)
    return times


def projection(profile: str, times: dict) -> dict:
    """Wall time of `make reproduce PROFILE=<profile>` from the measured epochs: every
    experiment and every ablation row, with its data set-up and validation passes."""
    seconds = {}
    for label, config, _ in training_jobs(profile, "synthetic", 0, Path("unused")):
        t = times[config.experiment]
        seconds[label] = seconds.get(label, 0.0) + t["setup_s"] + t["epoch1_s"] + (config.epochs - 1) * t["epoch_s"] + config.epochs * t["validation_s"]
    return {"per_job_s": seconds, "total_s": sum(seconds.values())}


def train_best(profile: str, device: str, budget_s: float, epoch_s: float, work: Path) -> dict:
    """The best experiment at the profile for as many epochs as fit the budget (its
    learning-rate schedule is set for that many), then scored on the held-out images."""
    epochs = max(1, min(make_config(BEST, profile).epochs, math.floor(budget_s / epoch_s)))
    config = make_config(BEST, profile, epochs=epochs)
    tic = time.perf_counter()
    Trainer(config, work / "best", device=device, progress=False).fit()
    seconds = time.perf_counter() - tic
    summary = ExperimentRun.load(work / "best", device).summary()
    return {"epochs": epochs, "seconds": seconds, **{k: summary[k] for k in (
        "psnr", "ssim", "input_psnr", "input_ssim", "best_psnr", "best_epoch", "test_psnr", "test_ssim", "test_input_psnr", "test_input_ssim")}}


def notebook_run(device: str, work: Path, out: Path) -> dict:
    """One chapter executed by papermill at the smoke profile on the device."""
    import papermill

    work.mkdir(parents=True, exist_ok=True)
    target = work / NOTEBOOK
    tic = time.perf_counter()
    papermill.execute_notebook(PROJECT_ROOT / "notebooks" / NOTEBOOK, target, kernel_name="python3", progress_bar=False,
                               cwd=str(PROJECT_ROOT / "notebooks"), extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
                               parameters=dict(PROFILE="smoke", DEVICE=device, FIGURES_DIR=str(work / "figures"), RUNS_DIR=str(work / "runs")))
    shutil.copy(target, out / NOTEBOOK)
    device_lines = [line for cell in json.loads(target.read_text())["cells"] for o in cell.get("outputs", [])
                    for line in "".join(o.get("text", "")).splitlines() if line.startswith("profile ")]
    return {"seconds": time.perf_counter() - tic, "says": device_lines[:1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "build" / "gpu_check")
    parser.add_argument("--train-seconds", type=float, default=240.0, help="budget of the best experiment's training run")
    parser.add_argument("--device", default="auto", help="auto (cuda when present), cpu or cuda")
    args = parser.parse_args(argv)
    device = pick_device(args.device)
    profile = "paper" if device.type == "cuda" else "smoke"
    args.out.mkdir(parents=True, exist_ok=True)
    report, failures = {"profile": profile}, []

    def step(name: str, function, *a):
        print(f"== {name}", flush=True)
        tic = time.perf_counter()
        try:
            report[name] = function(*a)
        except Exception as err:  # every step runs; the summary says what failed
            traceback.print_exc()
            failures.append(f"{name}: {type(err).__name__}: {err}")
        print(f"   ({time.perf_counter() - tic:.0f} s)", flush=True)
        return report.get(name)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        facts = step("device", device_facts, device)
        print(json.dumps(facts, indent=1))
        step("cuda_tests", cuda_tests, args.out)
        times = step("epochs", epoch_times, profile, str(device), work / "epochs")
        if times:
            step("projection", projection, profile, times)
            best = times[BEST]
            step("best", train_best, profile, str(device), args.train_seconds, best["epoch_s"] + best["validation_s"], work / "runs")
        step("notebook", notebook_run, str(device), work / "notebook", args.out)
    report["failures"] = failures
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=1))
    print(summary(report))
    return 1 if failures else 0


def summary(report: dict) -> str:
    lines = [f"GPU check, {report['profile']} profile, on {report.get('device', {}).get('device', '?')}"]
    if "cuda_tests" in report:
        lines.append(f"cuda tests: {report['cuda_tests']['summary']}")
    for experiment, t in report.get("epochs", {}).items():
        lines.append(f"{experiment:<10} epoch {t['epoch_s']:6.1f} s  {t['images_per_s']:6.0f} images/s (step alone {t['step_images_per_s']:.0f}, "
                     f"{'contiguous' if t['channels_last'] else 'channels_last'} {t['other_layout_step_images_per_s']:.0f}; "
                     f"rendering {t['render_s']:.1f} s; {t['workers']} workers)")
    if "projection" in report:
        lines.append(f"make reproduce PROFILE={report['profile']}: about {format_duration(report['projection']['total_s'])} of training")
    if "best" in report:
        b = report["best"]
        lines.append(f"{BEST}, {b['epochs']} epochs in {format_duration(b['seconds'])}: val {b['psnr']:.2f} dB / {b['ssim']:.3f} "
                     f"(doing nothing {b['input_psnr']:.2f} / {b['input_ssim']:.3f}); test {b['test_psnr']:.2f} / {b['test_ssim']:.3f} "
                     f"(doing nothing {b['test_input_psnr']:.2f} / {b['test_input_ssim']:.3f})")
    if "notebook" in report:
        lines.append(f"papermill {NOTEBOOK}: ran in {report['notebook']['seconds']:.0f} s; {' '.join(report['notebook']['says'])}")
    lines += [f"FAILED {f}" for f in report["failures"]] or ["every step ran"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
