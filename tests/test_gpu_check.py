"""benchmarks/gpu_check.sh waits for a GPU that is lent only now and then; run on the CPU
at the smoke profile here, every step of it must still work."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_gpu_check_runs_every_step_on_the_cpu(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path), PYTHON=sys.executable, CUDA_VISIBLE_DEVICES="")
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--train-seconds", "5"], env=env,
                          capture_output=True, text=True, timeout=600)
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert done.returncode == 0 and report["failures"] == [], done.stdout[-3000:]
    assert report["profile"] == "smoke" and "cuda tests: 7 skipped" in done.stdout
    times = report["epochs"]
    assert set(times) == {"baseline", "pix2pix", "stabilized", "attentive"}
    assert all(t["epoch_s"] > 0 and t["step_images_per_s"] > 0 and t["workers"] == 0 for t in times.values())
    # the projection counts all 14 runs of a reproduction: 4 experiments and 10 ablation rows
    assert set(report["projection"]["per_job_s"]) == {"baseline", "pix2pix", "stabilized", "attentive", "ablation"}
    assert report["projection"]["total_s"] > sum(t["epoch_s"] for t in times.values())
    best = report["best"]
    assert 1 <= best["epochs"] <= 2 and 20 < best["test_input_psnr"] < 40 and best["test_psnr"] > 0
    assert "device cpu" in report["notebook"]["says"][0]
    assert (tmp_path / "03_pix2pix.ipynb").is_file() and (tmp_path / "gpu_check.log").stat().st_size > 0
    assert done.stdout.strip().endswith("every step ran")
