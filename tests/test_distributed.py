"""Training on several processes (torchrun, DistributedDataParallel), tested on the CPU
with the gloo backend: 2 processes of half a batch each follow 1 process of the whole."""

import json
import os
import subprocess
import sys

import pytest
import torch

from derain_utils.training.distributed import Rank, share
from derain_utils.training.trainer import TIMING_FIELDS


def test_each_rank_takes_its_slice_of_every_global_batch():
    order = torch.randperm(11, generator=torch.Generator().manual_seed(0))
    ranks = [share(order, 4, Rank(r, 2)) for r in range(2)]
    assert [len(r) for r in ranks] == [4, 4]  # the last, incomplete global batch (3 items) is left out
    for step in range(2):
        together = ranks[0][2 * step : 2 * step + 2] + ranks[1][2 * step : 2 * step + 2]
        assert together == order[4 * step : 4 * step + 4].tolist()
    assert share(order, 4, Rank()) == order.tolist()  # one process keeps everything, in order
    with pytest.raises(ValueError, match="batch size 4 cannot be shared by 3 processes"):
        share(order, 4, Rank(0, 3))


def derain(args, tmp_path, processes=1):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"] if processes > 1 else [sys.executable]
    done = subprocess.run(launcher + ["-m", "derain_utils", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_two_gloo_processes_follow_one_process_with_the_same_global_batch(tmp_path):
    args = ["train", "--experiment", "pix2pix", "--profile", "smoke", "--epochs", "3", "--device", "cpu"]
    derain(args + ["--out", "one"], tmp_path)
    said = derain(args + ["--out", "two"], tmp_path, processes=2)
    assert said.count("pix2pix (smoke) after 3 epochs") == 1  # rank 0 alone reports
    one, two = (json.loads((tmp_path / run / "history.json").read_text()) for run in ("one", "two"))
    assert len(two["steps"]) == len(one["steps"]) == 12 and len(two["epochs"]) == 3
    # The first step starts from the same weights and sees the same 4 pairs, split 2 + 2;
    # only batch norm (per process) and the dropout and flip draws differ: within 1%.
    assert two["steps"][0]["g_l1"] == pytest.approx(one["steps"][0]["g_l1"], rel=0.01)
    # Later the epochs' orders differ too (each process draws its own flips): the
    # epoch means stay within 5%, the held-out PSNR within 0.1 dB.
    for a, b in zip(one["epochs"], two["epochs"]):
        for key in ("g_l1", "g_adv", "d_loss"):
            assert b[key] == pytest.approx(a[key], rel=0.05), key
        assert b["val_psnr_rgb"] == pytest.approx(a["val_psnr_rgb"], abs=0.1)
    state = torch.load(tmp_path / "two" / "checkpoint.pt", weights_only=False)
    first, second = state["rng_ranks"]  # one writer, every process's random state for a resume
    assert not torch.equal(first["torch"], second["torch"])


def test_a_resumed_two_process_run_repeats_the_uninterrupted_one(tmp_path):
    """Stopped after 2 epochs and resumed to 3 (stabilized: a constant learning rate, so
    the first 2 epochs are those of the 3-epoch run), every process continues its stream."""
    args = ["train", "--experiment", "stabilized", "--profile", "smoke", "--device", "cpu"]
    derain(args + ["--epochs", "3", "--out", "whole"], tmp_path, processes=2)
    derain(args + ["--epochs", "2", "--out", "cut"], tmp_path, processes=2)
    derain(args + ["--epochs", "3", "--out", "cut", "--resume"], tmp_path, processes=2)
    whole, cut = (json.loads((tmp_path / run / "history.json").read_text()) for run in ("whole", "cut"))
    assert [{k: v for k, v in e.items() if k not in TIMING_FIELDS} for e in cut["epochs"]] == \
           [{k: v for k, v in e.items() if k not in TIMING_FIELDS} for e in whole["epochs"]]
    assert cut["steps"] == whole["steps"]
