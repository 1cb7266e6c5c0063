"""Which frames each window of a long video gives the model, and how long a window should be.

A clip model sees T frames. Trained on uniform samples (``frame_sampling="uniform"``, or DFEW's
``clip_224x224_16f`` folders the released checkpoints were trained on), those T frames spread
over a whole clip of a few seconds; trained on ``"window"`` samples they are T consecutive
frames. A window on a long video should look like what the model saw in training, so windows
are spans of time:

- the video is sampled on a grid of times ``(g + 1/2) * step``, ``step = span / T``, and grid
  point ``g`` takes the frame shown at that time, ``floor((g + 1/2) * step * fps)``;
- window ``w`` takes the T grid points ``w*k, ..., w*k + T - 1``: its frames spread uniformly
  over ``span`` seconds (the middle of each of T equal segments, as in
  :func:`s2d_lib.data.frame_sampling.test_segments`), and the next window starts ``k`` grid steps
  (``stride``) later, so consecutive windows share ``T - k`` frames (their per-frame work is
  done once);
- ``consecutive=True`` is the step of one frame (``span = T / fps``): T consecutive frames.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from ..checkpoints import RELEASED

__all__ = ["Windows", "plan_windows", "training_span", "smooth_probs",
           "RELEASED_CLIP_SECONDS", "LEGACY_UNIFORM_SECONDS", "DEFAULT_STRIDES_PER_WINDOW"]

log = logging.getLogger("s2d_lib.predict.windows")

#: Span of the released DFER checkpoints' clips: DFEW's clips last a few seconds (about 3 s on
#: average) and ``clip_224x224_16f`` time-interpolates each one to 16 frames.
RELEASED_CLIP_SECONDS = RELEASED["clip_seconds"]
#: Span of the uniform samples of checkpoints that predate the ``clip_seconds`` record (the tiny
#: course's training clips: 16 to 40 frames, 28 on average, at 25 fps).
LEGACY_UNIFORM_SECONDS = 1.12
#: Default stride = span / 6: 0.5 s for the released 3 s windows.
DEFAULT_STRIDES_PER_WINDOW = 6


@dataclass(frozen=True)
class Windows:
    """Frame indices of every window and the time grid they sit on."""

    frames: np.ndarray      # (W, T) frame index of each of a window's T frames
    step: float             # seconds between a window's neighbouring frames (grid step)
    stride: int             # grid steps between window starts
    consecutive: bool       # True: T consecutive frames (step = 1 / fps)

    @property
    def span(self) -> float:
        """Seconds each window covers: T grid steps."""
        return self.frames.shape[1] * self.step

    @property
    def stride_seconds(self) -> float:
        return self.stride * self.step

    @property
    def start_times(self) -> np.ndarray:
        """Start of each window in seconds."""
        return np.arange(len(self.frames)) * self.stride_seconds

    @property
    def end_times(self) -> np.ndarray:
        return self.start_times + self.span

    @property
    def centres(self) -> np.ndarray:
        """Centre of each window in seconds: where its prediction sits on the timeline."""
        return self.start_times + self.span / 2

    def __len__(self) -> int:
        return len(self.frames)


def plan_windows(num_frames: int, fps: float, num_window_frames: int,
                 window_seconds: float | None = None, stride_seconds: float | None = None,
                 consecutive: bool = False) -> Windows:
    """Windows of ``num_window_frames`` (T) frames spread over ``window_seconds`` each, starting
    every ``stride_seconds`` (rounded to whole grid steps, at least one; default: span / 6).

    ``consecutive``: T consecutive frames (``window_seconds`` is ignored). A video shorter than
    ``window_seconds`` gets one window spread over all of it (logged); one with fewer than T
    frames raises ``ValueError``.
    """
    T = num_window_frames
    if num_frames < T:
        raise ValueError(f"{num_frames} frames, shorter than one window of {T} frames")
    duration = num_frames / fps
    if consecutive:
        step = 1.0 / fps
    else:
        if window_seconds is None or window_seconds <= 0:
            raise ValueError(f"window_seconds must be positive, got {window_seconds}")
        if window_seconds > duration:
            log.info("the video (%.2f s) is shorter than a window (%.2f s): one window over all "
                     "of it", duration, window_seconds)
            window_seconds = duration
        step = window_seconds / T
    stride_seconds = stride_seconds if stride_seconds is not None \
        else T * step / DEFAULT_STRIDES_PER_WINDOW
    if stride_seconds <= 0:
        raise ValueError(f"stride_seconds must be positive, got {stride_seconds}")
    stride = max(1, round(stride_seconds / step))
    # 1e-9: a span that equals the duration up to rounding still fits.
    grid_points = int(math.floor(duration / step + 1e-9))
    count = (grid_points - T) // stride + 1
    grid = np.arange(count)[:, None] * stride + np.arange(T)[None, :]
    frames = np.minimum(np.floor((grid + 0.5) * step * fps + 1e-9).astype(int), num_frames - 1)
    return Windows(frames=frames, step=step, stride=stride, consecutive=consecutive)


def training_span(record: dict, num_window_frames: int) -> tuple[float | None, bool]:
    """``(window_seconds, consecutive)`` that match what a checkpoint was trained on, from its
    metadata (:func:`s2d_lib.checkpoints.checkpoint_metadata`).

    - ``record["clip_seconds"]`` when the checkpoint records it (its training clips' span; a
      released checkpoint's is :data:`RELEASED_CLIP_SECONDS`);
    - an empty record: the release's values;
    - ours with ``frame_sampling="window"`` (or none recorded on a video model): T consecutive
      frames, as in training;
    - ours with ``frame_sampling="uniform"`` written before the trainer recorded
      ``clip_seconds``: :data:`LEGACY_UNIFORM_SECONDS`.
    """
    if record.get("clip_seconds"):
        return float(record["clip_seconds"]), False
    if not record:
        return RELEASED_CLIP_SECONDS, False
    if record.get("frame_sampling", "window") == "window":
        return None, True
    return LEGACY_UNIFORM_SECONDS, False


def smooth_probs(probs: np.ndarray, k: int) -> np.ndarray:
    """Centred moving average of ``k`` windows (``k // 2`` on each side, fewer at the ends), so
    rows still sum to 1. Rows of NaN (windows without a face) are left out of their neighbours'
    averages and stay NaN themselves."""
    if k <= 1:
        return probs.copy()
    valid = ~np.isnan(probs).any(1)
    half = k // 2
    out = np.full_like(probs, np.nan, dtype=np.float64)
    for w in np.flatnonzero(valid):
        lo, hi = max(0, w - half), w + half + 1
        out[w] = probs[lo:hi][valid[lo:hi]].mean(0)
    return out
