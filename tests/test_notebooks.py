"""The papermill reproduction, the report built from its numbers, and the notebook rules."""

import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import replace

import nbformat
import numpy as np
import pytest

from conftest import SHARED_DATA, interrupted_at_step, shared
from derain_utils.course import ablation, chapters, reproduce
from derain_utils.evaluation import analysis
from derain_utils.evaluation.metrics import psnr
from derain_utils.paths import FIGURES_DIR, PROJECT_ROOT
from derain_utils.presets import ABLATION_EPOCHS, make_config
from derain_utils.training import cores, trainer
from derain_utils.training.checkpoints import code_changed_since, git_commit, load_checkpoint
from derain_utils.training.timing import format_duration
from derain_utils.training.trainer import CHECKPOINT
from derain_utils.course.report import build_report, export_notebooks, results_rows

REPORT_FIGURES = [f"fig{n}_" for n in range(1, 19)]


@pytest.fixture(scope="module")
def smoke_reproduction(tmp_path_factory):
    """All notebooks on the smoke preset, with every output in a temporary folder."""
    root = tmp_path_factory.mktemp("reproduce")
    before = {p: p.stat().st_mtime_ns for p in [*FIGURES_DIR.iterdir(), *reproduce.NOTEBOOKS_DIR.iterdir()]}
    executed = reproduce.reproduce(profile="smoke", figures_dir=str(root / "figures"), runs_dir=str(root / "runs"),
                                   out_dir=root / "notebooks")
    return root, executed, before


def test_reproduce_writes_every_report_figure_outside_figures(smoke_reproduction):
    root, executed, before = smoke_reproduction
    assert [p.name for p in executed] == [p.name for p in reproduce.notebooks()]
    names = sorted(p.name for p in (root / "figures").iterdir())
    for prefix in REPORT_FIGURES:
        assert any(n.startswith(prefix) and n.endswith(".png") for n in names), prefix
        assert any(n.startswith(prefix) and n.endswith(".pdf") for n in names), prefix
    metrics = json.loads((root / "figures" / "metrics.json").read_text())
    assert metrics["setup"]["profile"] == "smoke"
    for experiment in ("baseline", "pix2pix", "stabilized", "attentive"):
        history = json.loads((root / "runs" / experiment / "history.json").read_text())
        assert metrics[experiment]["psnr"] == history["epochs"][-1]["val_psnr_rgb"]
        assert metrics[experiment]["test_images"] == 4 and metrics[experiment]["test_input_psnr"] != metrics[experiment]["input_psnr"]
    assert [r["row"] for r in metrics["ablation"]] == list(ablation.SHORT_ROWS)  # a reproduction trains the short ablation
    assert all((root / "runs" / "ablation" / r["row"].replace(" ", "_") / "checkpoint.pt").is_file() for r in metrics["ablation"])
    # the smoke run left the project's figures/ and the committed chapters alone
    assert {p: p.stat().st_mtime_ns for p in [*FIGURES_DIR.iterdir(), *reproduce.NOTEBOOKS_DIR.iterdir()]} == before


def test_executed_notebooks_carry_no_warning(smoke_reproduction):
    _, executed, _ = smoke_reproduction
    for path in executed:
        outputs = [o for cell in nbformat.read(path, as_version=4).cells for o in cell.get("outputs", [])]
        stderr = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stderr")
        assert "Warning" not in stderr, (path.name, stderr[max(0, stderr.index("Warning") - 200):][:400])


