"""Progress bars for long work: ``tqdm.auto`` (a widget bar in Jupyter, text in a terminal),
redrawn at most every two seconds.

In Jupyter every redraw of a widget bar is a few messages on the kernel's output channel. A
notebook tester (``nbval``) reads that channel only after a cell has finished, and the channel
holds roughly two thousand messages; past that the newest ones are dropped, the cell's final
"idle" status among them, and the tester fails the cell for want of output. tqdm's default of ten
redraws a second makes about 2,500 messages in the static training cell of notebook 02 (2.5
minutes) and one redraw a second about 1,100; one every two seconds keeps it near half that.
"""
from __future__ import annotations

from typing import Iterable

from tqdm.auto import tqdm

__all__ = ["MININTERVAL", "progress_bar"]

MININTERVAL = 2.0
"""Seconds between two redraws of a bar."""


def progress_bar(iterable: Iterable | None = None, **kwargs) -> tqdm:
    """``tqdm.auto.tqdm(iterable, **kwargs)`` redrawn at most every :data:`MININTERVAL` seconds
    (unless ``mininterval`` is given)."""
    kwargs.setdefault("mininterval", MININTERVAL)
    return tqdm(iterable, **kwargs)
