"""Draw a face (from :mod:`.face`) into a cluttered, lit, possibly occluded and blurred image.

The face is drawn with PIL at twice the output size and reduced, so edges are smooth. The
returned landmarks are the exact 68 iBUG points in output pixel coordinates. Texture cues
(teeth, wrinkles, cheek colour) follow the AUs but stay secondary to the geometry; with
``appearance`` > 0 (the ``claims2`` worlds) :func:`_draw_appearance` adds cues that the landmark
geometry does not carry (skin colour, tears, crow's feet, teeth, the white of widened eyes). A
:class:`Hand` in front of the face and :func:`motion_blur` are the per-frame nuisances of
:mod:`.nuisances`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

from .face import EXPRESSION_GAIN, Identity, Pose, head_arc, landmarks

__all__ = ["Scene", "Hand", "sample_scene", "render_face", "motion_blur", "to_pixels", "FACE_UNIT"]

#: Half a face width, as a fraction of the image side, at pose scale 1.
FACE_UNIT = 0.36
_SS = 2  # supersampling factor


@dataclass(frozen=True)
class Scene:
    """Everything around the face that stays fixed over a clip: background, light, occluder, camera."""

    background: Image.Image          # RGB, at the supersampled size
    light_dir: float                 # direction of the lighting gradient (radians)
    light_gain: float                # gradient strength: pixel *= 1 +- gain
    occluder: tuple | None           # (kind, cx, cy, rx, ry, colour) in output-image fractions
    blur: float                      # Gaussian blur radius in output pixels (0 = sharp)
    jpeg_quality: int


@dataclass(frozen=True)
class Hand:
    """A hand held in front of the face, placed on the landmarks so that it moves with the head."""

    anchor: tuple[int, ...]          # landmarks whose mean is the reference point
    offset: tuple[float, float]      # palm centre minus the reference point, in face units
    angle: float                     # where the fingers point (radians, 0 = image right, y down)
    size: float                      # half the palm's length, in face units
    colour: tuple[int, int, int]


def sample_scene(rng: np.random.Generator, size: int, occlusion: float = 0.15,
                 blur: float = 0.3) -> Scene:
    """A random scene: gradient background with clutter shapes, lighting, and with probabilities
    ``occlusion`` and ``blur`` an occluder and a blur."""
    big = size * _SS
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    ramp = np.linspace(0, 1, big)[:, None, None]
    bg = Image.fromarray((c0 * (1 - ramp) + c1 * ramp).repeat(big, 1).astype(np.uint8))
    draw = ImageDraw.Draw(bg)
    for _ in range(rng.integers(3, 9)):
        x, y = rng.integers(0, big, 2)
        w, h = rng.integers(big // 10, big // 2, 2)
        box = [int(x - w / 2), int(y - h / 2), int(x + w / 2), int(y + h / 2)]
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.rectangle if rng.random() < 0.5 else draw.ellipse)(box, fill=fill)
    occ = None
    if rng.random() < occlusion:
        kind = ("hand", "object", "glasses")[rng.integers(3)]
        cx, cy = rng.uniform(0.3, 0.7), rng.uniform(0.55, 0.8) if kind != "glasses" else 0.45
        rx, ry = rng.uniform(0.1, 0.17), rng.uniform(0.06, 0.14)
        occ = (kind, cx, cy, rx, ry, tuple(int(v) for v in rng.integers(0, 256, 3)))
    return Scene(background=bg, light_dir=rng.uniform(0, 2 * np.pi), light_gain=rng.uniform(0, 0.35),
                 occluder=occ, blur=rng.uniform(0.4, 1.1) if rng.random() < blur else 0.0,
                 jpeg_quality=int(rng.integers(55, 96)))


def to_pixels(pts: np.ndarray, size: int, pose: Pose) -> np.ndarray:
    """Face units (after pose rotation and scale) to pixel coordinates of a ``size`` image."""
    centre = np.array([0.5 + pose.shift[0], 0.5 + pose.shift[1]]) * size
    return centre + (pts + np.array([0.0, 0.05])) * FACE_UNIT * size


def _mix(a: tuple, b: tuple, t: float) -> tuple[int, int, int]:
    t = float(np.clip(t, 0, 1))
    return tuple(int(x * (1 - t) + y * t) for x, y in zip(a, b))


def _poly(p: np.ndarray) -> list[tuple[float, float]]:
    return [tuple(q) for q in p]


def _capsule(d: ImageDraw.ImageDraw, a: np.ndarray, b: np.ndarray, width: float, fill: tuple) -> None:
    r = width / 2
    d.line([tuple(a), tuple(b)], fill=fill, width=max(1, int(round(width))))
    for c in (a, b):
        d.ellipse([c[0] - r, c[1] - r, c[0] + r, c[1] + r], fill=fill)


def _draw_hand(d: ImageDraw.ImageDraw, hand: Hand, P: np.ndarray, unit: float, roll: float,
               line_w: int) -> None:
    """Palm, four fingers and a thumb; a darker rim separates the fingers."""
    cr, sr = np.cos(roll), np.sin(roll)
    offset = np.array([hand.offset[0] * cr - hand.offset[1] * sr,
                       hand.offset[0] * sr + hand.offset[1] * cr]) * unit
    centre = P[list(hand.anchor)].mean(0) + offset
    angle = hand.angle + roll
    along, across = np.array([np.cos(angle), np.sin(angle)]), np.array([-np.sin(angle), np.cos(angle)])
    length, width = hand.size * unit, 0.8 * hand.size * unit
    rim = _mix(hand.colour, (70, 35, 25), 0.4)
    phi = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    palm = centre + np.outer(np.cos(phi), along) * length + np.outer(np.sin(phi), across) * width
    d.polygon(_poly(palm), fill=hand.colour, outline=rim)
    thumb = centre + across * width * 0.7
    thumb_dir = np.cos(1.0) * along + np.sin(1.0) * across
    digits = [(thumb, thumb + thumb_dir * length * 0.75, width * 0.45)]
    for k, side in enumerate((-0.72, -0.24, 0.24, 0.72)):
        base = centre + along * length * 0.55 + across * width * side
        tip_dir = along + across * side * 0.15
        tip_dir /= np.linalg.norm(tip_dir)
        digits.append((base, base + tip_dir * length * (0.8, 1.0, 0.95, 0.75)[k], width * 0.44))
    for a, b, w in digits:
        _capsule(d, a, b, w + 2 * line_w, rim)
        _capsule(d, a, b, w, hand.colour)


def motion_blur(img: Image.Image, vector: tuple[float, float]) -> Image.Image:
    """Blur along ``vector`` (pixels the face moved while the shutter was open)."""
    dx, dy = vector
    length = float(np.hypot(dx, dy))
    if length < 0.5:
        return img
    r = int(np.ceil(length / 2)) + 1
    kernel = np.zeros((2 * r + 1, 2 * r + 1))
    for t in np.linspace(-0.5, 0.5, int(np.ceil(2 * length)) + 1):  # a bilinear splat of the path
        x, y = r + t * dx, r + t * dy
        x0, y0 = int(np.floor(x)), int(np.floor(y))
        fx, fy = x - x0, y - y0
        kernel[y0, x0] += (1 - fx) * (1 - fy)
        kernel[y0, x0 + 1] += fx * (1 - fy)
        kernel[y0 + 1, x0] += (1 - fx) * fy
        kernel[y0 + 1, x0 + 1] += fx * fy
    arr = ndimage.convolve(np.asarray(img, np.float32), (kernel / kernel.sum())[..., None],
                           mode="nearest")
    return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))


def render_face(idn: Identity, aus: dict[str, float], pose: Pose, scene: Scene, size: int,
                talk: float = 0.0, hand: Hand | None = None, gain: float = EXPRESSION_GAIN,
                appearance: float = 0.0) -> tuple[Image.Image, np.ndarray]:
    """Draw the face (and ``hand`` in front of it); returns the RGB image (``size`` x ``size``)
    and its 68 landmarks in pixels. ``gain`` scales the expression's geometry
    (:func:`.face.landmarks`), ``appearance`` the cues of :func:`_draw_appearance` (0: none)."""
    big = size * _SS
    P = to_pixels(landmarks(idn, aus, pose, talk, gain), big, pose)
    if appearance > 0:
        idn = replace(idn, skin=_skin_tone(idn.skin, aus, appearance))
    unit = FACE_UNIT * big * pose.scale
    img = scene.background.copy()
    d = ImageDraw.Draw(img)
    line_w = max(1, int(unit * 0.025))
    _draw_head(d, idn, pose, P, big)
    _draw_texture(d, idn.skin, aus, P, unit, line_w)
    _draw_eyes_brows_nose(d, idn, P, unit, line_w)
    _draw_mouth(d, idn.skin, aus, talk, P, unit, line_w)
    if appearance > 0:
        _draw_appearance(d, idn.skin, aus, P, unit, line_w, appearance)
    if scene.occluder is not None:
        _draw_occluder(d, scene.occluder, idn.skin, P, unit, big, line_w)
    if hand is not None:
        _draw_hand(d, hand, P, unit, pose.roll, line_w)
    return _finish(img.reduce(_SS), scene, size), (P / _SS).astype(np.float32)


def _draw_head(d: ImageDraw.ImageDraw, idn: Identity, pose: Pose, P: np.ndarray, big: int) -> None:
    """Hair behind the head, neck, face and the hair cap."""
    arc = lambda h, w=1.0: to_pixels(head_arc(idn, pose, h, w), big, pose)  # noqa: E731
    skin, dark_skin, hair = idn.skin, _mix(idn.skin, (40, 20, 10), 0.35), idn.hair
    if idn.hair_style == 1:  # long hair behind the head
        outer = arc(idn.head_top + 0.25, 1.2)
        low = to_pixels(np.array([[1.25, 1.5], [-1.25, 1.5]]) * pose.scale, big, pose)
        d.polygon(_poly(np.vstack([outer, low])), fill=hair)
    neck_top = P[[5, 11]]
    neck = np.vstack([neck_top, neck_top + [0, big], ])[[0, 1, 3, 2]]
    d.polygon(_poly(neck), fill=dark_skin)
    d.polygon(_poly(np.vstack([P[0:17], arc(idn.head_top + 0.05, 1.02)[::-1]])), fill=skin)
    if idn.hair_style != 2:
        cap = np.vstack([arc(idn.head_top + 0.2, 1.08), arc(idn.head_top * 0.62, 1.0)[::-1]])
        d.polygon(_poly(cap), fill=hair)


def _draw_texture(d: ImageDraw.ImageDraw, skin: tuple, aus: dict[str, float], P: np.ndarray,
                  unit: float, line_w: int) -> None:
    """Secondary texture cues: blush (AU6), forehead lines (AU1+2), frown (AU4), nose (AU9)."""
    wrinkle = _mix(skin, (60, 30, 20), 0.45)
    if aus.get("6", 0) > 0.2:
        blush = _mix(skin, (220, 90, 90), 0.35 * aus["6"])
        for eye_low, nose in ((P[41], P[31]), (P[46], P[35])):
            c = (eye_low + nose) / 2 + [0, unit * 0.05]
            r = unit * 0.14
            d.ellipse([c[0] - r, c[1] - r * 0.7, c[0] + r, c[1] + r * 0.7], fill=blush)
    if aus.get("1", 0) + aus.get("2", 0) > 0.8:
        for k in (1, 2):
            y_off = unit * 0.12 * k
            d.line(_poly(P[18:26] - [0, y_off]), fill=wrinkle, width=line_w)
    if aus.get("4", 0) > 0.4:
        for x in (P[21], P[22]):
            d.line([tuple(x + [0, unit * 0.02]), tuple(x + [0, unit * 0.16])], fill=wrinkle, width=line_w)
    if aus.get("9", 0) > 0.3:
        for side in (-1, 1):
            b = P[28] + [side * unit * 0.07, 0]
            d.line([tuple(b), tuple(b + [side * unit * 0.08, unit * 0.06])], fill=wrinkle, width=line_w)


#: Skin colour changes (colour, AU, weight): anger flushes (AU24 lip press with AU4), fear pales
#: (AU20 lip stretch), disgust turns sallow (AU9 nose wrinkle).
_SKIN_CUES = (((205, 60, 55), ("24", "4"), 0.55), ((236, 236, 232), ("20",), 0.6),
              ((150, 165, 90), ("9",), 0.45))


def _skin_tone(skin: tuple, aus: dict[str, float], strength: float) -> tuple[int, int, int]:
    """The skin colour under the expression's colour cues (:data:`_SKIN_CUES`)."""
    for colour, units, weight in _SKIN_CUES:
        level = min(aus.get(u, 0.0) for u in units)
        if level > 0:
            skin = _mix(skin, colour, min(1.0, strength * weight * level))
    return skin


