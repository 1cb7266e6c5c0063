"""Which frames and which crops a clip contributes (design section 9).

Training takes one random contiguous window of T frames; clips shorter than T are padded with
their last frame. Evaluation takes N windows with evenly spaced starts (first and last window
touch the clip's ends) and, in each, M spatial crops with evenly spaced offsets along both axes
(on a frame whose short side equals the crop, the crops slide along the long side).
"""
from __future__ import annotations

import numpy as np

__all__ = ["train_window", "test_windows", "spatial_crops"]


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


def spatial_crops(height: int, width: int, crop: int, num_crops: int) -> list[tuple[int, int]]:
    """``(top, left)`` of ``num_crops`` square crops of side ``crop``, evenly spaced."""
    tops = np.linspace(0, max(height - crop, 0), num_crops).round().astype(int)
    lefts = np.linspace(0, max(width - crop, 0), num_crops).round().astype(int)
    return [(int(t), int(l)) for t, l in zip(tops, lefts)]
