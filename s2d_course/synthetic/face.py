"""A parametric face whose 68 iBUG landmarks are exact: identity + action units + head pose.

Coordinates are *face units*: origin between the eyes' level and the mouth, x to the image
right, y down, half the face width is about 1. Expressions act through FACS-like action units
(AUs) at a continuous intensity in [0, 1]; each AU moves named landmarks, so the expression is
carried by geometry. :func:`landmarks` returns the 68 points and :func:`head_arc` the extra
(non-landmark) outline points the renderer needs, both after the head pose.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Identity", "Pose", "AUS", "EXPRESSION_AUS", "EXPRESSION_GAIN", "sample_identity",
           "sample_pose", "expression_aus", "landmarks", "head_arc", "face_depth"]

#: How much further than the AUs' own displacement every expression moves the landmarks. At the
#: tiny profile's 64 px a natural-sized lip-corner pull is about one pixel; drawn as a caricature
#: the expression stays readable while identity, pose, clutter and blur still hide it from a
#: linear classifier on pixels (see ``calibration``).
EXPRESSION_GAIN = 2.5

#: Action units the face understands (``12L`` is a one-sided lip-corner pull, as in contempt;
#: ``43`` closes the eyes, used for blinks and lowered lids).
AUS = ("1", "2", "4", "5", "6", "7", "9", "10", "12", "12L", "15", "17", "20", "24", "25", "26", "43")

#: Prototype AU intensities of each canonical expression (EMFACS-like). The four MAFW-only
#: classes are documented choices: contempt = one-sided smile, anxiety = worried brows + stretched
#: pressed lips, helplessness = raised brows + lowered corners + parted lips, disappointment =
#: lowered lids + pressed, lowered mouth.
EXPRESSION_AUS: dict[str, dict[str, float]] = {
    "neutral": {},
    "happiness": {"6": 0.9, "12": 1.0, "25": 0.5},
    "sadness": {"1": 1.0, "4": 0.6, "15": 1.0, "17": 0.6, "43": 0.25},
    "surprise": {"1": 1.0, "2": 1.0, "5": 1.0, "26": 1.0},
    "fear": {"1": 1.0, "2": 0.6, "4": 0.7, "5": 1.0, "20": 1.0, "25": 0.8},
    "disgust": {"4": 0.3, "9": 1.0, "10": 1.0, "15": 0.4, "17": 0.4},
    "anger": {"4": 1.0, "7": 0.9, "24": 1.0, "5": 0.2},
    "contempt": {"12L": 1.0, "24": 0.3},
    "anxiety": {"1": 0.8, "4": 0.6, "20": 0.6, "24": 0.6, "7": 0.3},
    "helplessness": {"1": 0.9, "2": 0.5, "15": 0.8, "25": 0.6, "43": 0.2},
    "disappointment": {"1": 0.4, "15": 0.7, "17": 0.9, "24": 0.8, "43": 0.45},
}


@dataclass(frozen=True)
class Identity:
    """Who the face is: shape, feature placement and colours (all fixed over a clip)."""

    width: float = 1.0          # half face width
    chin: float = 1.35          # chin y
    jaw_square: float = 0.8     # exponent < 1 makes the jaw squarer
    eye_y: float = -0.15
    eye_dx: float = 0.42        # eye centre distance from the midline
    eye_w: float = 0.30
    eye_h: float = 0.12
    brow_gap: float = 0.22      # brow height above the eye
    brow_arch: float = 0.06
    nose_y: float = 0.38
    nose_w: float = 0.17
    mouth_y: float = 0.78
    mouth_w: float = 0.33       # half mouth width
    lip_upper: float = 0.06
    lip_lower: float = 0.08
    skin: tuple[int, int, int] = (224, 180, 150)
    hair: tuple[int, int, int] = (60, 40, 25)
    iris: tuple[int, int, int] = (70, 50, 30)
    hair_style: int = 0         # 0 short, 1 long, 2 bald
    head_top: float = 1.45      # forehead height above the eye line


@dataclass(frozen=True)
class Pose:
    """Head pose and framing: roll and yaw in radians, scale, shift as a fraction of the image."""

    roll: float = 0.0
    yaw: float = 0.0
    scale: float = 1.0
    shift: tuple[float, float] = field(default=(0.0, 0.0))


_SKIN = np.array([(255, 224, 196), (241, 194, 160), (224, 172, 130), (198, 134, 96),
                  (160, 105, 70), (120, 80, 55), (90, 60, 40)], float)
_HAIR = np.array([(20, 15, 10), (60, 40, 25), (110, 70, 40), (180, 140, 80), (200, 190, 170),
                  (90, 30, 20)], float)
_IRIS = np.array([(60, 40, 25), (40, 90, 140), (70, 110, 60), (30, 25, 20)], float)


def sample_identity(rng: np.random.Generator) -> Identity:
    """A random identity: face shape, feature placement, skin tone, hair and eye colour."""
    u = rng.uniform

    def colour(palette: np.ndarray, jitter: float) -> tuple[int, int, int]:
        c = palette[rng.integers(len(palette))] + rng.normal(0, jitter, 3)
        return tuple(int(v) for v in np.clip(c, 0, 255))

    return Identity(width=u(0.9, 1.08), chin=u(1.22, 1.45), jaw_square=u(0.55, 1.0),
                    eye_y=u(-0.2, -0.08), eye_dx=u(0.38, 0.48), eye_w=u(0.26, 0.34),
                    eye_h=u(0.10, 0.14), brow_gap=u(0.18, 0.27), brow_arch=u(0.02, 0.09),
                    nose_y=u(0.3, 0.45), nose_w=u(0.14, 0.21), mouth_y=u(0.72, 0.86),
                    mouth_w=u(0.27, 0.38), lip_upper=u(0.04, 0.08), lip_lower=u(0.05, 0.1),
                    skin=colour(_SKIN, 8), hair=colour(_HAIR, 10), iris=colour(_IRIS, 10),
                    hair_style=int(rng.integers(3)), head_top=u(1.35, 1.6))


def sample_pose(rng: np.random.Generator, strength: float = 1.0) -> Pose:
    """A random head pose; ``strength`` scales every component (0 = frontal, centred)."""
    s = strength
    return Pose(roll=rng.uniform(-0.22, 0.22) * s, yaw=rng.uniform(-0.35, 0.35) * s,
                scale=1 + rng.uniform(-0.1, 0.1) * s, shift=tuple(rng.uniform(-0.06, 0.06, 2) * s))


def expression_aus(weights: dict[str, float], intensity: float = 1.0) -> dict[str, float]:
    """AU intensities of a blend of expressions, e.g. ``{"fear": 0.7, "surprise": 0.3}``."""
    aus: dict[str, float] = {}
    for name, w in weights.items():
        for au, v in EXPRESSION_AUS[name].items():
            aus[au] = aus.get(au, 0.0) + w * v * intensity
    return {au: min(v, 1.0) for au, v in aus.items()}


def _eye(cx: float, cy: float, w: float, up: float, down: float) -> np.ndarray:
    """Six eye points clockwise from the left corner: left, 2 upper, right, 2 lower."""
    return np.array([(cx - w / 2, cy), (cx - w / 6, cy - up), (cx + w / 6, cy - up),
                     (cx + w / 2, cy), (cx + w / 6, cy + down), (cx - w / 6, cy + down)])


def _curve(xs: np.ndarray, half: float, corner_l: float, corner_r: float, centre: float) -> np.ndarray:
    """y on a lip curve: the centre value blended quadratically into each side's corner value."""
    s = np.clip(np.abs(xs) / half, 0, 1) ** 2
    corner = np.where(xs < 0, corner_l, corner_r)
    return centre * (1 - s) + corner * s


