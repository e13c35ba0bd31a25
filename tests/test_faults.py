"""Faults a careful user can cause: each is refused or handled with one line that names the
file or option, a documented exit code, and every file the user had left byte for byte
as it was."""

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import interrupted_at_step, random_image, write_image
from derain_utils.cli import EXIT_ERROR, EXIT_PROBLEMS, main
from derain_utils.data.images import read_rgb
from derain_utils.training import checkpoints
from derain_utils.training.run_folder import LOCK, MANIFEST, NEXT

SMOKE = ["train", "--experiment", "pix2pix", "--profile", "smoke", "--device", "cpu"]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (hidden ones too) and the sha256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err.splitlines()[-1]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A one-epoch smoke run, copied by the tests that change a run folder."""
    run = tmp_path_factory.mktemp("runs") / "run"
    assert main(SMOKE + ["--epochs", "1", "--out", str(run)]) == 0
    return run


def copy_of(run: Path, where: Path) -> Path:
    where.mkdir(parents=True)
    for f in run.iterdir():
        (where / f.name).write_bytes(f.read_bytes())
    return where


def pairs_folder(root: Path, rng, count: int = 3, size: tuple[int, int] = (40, 48)) -> Path:
    for i in range(count):
        write_image(root / "rain" / f"{i}.png", random_image(rng, *size))
        write_image(root / "clean" / f"{i}.png", random_image(rng, *size))
    return root


# -- lost data: --overwrite replaces only derain's own runs, and only once the new one has an epoch


def test_overwrite_refuses_a_folder_derain_did_not_make(tmp_path, capsys):
    other = tmp_path / "project"
    other.mkdir()
    for name, text in (("checkpoint.pt", "their model"), ("notes.txt", "notes"), ("results.csv", "a,b\n")):
        (other / name).write_text(text)
    before = snapshot(tmp_path)
    assert main(SMOKE + ["--out", str(other), "--overwrite"]) == EXIT_ERROR
    assert f"has no {MANIFEST}, so it is not a run folder that derain train made" in error_line(capsys)
    assert snapshot(tmp_path) == before


def test_overwrite_refuses_the_current_folder_and_folders_above_the_data(tmp_path, finished_run, monkeypatch, capsys, rng):
    run = copy_of(finished_run, tmp_path / "run")
    before = snapshot(tmp_path)
    monkeypatch.chdir(run)
    assert main(SMOKE + ["--out", ".", "--overwrite"]) == EXIT_ERROR
    assert "--out . is the current folder; --overwrite never replaces it" in error_line(capsys)
    data = pairs_folder(run / "mydata", rng)  # a derain run folder that holds the data
    before = snapshot(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(SMOKE + ["--out", str(run), "--overwrite", "--data", str(data)]) == EXIT_ERROR
    assert "--overwrite never replaces a folder above the project or the data" in error_line(capsys)
    assert snapshot(tmp_path) == before


def test_overwrite_refuses_a_run_folder_holding_the_users_files(tmp_path, finished_run, capsys):
    run = copy_of(finished_run, tmp_path / "run")
    (run / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    assert main(SMOKE + ["--out", str(run), "--overwrite"]) == EXIT_ERROR
    assert "holds files that derain train did not write (notes.txt); move them out" in error_line(capsys)
    assert snapshot(tmp_path) == before


def test_overwrite_with_bad_data_keeps_the_old_run(tmp_path, finished_run, capsys, rng):
    run = copy_of(finished_run, tmp_path / "run")
    data = pairs_folder(tmp_path / "data", rng)
    good = (data / "rain" / "0.png").read_bytes()
    (data / "rain" / "0.png").write_bytes(good[: len(good) // 2])  # a truncated image
    before = snapshot(tmp_path)
    assert main(SMOKE + ["--out", str(run), "--overwrite", "--data", str(data)]) == EXIT_ERROR
    assert "0.png" in error_line(capsys)
    assert snapshot(tmp_path) == before


def test_an_overwrite_interrupted_before_its_first_epoch_keeps_the_old_run(tmp_path, finished_run, monkeypatch, capsys):
    run = copy_of(finished_run, tmp_path / "run")
    before = snapshot(tmp_path)
    with interrupted_at_step(monkeypatch, 2):
        checkpoints_main = SMOKE + ["--out", str(run), "--overwrite", "--seed", "1"]
        main_raising(checkpoints_main)
    assert snapshot(tmp_path) == before
    assert main(SMOKE + ["--out", str(run), "--overwrite", "--seed", "1"]) == 0  # now it runs through
    state = checkpoints.load_checkpoint(run / "checkpoint.pt")
    assert state["config"]["seed"] == 1 and sorted(p.name for p in run.iterdir()) == sorted(
        ["checkpoint.pt", "history.json", "history.csv", MANIFEST])


def main_raising(argv):
    """The command's work without main()'s handler, so that the test sees the interruption."""
    from derain_utils.cli import build_parser

    args = build_parser().parse_args(argv)
    args.run(args)


def test_a_killed_overwrite_leaves_the_old_run_and_its_leftovers_go_next_time(tmp_path, finished_run, capsys):
    run = copy_of(finished_run, tmp_path / "run")
    before = snapshot(run)
    (run / NEXT).mkdir()
    (run / NEXT / "checkpoint.pt").write_bytes(b"half a new run")
    (run / ".checkpoint.pt.k2j4x9").write_bytes(b"half a save")  # a save killed mid-write
    assert main(SMOKE + ["--out", str(run), "--resume", "--epochs", "2"]) == 0
    assert not (run / NEXT).exists() and not (run / ".checkpoint.pt.k2j4x9").exists()
    assert checkpoints.load_checkpoint(run / "checkpoint.pt")["epoch"] == 2 and snapshot(run) != before


# -- one writer per folder


LOCK_HOLDER = """
import sys, time
from pathlib import Path
from derain_utils.training.run_folder import locked
with locked(Path(sys.argv[1]), "train"):
    print("locked", flush=True)
    time.sleep(60)
