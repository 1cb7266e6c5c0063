"""Timelines of synthetic clips: onset -> apex -> (sometimes) offset, blinks, talking, head motion.

A :class:`ClipPlan` holds everything that varies over time as per-frame arrays; rendering frame
``t`` is ``render_face(identity, plan.aus(t), plan.pose(t), scene, size, plan.talk[t])``. The
timing differs per clip and the expression episode sometimes misses the middle frame, so a single
middle frame is a worse predictor than the whole clip. A fraction of clips blend two
expressions (labelled with the dominant one).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .face import Pose, expression_aus

__all__ = ["ClipPlan", "plan_clip", "head_motion", "envelope", "brief_envelope"]


@dataclass(frozen=True)
class ClipPlan:
    """Per-frame controls of one clip."""

    label: str                       # dominant expression (canonical name)
    blend: dict[str, float]          # expression weights (dominant first)
    intensity: np.ndarray            # (T,) expression envelope in [0, 1]
    blink: np.ndarray                # (T,) eye closure in [0, 1]
    talk: np.ndarray                 # (T,) speech-like mouth opening in [0, 1]
    poses: tuple[Pose, ...]          # (T,) head pose per frame

    @property
    def num_frames(self) -> int:
        return len(self.intensity)

    def aus(self, t: int) -> dict[str, float]:
        """AU intensities of frame ``t``: the expression at its envelope, plus the blink."""
        aus = expression_aus(self.blend, float(self.intensity[t]))
        aus["43"] = min(1.0, aus.get("43", 0.0) + float(self.blink[t]))
        return aus


def envelope(rng: np.random.Generator, T: int, off_centre: bool) -> np.ndarray:
    """Expression intensity over ``T`` frames: rise to an apex, hold, and fall back half the time.

    With ``off_centre`` the episode lies wholly in the first or the last part of the clip, away
    from the middle frame.
    """
    apex = rng.uniform(0.65, 1.0)
    if off_centre:  # the whole episode fits in T // 2 - 2 frames on one side of the middle
        room = max(6, T // 2 - 2)
        rise, fall = int(rng.integers(2, 4)), int(rng.integers(2, 4))
        hold = int(rng.integers(2, max(3, room - rise - fall + 1)))
        length = rise + hold + fall
        late = rng.random() < 0.5
        start = T - length if late else int(rng.integers(0, max(1, T // 2 - length)))
        ends_high = late
    else:
        rise, fall = int(rng.integers(3, 8)), int(rng.integers(3, 8))
        hold = int(rng.integers(max(3, T // 4), max(4, T - rise)))
        start = int(rng.integers(0, max(1, min(T // 2 - rise, T - rise - hold) + 1)))
        ends_high = rng.random() < 0.5
    t = np.arange(T, dtype=float)
    env = np.clip((t - start + 1) / rise, 0, 1)
    if not ends_high:
        down = start + rise + hold
        env = np.minimum(env, np.clip(1 - (t - down) / fall, 0.1, 1))
    return apex * env


def brief_envelope(rng: np.random.Generator, T: int, share: float) -> np.ndarray:
    """The apex held over ``share`` of the ``T`` frames (at least one), at a random place; the
    other frames neutral. Draws the same random numbers for every ``share``, so clips of worlds
    that differ only in ``share`` differ only in their timing."""
    apex, where = rng.uniform(0.65, 1.0), rng.random()
    length = max(1, int(round(share * T)))
    start = int(round(where * (T - length)))
    env = np.zeros(T)
    env[start:start + length] = apex
    return env


def _smooth_noise(rng: np.random.Generator, T: int, amplitude: float) -> np.ndarray:
    t = np.arange(T)
    waves = [rng.uniform(0.5, 1) * np.sin(2 * np.pi * t / rng.uniform(12, 40) + rng.uniform(0, 6.3))
             for _ in range(2)]
    return amplitude * sum(waves) / 2


def plan_clip(rng: np.random.Generator, label: str, num_frames: int, base_pose: Pose,
              second: str | None = None, off_centre_prob: float = 0.4,
              talk_prob: float = 0.35, motion: float = 1.0,
              apex_share: float | None = None) -> ClipPlan:
    """Plan one clip of ``label``; ``second`` makes it an ambiguous blend (dominant weight 0.6-0.7);
    ``apex_share`` replaces the onset / apex / offset timeline by :func:`brief_envelope`."""
    T = num_frames
    if apex_share is not None:
        intensity = brief_envelope(rng, T, apex_share)
        if label == "neutral":
            intensity = np.zeros(T)
    elif label == "neutral":
        intensity = np.zeros(T)
    else:
        intensity = envelope(rng, T, rng.random() < off_centre_prob)
    blend = {label: 1.0}
    if second is not None and second != label:
        w = rng.uniform(0.6, 0.7)
        blend = {label: w, second: 1 - w}
    blink = np.zeros(T)
    for start in np.flatnonzero(rng.random(T) < 1 / 18):
        for k, v in enumerate((0.6, 1.0, 0.6)):
            if start + k < T:
                blink[start + k] = max(blink[start + k], v)
    talk = np.zeros(T)
    if rng.random() < talk_prob:
        phase = 2 * np.pi * np.arange(T) * rng.uniform(0.12, 0.3) + rng.uniform(0, 6.3)
        talk = rng.uniform(0.3, 0.7) * np.clip(np.sin(phase), 0, 1) * rng.uniform(0.6, 1, T)
    return ClipPlan(label=label, blend=blend, intensity=intensity, blink=blink, talk=talk,
                    poses=head_motion(rng, T, base_pose, motion))


def head_motion(rng: np.random.Generator, T: int, base_pose: Pose,
                motion: float = 1.0) -> tuple[Pose, ...]:
    """``T`` poses drifting smoothly around ``base_pose`` (roll, yaw, shift, scale)."""
    roll, yaw = _smooth_noise(rng, T, 0.08 * motion), _smooth_noise(rng, T, 0.12 * motion)
    sx, sy, sc = (_smooth_noise(rng, T, a * motion) for a in (0.03, 0.02, 0.03))
    return tuple(Pose(roll=base_pose.roll + roll[t], yaw=base_pose.yaw + yaw[t],
                      scale=base_pose.scale + sc[t],
                      shift=(base_pose.shift[0] + sx[t], base_pose.shift[1] + sy[t]))
                 for t in range(T))
