"""Where the course's files live in the repository: the one home of the checkout root and its
folders, and the digest that identifies a file. The library (:mod:`s2d_lib`) knows none of
these; it writes where it is told."""
from __future__ import annotations

import os
from pathlib import Path

from s2d_lib.checkpoints import file_sha256  # noqa: F401  (the course's name for it)

from .presets import TINY_LANDMARKS_FILE

__all__ = ["REPO", "TRAINED", "RESULTS", "FIGURES", "DATA", "RUNS", "NOTEBOOKS",
           "TINY_LANDMARKS", "repo_path", "relative", "file_sha256"]

#: The repository checkout this package is installed from (editable install).
REPO = Path(__file__).resolve().parents[1]
TRAINED = REPO / "trained"
RESULTS = REPO / "results"
FIGURES = REPO / "figures"
DATA = REPO / "data"
RUNS = REPO / "runs"
NOTEBOOKS = REPO / "notebooks"
#: The tiny landmark network that ships in ``trained/`` (notebook 01 trains it), as the tiny static
#: preset names it.
TINY_LANDMARKS = REPO / TINY_LANDMARKS_FILE


def repo_path(path: str | os.PathLike) -> Path:
    """``path`` if absolute, else under the repository root."""
    path = Path(path)
    return path if path.is_absolute() else REPO / path


def relative(path: str | os.PathLike) -> str:
    """``path`` relative to the repository root when it lies inside it (for printing)."""
    path = Path(path).resolve()
    try:
        return path.relative_to(REPO).as_posix()
    except ValueError:
        return str(path)
