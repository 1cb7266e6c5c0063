"""The measured run times the notebooks print (:mod:`s2d_course.notebook_times`): ``make
reproduce`` records one entry per notebook without touching the others, the sentence names the
machine, and a missing or broken file is said, never raised; the notebook's run-time cell shows
the time of the run that just ended."""
from __future__ import annotations

import datetime
import json

import nbformat
import pytest

from s2d_course import float_path
from s2d_course.notebook_times import TIMES, TIMING_TAG, record_time, run_time
from s2d_course.reproduce import run_notebook, show_run_time

#: The float path changes nothing here (the notebooks' run-time records): CI's second pass leaves it out.
pytestmark = pytest.mark.once

MACHINE = {"cpu": "Some CPU", "torch": "2.0", "kernels": "AVX2", "mkl_cbwr": "", "onednn_isa": "",
           "threads": 2, "native_bf16": False}
DAY = datetime.date(2026, 1, 2)


def test_recording_one_notebook_keeps_the_others(tmp_path):
    times = tmp_path / "results" / "notebook_times.json"
    record_time("01_b.ipynb", 12.34, MACHINE, "tiny", path=times, date=DAY)
    record_time("00_a.ipynb", 50, MACHINE, "tiny", path=times, date=DAY)
    record_time("01_b.ipynb", 9.96, {**MACHINE, "cpu": "Other CPU"}, "paper", True, path=times, date=DAY)
    data = json.loads(times.read_text())
    assert list(data) == ["00_a.ipynb", "01_b.ipynb"]
    assert data["00_a.ipynb"] == {"seconds": 50, "profile": "tiny", "train": False,
                                  "date": "2026-01-02", "machine": MACHINE}
    assert data["01_b.ipynb"]["seconds"] == 10.0 and data["01_b.ipynb"]["machine"]["cpu"] == "Other CPU"
    assert run_time("00_a.ipynb", times) == (
        "Measured run time: 50 s for the whole notebook (make reproduce, tiny profile, "
        "2 threads on Some CPU, PyTorch 2.0, 2026-01-02).")
    assert "(make reproduce, paper profile, S2D_TRAIN=1, 2 threads on Other CPU" in run_time("01_b.ipynb", times)


def test_missing_or_broken_times_are_said_not_raised(tmp_path):
    times = tmp_path / "notebook_times.json"
    assert run_time("00_a.ipynb", times) == ("No measured run time for 00_a.ipynb yet: make reproduce "
                                             "records one in results/notebook_times.json.")
    record_time("01_b.ipynb", 3, MACHINE, "tiny", path=times, date=DAY)
    assert run_time("00_a.ipynb", times).startswith("No measured run time for 00_a.ipynb yet")
    times.write_text(json.dumps({"00_a.ipynb": {"seconds": 3}}))
    assert run_time("00_a.ipynb", times) == ("No measured run time: the entry of 00_a.ipynb in "
                                             "results/notebook_times.json lacks 'machine'.")
    times.write_text("{not json")
    assert run_time("00_a.ipynb", times).startswith("No measured run time: ")
    assert "notebook_times.json: not a JSON file" in run_time("00_a.ipynb", times)


def test_the_run_time_cell_shows_the_run_that_just_ended(tmp_path):
    times = tmp_path / "notebook_times.json"
    record_time("00_a.ipynb", 41, MACHINE, "tiny", path=times, date=DAY)
    stale = nbformat.v4.new_output("stream", name="stdout", text="Measured run time: 7 s ...\n")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('print(run_time("00_a.ipynb"))', outputs=[stale],
                                  metadata={"tags": [TIMING_TAG]}),
        nbformat.v4.new_code_cell("print(1)", outputs=[stale])])
    assert show_run_time(nb, "00_a.ipynb", times) == 1
    assert [o.text for o in nb.cells[0].outputs] == [run_time("00_a.ipynb", times) + "\n"]
    assert "41 s" in nb.cells[0].outputs[0].text and nb.cells[1].outputs == [stale]


def test_the_shipped_times_cover_every_notebook():
    data = json.loads(TIMES.read_text())
    folder = TIMES.parents[1] / "notebooks"
    notebooks = sorted(p.name for p in [*folder.glob("[0-9][0-9]_*.ipynb"), *folder.glob("labs/L[0-9]_*.ipynb")])
    assert sorted(data) == notebooks
    assert all(set(entry) == {"seconds", "profile", "train", "date", "machine"} for entry in data.values())


@pytest.mark.slow
def test_reproduce_records_the_time_and_shows_it(tmp_path):
    """``make reproduce`` on one small notebook, in a real kernel: the time lands in its entry
    only, and the saved notebook's run-time cell shows it (not what the cell printed while the
    time was still the previous run's)."""
    times = tmp_path / "notebook_times.json"
    record_time("00_other.ipynb", 5, MACHINE, "tiny", path=times, date=DAY)
    path = tmp_path / "01_small.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('print("the previous run")', metadata={"tags": [TIMING_TAG]}),
        nbformat.v4.new_code_cell("print(6 * 7)")]), path)
    seconds = run_notebook(path, timeout=120, times=times)
    data = json.loads(times.read_text())
    assert data["00_other.ipynb"]["seconds"] == 5 and data["01_small.ipynb"]["seconds"] == round(seconds, 1)
    assert data["01_small.ipynb"]["machine"] == float_path.describe()
    saved = nbformat.read(path, 4)
    assert [o.text for o in saved.cells[0].outputs] == [run_time("01_small.ipynb", times) + "\n"]
    assert [o.text for o in saved.cells[1].outputs] == ["42\n"]


def test_readme_run_times_are_the_recorded_ones_with_their_machine(tmp_path):
    """The README's table is generated from results/notebook_times.json (no typed time, no
    machine it did not run on), and a README without the marks is an error that names it."""
    from s2d_course.notebook_times import README_MARK, readme_times, write_readme_times
    from s2d_course.paths import REPO

    readme = (REPO / "README.md").read_text()
    assert readme.split(README_MARK)[1].strip() == readme_times(TIMES)
    times = tmp_path / "notebook_times.json"
    record_time("00_a.ipynb", 50, MACHINE, "tiny", path=times, date=DAY)
    record_time("01_b.ipynb", 10, {**MACHINE, "cpu": "Other CPU"}, "tiny", True, path=times, date=DAY)
    table = readme_times(times)
    assert "| `00_a` | 50 s | tiny | Some CPU, 2 threads, PyTorch 2.0 | 2026-01-02 |" in table
    assert "| `01_b` | 10 s | tiny, `S2D_TRAIN=1` | Other CPU" in table and "All 2 notebooks: 60 s" in table
    page = tmp_path / "README.md"
    page.write_text(f"intro\n{README_MARK}\nold\n{README_MARK}\nrest\n")
    write_readme_times(page, times)
    assert page.read_text() == f"intro\n{README_MARK}\n{table}\n{README_MARK}\nrest\n"
    page.write_text("no marks\n")
    with pytest.raises(ValueError, match="README.md: needs exactly two"):
        write_readme_times(page, times)
