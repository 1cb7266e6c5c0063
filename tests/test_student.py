"""The student edition (``make student``) and the exercises it is made for: every notebook ends
with 3-5 exercises, each with a difficulty from ★ to ★★★, a hint and a reference solution in a
code cell tagged ``solution``; the student edition holds no solution and everything else.

An exercise is a markdown cell with a heading that starts with "Exercise"; it runs up to the next
such heading. Its difficulty is the run of ★ in the heading, its hint a markdown cell of the
exercise that says "Hint". The solution cells themselves run in CI with the rest of the notebook
(nbval)."""
from __future__ import annotations

import re

import nbformat
import pytest
from conftest import REPO

from s2d_course.student import SOLUTION_TAG, student_edition, write_student_editions
from s2d_course.student import main as student_main

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
HEADING = re.compile(r"^#+\s*Exercise\b(?P<title>.*)$", re.MULTILINE | re.IGNORECASE)
STARS = re.compile(r"(?<!★)★{1,3}(?!★)")


def is_solution(cell: dict) -> bool:
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def exercises(nb: dict) -> list[list[dict]]:
    """The cells of each exercise: from its heading up to the next exercise heading or the end."""
    found: list[list[dict]] = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown" and HEADING.search(cell["source"]):
            found.append([cell])
        elif found:
            found[-1].append(cell)
    return found


def exercise_problems(nb: dict) -> list[str]:
    """What keeps a notebook's exercises from being handed out with a student edition."""
    found = exercises(nb)
    problems = [] if 3 <= len(found) <= 5 else [f"{len(found)} exercises (want 3-5)"]
    for cells in found:
        title = HEADING.search(cells[0]["source"]).group(0).strip()
        if not STARS.search(title):
            problems.append(f"{title!r}: no difficulty (★, ★★ or ★★★) in the heading")
        if not any(c["cell_type"] == "markdown" and "hint" in c["source"].lower() for c in cells):
            problems.append(f"{title!r}: no hint")
        solutions = [c for c in cells if is_solution(c)]
        if not solutions or any(c["cell_type"] != "code" for c in solutions):
            problems.append(f"{title!r}: no code cell tagged {SOLUTION_TAG!r}")
        elif not any(c.get("outputs") for c in solutions):
            problems.append(f"{title!r}: the solution shows no result (not executed, or prints nothing)")
    return problems


def fixture_notebook() -> nbformat.NotebookNode:
    """Two exercises around ordinary cells; the solutions have outputs."""
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    solution = {"metadata": {"tags": [SOLUTION_TAG]},
                "outputs": [nbformat.v4.new_output("stream", name="stdout", text="42\n")]}
    return nbformat.v4.new_notebook(cells=[
        md("# Lesson"), code("x = 41", metadata={"tags": ["parameters"]}),
        md("### Exercise 1 · Add one ★\n\n**Hint.** `+ 1`."), code("print(x + 1)", **solution),
        md("### Exercise 2 · Twice ★★★\n\n**Hint.** Use a loop."), code("# your answer"),
        code("for _ in range(2):\n    print(x + 1)", **solution),
        md("## The end")])


def test_student_edition_of_a_fixture_drops_exactly_the_solutions():
    nb = fixture_notebook()
    edition = student_edition(nb)
    assert not any(is_solution(c) for c in edition.cells)
    # the solutions' outputs went with them (cell ids are random, so only outputs are searched)
    assert not any("42" in nbformat.writes(nbformat.v4.new_notebook(cells=[c])).split('"outputs"', 1)[1]
                   for c in edition.cells if c.cell_type == "code")
    assert edition.cells == [c for c in nb.cells if not is_solution(c)]
    assert len(nb.cells) == 8 and len(edition.cells) == 6  # the teacher's copy is untouched
    assert [len(e) for e in exercises(nb)] == [2, 4] and exercise_problems(nb) == ["2 exercises (want 3-5)"]


def test_exercise_checks_find_what_is_missing():
    nb = fixture_notebook()
    md = nbformat.v4.new_markdown_cell
    nb.cells += [md("### Exercise 3 · No stars\n\nJust try."), md("### Exercise 4 · ★★★★ too hard")]
    assert exercise_problems(nb) == [
        "'### Exercise 3 · No stars': no difficulty (★, ★★ or ★★★) in the heading",
        "'### Exercise 3 · No stars': no hint",
        "'### Exercise 3 · No stars': no code cell tagged 'solution'",
        "'### Exercise 4 · ★★★★ too hard': no difficulty (★, ★★ or ★★★) in the heading",
        "'### Exercise 4 · ★★★★ too hard': no hint",
        "'### Exercise 4 · ★★★★ too hard': no code cell tagged 'solution'",
    ]


def test_make_student_writes_every_notebook_without_solutions(tmp_path, capsys):
    # the command `make student` runs, on the real notebooks (its entry point, in this process:
    # a fresh interpreter would spend most of the test importing torch)
    assert student_main([*map(str, NOTEBOOKS), "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith(f"{len(NOTEBOOKS)} student notebooks in ")
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        nb, edition = nbformat.read(path, 4), nbformat.read(tmp_path / path.name, 4)
        assert not any(is_solution(c) for c in edition.cells), path.name
        assert edition.cells == [c for c in nb.cells if not is_solution(c)], path.name


def test_unreadable_notebook_is_named(tmp_path):
    bad = tmp_path / "broken.ipynb"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="broken.ipynb"):
        write_student_editions([bad], tmp_path / "out")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_has_graded_exercises_with_solutions(path):
    problems = exercise_problems(nbformat.read(path, as_version=4))
    assert not problems, f"{path.name}:\n" + "\n".join(problems)
