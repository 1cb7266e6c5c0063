"""The committed notebooks: executed top to bottom with outputs, no errors, no machine paths,
a header (title; prerequisites, what you will learn, the paper, run times), a `parameters` cell
followed by the cell that prints the measured run time, nbval-checked cells, a closing summary
with exercises; and every PNG in figures/ is written by some notebook."""
from __future__ import annotations

import json
import re

import pytest

from conftest import REPO

from s2d_course.notebook_times import TIMING_TAG, run_time

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MACHINE_PATH = re.compile(r"(/(root|home|tmp|work|Users|private/var)/|[A-Z]:\\\\Users)")


def load(path):
    return json.loads(path.read_text())


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks/NN_*.ipynb found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_executed_top_to_bottom_without_errors(path):
    cells = code_cells(load(path))
    counts = [c["execution_count"] for c in cells]
    assert None not in counts, "not fully executed"
    assert counts == list(range(1, len(counts) + 1)), "cells not executed top to bottom in one run"
    for c in cells:
        for out in c["outputs"]:
            assert out["output_type"] != "error", f"error output in cell {c['execution_count']}"
            assert not MACHINE_PATH.search(json.dumps(out)), \
                f"cell {c['execution_count']} shows a path of this machine"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_clone_shows_what_the_page_shows(path):
    """No cell reads the reference folder beside the repository (it is not part of a user's
    clone): what a cell shows comes from the repository or a package."""
    for c in code_cells(load(path)):
        source = "".join(c["source"])
        assert '"shared"' not in source and "../shared" not in source, \
            f"cell {c['execution_count']} reads ../shared: {source[:120]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_structure(path):
    nb = load(path)
    cells = code_cells(nb)
    first = cells[0]
    assert "parameters" in first["metadata"].get("tags", []), "first code cell is not tagged `parameters`"
    assert 'os.environ.get("S2D_PROFILE", "tiny")' in "".join(first["source"])
    checked = [c for c in cells if "# NBVAL_CHECK_OUTPUT" in "".join(c["source"])]
    assert len(checked) >= 3, "fewer than three cells carry # NBVAL_CHECK_OUTPUT"
    assert all(c["outputs"] for c in checked), "an NBVAL_CHECK_OUTPUT cell has no output to compare"
    intro = "".join(nb["cells"][1]["source"]).lower()
    assert "you will learn" in intro and "tiny" in intro and "paper" in intro
    last = "".join(nb["cells"][-1]["source"]).lower()
    assert "summary" in last and "exercise" in last


HEADINGS = ("**Prerequisites**", "**What you will learn**", "**Paper", "**Run time.**")
BULLET = re.compile(r"^- ", re.MULTILINE)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_header_prerequisites_goals_and_measured_run_time(path):
    """Title cell; then one markdown cell with the headings in order (3-5 goals); then the
    parameters cell; then a cell that prints this notebook's own run time from the file that
    ``make reproduce`` writes (typed in markdown, a time would outlive the machine it was read on)."""
    cells = load(path)["cells"]
    title, header, params, timing = cells[:4]
    assert title["cell_type"] == "markdown" and "".join(title["source"]).startswith(f"# {path.name[:2]} · ")
    text = "".join(header["source"])
    assert header["cell_type"] == "markdown" and text.startswith(HEADINGS[0])
    places = [text.find(h) for h in HEADINGS]
    assert -1 not in places and places == sorted(places), f"headings missing or out of order: {places}"
    goals = text[places[1]:places[2]]
    assert 3 <= len(BULLET.findall(goals)) <= 5, "want 3-5 things the notebook teaches"
    assert "make reproduce" in text[places[3]:], "the run-time paragraph does not point at the measured time"
    assert "parameters" in params["metadata"].get("tags", [])
    assert timing["cell_type"] == "code" and timing["metadata"].get("tags") == [TIMING_TAG]
    assert "".join(timing["source"]) == ("from s2d_course.notebook_times import run_time\n\n"
                                         f'print(run_time("{path.name}"))')
    printed = "".join("".join(o.get("text", "")) for o in timing["outputs"])
    assert run_time(path.name).startswith("Measured run time: "), run_time(path.name)
    assert printed == run_time(path.name) + "\n", "stale run time: rerun the cell (or make reproduce)"


def test_every_figure_is_written_by_a_notebook():
    # (or by `make claims`, which draws figures/claims.png)
    texts = "".join(p.read_text() for p in NOTEBOOKS) + (REPO / "s2d_course" / "claims"
                                                         / "measure.py").read_text()
    pngs = sorted((REPO / "figures").glob("*.png"))
    assert pngs, "figures/ is empty"
    orphans = [p.name for p in pngs if p.name not in texts]
    assert not orphans, f"figures no notebook writes (regenerate or delete): {orphans}"