"""


def hold_lock(folder: Path) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(folder)], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[1])
    assert child.stdout.readline().strip() == "locked"
    return child


def test_a_second_command_on_a_folder_in_use_is_refused_and_a_dead_holders_lock_is_taken_over(tmp_path, finished_run, rng, capsys):
    run = copy_of(finished_run, tmp_path / "run")
    photo = write_image(tmp_path / "in" / "a.png", random_image(rng, 32, 32))
    holder = hold_lock(run)
    try:
        before = snapshot(tmp_path)
        for argv in (SMOKE + ["--out", str(run), "--resume", "--epochs", "2"], SMOKE + ["--out", str(run), "--overwrite"],
                     ["predict", str(photo), "--checkpoint", str(run / "checkpoint.pt"), "--out", str(run)]):
            assert main(argv) == EXIT_ERROR
            assert f"is in use by process {holder.pid} (derain train); wait for it to finish" in error_line(capsys)
        assert snapshot(tmp_path) == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (run / LOCK).exists()  # kill -9 left its lock file
    assert main(SMOKE + ["--out", str(run), "--resume", "--epochs", "2"]) == 0
    assert f"taking over the lock left by process {holder.pid} (derain train), which is no longer running" in capsys.readouterr().err
    assert not (run / LOCK).exists()


def test_two_predictions_into_one_folder_do_not_mix(tmp_path, finished_run, rng, capsys):
    photo = write_image(tmp_path / "in" / "a.png", random_image(rng, 32, 32))
    out = tmp_path / "out"
    holder = hold_lock(out)
    try:
        assert main(["predict", str(photo), "--checkpoint", str(finished_run), "--out", str(out)]) == EXIT_ERROR
        assert "is in use by process" in error_line(capsys) and not (out / "a.png").exists()
    finally:
        holder.kill()
        holder.wait()


# -- --resume continues the run as it was


def test_resume_continues_the_run_with_its_own_settings_and_epochs(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    argv = ["train", "--experiment", "attentive", "--profile", "smoke", "--epochs", "3", "--device", "cpu", "--out", str(run)]
    with interrupted_at_step(monkeypatch, 9):  # in epoch 3 of 3 (4 steps an epoch)
        main_raising(argv)
    assert checkpoints.load_checkpoint(run / "checkpoint.pt")["epoch"] == 2
    before = snapshot(tmp_path)
    for extra, said in ((["--experiment", "pix2pix"], "--experiment asks for experiment 'pix2pix', but the run"),
                        (["--profile", "cpu"], "--profile asks for profile 'cpu'"),
                        (["--data", str(tmp_path)], "--data asks for data"),
                        (["--epochs", "1"], "--epochs 1: the run in"),
                        (["--overwrite"], "--resume continues the run and --overwrite replaces it")):
        assert main(["train", "--out", str(run), "--resume", *extra]) == EXIT_ERROR
        assert said in error_line(capsys)
    assert snapshot(tmp_path) == before
    assert main(["train", "--out", str(run), "--resume", "--device", "cpu"]) == 0
    assert "attentive (smoke) after 3 epochs" in capsys.readouterr().out


def test_ctrl_c_before_the_first_epoch_says_there_is_nothing_to_resume(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("derain_utils.training.trainer.Trainer.train_step", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    assert main(SMOKE + ["--out", str(tmp_path / "run")]) == 130
    assert "interrupted before its first epoch was saved; nothing to resume: run it again" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


# -- values and devices


@pytest.mark.parametrize("argv, said", [
    (["--seed", "-1"], "argument --seed: expected an integer from 0 to 4294967295, got -1"),
    (["--seed", str(2**70)], "argument --seed: expected an integer from 0 to 4294967295"),
    (["--ema", "1"], "argument --ema: expected a decay from 0 up to (not including) 1, such as 0.999, got 1"),
])
def test_out_of_range_values_name_their_option(tmp_path, capsys, argv, said):
    with pytest.raises(SystemExit) as exit_:
        main(SMOKE + ["--out", str(tmp_path / "run"), *argv])
    assert exit_.value.code == EXIT_ERROR and said in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_a_negative_overlap_is_refused(tmp_path, finished_run, rng, capsys):
    photo = write_image(tmp_path / "a.png", random_image(rng, 32, 32))
    with pytest.raises(SystemExit):
        main(["predict", str(photo), "--checkpoint", str(finished_run), "--out", str(tmp_path / "o"), "--overlap", "-50"])
    assert "argument --overlap: expected 0 or a positive integer, got -50" in capsys.readouterr().err
    assert main(["predict", str(photo), "--checkpoint", str(finished_run), "--out", str(tmp_path / "o"), "--overlap", "512"]) == EXIT_ERROR
    assert "--overlap 512 must be smaller than --tile 512" in error_line(capsys) and not (tmp_path / "o").exists()


@pytest.mark.parametrize("device, said", [("banana", "--device banana: not a device"), ("cuda:7", "--device cuda:7: this machine has")])
def test_a_device_that_is_not_there_is_named(tmp_path, capsys, device, said):
    assert main(SMOKE + ["--out", str(tmp_path / "run"), "--device", device]) == EXIT_ERROR
    assert said in error_line(capsys) and not (tmp_path / "run").exists()


def test_outputs_named_as_files_are_refused(tmp_path, finished_run, rng, capsys):
    file = tmp_path / "taken"
    file.write_text("mine")
    photo = write_image(tmp_path / "a.png", random_image(rng, 32, 32))
    before = snapshot(tmp_path)
    assert main(SMOKE + ["--out", str(file)]) == EXIT_ERROR
    assert "taken is a file, not a folder; name a folder for the run" in error_line(capsys)
    assert main(["predict", str(photo), "--checkpoint", str(finished_run), "--out", str(file)]) == EXIT_ERROR
    assert "--out " + str(file) + " is a file; name a folder for the derained photos" in error_line(capsys)
    assert snapshot(tmp_path) == before


# -- the disk and the file system


def test_a_full_disk_stops_training_with_one_line_and_keeps_the_last_checkpoint(tmp_path, finished_run, monkeypatch, capsys):
    run = copy_of(finished_run, tmp_path / "run")
    before = snapshot(tmp_path)

    def full(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(checkpoints, "atomic_write_bytes", full)
    monkeypatch.setattr("derain_utils.training.run_folder.atomic_write_bytes", full)
    assert main(SMOKE + ["--out", str(run), "--resume", "--epochs", "2"]) == EXIT_ERROR
    assert "No space left on device; free some space, or write somewhere else" in error_line(capsys)
    assert snapshot(tmp_path) == before


def test_too_little_free_space_is_found_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("derain_utils.training.trainer.free_bytes", lambda folder: 1000)
    assert main(SMOKE + ["--out", str(tmp_path / "run")]) == EXIT_ERROR
    assert "only 0 MB free, and a checkpoint of this run takes about" in error_line(capsys)
    assert not (tmp_path / "run").exists()


def test_a_read_only_folder_is_named(tmp_path, finished_run, rng, monkeypatch, capsys):
    """As root, chmod does not stop writes: the file system's refusal is raised for the folder instead."""
    photo = write_image(tmp_path / "a.png", random_image(rng, 32, 32))
    read_only = tmp_path / "ro"
    real_mkdir = Path.mkdir

    def refuse(self, *args, **kwargs):
        if self == read_only / "out" or read_only in self.parents:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    for argv in (["predict", str(photo), "--checkpoint", str(finished_run), "--out", str(read_only / "out")],
                 SMOKE + ["--out", str(read_only / "out")]):
        assert main(argv) == EXIT_ERROR
        assert f"{read_only / 'out'}: Permission denied; choose a folder you can write to" in error_line(capsys)


