"""Execute notebooks top to bottom in place (``make reproduce``), timing each one.

``python -m s2d_course.reproduce [NOTEBOOK ...]`` runs the given notebooks (default: every
``notebooks/NN_*.ipynb``) with the kernel of the current environment in the ``tiny`` profile
unless ``S2D_PROFILE`` says otherwise; the notebooks write their figures to ``figures/``. Each
notebook's time goes to ``results/notebook_times.json`` (:mod:`s2d_course.notebook_times`, its
entry only), and the notebook's run-time cell is saved showing that time, not the one before.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from s2d_lib.extras import require
from s2d_lib.progress import clean_stream_text

from . import float_path
from .artifacts import train_switch
from .notebook_times import TIMES, TIMING_TAG, record_time, run_time, write_readme_times
from .paths import FIGURES, NOTEBOOKS, REPO

nbformat = require("nbformat", "notebooks", "s2d_course.reproduce")
NotebookClient = require("nbclient", "notebooks", "s2d_course.reproduce").NotebookClient


def clean_outputs(nb: nbformat.NotebookNode) -> None:
    """Keep of each text stream what a reader saw: progress-bar redraws collapse to their last
    state (see :func:`s2d_lib.progress.clean_stream_text`), and a stream left empty goes."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.outputs:
            if out.output_type == "stream":
                out.text = clean_stream_text(out.text)
        cell.outputs = [out for out in cell.outputs
                        if out.output_type != "stream" or out.text.strip()]


def show_run_time(nb: nbformat.NotebookNode, name: str, times: Path = TIMES) -> int:
    """Set the output of the cells tagged :data:`TIMING_TAG` to what they print now,
    ``run_time(name)``: they ran before this run's time was recorded. Return how many."""
    cells = [c for c in nb.cells if c.cell_type == "code" and TIMING_TAG in c.metadata.get("tags", [])]
    for cell in cells:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=run_time(name, times) + "\n")]
    return len(cells)


def run_notebook(path: Path, timeout: int = 1800, times: Path | None = TIMES) -> float:
    """Execute ``path`` in place from its own folder and save it with clean text outputs;
    return the wall time in seconds. With ``times``, record the time there (this notebook's
    entry) and show it in the notebook's run-time cell."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    # coalescing puts a bar's redraws and the lines after it into one stream to clean
    NotebookClient(nb, timeout=timeout, kernel_name="python3", coalesce_streams=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    clean_outputs(nb)
    if times is not None:
        record_time(path.name, seconds, float_path.describe(), os.environ.get("S2D_PROFILE", "tiny"),
                    train_switch(), times)
        show_run_time(nb, path.name, times)
    nbformat.write(nb, path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    os.environ.setdefault("S2D_PROFILE", "tiny")
    if not notebooks:
        print("no notebooks to run yet")
        return 0
    total = 0.0
    for nb in notebooks:
        print(f"running {nb.name} ...", flush=True)
        seconds = run_notebook(nb)
        total += seconds
        print(f"  {nb.name}: {seconds:.0f} s", flush=True)
    write_readme_times(REPO / "README.md")  # the README's run-time table, from the times just recorded
    print(f"all {len(notebooks)} notebooks: {total:.0f} s; figures in {FIGURES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
