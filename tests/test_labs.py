"""The lab track (``notebooks/labs/``): four labs, one per S2D part, each short enough for a class
(at most 1,500 words to read), executed with outputs like the reference notebooks; each part a
solution cell (tagged ``solution`` and ``skeleton``) followed by a check that compares it with
the library; a student edition that runs top to bottom and stops at the first unfinished part
with a message that names it. The checks' own messages (:mod:`s2d_course.labs`) say what is
wrong: a shape, a value at an index, a lab's own diagnosis."""
from __future__ import annotations

import json
import re
import types

import nbformat
import pytest
import torch
from conftest import REPO

from s2d_course import setup as course_setup
from s2d_course.labs import LabCheckError, compare, expect, same_parameters, shipped_model, train_steps
from s2d_course.notebook_times import TIMING_TAG
from s2d_course.student import ANSWER_TAG, SKELETON_TAG, course_notebooks, skeleton, student_edition

LABS = sorted((REPO / "notebooks" / "labs").glob("L[0-9]_*.ipynb"))
#: The part of S2D each lab has students write, by a word its title must hold.
PARTS = {"L1": "Fovea", "L2": "T-Adapter", "L3": "EASDL", "L4": "training loop"}
MAX_WORDS = 1500
MACHINE_PATH = re.compile(r"(/(root|home|tmp|work|Users|private/var)/|[A-Z]:\\\\Users)")
WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")


def cells_of(path):
    return json.loads(path.read_text())["cells"]


def text(value) -> str:
    return value if isinstance(value, str) else "".join(value)


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def words_to_read(cells) -> int:
    """The words a student reads: markdown cells and the readings code cells display as Markdown."""
    parts = [text(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    parts += [text(o.get("data", {}).get("text/markdown", "")) for c in cells if c["cell_type"] == "code"
              for o in c.get("outputs", [])]
    return sum(len(WORD.findall(re.sub(r"\$[^$]*\$", " ", p))) for p in parts)


def test_one_lab_per_part_of_s2d_and_make_lists_them():
    assert [p.name[:2] for p in LABS] == list(PARTS)
    for path in LABS:
        assert PARTS[path.name[:2]] in text(cells_of(path)[0]["source"]).splitlines()[0], path.name
    assert course_notebooks()[-len(LABS):] == LABS
    makefile = (REPO / "Makefile").read_text()
    assert "LABS := $(sort $(wildcard notebooks/labs/L[0-9]_*.ipynb))" in makefile
    assert re.search(r"^NOTEBOOKS := .*\$\(LABS\)$", makefile, re.M), "the Makefile's notebook list leaves the labs out"


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.name)
def test_lab_reads_in_a_class(path):
    assert words_to_read(cells_of(path)) <= MAX_WORDS


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.name)
def test_lab_header_executed_and_opens_in_colab(path):
    cells = cells_of(path)
    title, header, params, timing = cells[:4]
    assert text(title["source"]).startswith(f"# {path.name[:2]} · Lab: ")
    assert f"]({course_setup.colab_url('notebooks/labs/' + path.name)})" in text(title["source"])
    for heading in ("**Prerequisites**", "**What you will learn**", "**Paper:**", "**Run time.**"):
        assert heading in text(header["source"]), heading
    assert "parameters" in tags(params)
    first = text(params["source"]).splitlines()[:2]
    assert first[0].startswith("!test -d ../../s2d_course") and course_setup.REPOSITORY_URL in first[0]
    assert first[1].endswith("from s2d_course.setup import setup_notebook; setup_notebook()")
    assert 'os.environ.get("S2D_PROFILE", "tiny")' in text(params["source"])
    assert tags(timing) == [TIMING_TAG] and f'print(run_time("{path.name}"))' in text(timing["source"])
    code = [c for c in cells if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1)), "not executed top to bottom"
    for c in code:
        for out in c["outputs"]:
            assert out["output_type"] != "error", f"error output in cell {c['execution_count']}"
            assert not MACHINE_PATH.search(json.dumps(out)), f"cell {c['execution_count']} shows a machine path"
    assert "hand in" in text(cells[-1]["source"]).lower()


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.name)
def test_every_part_is_a_skeleton_then_a_check_against_the_library(path):
    cells = cells_of(path)
    parts = [i for i, c in enumerate(cells) if SKELETON_TAG in tags(c)]
    assert len(parts) >= 3, "a lab has its student write at least three parts"
    letters = [re.match(r"# Part \((\w)\)", text(cells[i]["source"])).group(1) for i in parts]
    assert letters == list("abcde")[:len(parts)]
    for i, letter in zip(parts, letters):
        assert "solution" in tags(cells[i]) and cells[i]["cell_type"] == "code"
        # the check: the next cell, or the one after a cell that runs the part (part (e) trains)
        check = next((c for c in cells[i + 1:i + 3] if c["cell_type"] == "code"
                      and text(c["source"]).startswith("# NBVAL_CHECK_OUTPUT")), None)
        assert check is not None, f"no check compared by nbval right after part ({letter})"
        source, shown = text(check["source"]), "".join(text(o.get("text", "")) for o in check["outputs"])
        assert re.search(r"\b(compare|expect|same_parameters)\(", source), "the check compares nothing"
        assert "matches the library" in shown or "the same parameters as the library" in shown, shown


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.name)
def test_each_skeleton_names_its_part_and_function(path):
    """The student edition's skeletons define what the checks call, and calling one says which
    part and which function to write."""
    edition = student_edition(nbformat.read(path, as_version=4))
    skeletons = [c for c in edition.cells if SKELETON_TAG in tags(c)]
    assert skeletons and all(ANSWER_TAG in tags(c) for c in skeletons)
    first = edition.cells.index(skeletons[0])
    assert not any(c.get("outputs") for c in edition.cells[first:] if c.cell_type == "code"), \
        "the student edition shows the solutions' outputs"
    for cell in skeletons:
        part = re.match(r"# Part \((\w)\)", cell.source).group(1)
        namespace: dict = {}
        exec(compile(cell.source, path.name, "exec"), namespace)
        functions = [v for v in namespace.values() if isinstance(v, types.FunctionType)]
        assert functions, cell.source
        for function in functions:
            n = function.__code__.co_argcount
            with pytest.raises(NotImplementedError, match=rf"^Part \({part}\) is not written yet: write the body "
                                                           rf"of {function.__name__}\(\)"):
                function(*[None] * n)