def test_outputs_follow_the_users_umask(tmp_path, finished_run, rng):
    photo = write_image(tmp_path / "a.png", random_image(rng, 32, 32))
    old = os.umask(0o022)
    try:
        assert main(["predict", str(photo), "--checkpoint", str(finished_run), "--out", str(tmp_path / "o")]) == 0
        assert main(["evaluate", "--data", str(pairs_folder(tmp_path / "pairs", np.random.default_rng(0))), "--no-model",
                     "--out", str(tmp_path / "ev")]) == 0
    finally:
        os.umask(old)
    for path in (tmp_path / "o" / "a.png", tmp_path / "ev.json", tmp_path / "ev.csv", finished_run / "checkpoint.pt"):
        assert path.stat().st_mode & 0o777 == 0o644, path


# -- images and checkpoints


def test_a_portrait_phone_photo_comes_out_upright(tmp_path, finished_run, rng):
    stored = random_image(rng, 24, 40)  # stored landscape, with the tag that says: turn it a quarter
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6
    image.save(tmp_path / "portrait.jpg", exif=exif)
    assert read_rgb(tmp_path / "portrait.jpg").shape == (40, 24, 3)
    assert main(["predict", str(tmp_path / "portrait.jpg"), "--checkpoint", str(finished_run), "--out", str(tmp_path / "o")]) == 0
    assert read_rgb(tmp_path / "o" / "portrait.png").shape == (40, 24, 3)