def _neutral_free(idn: Identity, a: dict[str, float], talk: float) -> np.ndarray:
    """The 68 points in face units before the pose, with the AUs ``a`` applied."""
    return np.concatenate([_jaw(idn, a, talk), _brows(idn, a), _nose(idn, a), _eyes(idn, a),
                           _mouth(idn, a, talk)])


def _jaw(idn: Identity, a: dict[str, float], talk: float) -> np.ndarray:
    """Jaw 0-16, ear to ear through the chin; jaw drop pulls the lower jaw down."""
    g = a.get
    jaw_drop = 0.35 * g("26", 0) + 0.18 * talk
    phi = np.linspace(0, np.pi, 17)
    c, s = np.cos(phi), np.sin(phi)
    y0 = idn.eye_y + 0.05
    x = -idn.width * np.sign(c) * np.abs(c) ** idn.jaw_square
    y = y0 + (idn.chin - y0) * s + jaw_drop * s ** 3 - 0.04 * g("17", 0) * s ** 8
    return np.stack([x, y], 1)


def _brows(idn: Identity, a: dict[str, float]) -> np.ndarray:
    """Brows 17-21 (image left, outer -> inner) and 22-26 (inner -> outer)."""
    g = a.get
    inner_up = 0.2 * g("1", 0) - 0.12 * g("4", 0) - 0.05 * g("9", 0)
    outer_up = 0.18 * g("2", 0) - 0.05 * g("4", 0)
    squeeze = 0.07 * g("4", 0)
    t = np.linspace(0, 1, 5)  # 0 = outer end, 1 = inner end
    brows = []
    for side in (-1, 1):
        cx = side * idn.eye_dx
        xs = cx + side * (idn.eye_w * 0.7 - t * idn.eye_w * 1.25) - side * squeeze * t
        ys = (idn.eye_y - idn.brow_gap - idn.brow_arch * np.sin(np.pi * (0.3 + 0.7 * t))
              - outer_up * (1 - t) - inner_up * t)
        brow = np.stack([xs, ys], 1)
        brows.append(brow if side < 0 else brow[::-1])
    return np.concatenate(brows)


