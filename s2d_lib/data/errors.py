"""The one exception the data engine raises for bad input: it names the file and the problem."""
from __future__ import annotations

from pathlib import Path

__all__ = ["DatasetError"]


class DatasetError(Exception):
    """A dataset file or folder that cannot be used, e.g. ``DatasetError(csv, "no column 'label'")``."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
