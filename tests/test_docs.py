"""The front door: a short README whose results, like the report's, come from the committed
metrics; links that resolve; the history of what was tried kept in the journal alone."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from derain_utils.course import real_photos, report
from derain_utils.paths import FIGURES_DIR, PROJECT_ROOT

JOURNAL = PROJECT_ROOT / "docs" / "journal.md"


def tracked(*patterns: str) -> list[Path]:
    """Files under version control (a fresh clone's), or every matching file outside build
    folders when git is not there."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", *patterns], cwd=PROJECT_ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        skip = {".venv", "build", ".git", ".pytest_cache"}
        return sorted(p for pattern in patterns for p in PROJECT_ROOT.rglob(pattern) if not skip & set(p.relative_to(PROJECT_ROOT).parts))
    return sorted(PROJECT_ROOT / name for name in listed.decode().split("\0") if name and (PROJECT_ROOT / name).is_file())


def test_the_readme_is_short():
    assert len((PROJECT_ROOT / "README.md").read_text().splitlines()) <= 150


def test_the_committed_report_says_what_the_committed_metrics_say():
    metrics = json.loads((FIGURES_DIR / "metrics.json").read_text())
    assert report.REPORT_MARKDOWN.read_text() == report.render_report(metrics), \
        "report/report.md differs from its template and figures/metrics.json: run `derain report`"


def test_the_readmes_results_are_the_committed_metrics():
    metrics = json.loads((FIGURES_DIR / "metrics.json").read_text())
    readme = report.README.read_text()
    assert readme == report.with_results(readme, metrics), \
        "README.md's results differ from figures/metrics.json: run `derain report`"


def test_a_number_edited_by_hand_is_caught(tmp_path):
    metrics = json.loads((FIGURES_DIR / "metrics.json").read_text())
    readme = report.README.read_text()
    value = f"{metrics['attentive']['test_psnr']:.2f}"
    assert value in report.results_block(metrics)
    edited = readme.replace(value, f"{float(value) + 1:.2f}", 1)
    assert edited != readme and report.with_results(edited, metrics) == readme  # the check puts it back


def test_the_report_renders_with_and_without_real_photos():
    metrics = json.loads((FIGURES_DIR / "metrics.json").read_text())
    without = {k: v for k, v in metrics.items() if k != "real"}
    text = report.render_report(without)
    assert "found no real pairs" in text and "{{" not in text and "{%" not in text
    assert "| method | test images" in report.results_block(without)
    if metrics.get("real"):
        folder = next(iter(metrics["real"]))
        assert folder in report.results_block(metrics) and folder in report.render_report(metrics)
    if "real_photos" in metrics:  # chapter 6: the shipped model, in the README and the report, or in neither
        model = metrics["real_photos"]["sets"][real_photos.RENDERED]["scores"]["model"]["rgb"]
        assert f"{model['psnr']:.2f} / {model['ssim']:.3f}" in report.results_block(metrics)
        assert f"{model['psnr']:.2f} dB / {model['ssim']:.3f}" in report.render_report(metrics)
    unshipped = {k: v for k, v in without.items() if k != "real_photos"}
    assert "model shipped" not in report.results_block(unshipped) and "derain ships one model" not in report.render_report(unshipped)


def markdown_files() -> list[Path]:
    return [p for p in tracked("*.md") if p.name != "report.md" or p.parent.name != "report"] + [report.REPORT_MARKDOWN]


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings: lower case, punctuation dropped,
    spaces as hyphens."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", path.read_text(), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", "")).replace(" ", "-")
        found.add(slug)
    return found


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_every_relative_link_resolves(path):
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)  # code blocks hold commands, not links
    targets = re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text) + re.findall(r'(?:src|href)="([^"]+)"', text)
    broken = []
    for target in targets:
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        if not resolved.exists():
            broken.append(target)
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(target)
    assert not broken, f"{path.relative_to(PROJECT_ROOT)}: {broken}"


JOURNAL_WORDS = [
    (r"\b20\d\d-[01]\d-[0-3]\d\b", "a date"),
    (r"\b[Ii]ssues? #?\d+", "an issue number"),
    (r"(?i)must[- ]show", "the must-show wording"),
    (r"/(?:tmp|work|home)/\w", "a machine path"),
]


def readable_text(path: Path) -> str:
    """A file's text as a reader meets it: a notebook without the base64 of its images,
    whose letters can spell anything."""
    text = path.read_text(errors="replace")
    return re.sub(r'"image/[a-z+]+": "[A-Za-z0-9+/=\\n]*"', '""', text) if path.suffix == ".ipynb" else text


@pytest.mark.parametrize("pattern, what", JOURNAL_WORDS, ids=[what for _, what in JOURNAL_WORDS])
def test_dated_history_lives_in_the_journal_alone(pattern, what):
    files = tracked("*.md", "*.py", "*.ipynb", "*.jinja", "*.toml", "*.yml", "*.sh", "Makefile")
    hits = [f"{p.relative_to(PROJECT_ROOT)}: {m.group(0)!r}" for p in files if p not in (JOURNAL, Path(__file__).resolve())
            for m in re.finditer(pattern, readable_text(p))]
    assert not hits, f"{what} outside docs/journal.md: {hits[:10]}"
