"""derain evaluate and derain predict: full resolution, protocols, and nothing of the user's lost."""

import json
import shutil
import warnings

import numpy as np
import pytest
import torch

from conftest import random_image, shared, write_image
from derain_utils.cli import main
from derain_utils.evaluation.analysis import worse_drops
from derain_utils.evaluation.scoring import evaluate, score_pairs, summary_lines
from derain_utils.data.images import read_rgb
from derain_utils.evaluation.inference import FLIPS, restore, restore_at_scales, restore_tiled
from derain_utils.evaluation.metrics import psnr
from derain_utils.presets import FLIP_SETS, make_config
from derain_utils.evaluation.trained import load_trained
from derain_utils.training.trainer import train


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    train(make_config("pix2pix", "smoke"), run, progress=False, device="cpu")
    return run / "checkpoint.pt"


def test_do_nothing_on_raindrop_mini_matches_the_known_values(tmp_path, capsys):
    data = shared("raindrop_mini")
    assert main(["evaluate", "--data", str(data), "--split", "train", "--no-model", "--out", str(tmp_path / "ev")]) == 0
    result = json.loads((tmp_path / "ev.json").read_text())
    assert result["pairs"] == 4 and result["images"][0]["width"] == 720
    assert result["mean"]["input_psnr_y-basicsr"] == pytest.approx(19.27, abs=0.01)
    assert result["mean"]["input_psnr_rgb"] == pytest.approx(17.56, abs=0.01)
    csv_lines = (tmp_path / "ev.csv").read_text().splitlines()
    assert len(csv_lines) == 5 and "input_ssim_y-opencv" in csv_lines[0]
    assert "y-basicsr  PSNR / SSIM: doing nothing 19.27 dB" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["evaluate", "sheet"])
def test_result_files_are_replaced_only_when_asked(tmp_path, rng, capsys, command):
    for name in ("a", "b"):
        clean = random_image(rng)
        write_image(tmp_path / "data" / "clean" / f"{name}.png", clean)
        write_image(tmp_path / "data" / "rain" / f"{name}.png", np.clip(clean.astype(int) + 40, 0, 255).astype(np.uint8))
    data, out = str(tmp_path / "data"), tmp_path / "results" / "mine"
    args = ["evaluate", "--data", data, "--no-model", "--out", str(out)] if command == "evaluate" else ["sheet", data, "--out", f"{out}.png"]
    assert main(args) == 0
    written = sorted(out.parent.iterdir())
    assert [p.name for p in written] == (["mine.csv", "mine.json"] if command == "evaluate" else ["mine.pdf", "mine.png"])
    for path in written:
        path.write_text("the user's own")
    assert main(args) == 2
    assert "exists; pass --overwrite to replace it" in capsys.readouterr().err
    assert all(p.read_text() == "the user's own" for p in written)
    assert main(args + ["--overwrite"]) == 0 and all(p.read_bytes() != b"the user's own" for p in written)


def test_model_evaluation_on_a_generic_folder(tmp_path, checkpoint):
    source = shared("robotcar_pairs")
    for name in sorted(p.name for p in (source / "rain").iterdir())[:3]:
        for kind in ("rain", "clean"):
            (tmp_path / kind).mkdir(exist_ok=True)
            shutil.copy(source / kind / name, tmp_path / kind / name)
    trained = load_trained(checkpoint, "cpu")
    result = evaluate(tmp_path, trained=trained, protocols=("rgb",), progress=False)
    assert result["pairs"] == 3
    for row in result["images"]:
        rain, clean = read_rgb(tmp_path / "rain" / row["name"]), read_rgb(tmp_path / "clean" / row["name"])
        assert row["input_psnr_rgb"] == psnr(rain, clean)
        assert np.isfinite(row["model_psnr_rgb"]) and 0 < row["model_ssim_rgb"] < 1
        assert row["model_psnr_rgb"] == psnr(restore(trained.generator, rain, trained.precision), clean)  # 256x256: one piece


def test_predict_keeps_sizes_and_skips_a_corrupt_file(tmp_path, checkpoint, rng, capsys):
    inputs = tmp_path / "in"
    write_image(inputs / "odd.png", random_image(rng, 479, 721))
    write_image(inputs / "small.jpg", random_image(rng, 40, 60))
    (inputs / "broken.png").write_bytes(b"\x89PNG not really")
    before = {p.name: p.read_bytes() for p in inputs.iterdir()}
    code = main(["predict", str(inputs), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "out"), "--tile", "256"])
    assert code == 1  # something was skipped
    assert "broken.png" in capsys.readouterr().out
    assert read_rgb(tmp_path / "out" / "odd.png").shape == (479, 721, 3)
    assert read_rgb(tmp_path / "out" / "small.png").shape == (40, 60, 3)
    assert not (tmp_path / "out" / "broken.png").exists()
    assert {p.name: p.read_bytes() for p in inputs.iterdir()} == before


