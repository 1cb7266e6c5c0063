"""The student edition of the course: every notebook with room for answers instead of its
reference solutions.

``python -m s2d_course.student [NOTEBOOK ...] [--out student]`` (``make student``) writes a copy of
each notebook (default: every ``notebooks/NN_*.ipynb``) to ``student/``. Each cell tagged
``solution`` gives way, together with its outputs, to an answer cell tagged ``answer``: an empty
code cell that holds one comment (``# Your answer to exercise 2``) for a code solution, a
markdown cell "*Your answer:*" for a written one. An exercise that asks for words also gets a
markdown answer cell right after its last code answer; it asks for words when

- a question in its text (heading and hint aside) contains *why* or *what does*, or
- its reference solution states its finding in a sentence: a printed line of at least ten words
  that ends with a full stop (read from the solution's stored outputs).

An exercise is a markdown cell with a heading that starts with "Exercise" and the cells up to
the next such heading. The exercises, their hints and every other cell stay as they are. The
folder is not committed: it is rebuilt from the notebooks.
"""
from __future__ import annotations

import argparse
import ast
import copy
import os
import re
import sys
from pathlib import Path

from s2d_lib.extras import require

from .paths import NOTEBOOKS, REPO

nbformat = require("nbformat", "notebooks", "s2d_course.student")

__all__ = ["SOLUTION_TAG", "ANSWER_TAG", "SKELETON_TAG", "WRITTEN_ANSWER", "is_solution", "exercises",
           "asks_for_words", "skeleton", "student_edition", "write_student_editions", "course_notebooks"]

SOLUTION_TAG = "solution"
ANSWER_TAG = "answer"
#: The tag of a lab's solution cell that gives way to its skeleton (:func:`skeleton`).
SKELETON_TAG = "skeleton"
PART = re.compile(r"^#\s*Part\s*\((?P<part>\w+)\)")
#: The source of a markdown answer cell.
WRITTEN_ANSWER = "*Your answer:*"

HEADING = re.compile(r"^#+\s*Exercise\b(?P<title>.*)$", re.MULTILINE | re.IGNORECASE)
NUMBER = re.compile(r"^\s*(\d+)")
# a question that wants an explanation, not a value the code prints
QUESTION = re.compile(r"[^.?!]*\?")
EXPLAIN = re.compile(r"\b(why|what does)\b", re.IGNORECASE)
SENTENCE_WORDS = 10


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def is_solution(cell: dict) -> bool:
    """Whether ``cell`` holds a reference solution."""
    return SOLUTION_TAG in _tags(cell)


def exercises(nb: dict) -> list[list[dict]]:
    """The cells of each exercise: from its heading up to the next exercise heading or the end."""
    found: list[list[dict]] = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown" and HEADING.search(cell["source"]):
            found.append([cell])
        elif found:
            found[-1].append(cell)
    return found


def _printed(cell: dict) -> str:
    return "".join(out.get("text", "") for out in cell.get("outputs", [])
                   if out.get("output_type") == "stream")


def asks_for_words(cells: list[dict]) -> bool:
    """Whether the exercise made of ``cells`` wants an answer in words (the rule of the module's
    docstring: a *why* / *what does* question, or a solution that prints a sentence)."""
    task = "\n".join(HEADING.sub("", c["source"]).split("**Hint")[0]
                     for c in cells if c["cell_type"] == "markdown" and not is_solution(c))
    if any(EXPLAIN.search(q) for q in QUESTION.findall(task)):
        return True
    lines = (line.strip() for c in cells if is_solution(c) for line in _printed(c).splitlines())
    return any(len(line.split()) >= SENTENCE_WORDS and line.endswith(".") for line in lines)


def _answer(kind: str, number: str | None) -> nbformat.NotebookNode:
    """An empty answer cell of ``kind`` ("code" or "markdown") for exercise ``number``."""
    meta = {"tags": [ANSWER_TAG]}
    if kind == "markdown":
        return nbformat.v4.new_markdown_cell(WRITTEN_ANSWER, metadata=meta)
    return nbformat.v4.new_code_cell(f"# Your answer to exercise {number}" if number else "# Your answer",
                                     metadata=meta)


def _unfinished(part: str, func: ast.FunctionDef, lines: list[str]) -> list[str]:
    """``func``'s signature and docstring lines, then a body that raises the part's message."""
    body = func.body[0]
    has_doc = isinstance(body, ast.Expr) and isinstance(body.value, ast.Constant) \
        and isinstance(body.value.value, str)
    end = body.end_lineno if has_doc else func.body[0].lineno - 1
    head = lines[func.lineno - 1 - len(func.decorator_list):end]
    doc = ast.get_docstring(func) or ""
    what = doc.split("\n\n")[0].replace("\n", " ").strip()
    indent = " " * (func.body[0].col_offset)
    message = (f"Part ({part}) is not written yet: write the body of {func.name}()"
               + (f" ({what.rstrip('.')})" if what else "")
               + ". Then run the check below it again.")
    return head + [f"{indent}raise NotImplementedError({message!r})"]


