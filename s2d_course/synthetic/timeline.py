"""Clips with time in them (the ``claims3`` worlds; ``results/world_v3_rationale.md``).

Every clip is 8 consecutive frames at :data:`TIMED_FPS`. An expression rises, holds and falls
with its own timing (:data:`TIMING`); emphatic speech opens and closes with the syllables
(3-6 Hz) and its stressed syllables show the action units of surprise or fear, so that one such
frame is drawn like an apex frame of that expression. A clip draws all its timeline's random
numbers from its own stream (:func:`draw_timeline`) whatever the world's doses, so worlds that
differ in a dose hold the same clips wherever the dose does not touch them.
:func:`timed_plan` turns the draws into a :class:`TimedPlan` (a :class:`.clips.ClipPlan` whose
action units are given frame by frame); :func:`frame_features` is what the calibration reads.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .clips import ClipPlan
from .face import AUS, expression_aus

__all__ = ["TIMED_FPS", "TIMINGS", "TIMING", "LOOKALIKES", "TALKERS", "PARTNERS", "FEATURES",
           "TimelineDraws", "TimedPlan", "draw_timeline", "syllables", "timed_plan",
           "annotator_label", "frame_features"]

#: The notional frame rate of the clips: 3-6 Hz speech has a period of 2.5-5 frames.
TIMED_FPS = 15.0
#: ``realistic``: single frames carry weak cues besides order; ``pure``: order is the only cue.
TIMINGS = ("realistic", "pure")
#: Onset and offset (frames) of each expression; MAFW's extra classes take (2, 2).
TIMING = {"surprise": (1, 2), "fear": (2, 2), "happiness": (3, 3), "sadness": (4, 4),
          "anger": (2, 2), "disgust": (2, 2)}
#: The expressions a stressed syllable of emphatic speech looks like, and how often each.
LOOKALIKES = {"surprise": 0.6, "fear": 0.4}
#: The classes whose clips may talk emphatically: the face is otherwise neutral (revision 1 of
#: ``results/world_v3_rationale.md``; the other classes' speech stays ordinary).
TALKERS = ("neutral",)
#: The pairs that real annotators confuse: a blended clip mixes its class with this partner.
PARTNERS = {"fear": "surprise", "surprise": "fear", "anger": "disgust", "disgust": "anger",
            "sadness": "neutral", "neutral": "sadness"}
#: Per-frame features: the AU intensities, then the talk channel (mouth opening of speech).
FEATURES = (*AUS, "talk")
_STRESS = 0.75       # probability of a stressed syllable (realistic world)
_UNSTRESSED = 0.7    # mouth opening of an unstressed syllable, relative to its amplitude
_BLINK_RATE = 1 / 30  # blinks start on a frame with this probability (30 a minute at 15 fps)


@dataclass(frozen=True)
class TimelineDraws:
    """Every random number of one clip's timeline (see :func:`draw_timeline`)."""

    T: int
    apex: float                 # the expression's apex, and the emphatic speech's amplitude
    start: float                # where the episode starts (uniform in [0, 1))
    speech: tuple               # rate (Hz), phase, duty, per-syllable jitter, stress draws
    lookalike: float            # picks surprise or fear
    emphatic: float             # talks emphatically when below the world's dose
    ordinary: tuple             # ordinary talk: draw, amplitude, rate, phase, duty, jitter
    blink: np.ndarray           # (T,)
    blend: tuple                # blends when below the world's share; weight w; annotator draw


def draw_timeline(rng: np.random.Generator, frames: tuple[int, int]) -> TimelineDraws:
    """Draw one clip's timeline numbers in a fixed order, none of them depending on a dose."""
    T = int(rng.integers(frames[0], frames[1] + 1))
    apex, start = rng.uniform(0.65, 1.0), rng.random()
    speech = (rng.uniform(3, 6), rng.random(), rng.uniform(0.4, 0.6), rng.uniform(0.75, 1.0, T + 1),
              rng.random(T + 1))
    lookalike, emphatic = rng.random(), rng.random()
    ordinary = (rng.random(), rng.uniform(0.3, 0.7), rng.uniform(3, 6), rng.random(),
                rng.uniform(0.4, 0.6), rng.uniform(0.75, 1.0, T + 1))
    blink = rng.random(T)
    blend = (rng.random(), rng.uniform(0.5, 0.7), rng.random())
    return TimelineDraws(T, apex, start, speech, lookalike, emphatic, ordinary, blink, blend)


def _runs(open_: np.ndarray) -> int:
    return int(open_[0]) + int(np.sum(open_[1:] & ~open_[:-1]))


def syllables(T: int, rate: float, phase: float, duty: float) -> tuple[np.ndarray, np.ndarray]:
    """Open frames (bool) and syllable index of each of ``T`` frames of speech at ``rate`` Hz:
    each period opens for its first ``duty``; a phase that shows fewer than two syllables is
    replaced by 0 (a syllable starting on the first frame), so speech always opens twice."""
    for p in (phase, 0.0):
        x = np.arange(T) * rate / TIMED_FPS + p
        index = np.floor(x).astype(int)
        open_ = (x - index) < duty
        if _runs(open_) >= 2:
            break
    return open_, index - index.min()