def test_predict_never_overwrites(tmp_path, checkpoint, rng, capsys):
    photo = write_image(tmp_path / "photo.png", random_image(rng))
    original = photo.read_bytes()
    assert main(["predict", str(photo), "--checkpoint", str(checkpoint), "--out", str(tmp_path), "--overwrite"]) == 2
    assert "is an input" in capsys.readouterr().err and photo.read_bytes() == original
    out = tmp_path / "out"
    assert main(["predict", str(photo), "--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    (out / "photo.png").write_bytes(b"mine")
    assert main(["predict", str(photo), "--checkpoint", str(checkpoint), "--out", str(out)]) == 2
    assert "or --overwrite to replace them" in capsys.readouterr().err and (out / "photo.png").read_bytes() == b"mine"
    assert main(["predict", str(photo), "--checkpoint", str(checkpoint), "--out", str(out), "--overwrite"]) == 0
    assert read_rgb(out / "photo.png").shape == read_rgb(photo).shape


def test_interrupted_predict_resumes(tmp_path, checkpoint, rng, capsys, monkeypatch):
    import derain_utils.evaluation.chain as chain

    inputs = tmp_path / "in"
    for i in range(4):
        write_image(inputs / f"{i}.png", random_image(rng, 48, 64))
    command = ["predict", str(inputs), "--checkpoint", str(checkpoint), "--device", "cpu"]
    assert main(command + ["--out", str(tmp_path / "whole")]) == 0  # an uninterrupted run, for comparison
    real_restore, calls = chain.restore_at_scales, []

    def interrupted_at_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_restore(*args, **kwargs)

    out = tmp_path / "out"
    monkeypatch.setattr(chain, "restore_at_scales", interrupted_at_third)
    assert main(command + ["--out", str(out)]) == 130
    assert "interrupted; continue with --resume" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["0.png", "1.png"]  # whole files only, no temporary ones
    kept = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    monkeypatch.setattr(chain, "restore_at_scales", real_restore)
    assert main(command + ["--out", str(out)]) == 2 and "pass --resume" in capsys.readouterr().err
    assert main(command + ["--out", str(out), "--resume", "--overwrite"]) == 2
    assert main(command + ["--out", str(out), "--resume"]) == 0
    assert "2 of 4 image(s) were derained already" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name in kept} == kept
    assert {p.name: p.read_bytes() for p in out.iterdir()} == {p.name: p.read_bytes() for p in (tmp_path / "whole").iterdir()}


def test_tiles_match_the_whole_image(checkpoint, rng):
    generator = load_trained(checkpoint, "cpu").generator
    image = random_image(rng, 120, 200)
    assert np.array_equal(restore_tiled(generator, image, tile=256), restore(generator, image))  # fits one tile
    # with a network that looks at one pixel at a time, blended tiles must equal the whole image
    pointwise = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1), torch.nn.Tanh()).eval()
    torch.nn.init.normal_(pointwise[0].weight, 0, 0.5)
    tiled = restore_tiled(pointwise, image, tile=64, overlap=16).astype(int)
    assert np.abs(tiled - restore(pointwise, image)).max() <= 1  # rounding only


def test_a_flip_ensemble_averages_the_outputs_for_the_flipped_inputs(checkpoint, rng):
    generator = load_trained(checkpoint, "cpu").generator
    image = random_image(rng, 40, 56)
    single = restore(generator, image).astype(float)
    mirrored = restore(generator, image[:, ::-1])[:, ::-1].astype(float)
    upside_down = restore(generator, image[::-1])[::-1].astype(float)
    both = restore(generator, image[::-1, ::-1])[::-1, ::-1].astype(float)
    assert np.abs(restore(generator, image, flips="h") - (single + mirrored) / 2).max() <= 1  # rounding only
    assert np.abs(restore(generator, image, flips="hv") - (single + mirrored + upside_down + both) / 4).max() <= 1.5
    assert np.abs(single - mirrored).max() > 3  # the network is not mirror-symmetric: the ensemble changes something
    assert tuple(FLIPS) == FLIP_SETS
    with pytest.raises(ValueError, match="flips 'x'"):
        restore(generator, image, flips="x")


class Brighten(torch.nn.Module):
    """A stand-in generator that lifts every pixel by a fixed amount, whatever its size."""

    def __init__(self, amount: float):
        super().__init__()
        self.amount = torch.nn.Parameter(torch.tensor(amount), requires_grad=False)

    def forward(self, x):
        return x + self.amount


