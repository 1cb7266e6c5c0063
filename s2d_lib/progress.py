"""Progress bars for long work that read cleanly both live and on a saved page.

* In a terminal or a CI log: tqdm's ordinary bar on standard error.
* In a Jupyter kernel: a plain-text bar on standard output (no ipywidgets, so a saved notebook
  keeps no widget state and no red stderr block). When the bar closes it is replaced by a
  one-line summary such as ``eval: 70 items in 3.1 s`` (``leave=True``) or erased
  (``leave=False``); :func:`clean_stream_text` turns the redraws a kernel sent into what a reader
  sees, and ``make reproduce`` applies it to the notebooks it saves.

Every bar is redrawn at most every :data:`MININTERVAL` seconds. In Jupyter each redraw is a message
on the kernel's output channel; a notebook tester (``nbval``) reads that channel only after a cell
has finished, and the channel holds roughly two thousand messages; past that the newest ones are
dropped, the cell's final "idle" status among them, and the tester fails the cell for want of
output. tqdm's default of ten redraws a second once made about 2,500 messages (as a widget bar) in
the static training cell of notebook 02 (2.5 minutes).
"""
from __future__ import annotations

import sys
from collections.abc import Iterable

from tqdm.std import tqdm

__all__ = ["MININTERVAL", "KernelBar", "clean_stream_text", "in_kernel", "progress_bar"]

MININTERVAL = 2.0
"""Seconds between two redraws of a bar."""


def in_kernel() -> bool:
    """True inside a Jupyter (IPython) kernel, where output is saved into a notebook."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


class KernelBar(tqdm):
    """A text bar on standard output whose closed form is one summary line (or nothing)."""

    _closing = False

    def __init__(self, iterable: Iterable | None = None, **kwargs) -> None:
        kwargs.setdefault("file", sys.stdout)
        # tqdm's default bar would hold unicode blocks that some static renderers misalign
        kwargs.setdefault("ascii", True)
        super().__init__(iterable, **kwargs)

    def summary(self) -> str:
        """``desc: n unit(s) in s.s s`` for the work done so far."""
        unit = "items" if self.unit == "it" else self.unit
        if self.unit != "it" and self.n != 1 and not unit.endswith("s"):
            unit += "s"
        desc = f"{self.desc.rstrip(': ')}: " if self.desc else ""
        return f"{desc}{self.n} {unit} in {self.format_dict['elapsed']:.1f} s"

    def __str__(self) -> str:
        return self.summary() if self._closing else super().__str__()

    def close(self) -> None:
        # tqdm's close redraws the bar one last time (leave=True); make that redraw the summary
        self._closing = True
        super().close()


def progress_bar(iterable: Iterable | None = None, **kwargs) -> tqdm:
    """A tqdm bar over ``iterable`` (arguments as ``tqdm``), redrawn at most every
    :data:`MININTERVAL` seconds unless ``mininterval`` is given: :class:`KernelBar` inside a
    Jupyter kernel, tqdm's standard-error bar elsewhere."""
    kwargs.setdefault("mininterval", MININTERVAL)
    return (KernelBar if in_kernel() else tqdm)(iterable, **kwargs)


def clean_stream_text(text: str) -> str:
    """What a reader sees of ``text`` written with carriage-return redraws: a line keeps only what
    follows its last ``\\r`` (without the blanks that padded it); a line a bar erased goes."""
    lines = text.replace("\r\n", "\n").split("\n")
    kept = []
    for i, line in enumerate(lines):
        if "\r" in line:
            line = line.rsplit("\r", 1)[1].rstrip()
            if not line and i < len(lines) - 1:
                continue
        kept.append(line)
    return "\n".join(kept)