def test_report_table_and_figures_come_from_the_metrics(smoke_reproduction, tmp_path):
    root, _, _ = smoke_reproduction
    metrics = json.loads((root / "figures" / "metrics.json").read_text())
    html = build_report(metrics_path=root / "figures" / "metrics.json", out_dir=tmp_path, notebooks_dir=root / "notebooks").read_text()
    rows = results_rows(metrics)
    assert [r["method"].split(" (")[0] for r in rows] == ["Doing nothing", "Baseline GAN", "Pix2Pix", "Pix2Pix stabilized",
                                                          "Find the drops, repaint only there"]
    for r in rows:
        for value in (f"{r['psnr']:.2f}", f"{r['ssim']:.3f}", f"{r['test_psnr']:.2f}", f"{r['test_ssim']:.3f}"):
            assert re.search(rf"<td[^>]*>{re.escape(value)}</td>", html), value
    default = metrics["ablation"][0]
    gain = f"{default['psnr'] - default['input_psnr']:+.2f}"
    assert re.search(rf"<td[^>]*>{re.escape(gain)}</td>", html)  # the ablation table
    images = re.findall(r'<img[^>]+src="([^"]+)"', html)
    assert len(images) >= 8 and all((tmp_path / src).is_file() for src in images)
    # every figure links to the exported page of the chapter whose output says it saved it
    links = re.findall(r'<a href="(notebooks/[^"]+\.html)"><img[^>]+src="figures/([^"]+)"', html)
    assert len(links) == len(images)
    for page, figure in links:
        exported = (tmp_path / page).read_text()
        assert "saved " in exported and figure in exported, (page, figure)
    assert ("notebooks/03_pix2pix.html", "fig3_pix2pix_samples_confidence.png") in links
    assert "{{" not in html and "{%" not in html


def _only_notebook(folder, monkeypatch, *sources):
    """Make `folder` the notebooks folder, holding one notebook with a parameters cell and these cells."""
    book = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    names = ("PROFILE", "DATA", "SEED", "DEVICE", "FIGURES_DIR", "RUNS_DIR")
    book.cells = [nbformat.v4.new_code_cell("\n".join(f"{name} = None" for name in names))]
    book.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    book.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(book, folder / "01_only.ipynb")
    monkeypatch.setattr(reproduce, "NOTEBOOKS_DIR", folder)


def test_a_failing_notebook_is_named_with_its_cell(tmp_path, monkeypatch):
    _only_notebook(tmp_path, monkeypatch, "x = 1", "raise ValueError('drops everywhere')")
    with pytest.raises(reproduce.ReproduceError, match=r"01_only.ipynb failed in cell 3 \(ValueError: drops everywhere\), the cell that starts with: raise"):
        reproduce.reproduce(profile="smoke", figures_dir=str(tmp_path / "f"), out_dir=tmp_path / "out")


def test_notebook_output_streams_to_the_terminal(tmp_path, monkeypatch, capsys):
    _only_notebook(tmp_path, monkeypatch, "import sys\nprint('epoch 1/1: val PSNR 20.00 dB')\nprint('\\rtraining: 100%', file=sys.stderr)")
    reproduce.reproduce(profile="smoke", figures_dir=str(tmp_path / "f"), out_dir=tmp_path / "out")
    out, err = capsys.readouterr()
    assert "epoch 1/1: val PSNR 20.00 dB" in out and "\rtraining: 100%" in err
    assert out.index("[1/1] 01_only.ipynb") < out.index("epoch 1/1") < out.index("[1/1] 01_only.ipynb done")


def test_ctrl_c_stops_the_reproduction_cleanly(tmp_path, monkeypatch):
    import signal
    import subprocess
    import sys

    _only_notebook(tmp_path, monkeypatch, "import time\nprint('training', flush=True)\ntime.sleep(60)")
    script = ("import pathlib, sys; import derain_utils.course.reproduce as r; r.NOTEBOOKS_DIR = pathlib.Path(sys.argv[1]); "
              "r.BUILD_DIR = pathlib.Path(sys.argv[3]); "  # the executed copy goes there, not into the project's build/
              "from derain_utils.cli import main; sys.exit(main(['reproduce', '--profile', 'smoke', '--figures-dir', sys.argv[2]]))")
    child = subprocess.Popen([sys.executable, "-c", script, str(tmp_path), str(tmp_path / "f"), str(tmp_path / "build")], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    while "training" not in child.stdout.readline():  # the notebook is inside its long cell
        pass
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=30)
    assert child.returncode == 130
    assert err.strip().endswith("derain reproduce: interrupted; run it again to continue the interrupted training")
    assert "Traceback" not in err
    assert (tmp_path / "build" / "notebooks" / "01_only.ipynb").is_file()


