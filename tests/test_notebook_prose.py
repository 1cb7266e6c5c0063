"""Prose that its own outputs contradict: a reading that says *measured* quotes its numbers from
what the notebook printed, so a re-run that changes a number makes the stale sentence fail here.

Checked: every decimal number in a markdown cell that calls itself measured (``measured`` in
its text), outside math (``$...$``) and code spans, must appear in the text of the notebook's
outputs. Section numbers of the paper (``Section 3.3``) are references, not measurements."""
from __future__ import annotations

import json
import re

import pytest

from conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NUMBER = re.compile(r"(?<![\w.·⁻])(\d+\.\d+)")
REFERENCE = re.compile(r"(?i)(sections?|fig\.|figure|table|arxiv)\s+[\d.–, and]*$")


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
def test_measured_readings_quote_the_notebook_outputs(path):
    cells = json.loads(path.read_text())["cells"]
    printed = outputs_text(cells)
    stale = []
    for i, cell in enumerate(cells):
        source = _text(cell["source"])
        if cell["cell_type"] == "markdown" and re.search(r"(?i)\bmeasured\b", source):
            stale += [(i, n) for n in measured_numbers(source) if n not in printed]
    assert not stale, f"numbers in measured readings that no output prints (cell, number): {stale}"
