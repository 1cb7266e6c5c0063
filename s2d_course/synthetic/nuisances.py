"""Frame-level nuisances of in-the-wild video, so that single frames mislead and time matters.

Each nuisance is switched on per clip with a rate of the suite preset (:class:`NuisanceRates`)
and lasts a stretch of frames. In half the expressive clips that draw one, the stretch is
centred on the apex of the expression (in neutral clips on a random frame), so the frame that
shows the expression best is often the one that hides it. Which clips get which nuisance, and
when, is drawn from its own random stream and never from the label.

- ``hand`` -- a hand over the mouth, over one eye, or under the chin with the fingers over the
  mouth and cheek. Real counterpart: hands over the face in DFEW / FERV39k / MAFW clips (a hand
  to the mouth in surprise or fear, a chin rest, wiping tears, covering the eyes), the most
  common occlusion of in-the-wild expression data.
- ``motion_blur`` -- a shaky stretch (one or two quick head / camera jerks) and, over the whole
  clip, a directional blur along the face's motion in each frame, in proportion to its speed.
  Real counterpart: the motion blur of film frames at 24-30 fps during fast head movement,
  hand-held cameras and cuts in movie and TV clips.
- ``out_of_view`` -- the face drifts towards an edge until part of it leaves the frame (the
  mouth and chin when it drifts down, the brows when it drifts up, one side of the face when it
  drifts sideways). Real counterpart: faces cut by the frame border when the
  actor moves or the camera reframes, and partial crops of the face detector that DFEW and
  FERV39k frames are aligned with.
- ``turn`` -- a head turn of 30-50 degrees of yaw for a stretch. Real counterpart: profile and
  three-quarter views when actors turn to another speaker, common in movie clips.

Flags per frame (:func:`nuisance_flags`) also cover the generator's older distractors:
``talk`` (speech-like mouth motion, counterpart: dialogue in films and interviews) and
``blink`` (counterpart: blinks, about one every few seconds). They are written to
``nuisance.json`` beside each clip's ``landmarks.npy``. The landmarks stay the true geometry
under every nuisance (a hand does not move them, a face out of view keeps its points outside
the image), like the annotations of occluded points in 300W or COFW.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .clips import ClipPlan
from .face import Identity, Pose
from .render import Hand

__all__ = ["NuisanceRates", "ClipNuisances", "NUISANCES", "plan_nuisances", "blur_vectors",
           "nuisance_flags"]

#: Names of the per-frame flags in ``nuisance.json``.
NUISANCES = ("hand", "motion_blur", "out_of_view", "turn", "talk", "blink")


@dataclass(frozen=True)
class NuisanceRates:
    """Fraction of clips that get each nuisance."""

    hand: float = 0.0
    motion_blur: float = 0.0
    out_of_view: float = 0.0
    turn: float = 0.0


@dataclass(frozen=True)
class ClipNuisances:
    """Per-frame nuisances of one clip: the hand of each frame, the poses with turns, shakes and
    drifts applied, the shutter's exposure (0 = sharp) and the stretches of each nuisance."""

    hands: tuple[Hand | None, ...]
    poses: tuple[Pose, ...]
    exposure: float
    out_of_view: np.ndarray          # (T,) bool
    turn: np.ndarray                 # (T,) bool


def _bump(T: int, start: int, length: int, ramp: int) -> np.ndarray:
    """1 over ``[start, start + length)``, with cosine ramps of ``ramp`` frames inside its ends."""
    t = np.arange(T)
    inside = (t >= start) & (t < start + length)
    x = np.minimum(t - start + 1, start + length - t) / (ramp + 1)
    return np.where(inside, 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0, 1)), 0.0)