def _draw_appearance(d: ImageDraw.ImageDraw, skin: tuple, aus: dict[str, float], P: np.ndarray,
                     unit: float, line_w: int, strength: float) -> None:
    """Appearance cues the landmarks do not carry, each as strong as its AU times ``strength``:
    tears (AU15, sadness), crow's feet at the outer eye corners (AU6, happiness), the white of
    the eye around the iris (AU5, surprise and fear), teeth between parted lips (AU25)."""
    line = max(1, int(line_w * (1 + strength)))
    if aus.get("15", 0) > 0.3:  # a tear track from each lower lid
        tear = _mix(skin, (150, 200, 255), min(1.0, strength * aus["15"]))
        for lid in (P[41], P[46]):
            d.line([tuple(lid), tuple(lid + [0, unit * 0.45 * aus["15"]])], fill=tear, width=line * 2)
    if aus.get("6", 0) > 0.3:  # crow's feet: three lines fanning out from each outer corner
        crease = _mix(skin, (70, 35, 25), min(1.0, 0.7 * strength * aus["6"]))
        for corner, side in ((P[36], -1), (P[45], 1)):
            for dy in (-0.08, 0.0, 0.08):
                d.line([tuple(corner + [side * unit * 0.05, 0]),
                        tuple(corner + [side * unit * 0.22, unit * dy])], fill=crease, width=line)
    if aus.get("5", 0) > 0.3:  # widened eyes: a white ring around each eye
        white = _mix(skin, (250, 250, 250), min(1.0, strength * aus["5"]))
        for eye in (P[36:42], P[42:48]):
            c, r = eye.mean(0), unit * 0.2
            d.ellipse([c[0] - r, c[1] - r * 0.8, c[0] + r, c[1] + r * 0.8], outline=white,
                      width=line * 2)
    if aus.get("25", 0) > 0.3:  # teeth: a bright band along the upper lip
        teeth = _mix(skin, (250, 250, 245), min(1.0, strength * aus["25"]))
        d.line(_poly(P[[49, 50, 51, 52, 53]] + [0, unit * 0.03]), fill=teeth, width=line * 2)


