"""Prose that its own outputs could contradict: a number a notebook's markdown states is typed,
so a re-trained weight or another run leaves it stale. Measured numbers belong in code cells that
display Markdown from the variables they read (``display(Markdown(f"..."))``), which nbval then
compares; typed markdown carries only the paper's numbers.

Checked in every markdown cell, outside headings, math (``$...$``), code spans and link targets:

- no decimal number (``4.4``), no percentage (``87 %``) and no count (``6 of the 10``) unless it is one of the paper's (or a
  convention such as a 95 % interval) in :data:`PAPER`, or a reference (``Section 3.3``);
- a figure's reading typed as markdown (``**What to see``) holds no number at all, references
  (``notebook 03``, ``exercise 2``, ``seed 0``) aside: a reading that quotes its figure's data is
  a code cell.

And every figure is followed by its reading, which prints numbers from the figure's data."""
from __future__ import annotations

import json
import re

import pytest

from conftest import REPO

#: The float path changes nothing here (the notebooks' text against their saved outputs): CI's second pass leaves it out.
pytestmark = pytest.mark.once

#: The reference notebooks and the labs (notebooks/labs/).
NOTEBOOKS = (sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
             + sorted((REPO / "notebooks").glob("labs/L[0-9]_*.ipynb")))
READING = "**What to see"

#: Numbers typed markdown may carry: the paper's (arXiv 2312.05447: its tables, its parameter and
#: FLOP counts, its MAE mask ratio) and the conventional levels of an interval or a band.
PAPER = {
    "92.57", "67.62",                                   # static results: RAF-DB, AffectNet-7 accuracy
    "61.82", "76.03", "41.28", "52.56", "41.86", "57.37",  # DFEW, FERV39k, MAFW: UAR, WAR
    "9.26", "95.06", "620.0", "7.07",                   # trainable / total parameters (M), GFLOPs
    "75 %",                                             # MAE hides three quarters of the patches
    "95 %", "99 %",                                     # interval and band levels
}
#: Settings a notebook states before it measures: the dose levels of the claims plan
#: (``results/claims_plan.md``, committed before the measured runs), per notebook.
SETTINGS = {
    "02": {"100 %"},              # labels kept: 10, 30 and 100 %
    "03": {"25 %"},               # share of frames that show the expression: 100, 50 and 25 %
    "04": {"50 %", "100 %"},      # ambiguity 0, 25 and 50 %; labelled clips 25 and 100 %
}
DECIMAL = re.compile(r"(?<![\w.·⁻/])\d+\.\d+(?![\w.]*\d)")
PERCENT = re.compile(r"(?<![\w.·⁻/])\d+(?:\.\d+)?\s?%")
COUNT = re.compile(r"(?<![\w.])\d+ (?:of|out of) (?:the |its |all )?\d+\b")
INTEGER = re.compile(r"(?<![\w./·⁻-])\d+(?:[.,]\d+)*(?!\s?-?[A-Za-z]\w*\d|-[A-Za-z]|[\w/])")
REFERENCE = re.compile(r"(?i)(sections?|sec\.|§|fig\.|figures?|tables?|arxiv|notebooks?|exercises?|"
                       r"equations?|eq\.|seed|step)\s*(?:[\d.–\-, ]|and|or)*$")


def _text(value) -> str:
    return value if isinstance(value, str) else "".join(value)


def prose(markdown: str) -> str:
    """The words of a markdown cell: headings, math, code spans, link targets and HTML comments
    replaced by blanks."""
    text = re.sub(r"<!--.*?-->", " ", markdown, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r"\$[^$]*\$", " ", text)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "] ", text)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def typed_numbers(markdown: str, allowed: set[str] = frozenset()) -> list[str]:
    """The numbers typed markdown may not carry: decimals and percentages outside :data:`PAPER`,
    ``allowed`` and references; in a figure's reading, every number outside references."""
    text = prose(markdown)
    patterns = (INTEGER,) if markdown.lstrip().startswith(READING) else (DECIMAL, PERCENT, COUNT)
    found = []
    for pattern in patterns:
        for m in pattern.finditer(text):
            number = re.sub(r"\s+", " ", m.group(0))
            if number in PAPER | allowed or number.replace(" %", "") in PAPER:
                continue
            if REFERENCE.search(text[max(0, m.start() - 40):m.start()]):
                continue
            found.append(number)
    return found


