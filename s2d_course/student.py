"""The student edition of the course: every notebook without its reference solutions.

``python -m s2d_course.student [NOTEBOOK ...] [--out student]`` (``make student``) writes a copy of
each notebook (default: every ``notebooks/NN_*.ipynb``) to ``student/`` with the code cells
tagged ``solution`` removed together with their outputs; the exercises, their hints and every
other cell stay as they are. The folder is not committed: it is rebuilt from the notebooks.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
from pathlib import Path

from s2d_lib.extras import require

from .paths import NOTEBOOKS, REPO

nbformat = require("nbformat", "notebooks", "s2d_course.student")

__all__ = ["SOLUTION_TAG", "student_edition", "write_student_editions"]

SOLUTION_TAG = "solution"


def student_edition(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without the cells tagged :data:`SOLUTION_TAG` (and their outputs)."""
    edition = copy.deepcopy(nb)
    edition.cells = [cell for cell in edition.cells
                     if SOLUTION_TAG not in cell.get("metadata", {}).get("tags", [])]
    return edition


def write_student_editions(notebooks: list[Path], out: Path) -> list[Path]:
    """Write the student edition of each notebook under ``out`` with the same file name."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        try:
            nb = nbformat.read(path, as_version=4)
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: cannot read the notebook ({err})") from err
        target = out / path.name
        nbformat.write(student_edition(nb), target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=REPO / "student")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    written = write_student_editions(notebooks, args.out)
    print(f"{len(written)} student notebooks in {os.path.relpath(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