def _draw_eyes_brows_nose(d: ImageDraw.ImageDraw, idn: Identity, P: np.ndarray, unit: float,
                          line_w: int) -> None:
    """Open eyes with iris and pupil (a closed eye is its lid line), brows and nose."""
    dark_skin = _mix(idn.skin, (40, 20, 10), 0.35)
    for sl in (slice(36, 42), slice(42, 48)):
        e = P[sl]
        height = (e[[1, 2]] - e[[5, 4]])[:, 1].__abs__().mean()
        if height > unit * 0.03:
            d.polygon(_poly(e), fill=(238, 236, 230))
            c = e.mean(0)
            r = unit * idn.eye_w * 0.32
            ry = min(r, height * 0.55)
            d.ellipse([c[0] - r, c[1] - ry, c[0] + r, c[1] + ry], fill=idn.iris)
            d.ellipse([c[0] - r * 0.4, c[1] - ry * 0.4, c[0] + r * 0.4, c[1] + ry * 0.4], fill=(10, 10, 10))
            d.line(_poly(e[[0, 1, 2, 3]]), fill=(30, 20, 15), width=line_w * 2, joint="curve")
            d.line(_poly(e[[3, 4, 5, 0]]), fill=dark_skin, width=line_w)
        else:
            d.line(_poly(e[[0, 1, 2, 3]]), fill=(30, 20, 15), width=line_w * 2, joint="curve")
    brow_colour = _mix(idn.hair, (0, 0, 0), 0.3)
    for sl in (slice(17, 22), slice(22, 27)):
        d.line(_poly(P[sl]), fill=brow_colour, width=max(2, int(unit * 0.08)), joint="curve")
    d.line(_poly(P[27:31]), fill=dark_skin, width=line_w)
    d.line(_poly(P[31:36]), fill=dark_skin, width=line_w * 2, joint="curve")


