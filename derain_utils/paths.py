"""Project paths, resolved from the package location and never from the current directory."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FIGURES_DIR = PROJECT_ROOT / "figures"
BUILD_DIR = PROJECT_ROOT / "build"


def shown_path(path) -> str:
    """A path relative to the project root when it lies inside it, for short messages;
    names that are not absolute paths (such as 'synthetic') as they are."""
    if not Path(path).is_absolute():
        return str(path)
    try:
        return str(Path(path).resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def project_path(path) -> Path:
    """A path given by a user or a parameter: absolute as given, relative ones from the
    project root."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path