def first_error(path):
    """Execute the student edition of ``path`` from the lab's folder; the error it stops with."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    edition = student_edition(nbformat.read(path, as_version=4))
    for cell in edition.cells:  # what runs now, and only that, shows an output
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    client = NotebookClient(edition, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    with pytest.raises(CellExecutionError) as stopped:
        client.execute()
    failed = [c for c in edition.cells if c.cell_type == "code"
              and any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(failed) == 1, f"{len(failed)} cells show an error"
    return stopped.value, edition, failed[0]


@pytest.mark.slow
@pytest.mark.once
@pytest.mark.parametrize("path", LABS, ids=lambda p: p.name)
def test_student_edition_stops_at_the_first_unfinished_part(path):
    error, edition, last = first_error(path)
    assert error.ename == "NotImplementedError"
    assert error.evalue.startswith("Part (a) is not written yet: write the body of "), error.evalue
    cells = edition.cells
    first_skeleton = next(i for i, c in enumerate(cells) if SKELETON_TAG in tags(c))
    assert last is cells[first_skeleton + 1], "the edition stopped elsewhere than at part (a)'s check"
    code = [c for c in cells if c.cell_type == "code"]
    ran = [c.execution_count is not None for c in code]
    stop = code.index(last)
    assert ran == [True] * (stop + 1) + [False] * (len(code) - stop - 1), \
        "the edition did not run every cell up to part (a)'s check, and none after it"


# --------------------------------------------------------------------------- the checks' words
def test_compare_says_what_is_wrong():
    expected = torch.arange(24.0).reshape(2, 3, 4)
    assert compare("f", expected.clone(), expected) == "f: matches the library, shape (2, 3, 4)"
    with pytest.raises(LabCheckError, match=r"f returned list, expected a torch.Tensor of shape \(2, 3, 4\)"):
        compare("f", [1, 2], expected)
    with pytest.raises(LabCheckError, match=r"shape \(4, 3, 2\), expected \(2, 3, 4\) \(the same sizes in another order"):
        compare("f", expected.permute(2, 1, 0), expected)
    with pytest.raises(LabCheckError, match=r"shape \(6, 4\).*same number of elements"):
        compare("f", expected.reshape(6, 4), expected)
    with pytest.raises(LabCheckError, match=r"shape \(2, 3\).*6 elements instead of 24"):
        compare("f", expected.sum(-1), expected)
    wrong = expected.clone()
    wrong[1, 2, 3] = 0.0
    with pytest.raises(LabCheckError, match=r"1 of 24 values differ.*index \(1, 2, 3\): yours 0, the library's 23"):
        compare("f", wrong, expected)
    wrong[0, 0, 1] = float("nan")
    with pytest.raises(LabCheckError, match=r"1 of 24 values are NaN or infinite \(first at index \(0, 0, 1\)\)"):
        compare("f", wrong, expected)
    with pytest.raises(LabCheckError, match="f: rows must sum to 1"):
        compare("f", expected, expected, hints=[(lambda t: bool(t.sum(-1).eq(1).all()), "rows must sum to 1")])


def test_expect_checks_shape_and_hints_without_values():
    w = torch.full((3, 2, 4, 4), 0.25)
    assert expect("w", w, (3, 2, 4, 4), [(lambda t: True, "")]) == "w: shape (3, 2, 4, 4), every check passes"
    with pytest.raises(LabCheckError, match=r"w: shape \(3, 2, 4\)"):
        expect("w", w[..., 0], (3, 2, 4, 4))


def test_same_parameters_names_the_group_that_differs():
    a, b, c = (torch.nn.Parameter(torch.zeros(n)) for n in (2, 3, 4))
    assert same_parameters("opt", [[a], [b, c]], [[a], [c, b]], ["decay", "no decay"]) == \
        "opt: the same parameters as the library's groups (decay 1 tensors, no decay 2 tensors)"
    with pytest.raises(LabCheckError, match=r"the group 'decay' has 1 tensor\(s\) too many and 0 missing"):
        same_parameters("opt", [[a, b], [c]], [[a], [b, c]], ["decay", "no decay"])
    with pytest.raises(LabCheckError, match="1 parameter groups, expected 2"):
        same_parameters("opt", [[a, b, c]], [[a], [b, c]], ["decay", "no decay"])


def test_reference_epoch_steps_the_optimiser_then_the_schedule():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 2 * 2, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (s + 1))
    batches = [(torch.randn(5, 3, 2, 2), torch.randint(0, 4, (5,))) for _ in range(3)]
    before = model[1].weight.detach().clone()
    losses = train_steps(model, batches, opt, sched)
    assert len(losses) == 3 and all(isinstance(v, float) for v in losses)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 / 4) and not torch.equal(before, model[1].weight)


def test_a_lab_asks_for_a_shipped_stage_by_name():
    with pytest.raises(ValueError, match="stage must be 'static', 'temporal' or 'dfer', got 'mae'"):
        shipped_model("mae")