def _nose(idn: Identity, a: dict[str, float]) -> np.ndarray:
    """Nose bridge 27-30 and base 31-35; the nose wrinkle lifts and widens the base."""
    g = a.get
    lift = 0.05 * g("9", 0)
    bridge = np.stack([np.zeros(4), np.linspace(idn.eye_y - 0.02, idn.nose_y - lift, 4)], 1)
    nw = idn.nose_w * (1 + 0.2 * g("9", 0))
    base_y = idn.nose_y + 0.05 - lift
    base = np.array([(-nw, base_y - 0.03), (-nw / 2, base_y + 0.01), (0, base_y + 0.03),
                     (nw / 2, base_y + 0.01), (nw, base_y - 0.03)])
    return np.concatenate([bridge, base])


def _eyes(idn: Identity, a: dict[str, float]) -> np.ndarray:
    """Eyes 36-41 and 42-47: lids open with AU5, close with AU7 / AU43 / the cheek raise."""
    g = a.get
    openness = max(0.0, 1 + 0.9 * g("5", 0) - 0.45 * g("7", 0) - g("43", 0))
    up = idn.eye_h / 2 * openness
    down = idn.eye_h / 2 * max(0.0, 1 - 0.55 * g("6", 0) - 0.4 * g("7", 0) - g("43", 0)
                               + 0.3 * g("5", 0))
    return np.concatenate([_eye(-idn.eye_dx, idn.eye_y, idn.eye_w, up, down),
                           _eye(idn.eye_dx, idn.eye_y, idn.eye_w, up, down)])


