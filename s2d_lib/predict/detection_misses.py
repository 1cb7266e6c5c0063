"""Where a face detector misses: run it on every frame of a video and list the runs of misses.

``track_face`` checks every k-th frame only; this runs a detector on all of them, to see which
frames (and which expressions) a detector loses and what another detector or setting recovers,
with the time it costs per frame.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["DetectionRun", "detect_every_frame", "miss_runs"]


def miss_runs(found: np.ndarray) -> list[tuple[int, int]]:
    """Runs of consecutive frames without a detection, as ``(first, last)`` frame indices."""
    missed = np.flatnonzero(~np.asarray(found, dtype=bool))
    if not len(missed):
        return []
    breaks = np.flatnonzero(np.diff(missed) > 1)
    firsts = np.r_[missed[0], missed[breaks + 1]]
    lasts = np.r_[missed[breaks], missed[-1]]
    return [(int(a), int(b)) for a, b in zip(firsts, lasts)]


@dataclass
class DetectionRun:
    """One detector on every frame of one video."""

    name: str
    found: np.ndarray            # (num_frames,) bool: at least one face detected
    seconds_per_frame: float

    @property
    def missed(self) -> np.ndarray:
        """Indices of the frames without a detection."""
        return np.flatnonzero(~self.found)

    def line(self) -> str:
        runs = ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in miss_runs(self.found))
        return (f"{self.name}: face in {int(self.found.sum())} of {len(self.found)} frames, "
                f"{len(self.missed)} missed" + (f" (frames {runs})" if runs else "")
                + f"; {1000 * self.seconds_per_frame:.0f} ms per frame")


def detect_every_frame(reader, detector: Callable[[np.ndarray], np.ndarray], name: str,
                       chunk: int = 32) -> DetectionRun:
    """Run ``detector(frame) -> (k, 4) boxes`` on every frame of ``reader`` (a ``ClipReader``)."""
    n = len(reader)
    found = np.zeros(n, dtype=bool)
    spent = 0.0
    for start in range(0, n, chunk):
        indices = list(range(start, min(start + chunk, n)))
        for i, frame in zip(indices, reader.read(indices)):
            clock = time.perf_counter()
            found[i] = len(detector(frame)) > 0
            spent += time.perf_counter() - clock
    return DetectionRun(name, found, spent / max(n, 1))