def test_passes_at_smaller_scales_add_their_correction_and_keep_the_detail(checkpoint, rng):
    image = random_image(rng, 90, 130)
    generator = load_trained(checkpoint, "cpu").generator
    assert np.array_equal(restore_at_scales(generator, image, (1.0,)), restore_tiled(generator, image))
    # A network that changes nothing changes nothing at any scale: the fine detail it never
    # saw at half size comes back from the full-resolution image.
    assert np.array_equal(restore_at_scales(Brighten(0.0), image, (1.0, 0.5)), image)
    image.setflags(write=False)  # as np.asarray gives a decoded photo: read, never written, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(restore_at_scales(Brighten(0.0), image, (0.5,)), image)
    grey = np.full((64, 96, 3), 100, np.uint8)
    lifted = restore_at_scales(Brighten(20 / 127.5), grey, (1.0, 0.5)).astype(int)
    assert np.abs(lifted - 140).max() <= 1  # 20 grey levels from each pass
    with pytest.raises(ValueError, match="scale 1.5"):
        restore_at_scales(generator, image, (1.0, 1.5))


def test_evaluate_and_predict_take_scales(tmp_path, checkpoint, rng, capsys):
    with pytest.raises(SystemExit):
        main(["predict", str(tmp_path), "--checkpoint", str(checkpoint), "--out", str(tmp_path / "o"), "--scales", "1,0"])
    assert "every scale must lie in (0, 1]" in capsys.readouterr().err
    rain, clean = random_image(rng, 40, 56), random_image(rng, 40, 56)
    write_image(tmp_path / "pairs" / "rain" / "a.png", rain)
    write_image(tmp_path / "pairs" / "clean" / "a.png", clean)
    trained = load_trained(checkpoint, "cpu")
    result = evaluate(tmp_path / "pairs", trained=trained, protocols=("rgb",), scales=(1.0, 0.5), progress=False)
    expected = psnr(restore_at_scales(trained.generator, rain, (1.0, 0.5), tile=1024, precision=trained.precision), clean)
    assert result["scales"] == [[1.0, 0.5]] and result["mean"]["model_psnr_rgb"] == pytest.approx(expected)
    assert main(["evaluate", "--data", str(tmp_path / "pairs"), "--checkpoint", str(checkpoint), "--device", "cpu",
                 "--protocol", "rgb", "--scales", "1,0.5"]) == 0
    assert "the model at scales 1, 0.5" in capsys.readouterr().out



def test_models_in_a_row_each_run_on_the_last_ones_output_at_their_own_scales(tmp_path, checkpoint, rng, capsys):
    rain, clean = random_image(rng, 40, 56), random_image(rng, 40, 56)
    write_image(tmp_path / "pairs" / "rain" / "a.png", rain)
    write_image(tmp_path / "pairs" / "clean" / "a.png", clean)
    trained = load_trained(checkpoint, "cpu")
    first = restore_at_scales(trained.generator, rain, (1.0, 0.5), precision=trained.precision)
    second = restore_at_scales(trained.generator, first, (1.0,), precision=trained.precision)
    assert not np.array_equal(second, first)  # the second model did run, on the first one's output
    twice = ["--checkpoint", str(checkpoint), "--scales", "1,0.5", "--checkpoint", str(checkpoint.parent)]
    assert main(["predict", str(tmp_path / "pairs" / "rain"), "--out", str(tmp_path / "o"), "--device", "cpu"] + twice) == 0
    assert np.array_equal(read_rgb(tmp_path / "o" / "a.png"), second)
    assert "\nthen " in capsys.readouterr().out  # each model is named
    assert main(["evaluate", "--data", str(tmp_path / "pairs"), "--protocol", "rgb", "--device", "cpu",
                 "--out", str(tmp_path / "ev")] + twice) == 0
    assert "2 models in a row, at scales 1, 0.5 then 1" in capsys.readouterr().out
    result = json.loads((tmp_path / "ev.json").read_text())
    assert result["scales"] == [[1.0, 0.5], [1.0]]
    assert result["mean"]["model_psnr_rgb"] == pytest.approx(psnr(second, clean), abs=1e-9)
    # --scales before every --checkpoint serves every model; twice for one model is refused
    assert main(["predict", str(tmp_path / "pairs" / "rain"), "--out", str(tmp_path / "p"), "--device", "cpu",
                 "--scales", "1,0.5", "--checkpoint", str(checkpoint), "--checkpoint", str(checkpoint)]) == 0
    again = restore_at_scales(trained.generator, first, (1.0, 0.5), precision=trained.precision)
    assert np.array_equal(read_rgb(tmp_path / "p" / "a.png"), again)
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "pairs" / "rain"), "--out", str(tmp_path / "q"), "--device", "cpu"]
                + twice + ["--scales", "0.5"] + twice[:2] + ["--scales", "1", "--scales", "0.5"]) == 2
    assert f"--scales given twice for --checkpoint {checkpoint}" in capsys.readouterr().err
    assert not (tmp_path / "q").exists()