def _speech(d: TimelineDraws, pure: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: the look-alike amplitude (stressed syllables) and the mouth-only opening
    (unstressed syllables) of this clip's emphatic speech."""
    rate, phase, duty, jitter, stress = d.speech
    open_, index = syllables(d.T, rate, phase, duty)
    amplitude = d.apex * (np.ones(d.T) if pure else jitter[index])
    stressed = np.ones(index.max() + 1, bool) if pure else stress[:index.max() + 1] < _STRESS
    spoken = np.unique(index[open_])
    if stressed[spoken].sum() < 2:  # at least two stressed syllables: the first two spoken
        stressed[spoken[:2]] = True
    on = open_ & stressed[index]
    return np.where(on, amplitude, 0.0), np.where(open_ & ~on, _UNSTRESSED * amplitude, 0.0)


def _episode(d: TimelineDraws, label: str, k: int, pure: bool) -> np.ndarray:
    """The expression's intensity: onset, apex, offset with ``label``'s timing. Surprise and
    fear hold ``k`` frames (the clip's stressed speech frames) placed anywhere in the clip; the
    other classes hold to the end. In the pure world onsets and offsets take one frame."""
    T, t = d.T, np.arange(d.T, dtype=float)
    if label == "neutral":
        return np.zeros(T)
    rise, fall = (1, 1) if pure else TIMING.get(label, (2, 2))
    if label in LOOKALIKES:
        s = int(d.start * (T - k + 1))
        env = np.clip((t - s + rise) / rise, 0, 1)
        return d.apex * np.minimum(env, np.clip((s + k - 1 + fall - t) / fall, 0, 1))
    s = -rise + 1 + int(d.start * (rise + 2))
    return d.apex * np.clip((t - s + 1) / rise, 0, 1)


def _ordinary(d: TimelineDraws, talk: float) -> np.ndarray:
    u, amplitude, rate, phase, duty, jitter = d.ordinary
    if u >= talk:
        return np.zeros(d.T)
    open_, index = syllables(d.T, rate, phase, duty)
    return np.where(open_, amplitude * jitter[index], 0.0)


def _blinks(d: TimelineDraws) -> np.ndarray:
    blink = np.zeros(d.T)
    for start in np.flatnonzero(d.blink < _BLINK_RATE):
        for k, v in enumerate((0.6, 1.0, 0.6)):
            if start + k < d.T:
                blink[start + k] = max(blink[start + k], v)
    return blink


def annotator_label(label: str, d: TimelineDraws, blend_share: float) -> tuple[str, dict[str, float]]:
    """The label one annotator gives the clip and the clip's expression weights: a blended clip
    (``label`` and its :data:`PARTNERS` partner, weights w and 1 - w) is labelled ``label``
    with probability w, else the partner."""
    u, w, annotator = d.blend
    partner = PARTNERS.get(label)
    if partner is None or u >= blend_share:
        return label, {label: 1.0}
    return (label if annotator < w else partner), {label: w, partner: 1 - w}


@dataclass(frozen=True)
class TimedPlan(ClipPlan):
    """A :class:`.clips.ClipPlan` of the ``claims3`` worlds, with each frame's AUs given."""

    frame_aus: tuple[dict[str, float], ...]
    lookalike: np.ndarray           # (T,) amplitude of the look-alike on stressed frames
    lookalike_class: str | None     # what the stressed frames look like (talkers only)
    annotated: str                  # the training label (one annotator's)

    def aus(self, t: int) -> dict[str, float]:
        """AU intensities of frame ``t``."""
        return dict(self.frame_aus[t])


def timed_plan(d: TimelineDraws, label: str, timing: str = "realistic", emphatic: float = 0.0,
               blend_share: float = 0.0, talk: float = 0.5, poses: tuple = ()) -> TimedPlan:
    """The clip of ``label`` that the draws ``d`` give in a world with these doses: the share
    ``emphatic`` of talking clips, ``blend_share`` of blended ones, ``talk`` of ordinary talk."""
    if timing not in TIMINGS:
        raise ValueError(f"timing must be one of {TIMINGS}, not {timing!r}")
    pure = timing == "pure"
    stressed, unstressed = _speech(d, pure)
    annotated, blend = annotator_label(label, d, blend_share)
    shown = max(blend, key=lambda c: (c != "neutral", blend[c]))  # whose timing the clip has
    intensity = _episode(d, shown, int((stressed > 0).sum()), pure)
    talks = label in TALKERS and d.emphatic < emphatic
    target = ("surprise" if d.lookalike < LOOKALIKES["surprise"] else "fear") if talks else None
    lookalike = stressed if talks else np.zeros(d.T)
    # the pure world's talkers keep the class-independent ordinary talk (they have no unstressed
    # syllables); the realistic world's unstressed syllables take its place
    mouth = unstressed if talks and not pure else _ordinary(d, talk)
    blink = _blinks(d)
    frames = []
    for t in range(d.T):
        weights = {c: w * intensity[t] for c, w in blend.items()}
        if target is not None:
            weights[target] = weights.get(target, 0.0) + lookalike[t]
        aus = expression_aus(weights)
        aus["43"] = min(1.0, aus.get("43", 0.0) + blink[t])
        frames.append(aus)
    return TimedPlan(label=label, blend=blend, intensity=intensity, blink=blink, talk=mouth,
                     poses=tuple(poses), frame_aus=tuple(frames), lookalike=lookalike,
                     lookalike_class=target, annotated=annotated)


def frame_features(plan: TimedPlan) -> np.ndarray:
    """(T, len(FEATURES)) per-frame features: every AU's intensity and the talk channel."""
    return np.array([[aus.get(au, 0.0) for au in AUS] + [float(plan.talk[t])]
                     for t, aus in enumerate(plan.frame_aus)])

