"""The written report and the README's results, both generated from figures/metrics.json.

report/report.md.jinja is Markdown with Jinja2 placeholders: ``{{ table }}`` is the
results table, ``{{ ablation }}`` experiment 4's ablation and ``{{ m.pix2pix.psnr | db }}``
any single measured number, so no number in the report is typed by hand. `derain report`
renders it into report/report.md (committed, so the report reads with its numbers on
GitHub), into the README's results section (between RESULTS_BEGIN and RESULTS_END), and
into build/report/index.html, with the figures copied beside it and the executed
notebooks exported beside them (nbconvert's HTML exporter), each figure linked to the
chapter that drew it. A test renders both again from the committed metrics and fails
when a committed number disagrees.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jinja2
import markdown

from ..paths import BUILD_DIR, FIGURES_DIR, PROJECT_ROOT
from .ablation import ablation_table
from .narrative import RESOLVED_DB, SEED_SPREAD_DB, SEED_SPREAD_EPOCHS, SHORT_NAMES, ablation_reading, real_verdict, report_models_on_real
from .outputs import clean_outputs
from .real_photos import NOTHING, protocol_table, real_table

REPORT_TEMPLATE = PROJECT_ROOT / "report" / "report.md.jinja"
REPORT_MARKDOWN = PROJECT_ROOT / "report" / "report.md"
README = PROJECT_ROOT / "README.md"
RESULTS_BEGIN = "<!-- results: written by `derain report` from figures/metrics.json; edit the metrics, not this table -->"
RESULTS_END = "<!-- end of results -->"
EXPERIMENT_NAMES = {"baseline": "Baseline GAN (exp. 1)", "pix2pix": "Pix2Pix (exp. 2)", "stabilized": "Pix2Pix stabilized (exp. 3)",
                    "attentive": "Find the drops, repaint only there (exp. 4)"}

# Published results on the real Raindrop test_a set, quoted as context for our numbers,
# never as our results: Qian et al., "Attentive Generative Adversarial Network for
# Raindrop Removal from a Single Image", CVPR 2018, Table 1. The authors' released
# evaluation code scores the luminance of OpenCV's YCrCb conversion (our `y-opencv`)
# on images cropped to a multiple of 4.
PUBLISHED_PROTOCOL = "y-opencv (luminance of OpenCV's YCrCb), as in the authors' released evaluation code"
PUBLISHED_TEST_A = (
    ("Eigen et al. 2013", 28.59, 0.6726),
    ("Pix2Pix", 30.14, 0.8299),
    ("AttentiveGAN", 31.57, 0.9023),
)

_STYLE = """
body { font-family: Georgia, serif; max-width: 52em; margin: 2em auto; padding: 0 1em; line-height: 1.5; color: #222; }
h1, h2, h3 { font-family: Helvetica, Arial, sans-serif; }
img { max-width: 100%; display: block; margin: 1em auto 0.3em; }
table { border-collapse: collapse; margin: 1em 0; font-family: Helvetica, Arial, sans-serif; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.7em; text-align: left; }
code { background: #f3f3f3; padding: 0 0.2em; }
"""


def results_rows(metrics: dict) -> list[dict]:
    """Doing nothing, then each experiment present in metrics, on the same held-out
    images: the validation photo, and the test photos when the data has them."""
    present = [k for k in EXPERIMENT_NAMES if k in metrics]
    if not present:
        raise ValueError("metrics.json holds no experiment results yet; run the experiment notebooks first")
    first = metrics[present[0]]
    rows = [{"method": "Doing nothing (rainy input)", "psnr": first["input_psnr"], "ssim": first["input_ssim"],
             "test_psnr": first.get("test_input_psnr"), "test_ssim": first.get("test_input_ssim"), "epochs": None, "seconds": None}]
    for key in present:
        m = metrics[key]
        for score in ("input_psnr", "test_input_psnr"):
            if abs((m.get(score) or 0) - (first.get(score) or 0)) > 1e-9:
                raise ValueError(f"{key} was scored on other held-out images than {present[0]}; rerun the notebooks together")
        rows.append({"method": EXPERIMENT_NAMES[key], "psnr": m["psnr"], "ssim": m["ssim"], "test_psnr": m.get("test_psnr"),
                     "test_ssim": m.get("test_ssim"), "epochs": m["epochs"], "seconds": m["train_seconds"]})
    return rows


def results_table(metrics: dict) -> str:
    """The results table as Markdown: validation and (when there are any) test images."""
    rows = results_rows(metrics)
    test = rows[0]["test_psnr"] is not None
    lines = ["| method | val PSNR (dB) | val SSIM |" + (" test PSNR (dB) | test SSIM |" if test else "") + " epochs | training time |"]
    lines.append("| --- |" + " ---: |" * (lines[0].count("|") - 2))
    for r in rows:
        epochs = "-" if r["epochs"] is None else str(r["epochs"])
        seconds = "-" if r["seconds"] is None else f"{r['seconds'] / 60:.1f} min"
        scores = f" {r['psnr']:.2f} | {r['ssim']:.3f} |" + (f" {r['test_psnr']:.2f} | {r['test_ssim']:.3f} |" if test else "")
        lines.append(f"| {r['method']} |{scores} {epochs} | {seconds} |")
    return "\n".join(lines)


def published_table() -> str:
    lines = ["| method (published, real Raindrop test_a) | PSNR (dB, y-opencv) | SSIM (y-opencv) |", "| --- | ---: | ---: |"]
    lines += [f"| {name} | {p:.2f} | {s:.4f} |" for name, p, s in PUBLISHED_TEST_A]
    return "\n".join(lines)


def export_notebooks(notebooks_dir: Path, out_dir: Path) -> dict[str, str]:
    """The executed notebooks of notebooks_dir as HTML pages in out_dir/notebooks/; returns
    which page drew each figure (file name -> page), read from the notebooks' own
    "saved figures/figN_....png" lines."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab")
    (out_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    pages = {}
    for path in sorted(Path(notebooks_dir).glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs = clean_outputs(cell.outputs)
        page = f"notebooks/{path.stem}.html"
        (out_dir / page).write_text(exporter.from_notebook_node(notebook)[0])
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                for line in str(output.get("text", "")).splitlines():
                    if line.startswith("saved "):
                        pages.update((name, page) for name in re.findall(r"(fig\d+_[\w-]+\.png)", line))
    return pages


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters["db"] = lambda v: f"{v:.2f} dB"
    env.filters["gain"] = lambda v: f"{v:+.2f} dB"
    env.filters["f2"] = lambda v: f"{v:.2f}"
    env.filters["f3"] = lambda v: f"{v:.3f}"
    env.filters["pct"] = lambda v: f"{100 * v:.0f}%"
    env.filters["minutes"] = lambda v: f"{v / 60:.1f} min"
    return env


def render_report(metrics: dict, template: Path = REPORT_TEMPLATE) -> str:
    """The report as Markdown, every placeholder filled in from metrics; figures are linked
    as ../figures/, so the text reads from report/ on GitHub."""
    names = {k: v for k, v in EXPERIMENT_NAMES.items() if k in metrics}
    try:
        return _environment().from_string(Path(template).read_text()).render(
            m=metrics, table=results_table(metrics), published=published_table(), published_protocol=PUBLISHED_PROTOCOL,
            ablation=ablation_table(metrics["ablation"]) if "ablation" in metrics else "",
            real_sets=metrics.get("real", {}),
            ablation_reading=ablation_reading(metrics["ablation"]) if "ablation" in metrics else "",
            seed_spread=SEED_SPREAD_DB, seed_epochs=SEED_SPREAD_EPOCHS,
            verdict_real=real_verdict(metrics["real"]) if metrics.get("real") else "",
            report_models_real=report_models_on_real(metrics["real"]) if metrics.get("real") else "",
            real={p: real_table(metrics.get("real", {}), names, p) for p in ("rgb", "y-basicsr", "y-opencv")},
            shipped=protocol_table(metrics["real_photos"]["sets"]) if "real_photos" in metrics else "")
    except jinja2.UndefinedError as err:
        raise ValueError(f"{template}: a placeholder has no value in the metrics ({err.message})") from None


def results_block(metrics: dict) -> str:
    """The README's results at a glance: doing nothing and every experiment on the test
    images and on every folder of real pairs the reproduction found, RGB PSNR / SSIM."""
    rows = results_rows(metrics)
    real = metrics.get("real", {})
    keys = ["nothing"] + [k for k in EXPERIMENT_NAMES if k in metrics]
    head = ["method", f"test images ({metrics[keys[1]].get('test_images', 0)})"] + [f"{f} ({real[f]['pairs']} real pairs)" for f in real]
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    for key, row in zip(keys, rows):
        cells = [row["method"], "-" if row["test_psnr"] is None else f"{row['test_psnr']:.2f} / {row['test_ssim']:.3f}"]
        cells += [f"{real[f]['scores'][key]['rgb']['psnr']:.2f} / {real[f]['scores'][key]['rgb']['ssim']:.3f}" for f in real]
        lines.append("| " + " | ".join(cells) + " |")
    setup = metrics["setup"]
    lines.append("")
    lines.append(f"PSNR (dB) / SSIM over RGB, one run each: profile `{setup['profile']}`, data `{setup['data']}`, "
                 f"seed {setup['seed']}, precision {setup['precision']}.")
    ahead = lambda gains: " and ".join(SHORT_NAMES[k] for k, g in gains.items() if g > RESOLVED_DB) or "none"
    test = {k: metrics[k]["test_psnr"] - metrics[k]["test_input_psnr"] for k in keys[1:] if metrics[k].get("test_psnr") is not None}
    said = [f"on the test images, {ahead(test)}"] if test else []
    if real:
        worst = {k: min(r["scores"][k]["rgb"]["psnr"] - r["scores"]["nothing"]["rgb"]["psnr"] for r in real.values()) for k in keys[1:]}
        said.append(f"on every set of real pairs, {ahead(worst)}")
    if said:
        lines.append(f"Ahead of doing nothing by more than {RESOLVED_DB} dB, the noise of one run: {'; '.join(said)}.")
    if "real_photos" in metrics:
        lines += ["", shipped_line(metrics["real_photos"]["sets"])]
    return "\n".join(lines)


def shipped_line(sets: dict) -> str:
    """One sentence: the shipped model beside doing nothing on every set chapter 6 scored."""
    def pair(s: dict) -> str:
        return f"{s['rgb']['psnr']:.2f} / {s['rgb']['ssim']:.3f}"

    scores = "; ".join(f"{label} ({r['pairs']}) {pair(r['scores']['model'])} against {pair(r['scores'][NOTHING])}"
                       for label, r in sets.items())
    return f"The model shipped for real photos ([model card](docs/model.md), chapter 6), RGB, beside doing nothing: {scores}."


def with_results(readme: str, metrics: dict) -> str:
    """The README text with its results section replaced by results_block(metrics)."""
    begin, end = readme.find(RESULTS_BEGIN), readme.find(RESULTS_END)
    if begin < 0 or end < begin:
        raise ValueError(f"{README}: no results section (the lines {RESULTS_BEGIN!r} and {RESULTS_END!r})")
    return readme[:begin + len(RESULTS_BEGIN)] + "\n" + results_block(metrics) + "\n" + readme[end:]


def build_report(metrics_path: Path = FIGURES_DIR / "metrics.json", out_dir: Path = BUILD_DIR / "report",
                 notebooks_dir: Path = BUILD_DIR / "notebooks", template: Path = REPORT_TEMPLATE) -> Path:
    """Render the report to out_dir/index.html, with the figures it uses copied beside it
    and, when notebooks_dir holds executed notebooks, their HTML pages, linked from the
    figures they drew."""
    metrics_path, out_dir = Path(metrics_path), Path(out_dir)
    text = render_report(_read_metrics(metrics_path), template)
    figures = metrics_path.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "figures").mkdir(exist_ok=True)
    pages = export_notebooks(Path(notebooks_dir), out_dir) if Path(notebooks_dir).is_dir() else {}

    def local_copy(match: re.Match) -> str:
        name = Path(match.group(2)).name
        if not (figures / name).is_file():
            raise FileNotFoundError(f"{template}: figure {name} is not in {figures}")
        shutil.copy2(figures / name, out_dir / "figures" / name)
        image = f"{match.group(1)}(figures/{name})"
        if name not in pages:
            return image
        page = pages[name]
        return f"[{image}]({page})<br><small>drawn by <a href=\"{page}\">{Path(page).stem}</a></small>"

    text = re.sub(r"(!\[[^\]]*\])\(([^)]+)\)", local_copy, text)
    body = markdown.markdown(text, extensions=["tables", "toc"])
    title = re.search(r"^# (.+)$", text, re.M)
    html = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title.group(1) if title else 'derain'}</title>"
            f"<style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")
    out = out_dir / "index.html"
    out.write_text(html)
    return out


def publish_results(metrics_path: Path = FIGURES_DIR / "metrics.json") -> list[Path]:
    """Write the committed report/report.md and the README's results section from the
    committed metrics; returns the files that changed."""
    metrics = _read_metrics(Path(metrics_path))
    changed = []
    for path, text in ((REPORT_MARKDOWN, render_report(metrics)), (README, with_results(README.read_text(), metrics))):
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            changed.append(path)
    return changed


def _read_metrics(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no metrics; run `derain reproduce` first")
    return json.loads(path.read_text())