def test_predict_draws_each_photo_beside_its_derained_copy_and_never_over_an_input(tmp_path, checkpoint, rng, capsys):
    from matplotlib.image import imread

    inputs = tmp_path / "in"
    write_image(inputs / "tall.png", random_image(rng, 80, 48))  # sorted first: its shape is every tile's
    write_image(inputs / "wide.png", random_image(rng, 48, 80))  # fitted into it
    (inputs / "broken.jpg").write_bytes(b"not a jpeg")  # skipped, so left out of the sheet
    command = ["predict", str(inputs), "--checkpoint", str(checkpoint), "--device", "cpu", "--out", str(tmp_path / "out")]
    assert main(command + ["--sheet", str(tmp_path / "look.png")]) == 1  # 1: a file was skipped
    assert "wrote " + str(tmp_path / "look.png") in capsys.readouterr().out
    sheet = imread(tmp_path / "look.png")
    assert (tmp_path / "look.pdf").stat().st_size > 0 and sheet.shape[0] > sheet.shape[1]  # two rows of two 80 x 48 tiles
    (tmp_path / "mine.pdf").write_text("the user's own")
    assert main(command + ["--overwrite", "--sheet", str(tmp_path / "mine")]) == 1
    assert (tmp_path / "mine.pdf").read_bytes() != b"the user's own"  # replaced: --overwrite was given
    (tmp_path / "mine.pdf").write_text("the user's own")
    assert main(command + ["--resume", "--sheet", str(tmp_path / "mine")]) == 2
    assert "exists; pass --overwrite to replace it, or choose another --sheet" in capsys.readouterr().err
    assert (tmp_path / "mine.pdf").read_text() == "the user's own"
    before = (inputs / "wide.png").read_bytes()
    assert main(command + ["--overwrite", "--sheet", str(inputs / "wide.png")]) == 2
    assert "wide.png is an input" in capsys.readouterr().err and (inputs / "wide.png").read_bytes() == before

def test_checkpoints_carry_their_configuration(tmp_path, checkpoint):
    trained = load_trained(checkpoint.parent, "cpu")  # a run folder works too
    assert trained.config.experiment == "pix2pix" and trained.state["version"]
    assert "git_commit" in trained.state
    state = torch.load(checkpoint, weights_only=False)
    state["config"]["generator_options"]["depth"] = 6  # the weights are of a depth-5 U-Net
    torch.save(state, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="generator weights do not fit the architecture"):
        load_trained(tmp_path / "other.pt")
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not a derain checkpoint"):
        load_trained(tmp_path / "foreign.pt")


def test_val_split_is_the_part_training_held_out(tmp_path):
    from derain_utils.data.training_data import build_datasets

    data = shared("robotcar_pairs")
    result = evaluate(data, split="val", protocols=("rgb",), progress=False)
    _, val_set = build_datasets(make_config("pix2pix", "smoke", data=str(data)))
    assert [r["name"] for r in result["images"]] == [val_set.name(i) for i in range(len(val_set))]
    assert result["mean"]["input_psnr_rgb"] == pytest.approx(
        np.mean([psnr(*val_set.arrays(i)) for i in range(len(val_set))]))


def test_pairs_in_memory_are_scored_as_a_folder_of_them_is(tmp_path, checkpoint, rng):
    pairs = [(f"{i}.png", random_image(rng, 48, 64), random_image(rng, 48, 64)) for i in range(2)]
    for name, rain, clean in pairs:
        write_image(tmp_path / "rain" / name, rain)
        write_image(tmp_path / "clean" / name, clean)
    trained = load_trained(checkpoint, "cpu")
    from_folder = evaluate(tmp_path, trained=trained, progress=False)
    in_memory = score_pairs(iter(pairs), len(pairs), trained, progress=False)
    assert in_memory["images"] == from_folder["images"] and in_memory["mean"] == from_folder["mean"]
    counts = [worse_drops(rain, restore_at_scales(trained.generator, rain, (1.0,), tile=1024, precision=trained.precision), clean)
              for _, rain, clean in pairs]
    assert in_memory["drops"] == {k: sum(c[k] for c in counts) for k in counts[0]} and in_memory["drops"]["drops"] > 0
    assert "the model made" in summary_lines(from_folder)[-1] and evaluate(tmp_path, progress=False)["drops"] is None
    with pytest.raises(ValueError, match="no pairs to score"):
        score_pairs(iter([]), 0)
