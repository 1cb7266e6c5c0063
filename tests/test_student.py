"""The student edition (``make student``) and the exercises it is made for: every notebook ends
with 3-5 exercises, each with a difficulty from ★ to ★★★, a hint and a reference solution in a
code cell tagged ``solution``; the student edition holds no solution, an empty answer cell in the
place of each, a markdown answer cell where the exercise asks for words, and everything else.

An exercise is a markdown cell with a heading that starts with "Exercise"; it runs up to the next
such heading. Its difficulty is the run of ★ in the heading, its hint a markdown cell of the
exercise that says "Hint". The solution cells themselves run in CI with the rest of the notebook
(nbval)."""
from __future__ import annotations

import json
import re

import nbformat
import pytest
from conftest import REPO

from s2d_course.student import (ANSWER_TAG, HEADING, SKELETON_TAG, SOLUTION_TAG, WRITTEN_ANSWER,
                                asks_for_words, course_notebooks, exercises, is_solution, skeleton,
                                student_edition, write_student_editions)
from s2d_course.student import main as student_main

#: The float path changes nothing here (the student edition's cells): CI's second pass leaves it out.
pytestmark = pytest.mark.once

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
STARS = re.compile(r"(?<!★)★{1,3}(?!★)")
md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell


def is_answer(cell: dict) -> bool:
    return ANSWER_TAG in cell.get("metadata", {}).get("tags", [])


def kinds(cells: list[dict]) -> list[str]:
    """Each cell as ``code``, ``markdown``, ``code answer`` or ``markdown answer``."""
    return [c["cell_type"] + (" answer" if is_answer(c) else "") for c in cells]


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


def solution(source: str, printed: str) -> nbformat.NotebookNode:
    return code(source, metadata={"tags": [SOLUTION_TAG]},
                outputs=[nbformat.v4.new_output("stream", name="stdout", text=printed)])


def fixture_notebook() -> nbformat.NotebookNode:
    """Three exercises around ordinary cells: one that wants a value, one that asks why, one
    whose solution states its finding in a sentence."""
    return nbformat.v4.new_notebook(cells=[
        md("# Lesson"), code("x = 41", metadata={"tags": ["parameters"]}),
        md("### Exercise 1 · Add one ★\n\nWhat is $x + 1$?\n\n**Hint.** `+ 1`. Why not ask the "
           "hint? (a question in the hint is not the exercise's)"),
        solution("print(x + 1)", "42\n"),
        md("### Exercise 2 · Twice ★★★\n\nPrint it twice. Why does the loop run twice?\n\n**Hint.** Use a loop."),
        code("# a scratch cell of the teacher's copy"),
        solution("for _ in range(2):\n    print(x + 1)", "42\n42\n"),
        md("### Exercise 3 · What does the sign do? ★★\n\nCompute $-x$."),
        solution("print(-x)\nprint('The sign flips the value and keeps its size, as it always does.')",
                 "-41\nThe sign flips the value and keeps its size, as it always does.\n"),
        md("## The end")])


def test_asking_for_words_follows_the_stated_rule():
    first, second, third = exercises(fixture_notebook())
    assert not asks_for_words(first)   # a value; the heading and the hint ask nothing of the student
    assert asks_for_words(second)      # "Why ...?" in the exercise's text
    assert asks_for_words(third)       # the solution prints a sentence (its heading's question aside)
    short = [md("### Exercise · Short ★\n\nHow many?"), solution("print('42 of them.')", "42 of them.\n")]
    assert not asks_for_words(short)   # a printed value with a full stop is not a sentence
    what = [md("### Exercise · Shapes ★\n\nWhich output comes out, and what does\nthe head do to it?"),
            solution("print(1)", "1\n")]
    assert asks_for_words(what)        # "what does", across a line break