def test_data_notebook_runs_on_real_raindrop_pairs(tmp_path):
    import papermill

    real = shared("raindrop_mini")
    source = reproduce.NOTEBOOKS_DIR / "01_data_analysis.ipynb"
    papermill.execute_notebook(source, tmp_path / "out.ipynb", parameters=dict(PROFILE="smoke", DATA=str(real), SAMPLE=8,
                               REAL_DATA=str(real), FIGURES_DIR=str(tmp_path / "figures")), kernel_name="python3", progress_bar=False)
    data = json.loads((tmp_path / "figures" / "metrics.json").read_text())["data"]["DATA"]
    assert data["splits"]["train"] == {"pairs": 4, "sizes": {"720x480": 4}}
    crops = analysis.load_sample(str(real), 8, size=128, seed=0)  # 128x128 crops at full resolution, two per pair
    assert data["sample_pairs"] == 8
    assert data["input_psnr_mean"] == pytest.approx(np.mean([psnr(rain, clean) for _, rain, clean in crops]))
    assert data["input_psnr_mean"] < 22  # real drops: far below the 26 dB of the rendered ones
    for name in ("fig0_data_samples.png", "fig0_real_vs_rendered.png"):
        assert (tmp_path / "figures" / name).is_file()


def test_only_reproduce_writes_into_figures(monkeypatch):
    monkeypatch.delenv(chapters.OUTPUT_ENV, raising=False)
    monkeypatch.setenv(chapters.PROFILE_ENV, "smoke")
    assert chapters.open_chapter("cpu").figures_dir != FIGURES_DIR
    with pytest.raises(ValueError, match="never writes into figures"):
        chapters.open_chapter("cpu", figures_dir="figures")
    monkeypatch.delenv(chapters.PROFILE_ENV)
    # a chapter run by hand in JupyterLab draws into build/, never over the committed figures
    assert chapters.open_chapter("cpu").figures_dir == chapters.INTERACTIVE_FIGURES != FIGURES_DIR
    assert chapters.open_chapter("cpu", figures_dir=str(FIGURES_DIR)).figures_dir == FIGURES_DIR


def test_relative_paths_resolve_from_the_project_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert chapters.project_path("figures") == FIGURES_DIR
    with pytest.raises(FileNotFoundError, match="DATA = 'no/such/folder'"):
        chapters.open_chapter("smoke", data="no/such/folder")


def test_a_run_folder_with_other_settings_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(chapters.PROFILE_ENV, "smoke")
    chapter = chapters.open_chapter("smoke", runs_dir=str(tmp_path))
    chapter.run("pix2pix", progress=False)
    other = chapters.open_chapter("smoke", seed=1, runs_dir=str(tmp_path))
    with pytest.raises(ValueError, match="other settings \\(seed\\)"):
        other.run("pix2pix", progress=False)