def test_typed_numbers_are_found_and_references_and_the_papers_are_not():
    text = ("Measured: UAR 28.3 ± 8.8 % and 46 % ($x = 0.5$, `lr=1e-3.5`); Section 3.3, Sections 3.1–3.2; "
            "the paper's 92.57 %, a 95 % interval, arXiv 2312.05447, [a link](figures/x_1.5.png).\n"
            "## 4.2 · a heading 3.5\nThe detector misses 22 of the 26 frames; notebook 02 of 06.")
    assert typed_numbers(text) == ["28.3", "8.8", "8.8 %", "46 %", "22 of the 26"]
    reading = ("**What to see.** Layer 3, head 0 keeps 46 %; 16 errors in 7 cells; a ViT-B/16 on 2-D "
               "maps (notebook 03, section 7, exercise 2, seed 0).")
    assert typed_numbers(reading) == ["3", "0", "46", "16", "7"]
    assert typed_numbers("**What to see.** The bars against the uniform line (exercise 3).") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_types_no_measured_number(path):
    """A number a reading quotes is computed: typed markdown holds only the paper's numbers."""
    cells = json.loads(path.read_text())["cells"]
    typed = [(i, n) for i, cell in enumerate(cells) if cell["cell_type"] == "markdown"
             for n in typed_numbers(_text(cell["source"]), SETTINGS.get(path.name[:2], set()))]
    assert not typed, (f"{path.name}: numbers typed in markdown (cell, number); display them from the "
                       f"variables they come from with display(Markdown(f'...')): {typed}")


def outputs_text(cells: list[dict]) -> str:
    """Everything the code cells printed or returned as text."""
    parts = []
    for cell in cells:
        for out in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            parts.append(_text(out.get("text", "")))
            parts.append(_text(out.get("data", {}).get("text/plain", "")))
            parts.append(_text(out.get("data", {}).get("text/markdown", "")))
    return "\n".join(parts)


def _shows_figure(cell: dict) -> bool:
    return cell["cell_type"] == "code" and any(
        "image/png" in out.get("data", {}) for out in cell.get("outputs", []))


def _is_reading(cell: dict) -> bool:
    """A markdown reading, or a code cell that displays one."""
    if cell["cell_type"] == "markdown":
        return _text(cell["source"]).startswith(READING)
    return any(_text(out.get("data", {}).get("text/markdown", "")).startswith(READING)
               for out in cell.get("outputs", []))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_is_read_aloud_with_a_number_from_its_data(path):
    """A figure cell, then at most one code cell, then the reading (markdown, or a code cell that
    displays it); those cells print the figure's numbers. Reference solutions state their result
    in their own output."""
    cells = json.loads(path.read_text())["cells"]
    unread = []
    for i, cell in enumerate(cells):
        if not _shows_figure(cell) or "solution" in cell["metadata"].get("tags", []):
            continue
        window = cells[i + 1:i + 3]
        at = next((k for k, c in enumerate(window) if c["cell_type"] == "markdown" or _is_reading(c)), None)
        if at is None or not _is_reading(window[at]) or \
                any(c["cell_type"] != "code" for c in window[:at]):
            unread.append((i, "no reading after the figure"))
            continue
        if not re.search(r"\d", outputs_text(cells[i:i + 2 + at])):
            unread.append((i, "the figure's cells print no number from its data"))
    assert not unread, f"figures not read aloud (cell, why): {unread}"