def test_student_edition_of_a_fixture_puts_answer_cells_where_the_solutions_were():
    nb = fixture_notebook()
    edition = student_edition(nb)
    assert kinds(edition.cells) == ["markdown", "code", "markdown", "code answer",
                                    "markdown", "code", "code answer", "markdown answer",
                                    "markdown", "code answer", "markdown answer", "markdown"]
    answers = [c for c in edition.cells if is_answer(c)]
    assert [c.source for c in answers] == ["# Your answer to exercise 1", "# Your answer to exercise 2",
                                           WRITTEN_ANSWER, "# Your answer to exercise 3", WRITTEN_ANSWER]
    assert all(c.outputs == [] and c.execution_count is None for c in answers if c.cell_type == "code")
    assert not any(is_solution(c) for c in edition.cells)
    shown = "".join(c.source + json.dumps(c.get("outputs", [])) for c in edition.cells)  # ids aside
    assert "42" not in shown and "sign flips" not in shown and "print" not in shown
    assert [c for c in edition.cells if not is_answer(c)] == [c for c in nb.cells if not is_solution(c)]
    assert len(nb.cells) == 10 and sum(map(is_solution, nb.cells)) == 3  # the teacher's copy is untouched
    assert [len(e) for e in exercises(nb)] == [2, 3, 3] and exercise_problems(nb) == [
        "'### Exercise 3 · What does the sign do? ★★': no hint"]


def test_a_written_solution_gives_way_to_a_written_answer():
    nb = nbformat.v4.new_notebook(cells=[
        md("### Exercise 1 · Explain ★\n\nWhy?"), solution("print(1)", "1\n"),
        md("Because.", metadata={"tags": [SOLUTION_TAG]})])
    edition = student_edition(nb)
    assert kinds(edition.cells) == ["markdown", "code answer", "markdown answer"]
    assert edition.cells[2].source == WRITTEN_ANSWER


def test_exercise_checks_find_what_is_missing():
    nb = fixture_notebook()
    nb.cells += [md("### Exercise 4 · No stars\n\nJust try."), md("### Exercise 5 · ★★★★ too hard")]
    assert exercise_problems(nb) == [
        "'### Exercise 3 · What does the sign do? ★★': no hint",
        "'### Exercise 4 · No stars': no difficulty (★, ★★ or ★★★) in the heading",
        "'### Exercise 4 · No stars': no hint",
        "'### Exercise 4 · No stars': no code cell tagged 'solution'",
        "'### Exercise 5 · ★★★★ too hard': no difficulty (★, ★★ or ★★★) in the heading",
        "'### Exercise 5 · ★★★★ too hard': no hint",
        "'### Exercise 5 · ★★★★ too hard': no code cell tagged 'solution'",
    ]


