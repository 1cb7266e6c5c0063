"""Prose that its own outputs contradict: every number a notebook's markdown states is quoted
from what the notebook printed, so a re-run that changes a number makes the stale sentence
fail here; and every figure is followed by its reading.

Checked: every decimal number in a markdown cell, outside math (``$...$``) and code spans, must
appear in the text of the notebook's outputs; section numbers of the paper (``Section 3.3``)
are references, not measurements. A code cell that shows a figure is followed, after at most
one code cell, by a markdown cell that reads it (``**What to see``), and those cells print
numbers from the figure's data."""
from __future__ import annotations

import json
import re

import pytest

from conftest import REPO

#: The float path changes nothing here (the notebooks' text against their saved outputs): CI's second pass leaves it out.
pytestmark = pytest.mark.once

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NUMBER = re.compile(r"(?<![\w.·⁻])(\d+\.\d+)")
REFERENCE = re.compile(r"(?i)(sections?|sec\.|§|fig\.|figure|table|arxiv)\s*[\d.–, and]*$")
READING = "**What to see"


def _text(value) -> str:
    return value if isinstance(value, str) else "".join(value)


def outputs_text(cells: list[dict]) -> str:
    """Everything the code cells printed or returned as text."""
    parts = []
    for cell in cells:
        for out in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            parts.append(_text(out.get("text", "")))
            parts.append(_text(out.get("data", {}).get("text/plain", "")))
            parts.append(_text(out.get("data", {}).get("text/markdown", "")))
    return "\n".join(parts)


def measured_numbers(markdown: str) -> list[str]:
    """The decimal numbers of a measured reading, math, code and paper references left out."""
    prose = re.sub(r"`[^`]*`", " ", re.sub(r"\$[^$]*\$", " ", markdown))
    return [m.group(1) for m in NUMBER.finditer(prose)
            if not REFERENCE.search(prose[max(0, m.start() - 20):m.start()])]


def test_measured_numbers_are_found_and_references_are_not():
    text = "Measured: UAR 28.3 ± 8.8 % ($x = 0.5$, `lr=1e-3.5`); Section 3.3 and Sections 3.1–3.2."
    assert measured_numbers(text) == ["28.3", "8.8"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_numbers_in_prose_quote_the_notebook_outputs(path):
    cells = json.loads(path.read_text())["cells"]
    printed = outputs_text(cells)
    stale = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "markdown":
            stale += [(i, n) for n in measured_numbers(_text(cell["source"])) if n not in printed]
    assert not stale, f"numbers in markdown that no output prints (cell, number): {stale}"


def _shows_figure(cell: dict) -> bool:
    return cell["cell_type"] == "code" and any(
        "image/png" in out.get("data", {}) for out in cell.get("outputs", []))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_is_read_aloud_with_a_number_from_its_data(path):
    """A figure cell, then at most one code cell, then the reading; those cells print the
    figure's numbers, which the reading reads (a decimal it quotes is checked above against the
    outputs). Reference solutions state their result in their own output."""
    cells = json.loads(path.read_text())["cells"]
    unread = []
    for i, cell in enumerate(cells):
        if not _shows_figure(cell) or "solution" in cell["metadata"].get("tags", []):
            continue
        window = cells[i + 1:i + 3]
        reading = next((c for c in window if c["cell_type"] == "markdown"), None)
        between = cells[i:cells.index(reading)] if reading is not None else []
        if reading is None or not _text(reading["source"]).startswith(READING) or \
                any(c["cell_type"] != "code" for c in between):
            unread.append((i, "no reading after the figure"))
            continue
        if not re.search(r"\d", outputs_text(between)):
            unread.append((i, "the figure's cells print no number from its data"))
    assert not unread, f"figures not read aloud (cell, why): {unread}"