def test_a_decompression_bomb_is_skipped_by_name_and_the_rest_derained(tmp_path, finished_run, rng, monkeypatch, capsys):
    write_image(tmp_path / "in" / "huge.png", random_image(rng, 64, 64))
    write_image(tmp_path / "in" / "small.png", random_image(rng, 16, 16))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # huge.png: 4,096 pixels, over twice the limit
    assert main(["predict", str(tmp_path / "in"), "--checkpoint", str(finished_run), "--out", str(tmp_path / "o")]) == EXIT_PROBLEMS
    out = capsys.readouterr().out
    assert "huge.png: over 0 megapixels, more than derain decodes" in out and "skipped 1 unreadable file(s)" in out
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["small.png"]


def test_broken_and_non_finite_checkpoints_are_refused_when_loaded(tmp_path, finished_run, rng, capsys):
    photo = write_image(tmp_path / "a.png", random_image(rng, 32, 32))
    state = checkpoints.load_checkpoint(finished_run / "checkpoint.pt")
    nan = dict(state, generator={k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in state["generator"].items()})
    checkpoints.save_checkpoint(tmp_path / "nan.pt", nan)
    checkpoints.save_checkpoint(tmp_path / "keyless.pt", {k: v for k, v in state.items() if k != "generator"})
    for name, said in (("nan.pt", "its generator has weights that are not finite numbers"), ("keyless.pt", "the file lacks its generator")):
        assert main(["predict", str(photo), "--checkpoint", str(tmp_path / name), "--out", str(tmp_path / "o")]) == EXIT_ERROR
        assert said in error_line(capsys) and not (tmp_path / "o").exists()


def test_an_unchanged_pair_scores_a_finite_psnr_and_valid_json(tmp_path, rng):
    pairs = tmp_path / "pairs"
    same = random_image(rng, 32, 32)
    write_image(pairs / "rain" / "a.png", same)
    write_image(pairs / "clean" / "a.png", same)
    assert main(["evaluate", "--data", str(pairs), "--no-model", "--out", str(tmp_path / "ev")]) == 0
    result = json.loads((tmp_path / "ev.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert result["mean"]["input_psnr_rgb"] == 100.0


def test_check_data_flags_images_too_small_for_the_other_commands(tmp_path, rng, capsys):
    pairs = pairs_folder(tmp_path / "pairs", rng, count=1)
    write_image(pairs / "rain" / "tiny.png", random_image(rng, 8, 8))
    write_image(pairs / "clean" / "tiny.png", random_image(rng, 8, 8))
    assert main(["check-data", str(pairs), "--quiet"]) == EXIT_PROBLEMS
    assert "tiny.png: 8x8 is too small" in capsys.readouterr().out
    assert main(["evaluate", "--data", str(pairs), "--no-model"]) == EXIT_ERROR
    assert "tiny.png: 8x8 is too small" in error_line(capsys)


def test_images_too_small_for_the_training_crops_are_named(tmp_path, rng, capsys):
    data = pairs_folder(tmp_path / "data", rng, count=2, size=(12, 12))
    before = snapshot(tmp_path)
    assert main(SMOKE + ["--data", str(data), "--out", str(tmp_path / "run")]) == EXIT_ERROR
    assert "0.png: 12x12 is too small for training crops of 32 (at least 17 pixels a side)" in error_line(capsys)
    assert snapshot(tmp_path) == before and not (tmp_path / "run").exists()