def assert_chapter_shape(book):
    """The rules every chapter keeps, with or without outputs."""
    assert book.metadata["kernelspec"]["name"] == "python3"
    assert "papermill" not in book.metadata
    assert not [c for c in book.cells if "injected-parameters" in c.metadata.get("tags", [])]
    code = [c for c in book.cells if c.cell_type == "code"]
    if any(c.outputs for c in code):  # published by derain reproduce: as a reader sees it
        assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
        for output in (o for c in code for o in c.outputs):
            assert output.output_type != "error", output
            assert "\r" not in output.get("text", ""), "a progress bar's redraws"
    else:
        assert all(c.execution_count is None for c in code)
    tagged = [i for i, c in enumerate(book.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    # right after the imports: only markdown and one import cell come before it
    assert all(c.cell_type == "markdown" or "import" in c.source for c in book.cells[: tagged[0]])
    # literals only
    for line in book.cells[tagged[0]].source.splitlines():
        name, _, value = line.partition("=")
        assert name.strip().isupper() and re.fullmatch(r'\s*("[^"]*"|-?\d+)\s*(#.*)?', value), line
    # it opens with what the reader will learn and ends with exercises
    assert "**What you will learn:**" in book.cells[0].source
    assert book.cells[-1].cell_type == "markdown" and book.cells[-1].source.startswith("## Exercises")


@pytest.mark.parametrize("path", sorted(reproduce.NOTEBOOKS_DIR.glob("*.ipynb")), ids=lambda p: p.name)
def test_chapters_are_committed_clean_or_as_published(path):
    assert_chapter_shape(nbformat.read(path, as_version=4))
    assert str(PROJECT_ROOT) not in path.read_text()  # no machine's paths


def test_a_published_chapter_reads_as_executed_without_papermills_traces(smoke_reproduction, tmp_path):
    root, executed, _ = smoke_reproduction
    source = executed[2]  # 03_pix2pix: a training progress bar, figures, printed findings
    assert str(root) in source.read_text()  # it says where its runs are
    reproduce.publish(source, tmp_path / source.name, root=root)
    assert str(root) not in (tmp_path / source.name).read_text()  # from the project's root, as a reader's clone has them
    book = nbformat.read(tmp_path / source.name, as_version=4)
    assert_chapter_shape(book)
    original = nbformat.read(reproduce.NOTEBOOKS_DIR / source.name, as_version=4)
    assert [c.source for c in book.cells] == [c.source for c in original.cells]  # the parameters cell keeps its literals
    images = [o for c in book.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # figures 3, 4 and 5, as a reader on GitHub sees them
    text = "".join(o.get("text", "") for c in book.cells for o in c.get("outputs", []))
    assert "saved " in text and "pix2pix: 100%" in text

def test_narrative_reads_the_measured_history(smoke_reproduction):
    from derain_utils.course import narrative

    root, _, _ = smoke_reproduction
    history = json.loads((root / "runs" / "pix2pix" / "history.json").read_text())
    last = history["epochs"][-1]
    text = narrative.psnr(history)
    assert f"{last['val_psnr_rgb']:.2f} dB after epoch {last['epoch']}" in text
    assert f"doing nothing scores" not in text and f"{last['input_psnr_rgb']:.2f} dB" in text
    assert ("better than" in text) == (last["val_psnr_rgb"] > last["input_psnr_rgb"])
    d = narrative.discriminator(history)
    half = history["steps"][len(history["steps"]) // 2:]
    real = sum(s["d_acc_real"] for s in half) / len(half)
    assert f"judged {real:.0%} of real" in d
    steps = [s["d_loss"] for s in history["steps"]]
    tenth = max(1, len(steps) // 10)
    assert f"from {sum(steps[:tenth]) / tenth:.3g} (mean of the first tenth" in narrative.losses(history, {"d_loss": "D loss"})


def test_an_interrupted_run_is_resumed_and_a_finished_one_reused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(chapters.PROFILE_ENV, "smoke")
    chapter = chapters.open_chapter("smoke", runs_dir=str(tmp_path))
    with interrupted_at_step(monkeypatch, 6):  # during epoch 2 of 2
        chapter.run("stabilized", progress=False)
    run = chapter.run("stabilized", progress=False)
    assert "continuing the interrupted run" in capsys.readouterr().out
    assert [e["epoch"] for e in run.history["epochs"]] == [1, 2]
    again = chapter.run("stabilized", progress=False)
    assert "reusing the finished run" in capsys.readouterr().out
    assert again.history == run.history


def test_a_reused_run_says_when_the_code_has_changed_since_it_was_trained(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(chapters.PROFILE_ENV, "smoke")
    chapter = chapters.open_chapter("smoke", runs_dir=str(tmp_path))
    chapter.run("stabilized", progress=False)
    commit = load_checkpoint(tmp_path / "stabilized" / CHECKPOINT)["git_commit"]
    if commit is None:
        pytest.skip("not a git checkout: runs carry no commit")
    capsys.readouterr()
    monkeypatch.setattr(trainer, "code_changed_since", lambda root, c: c == commit)
    chapter.run("stabilized", progress=False)
    out = capsys.readouterr().out
    assert "has changed since" in out and "delete the folder" in out
    monkeypatch.setattr(trainer, "code_changed_since", lambda root, c: False)
    chapter.run("stabilized", progress=False)
    assert "has changed since" not in capsys.readouterr().out


def test_git_tells_whether_the_package_changed_since_a_commit(tmp_path):
    if git_commit(PROJECT_ROOT) is None:
        pytest.skip("git is not available")
    code = tmp_path / "derain_utils" / "step.py"
    code.parent.mkdir()
    code.write_text("A = 1\n")
    (tmp_path / "notes.md").write_text("first\n")
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)
    commit = git_commit(tmp_path)
    assert code_changed_since(tmp_path, commit) is False
    (tmp_path / "notes.md").write_text("second\n")  # outside the package: not a code change
    assert code_changed_since(tmp_path, commit) is False
    code.write_text("A = 2\n")  # uncommitted edits count
    assert code_changed_since(tmp_path, commit) is True
    assert code_changed_since(tmp_path, "0" * 40) is None  # an unknown commit: git cannot tell
    assert code_changed_since(tmp_path, None) is None


def test_reproduce_announces_its_length_and_counts_finished_runs_as_nothing(smoke_reproduction, tmp_path):
    root, _, _ = smoke_reproduction
    said = reproduce.announce("smoke", "synthetic", 0, "cpu", tmp_path / "no_runs_yet", precision="fp32")
    labels = re.search(r"should take about .+ here \((.+), then (.+) for figures and scores\); timed steps: (.+) images/s \(fp32, ", said)
    assert labels, said
    assert [part.split(" ")[0] for part in labels.group(1).split(", ")] == ["baseline", "pix2pix", "stabilized", "attentive", "ablation"]
    rest = reproduce.CHAPTERS_SECONDS + (reproduce.REAL_DATA_SECONDS if (SHARED_DATA / "raindrop_mini").is_dir() else 0)
    assert labels.group(2) == format_duration(rest)
    assert reproduce.announce("smoke", "synthetic", 0, "cpu", root / "runs").startswith("every training run is already finished")


def test_the_full_ablation_is_shown_once_every_row_is_finished(smoke_reproduction, tmp_path, capsys):
    root, _, _ = smoke_reproduction
    folder = tmp_path / "ablation"
    shutil.copytree(root / "runs" / "ablation", folder)
    default = replace(make_config("attentive", "smoke"), epochs=ABLATION_EPOCHS["smoke"])
    assert list(ablation.ablation_rows(default, folder)) == list(ablation.SHORT_ROWS)
    assert len(reproduce.training_jobs("smoke", "synthetic", 0, tmp_path)) == 4 + len(ablation.SHORT_ROWS)
    ablation.run_ablation(default, folder, device="cpu", progress=False)  # what `derain ablate` trains: every row
    assert "reusing the finished run" in capsys.readouterr().out  # the short table's rows were not trained again
    assert list(ablation.ablation_rows(default, folder)) == list(ablation.ROWS)
    assert len(reproduce.training_jobs("smoke", "synthetic", 0, tmp_path)) == 4 + len(ablation.ROWS)
    assert list(ablation.ablation_rows(replace(default, seed=1), folder)) == list(ablation.SHORT_ROWS)  # other settings: not these runs


def test_a_busy_machine_gets_no_estimate():
    spinner = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 20\nwhile time.time() < end: pass"])
    try:
        time.sleep(0.5)
        assert cores.busy_cores() > cores.BUSY_CORES
        said = reproduce.announce("smoke", "synthetic", 0, "cpu", PROJECT_ROOT / "build" / "no_such_runs")
    finally:
        spinner.kill()
        spinner.wait()
    assert said.startswith("this machine is busy: other processes keep ") and "no estimate is given" in said, said


def test_exported_pages_show_a_progress_bar_in_its_last_state(tmp_path):
    book = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("train()")
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text="pix2pix:  10%|#\rpix2pix:  50%|#####\r"),
                    nbformat.v4.new_output("stream", name="stderr", text="pix2pix: 100%|##########\n"),
                    nbformat.v4.new_output("stream", name="stdout", text="saved figures/fig4_pix2pix_losses.png\n")]
    book.cells = [cell]
    (tmp_path / "in").mkdir()
    nbformat.write(book, tmp_path / "in" / "03_pix2pix.ipynb")
    assert export_notebooks(tmp_path / "in", tmp_path / "out") == {"fig4_pix2pix_losses.png": "notebooks/03_pix2pix.html"}
    page = (tmp_path / "out" / "notebooks" / "03_pix2pix.html").read_text()
    assert "pix2pix: 100%" in page and "pix2pix:  10%" not in page and "pix2pix:  50%" not in page


def test_published_pictures_take_few_bytes_and_keep_their_content(rng):
    import base64
    import io

    import matplotlib.pyplot as plt
    from PIL import Image

    from derain_utils.course.outputs import compact_images

    def shown(fig) -> dict:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        plt.close(fig)
        return nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(buffer.getvalue()).decode(), "text/plain": "<Figure>"})

    photo, ax = plt.subplots(figsize=(6, 4))
    ax.imshow(np.asarray(Image.fromarray(rng.integers(0, 256, (24, 36, 3), dtype=np.uint8)).resize((600, 400), Image.BICUBIC)))
    plot, ax = plt.subplots(figsize=(6, 4))
    ax.plot(np.arange(10), np.arange(10) ** 2)
    sheet, curve = shown(photo), shown(plot)
    png_bytes = len(base64.b64decode(sheet.data["image/png"]))
    kept = compact_images([sheet, nbformat.from_dict(dict(sheet)), curve])  # the sheet shown twice in a row
    assert len(kept) == 2
    jpeg = base64.b64decode(kept[0].data["image/jpeg"])
    assert "image/png" not in kept[0].data and len(jpeg) < png_bytes / 2  # a photo: JPEG
    assert Image.open(io.BytesIO(jpeg)).size == Image.open(io.BytesIO(base64.b64decode(sheet.data["image/png"]))).size
    assert "image/png" in kept[1].data and "image/jpeg" not in kept[1].data  # a plot stays sharp


def test_a_published_progress_bar_shows_its_closed_state_only():
    from derain_utils.course.outputs import clean_outputs

    stream = lambda name, text: nbformat.v4.new_output("stream", name=name, text=text)
    outputs = clean_outputs([stream("stderr", "pairs: 100%|##|\nstep:  10%|#"), stream("stdout", "epoch 1/2: 20.1 dB\n"),
                             stream("stderr", "\rstep:  50%|#####"), stream("stdout", "epoch 2/2: 21.3 dB\n"),
                             stream("stderr", "\rstep: 100%|##########|\n")])
    assert [(o.name, o.text) for o in outputs] == [("stderr", "pairs: 100%|##|\n"), ("stdout", "epoch 1/2: 20.1 dB\nepoch 2/2: 21.3 dB\n"),
                                                   ("stderr", "step: 100%|##########|\n")]