def _mouth(idn: Identity, a: dict[str, float], talk: float) -> np.ndarray:
    """Mouth 48-59 (outer lip line) and 60-67 (inner)."""
    g = a.get
    pull, pull_l = g("12", 0), g("12L", 0)
    half = idn.mouth_w * (1 + 0.22 * pull + 0.3 * g("20", 0) - 0.15 * g("24", 0)
                          - 0.08 * talk) + 0.05 * pull_l
    corner = idn.mouth_y - 0.2 * pull + 0.2 * g("15", 0) + 0.03 * g("20", 0)
    corner_l = corner - 0.22 * pull_l
    centre = idn.mouth_y - 0.02 * g("17", 0)
    opening = 0.08 * g("25", 0) + 0.42 * g("26", 0) + 0.2 * talk + 0.05 * g("10", 0)
    thin = 1 - 0.6 * g("24", 0)
    top_in, bot_in = centre - opening * 0.25, centre + opening * 0.75
    top_out = top_in - idn.lip_upper * thin - 0.08 * g("10", 0)
    bot_out = bot_in + idn.lip_lower * thin
    xs_out = half * np.array([-1, -0.6, -0.22, 0, 0.22, 0.6, 1, 0.6, 0.22, 0, -0.22, -0.6])
    ys_out = np.empty(12)
    ys_out[:7] = _curve(xs_out[:7], half, corner_l, corner, top_out)
    ys_out[2] += 0.015
    ys_out[4] += 0.015  # keep the cupid's bow (51 sits lower than 50 / 52)
    ys_out[3] += 0.025
    ys_out[7:] = _curve(xs_out[7:], half, corner_l, corner, bot_out)
    ys_out[[0, 6]] = corner_l, corner
    inner_half = half * 0.8
    xs_in = inner_half * np.array([-1, -0.45, 0, 0.45, 1, 0.45, 0, -0.45])
    ys_in = np.empty(8)
    corner_in_l, corner_in = corner_l + 0.2 * (centre - corner_l), corner + 0.2 * (centre - corner)
    ys_in[:5] = _curve(xs_in[:5], inner_half, corner_in_l, corner_in, top_in)
    ys_in[5:] = _curve(xs_in[5:], inner_half, corner_in_l, corner_in, bot_in)
    return np.concatenate([np.stack([xs_out, ys_out], 1), np.stack([xs_in, ys_in], 1)])


def face_depth(pts: np.ndarray, width: float) -> np.ndarray:
    """A rough depth per point (towards the camera): the face is a rounded surface, the nose sticks out."""
    z = 0.45 * np.sqrt(np.clip(1 - (pts[:, 0] / (width * 1.02)) ** 2, 0, 1))
    nose = np.exp(-((pts[:, 0] / 0.25) ** 2 + ((pts[:, 1] - 0.3) / 0.35) ** 2))
    return z + 0.3 * nose


def _apply_pose(pts: np.ndarray, z: np.ndarray, pose: Pose) -> np.ndarray:
    x = pts[:, 0] * np.cos(pose.yaw) + z * np.sin(pose.yaw)
    y = pts[:, 1]
    cr, sr = np.cos(pose.roll), np.sin(pose.roll)
    return np.stack([x * cr - y * sr, x * sr + y * cr], 1) * pose.scale


def landmarks(idn: Identity, aus: dict[str, float], pose: Pose, talk: float = 0.0,
              gain: float = EXPRESSION_GAIN) -> np.ndarray:
    """The 68 iBUG landmarks (face units, after pose) for an identity, AU intensities and pose.

    ``talk`` in [0, 1] opens the mouth like speech, a distractor independent of the expression.
    The expression is drawn as a caricature: each landmark moves ``gain`` (default
    :data:`EXPRESSION_GAIN`) times as far from its rest position as the AUs alone would move it.
    """
    rest = _neutral_free(idn, {}, talk)
    pts = rest + gain * (_neutral_free(idn, aus, talk) - rest)
    for eye in (slice(36, 42), slice(42, 48)):  # a lid moved past the corners' line just closes
        corner_y = pts[eye][0, 1]
        pts[eye.start + 1:eye.start + 3, 1] = np.minimum(pts[eye.start + 1:eye.start + 3, 1], corner_y)
        pts[eye.start + 4:eye.start + 6, 1] = np.maximum(pts[eye.start + 4:eye.start + 6, 1], corner_y)
    return _apply_pose(pts, face_depth(pts, idn.width), pose)


def head_arc(idn: Identity, pose: Pose, height: float, widen: float = 1.0, n: int = 9) -> np.ndarray:
    """Points on an arc over the head from the left temple to the right one, ``height`` face units
    above the temples (forehead outline, hair line, hair outline), after the pose."""
    phi = np.linspace(np.pi, 0, n)
    y0 = idn.eye_y + 0.05
    pts = np.stack([idn.width * widen * np.cos(phi), y0 - height * np.sin(phi)], 1)
    return _apply_pose(pts, np.zeros(n), pose)