def skeleton(source: str) -> str:
    """The student's start of a lab's solution cell ``source``: its first comment (``# Part (a)
    ...``), its imports, and each of its functions with signature and docstring, the body a
    ``NotImplementedError`` that names the part and the function. Raises ``ValueError`` when the
    cell names no part or defines no function."""
    lines = source.splitlines()
    part = PART.match(lines[0]) if lines else None
    if part is None:
        raise ValueError(f"a {SKELETON_TAG} cell must start with '# Part (x) ...'; it starts {source[:40]!r}")
    tree = ast.parse(source)
    out = [lines[0]]
    functions = 0
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out += lines[node.lineno - 1:node.end_lineno]
        elif isinstance(node, ast.FunctionDef):
            out += ["", ""][:2 if len(out) > 1 else 0] + _unfinished(part.group("part"), node, lines)
            functions += 1
    if not functions:
        raise ValueError(f"the {SKELETON_TAG} cell of part ({part.group('part')}) defines no function")
    return "\n".join(out) + "\n"


def student_edition(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` in which every solution cell gives way to an answer cell of its kind
    and each exercise that asks for words gets a markdown answer cell after its last code one."""
    edition = copy.deepcopy(nb)
    words_after: dict[int, str | None] = {}  # id of the last solution cell -> exercise number
    number_of: dict[int, str | None] = {}
    for cells in exercises(edition):
        number = NUMBER.match(HEADING.search(cells[0]["source"]).group("title").lstrip(" ·"))
        number = number.group(1) if number else None
        solutions = [c for c in cells if is_solution(c)]
        number_of.update({id(c): number for c in solutions})
        code = [c for c in solutions if c["cell_type"] == "code"]
        written = any(c["cell_type"] == "markdown" for c in solutions)
        if code and not written and asks_for_words(cells):
            words_after[id(code[-1])] = number
    new_cells = []
    for cell in edition.cells:
        if not is_solution(cell):
            new_cells.append(cell)
            continue
        if SKELETON_TAG in _tags(cell):
            new_cells.append(nbformat.v4.new_code_cell(skeleton(cell["source"]),
                                                       metadata={"tags": [ANSWER_TAG, SKELETON_TAG]}))
            continue
        kind = "code" if cell["cell_type"] == "code" else "markdown"
        new_cells.append(_answer(kind, number_of.get(id(cell))))
        if id(cell) in words_after:
            new_cells.append(_answer("markdown", words_after[id(cell)]))
    edition.cells = new_cells
    _clear_after_first_skeleton(edition)
    return edition


def _clear_after_first_skeleton(edition: nbformat.NotebookNode) -> None:
    """In a lab, the code cells from the first skeleton on lose the outputs the solutions gave
    (a check would otherwise show "matches the library" before the part is written)."""
    at = next((i for i, c in enumerate(edition.cells) if SKELETON_TAG in _tags(c)), None)
    for cell in edition.cells[at:] if at is not None else []:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None


def course_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """The course's notebooks in teaching order: ``NN_*.ipynb``, then the labs ``labs/L*_*.ipynb``."""
    return sorted(folder.glob("[0-9][0-9]_*.ipynb")) + sorted(folder.glob("labs/L[0-9]_*.ipynb"))


def _target(path: Path, out: Path) -> Path:
    """Where the edition of ``path`` goes: its place under ``notebooks/`` kept (``labs/``)."""
    try:
        return out / path.resolve().relative_to(NOTEBOOKS)
    except ValueError:
        return out / path.name


def write_student_editions(notebooks: list[Path], out: Path) -> list[Path]:
    """Write the student edition of each notebook under ``out`` with the same file name (in the
    same subfolder for a notebook under ``notebooks/``, such as a lab)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        try:
            nb = nbformat.read(path, as_version=4)
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: cannot read the notebook ({err})") from err
        target = _target(path, out)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            edition = student_edition(nb)
        except (SyntaxError, ValueError) as err:
            raise ValueError(f"{path}: {err}") from err
        nbformat.write(edition, target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=REPO / "student")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or course_notebooks()
    written = write_student_editions(notebooks, args.out)
    print(f"{len(written)} student notebooks in {os.path.relpath(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