@pytest.fixture(scope="module")
def editions(tmp_path_factory) -> dict[str, tuple[nbformat.NotebookNode, nbformat.NotebookNode]]:
    """``make student``'s entry point on the real notebooks (in this process: a fresh interpreter
    would spend most of the test importing torch), each edition read back beside its notebook."""
    out = tmp_path_factory.mktemp("student")
    assert student_main([*map(str, NOTEBOOKS), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [p.name for p in NOTEBOOKS]
    return {p.name: (nbformat.read(p, 4), nbformat.read(out / p.name, 4)) for p in NOTEBOOKS}


def test_make_student_says_where_it_wrote(tmp_path, capsys):
    assert student_main([str(NOTEBOOKS[0]), "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("1 student notebooks in ")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_edition_of_every_notebook(editions, path):
    nb, edition = editions[path.name]
    nbformat.validate(edition)
    solutions = [c for c in nb.cells if is_solution(c)]
    answers = [c for c in edition.cells if is_answer(c)]
    # no solution left: no tag, no cell of the solutions, no piece of their code, no output
    assert not any(is_solution(c) for c in edition.cells)
    assert not {c.id for c in solutions} & {c.id for c in edition.cells}
    assert not [s for s in solutions for c in edition.cells if s.source in c.source]
    assert not any(line.startswith("# Solution") for c in edition.cells for line in c.source.splitlines())
    assert not any(c.get("outputs") for c in answers)
    # one empty code cell, a comment only, in the place of each solution; every other cell stays
    code_answers = [c for c in answers if c.cell_type == "code"]
    assert len(code_answers) == len(solutions)
    assert all(c.source.startswith("# Your answer") and "\n" not in c.source for c in code_answers)
    assert [c for c in edition.cells if not is_answer(c)] == [c for c in nb.cells if not is_solution(c)]
    # a markdown answer right after the code answer of each exercise that asks for words, and nowhere else
    wants_words = [asks_for_words(cells) for cells in exercises(nb)]
    got_words = [kinds(cells).count("markdown answer") for cells in exercises(edition)]
    assert got_words == [int(w) for w in wants_words]
    for i, cell in enumerate(edition.cells):
        if is_answer(cell) and cell.cell_type == "markdown":
            assert cell.source == WRITTEN_ANSWER and kinds([edition.cells[i - 1]]) == ["code answer"]


def test_the_course_asks_for_values_and_for_words(editions):
    wants = [asks_for_words(cells) for nb, _ in editions.values() for cells in exercises(nb)]
    assert any(wants) and not all(wants)


def test_unreadable_notebook_is_named(tmp_path):
    bad = tmp_path / "broken.ipynb"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="broken.ipynb"):
        write_student_editions([bad], tmp_path / "out")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_has_graded_exercises_with_solutions(path):
    problems = exercise_problems(nbformat.read(path, as_version=4))
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


# --------------------------------------------------------------------------- labs: skeletons
GATE = ('# Part (b) · the gate\nimport torch\n\n\ndef gate(z, s):\n    """The gate of z, per row.\n\n'
        '    More words."""\n    return torch.softmax(s * z, -1)\n\n\ndef helper(x):\n    return x\n')


def test_a_lab_solution_gives_way_to_its_skeleton():
    nb = nbformat.v4.new_notebook(cells=[
        md("## Part (b) · Write the gate"), code(GATE, metadata={"tags": [SOLUTION_TAG, SKELETON_TAG]}),
        code("print(gate(1, 2))"), md("### Exercise 1 · More ★\n\n**Hint.** Try."), solution("print(1)", "1\n")])
    edition = student_edition(nb)
    assert kinds(edition.cells) == ["markdown", "code answer", "code", "markdown", "code answer"]
    cell = edition.cells[1]
    assert cell.metadata["tags"] == [ANSWER_TAG, SKELETON_TAG] and "softmax" not in cell.source
    assert cell.source == (
        '# Part (b) · the gate\nimport torch\n\n\ndef gate(z, s):\n    """The gate of z, per row.\n\n'
        '    More words."""\n    raise NotImplementedError(\'Part (b) is not written yet: write the body of '
        'gate() (The gate of z, per row). Then run the check below it again.\')\n\n\n'
        "def helper(x):\n    raise NotImplementedError('Part (b) is not written yet: write the body of "
        "helper(). Then run the check below it again.')\n")
    namespace: dict = {}
    exec(cell.source, namespace)
    with pytest.raises(NotImplementedError, match=r"^Part \(b\) is not written yet: write the body of gate\(\)"):
        namespace["gate"](1, 2)
    assert edition.cells[4].source == "# Your answer to exercise 1"  # an exercise's solution as before


def test_a_skeleton_cell_names_its_part_and_defines_a_function(tmp_path):
    with pytest.raises(ValueError, match=r"must start with '# Part \(x\) \.\.\.'"):
        skeleton("def f():\n    return 1\n")
    with pytest.raises(ValueError, match=r"part \(a\) defines no function"):
        skeleton("# Part (a) · nothing\nx = 1\n")
    bad = tmp_path / "L9_bad.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[
        code("# Part (a)\nx = 1", metadata={"tags": [SOLUTION_TAG, SKELETON_TAG]})]), bad)
    with pytest.raises(ValueError, match=r"L9_bad.ipynb: the skeleton cell of part \(a\) defines no function"):
        write_student_editions([bad], tmp_path / "out")


def test_a_lab_edition_keeps_its_folder(tmp_path):
    lab = course_notebooks()[-1]
    assert lab.parent.name == "labs"
    assert write_student_editions([lab], tmp_path) == [tmp_path / "labs" / lab.name]
    edition = nbformat.read(tmp_path / "labs" / lab.name, 4)
    assert any(SKELETON_TAG in c.metadata.get("tags", []) for c in edition.cells)