def _place(rng: np.random.Generator, T: int, length: int, centre: int | None) -> int:
    """Start of a stretch of ``length`` frames, centred on ``centre`` if given, else anywhere."""
    length = min(T, length)
    if centre is None:
        return int(rng.integers(0, T - length + 1))
    return int(np.clip(centre - length // 2, 0, T - length))


def _apex(plan: ClipPlan) -> int | None:
    """Middle frame of the expression's peak, or None for a clip without one."""
    peak = plan.intensity.max()
    if peak <= 0:
        return None
    top = np.flatnonzero(plan.intensity >= 0.95 * peak)
    return int(top[len(top) // 2])


def _hand(rng: np.random.Generator, idn: Identity) -> Hand:
    """Where a hand goes: over the mouth, over one eye, or under the chin."""
    kind = rng.choice(3, p=[0.5, 0.25, 0.25])
    side = 1 if rng.random() < 0.5 else -1
    tone = np.clip(np.array(idn.skin) * rng.uniform(0.9, 1.08) + rng.normal(0, 6, 3), 0, 255)
    colour = tuple(int(v) for v in tone)
    if kind == 0:  # palm on the mouth, fingers across the cheek
        return Hand((48, 51, 54, 57), (rng.uniform(-0.12, 0.12), rng.uniform(-0.05, 0.1)),
                    (0.0 if side > 0 else np.pi) + rng.uniform(-0.5, 0.5), rng.uniform(0.36, 0.46),
                    colour)
    if kind == 1:  # palm on one eye, fingers up over the brow
        eye = tuple(range(36, 42)) if side < 0 else tuple(range(42, 48))
        return Hand(eye, (0.0, rng.uniform(0.0, 0.12)), -np.pi / 2 + side * rng.uniform(0.2, 0.8),
                    rng.uniform(0.33, 0.42), colour)
    return Hand((8,), (rng.uniform(-0.2, 0.2), rng.uniform(0.1, 0.25)),  # chin rest
                -np.pi / 2 + side * rng.uniform(0.0, 0.6), rng.uniform(0.4, 0.5), colour)


def plan_nuisances(rng: np.random.Generator, plan: ClipPlan, idn: Identity,
                   rates: NuisanceRates) -> ClipNuisances:
    """Draw the nuisances of one clip (every draw is made whatever the rates, so a rate changes
    only whether a nuisance is applied, not the others)."""
    T = plan.num_frames
    apex = _apex(plan)
    centre = apex if apex is not None else int(rng.integers(T))

    def stretch(fraction: tuple[float, float]) -> tuple[int, int]:
        length = int(min(T, max(3, round(rng.uniform(*fraction) * T))))
        return _place(rng, T, length, centre if rng.random() < 0.5 else None), length

    use = {name: rng.random() < getattr(rates, name)
           for name in ("hand", "motion_blur", "out_of_view", "turn")}
    # hand: enters from below over one frame, stays, leaves over one frame
    hand = _hand(rng, idn)
    start, length = stretch((0.3, 0.7))
    present = _bump(T, start, length, 1) if use["hand"] else np.zeros(T)
    hands = tuple(replace(hand, offset=(hand.offset[0], hand.offset[1] + 0.8 * (1 - a)))
                  if a > 0 else None for a in present)
    # turn: extra yaw
    start, length = stretch((0.3, 0.6))
    yaw = (1 if rng.random() < 0.5 else -1) * rng.uniform(0.55, 0.85) * _bump(T, start, length, 3)
    if not use["turn"]:
        yaw = np.zeros(T)
    # out of view: the face drifts towards an edge
    direction = [(0, 1), (-1, 0), (1, 0), (0, -1)][rng.choice(4, p=[0.35, 0.25, 0.25, 0.15])]
    reach = rng.uniform(0.2, 0.35) if direction[1] > 0 else (  # fraction of the image side
        rng.uniform(0.35, 0.5) if direction[1] < 0 else rng.uniform(0.3, 0.5))
    start, length = stretch((0.25, 0.6))
    drift = _bump(T, start, length, 2) if use["out_of_view"] else np.zeros(T)
    # motion blur: one or two quick jerks, and a shutter open long enough to smear them
    exposure = rng.uniform(0.5, 1.0)
    shake = np.zeros((T, 2))
    for k in range(int(rng.integers(1, 3))):
        length = int(rng.integers(3, 7))
        s = _place(rng, T, length, centre if k == 0 and rng.random() < 0.5 else None)
        angle = rng.uniform(0, 2 * np.pi)
        t = np.arange(T)
        wave = np.where((t >= s) & (t < s + length), np.sin(np.pi * (t - s + 1) / (length + 1)), 0)
        shake += rng.uniform(0.05, 0.12) * wave[:, None] * [np.cos(angle), np.sin(angle)]
    if not use["motion_blur"]:
        exposure, shake = 0.0, np.zeros((T, 2))
    shift = shake + drift[:, None] * reach * np.array(direction, float)
    poses = tuple(replace(p, yaw=p.yaw + yaw[t],
                          shift=(p.shift[0] + shift[t, 0], p.shift[1] + shift[t, 1]))
                  for t, p in enumerate(plan.poses))
    return ClipNuisances(hands=hands, poses=poses, exposure=exposure,
                         out_of_view=drift >= 0.5, turn=np.abs(yaw) >= 0.3)


def blur_vectors(landmarks: np.ndarray, exposure: float) -> np.ndarray:
    """(T, 2) blur of each frame: how far the face moves (mean landmark, pixels) while the
    shutter is open, ``exposure`` being the open fraction of the frame interval."""
    centre = landmarks.mean(1)
    if exposure <= 0 or len(centre) < 2:
        return np.zeros_like(centre)
    return exposure * np.gradient(centre, axis=0)


def nuisance_flags(plan: ClipPlan, nuisances: ClipNuisances, blur: np.ndarray,
                   size: int) -> dict[str, list]:
    """Per-frame 0 / 1 flags of every nuisance (:data:`NUISANCES`) and the expression intensity."""
    flags = {"hand": [h is not None for h in nuisances.hands],
             "motion_blur": np.hypot(*blur.T) >= 0.02 * size,
             "out_of_view": nuisances.out_of_view, "turn": nuisances.turn,
             "talk": plan.talk > 0.15, "blink": plan.blink >= 0.6}
    out = {k: [int(v) for v in flags[k]] for k in NUISANCES}
    out["intensity"] = [round(float(v), 3) for v in plan.intensity]
    return out