def _draw_mouth(d: ImageDraw.ImageDraw, skin: tuple, aus: dict[str, float], talk: float,
                P: np.ndarray, unit: float, line_w: int) -> None:
    """Lips, then the opening with teeth when the lips are apart."""
    lip = _mix(skin, (170, 40, 50), 0.5)
    d.polygon(_poly(P[48:60]), fill=lip)
    opening = np.abs(P[66, 1] - P[62, 1])
    if opening > unit * 0.03:
        d.polygon(_poly(P[60:68]), fill=(60, 15, 20))
        if aus.get("12", 0) + aus.get("10", 0) > 0.4 or talk > 0.3:
            teeth = np.vstack([P[60:65], P[[64, 63, 62, 61, 60]] + [0, opening * 0.35]])
            d.polygon(_poly(teeth), fill=(240, 240, 235))
    else:
        d.line(_poly(P[60:65]), fill=_mix(lip, (0, 0, 0), 0.5), width=line_w, joint="curve")


def _draw_occluder(d: ImageDraw.ImageDraw, occluder: tuple, skin: tuple, P: np.ndarray,
                   unit: float, big: int, line_w: int) -> None:
    """A scene's occluder: a hand, an object, or glasses."""
    kind, cx, cy, rx, ry, colour = occluder
    box = [(cx - rx) * big, (cy - ry) * big, (cx + rx) * big, (cy + ry) * big]
    if kind == "hand":
        d.ellipse(box, fill=_mix(skin, (255, 255, 255), 0.1))
    elif kind == "object":
        d.rectangle(box, fill=colour)
    else:
        for e in (P[36:42], P[42:48]):
            c, r = e.mean(0), unit * 0.25
            d.ellipse([c[0] - r, c[1] - r * 0.75, c[0] + r, c[1] + r * 0.75],
                      outline=colour, width=line_w * 3)


def _finish(img: Image.Image, scene: Scene, size: int) -> Image.Image:
    """The scene's blur and lighting gradient on the downsampled image."""
    if scene.blur:
        img = img.filter(ImageFilter.GaussianBlur(scene.blur))
    if scene.light_gain:
        yy, xx = np.mgrid[0:size, 0:size] / size - 0.5
        g = 1 + scene.light_gain * 2 * (xx * np.cos(scene.light_dir) + yy * np.sin(scene.light_dir))
        img = Image.fromarray(np.clip(np.asarray(img) * g[..., None], 0, 255).astype(np.uint8))
    return img
