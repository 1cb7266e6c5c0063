"""Which frames and which crops a clip contributes (see ``book/architecture.md``).

Two temporal samplings:

- ``"window"`` (the release's): training takes one random contiguous window of T frames; clips
  shorter than T are padded with their last frame. Evaluation takes N windows with evenly spaced
  starts (first and last window touch the clip's ends). On DFEW's 16-frame clips with T = 16 the
  window is the whole clip.
- ``"uniform"``: the clip is cut into T equal segments and one frame is taken from each, so
  the T frames span the whole clip whatever its length. Training takes a random frame in every
  segment; evaluation view n of N takes the frame at fraction (n + 1/2) / N of every segment.
  Like DFEW's 16-frame clip set, the frames span the whole source clip; use it when clips are
  longer than T frames and the expression may sit anywhere in them.

In every temporal view, evaluation takes M spatial crops with evenly spaced offsets along both
axes (on a frame whose short side equals the crop, the crops slide along the long side).
"""
from __future__ import annotations

import numpy as np

__all__ = ["SAMPLINGS", "train_window", "test_windows", "train_segments", "test_segments",
           "train_frames", "test_frames", "check_sampling", "spatial_crops"]

SAMPLINGS = ("window", "uniform")


def _window(start: int, num_available: int, num_frames: int) -> list[int]:
    return [min(start + t, num_available - 1) for t in range(num_frames)]


def train_window(num_available: int, num_frames: int, rng: np.random.Generator) -> list[int]:
    """Indices of a random contiguous window of ``num_frames`` (padded with the last frame)."""
    start = int(rng.integers(0, max(num_available - num_frames, 0) + 1))
    return _window(start, num_available, num_frames)


def test_windows(num_available: int, num_frames: int, num_windows: int) -> list[list[int]]:
    """``num_windows`` windows of ``num_frames`` indices with evenly spaced starts."""
    starts = np.linspace(0, max(num_available - num_frames, 0), num_windows).round().astype(int)
    return [_window(int(s), num_available, num_frames) for s in starts]


def train_segments(num_available: int, num_frames: int, rng: np.random.Generator) -> list[int]:
    """One random frame index from each of ``num_frames`` equal segments of the clip."""
    edges = np.linspace(0, num_available, num_frames + 1)
    picks = edges[:-1] + rng.random(num_frames) * np.diff(edges)
    return np.minimum(picks.astype(int), num_available - 1).tolist()


def test_segments(num_available: int, num_frames: int, num_views: int) -> list[list[int]]:
    """``num_views`` index lists; view ``n`` takes the frame at fraction ``(n + 1/2) / num_views``
    of each of ``num_frames`` equal segments (one view: the middle of every segment)."""
    segment = num_available / num_frames
    return [np.minimum(((np.arange(num_frames) + (n + 0.5) / num_views) * segment).astype(int),
                       num_available - 1).tolist() for n in range(num_views)]


def check_sampling(sampling: str) -> None:
    """Raise ``ValueError`` unless ``sampling`` is one of :data:`SAMPLINGS`."""
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {SAMPLINGS}, not {sampling!r}")


def train_frames(num_available: int, num_frames: int, rng: np.random.Generator,
                 sampling: str = "window") -> list[int]:
    """The training frame indices of one clip under ``sampling`` (``"window"`` / ``"uniform"``)."""
    check_sampling(sampling)
    pick = train_window if sampling == "window" else train_segments
    return pick(num_available, num_frames, rng)


def test_frames(num_available: int, num_frames: int, num_views: int,
                sampling: str = "window") -> list[list[int]]:
    """The ``num_views`` evaluation index lists of one clip under ``sampling``."""
    check_sampling(sampling)
    pick = test_windows if sampling == "window" else test_segments
    return pick(num_available, num_frames, num_views)


def spatial_crops(height: int, width: int, crop: int, num_crops: int) -> list[tuple[int, int]]:
    """``(top, left)`` of ``num_crops`` square crops of side ``crop``, evenly spaced."""
    tops = np.linspace(0, max(height - crop, 0), num_crops).round().astype(int)
    lefts = np.linspace(0, max(width - crop, 0), num_crops).round().astype(int)
    return [(int(t), int(l)) for t, l in zip(tops, lefts)]
