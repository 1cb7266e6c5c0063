"""Finding the face in a video: detect, link into tracks, follow one face, crop it as the datasets do.

The detector is BlazeFace (:mod:`s2d_lib.blazeface`, weights shipped in ``trained/blazeface/``):
a box and six keypoints per face, a few milliseconds per frame on a CPU, and it keeps the face
at the peak of an expression and with the head turned, where dlib's HOG frontal-face detector
(``detector="dlib"``, the classic baseline; ``pip install "s2d-notebooks[notebooks]"``) loses it.
It runs on every ``every``-th frame. Detections are linked from one detected frame to the next
by IoU into tracks; tracks that are one face lost for a while (hidden, turned away) and found
again where it was are joined (:func:`join_tracks`), after the tracks whose best detection
scores below :data:`MIN_TRACK_SCORE` are dropped (a flicker on letters or a pattern, which could
otherwise continue a face that left); the joined track with the
largest total area is the face followed, and the track's note says which of the faces seen it is. Its box and
roll are interpolated between detected frames and held before the first and after the last one.
A frame counts as showing the face when that face was detected at most ``every`` frames away: a
face that leaves the picture is not silently replaced by its last box, nor by another face.

**The crop rule** (:func:`crop_face`), beside the datasets': DFEW's frames are "aligned and
affine-transformed" to 224 x 224 (the face turned so that the eyes are level, then cut);
MAFW ships ``frames_crop_align_224`` (aligned the same way, 224 x 224); FERV39k ships face
crops. Here the frame is turned about the face box's centre by the **roll** of the eye line
(BlazeFace's two eye keypoints, :func:`roll_of`), so that the eyes are level, then the square of
side ``(1 + 2 margin) x`` the box's longer side around the box's centre is cut and resized to the
model's input (``margin`` 0.25: forehead, ears and chin come in). Without keypoints (dlib's box,
the centre crop) the roll is 0 and the crop is the same square, unturned. The predictor, its
outputs and the course's sample clips all cut their crops with this one function.

With ``detector="none"`` (or ``"auto"`` when the BlazeFace weights are missing, with a warning)
the crop is the largest centred square of the frame.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image

from .extras import require
from .progress import progress_bar

__all__ = ["FaceDetector", "FaceTrack", "FaceDetectionError", "DETECTORS", "DLIB_NAME",
           "MIN_TRACK_SCORE",
           "BLAZEFACE_NAME", "CENTRE_NAME", "iou", "link_tracks", "join_tracks", "largest_track",
           "interpolate_boxes", "square_box", "centre_box", "crop_face", "roll_of",
           "face_present", "make_detector", "track_face"]

#: A track whose best detection scores below this is dropped: on the real sample clips BlazeFace
#: flickers on a title's letters at 0.50-0.61 for a few frames, while faces (real and drawn) score
#: 0.65 and more per frame and 0.74 or more at their best (dlib gives no score: 1).
MIN_TRACK_SCORE = 0.7
#: ``auto``: BlazeFace (a centre crop, with a warning, when its weights are missing);
#: ``blazeface``; ``dlib``: dlib's HOG detector (the ``notebooks`` extra); ``none``: centre crop.
DETECTORS = ("auto", "blazeface", "dlib", "none")
BLAZEFACE_NAME = "blazeface"
DLIB_NAME = "dlib-hog"
CENTRE_NAME = "centre-crop"


class FaceDetectionError(ValueError):
    """No face found in any frame, or the requested detector is not installed."""


class FaceDetector:
    """dlib's HOG frontal-face detector on a reduced grayscale frame (the classic baseline).

    ``detector(frame uint8 (H, W, 3)) -> (k, 4)`` boxes ``x0, y0, x1, y1`` in the frame's pixels.
    dlib is imported here, not with the module: it comes with the ``notebooks`` extra.
    """

    def __init__(self, max_side: int = 320, upsample: int = 1) -> None:
        try:
            dlib = require("dlib", "notebooks", "dlib's HOG face detector")
        except ImportError as exc:
            raise FaceDetectionError(str(exc)) from None
        self.max_side, self.upsample = max_side, upsample
        self._detect = dlib.get_frontal_face_detector()

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        gray = Image.fromarray(frame).convert("L")
        if scale < 1.0:
            gray = gray.resize((round(w * scale), round(h * scale)), Image.BILINEAR)
        found = self._detect(np.asarray(gray), self.upsample)
        boxes = np.array([[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in found],
                         dtype=np.float64).reshape(-1, 4)
        return boxes / scale

    def detect(self, frame: np.ndarray) -> tuple[np.ndarray, None, None]:
        """Boxes; no keypoints, no scores (the same interface as BlazeFace's)."""
        return self(frame), None, None


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes ``x0, y0, x1, y1``."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _area(box: np.ndarray) -> float:
    return float((box[2] - box[0]) * (box[3] - box[1]))


def link_tracks(detections: dict[int, np.ndarray], min_iou: float = 0.3, max_gap: int = 3
                ) -> list[dict[int, np.ndarray]]:
    """Link per-frame detections ``{frame: (k, 4 + extra)}`` (a box, then anything carried along,
    such as the roll) into tracks ``{frame: row}``.

    Each detection joins the live track whose last box overlaps it most (IoU >= ``min_iou``),
    larger detections choosing first; a track that found nothing for ``max_gap`` detected
    frames in a row ends (a face that left the picture and came back starts a new one).
    """
    tracks: list[dict[int, np.ndarray]] = []
    misses: list[int] = []
    for frame in sorted(detections):
        live = [i for i in range(len(tracks)) if misses[i] <= max_gap]
        taken: set[int] = set()
        for box in sorted(detections[frame], key=_area, reverse=True):
            scores = [(iou(tracks[i][max(tracks[i])], box), i) for i in live if i not in taken]
            best = max(scores, default=(0.0, -1))
            if best[0] >= min_iou:
                tracks[best[1]][frame] = box
                taken.add(best[1])
            else:
                tracks.append({frame: box})
                misses.append(0)
                taken.add(len(tracks) - 1)
        for i in live:
            misses[i] = 0 if i in taken else misses[i] + 1
    return tracks


def _centre_side(box: np.ndarray) -> tuple[np.ndarray, float]:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]), float(max(box[2] - box[0],
                                                                            box[3] - box[1]))


def join_tracks(tracks: Sequence[dict[int, np.ndarray]], max_shift: float = 1.0,
                max_scale: float = 1.5) -> list[dict[int, np.ndarray]]:
    """Tracks of one face that was lost for a while, joined: a track that starts after another
    has ended continues it when its first box lies within ``max_shift`` box sides of the other's
    last box and their sizes differ by at most ``max_scale`` times (the nearest such one, when
    several qualify). A face hidden for a moment keeps its identity instead of becoming two short
    tracks that another, steadily seen face would outweigh."""
    chains: list[dict[int, np.ndarray]] = []
    for track in sorted(tracks, key=min):
        start, side = _centre_side(track[min(track)])
        best, best_shift = None, max_shift
        for chain in chains:
            if max(chain) >= min(track):
                continue
            end, end_side = _centre_side(chain[max(chain)])
            shift = float(np.linalg.norm(start - end)) / max(end_side, 1e-9)
            if shift <= best_shift and max(side, end_side) <= max_scale * min(side, end_side):
                best, best_shift = chain, shift
        if best is None:
            chains.append(dict(track))
        else:
            best.update(track)
    return chains


def largest_track(tracks: Sequence[dict[int, np.ndarray]]) -> dict[int, np.ndarray]:
    """The track with the largest total box area: the face seen longest and closest."""
    return max(tracks, key=lambda t: sum(_area(b) for b in t.values()))


def interpolate_boxes(track: dict[int, np.ndarray], num_frames: int) -> np.ndarray:
    """``(num_frames, D)`` rows (a box, then what the track carries): linear between the track's
    frames, held beyond its ends."""
    frames = np.array(sorted(track))
    rows = np.stack([track[f] for f in frames])
    t = np.arange(num_frames)
    return np.stack([np.interp(t, frames, rows[:, j]) for j in range(rows.shape[1])], axis=1)


def square_box(box: np.ndarray, margin: float = 0.25) -> np.ndarray:
    """The square around ``box``'s centre whose side is its longer side plus ``margin`` of it on
    each side (a detector's box ends at the brows; the margin brings in forehead, ears and chin)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = max(box[2] - box[0], box[3] - box[1]) * (0.5 + margin)
    return np.array([cx - half, cy - half, cx + half, cy + half])


def centre_box(width: int, height: int) -> np.ndarray:
    """The largest centred square of a ``width`` x ``height`` frame."""
    side = min(width, height)
    x0, y0 = (width - side) / 2, (height - side) / 2
    return np.array([x0, y0, x0 + side, y0 + side], dtype=np.float64)


def roll_of(keypoints: np.ndarray) -> float:
    """How far a face is turned clockwise as seen, in degrees: the angle of the line from its
    right eye to its left eye (BlazeFace's keypoints 0 and 1) against the horizontal."""
    (rx, ry), (lx, ly) = keypoints[0], keypoints[1]
    return math.degrees(math.atan2(ly - ry, lx - rx))


def crop_face(frame: np.ndarray, box: np.ndarray, size: int, roll: float = 0.0) -> np.ndarray:
    """The square ``box`` of ``frame``, turned back by ``roll`` degrees (:func:`roll_of`) about its
    centre so that the eyes are level, resized to ``size`` x ``size`` (uint8); outside the frame
    is black. ``roll`` 0: the square as it stands."""
    image = Image.fromarray(frame)
    if abs(roll) < 1e-6:
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        crop = image.crop((x0, y0, x1, y1))  # PIL pads outside the frame with 0
        return np.asarray(crop.resize((size, size), Image.BILINEAR))
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = box[2] - box[0]
    reach = int(math.ceil(side / math.sqrt(2))) + 2  # the turned square's corners lie inside
    left, top = int(round(cx)) - reach, int(round(cy)) - reach
    region = image.crop((left, top, left + 2 * reach, top + 2 * reach))
    # PIL turns counter-clockwise by a positive angle: a face turned clockwise comes back level
    region = region.rotate(roll, resample=Image.BILINEAR, center=(cx - left, cy - top))
    inner = (cx - left - side / 2, cy - top - side / 2, cx - left + side / 2, cy - top + side / 2)
    crop = region.crop(tuple(int(round(v)) for v in inner))
    return np.asarray(crop.resize((size, size), Image.BILINEAR))


@dataclass
class FaceTrack:
    """Per-frame face boxes, the face's roll, and how they were found."""

    boxes: np.ndarray            # (num_frames, 4) face box x0, y0, x1, y1 in frame pixels
    detector: str                # "blazeface", "dlib-hog" or "centre-crop"
    note: str                    # why the centre crop was used, or what the detector saw
    detected_frames: int = 0     # frames where the followed face has a detection
    checked_frames: int = 0      # frames the detector ran on
    present: np.ndarray | None = None  # (num_frames,) bool: the followed face is seen there
    rolls: np.ndarray | None = None    # (num_frames,) degrees the face is turned clockwise
    faces: int = 0               # faces (joined tracks) seen in the checked frames

    def __post_init__(self) -> None:
        if self.present is None:  # no detector ran: every frame is taken to show the face
            self.present = np.ones(len(self.boxes), dtype=bool)
        if self.rolls is None:
            self.rolls = np.zeros(len(self.boxes))


def _distance(frames: np.ndarray, points: Sequence[int]) -> np.ndarray:
    """Each of ``frames``' distance to the nearest of the sorted ``points`` (inf without any)."""
    points = np.asarray(points)
    if not len(points):
        return np.full(len(frames), np.inf)
    i = np.clip(np.searchsorted(points, frames), 1, len(points) - 1) if len(points) > 1 else \
        np.zeros(len(frames), dtype=int)
    near = np.abs(frames - points[i])
    return np.minimum(near, np.abs(frames - points[i - 1])) if len(points) > 1 else near


def face_present(detected: Sequence[int], num_frames: int, reach: int,
                 checked: Sequence[int] | None = None) -> np.ndarray:
    """``(num_frames,)`` bool: a face was detected at most ``reach`` frames away (one missed
    check between two hits does not lose the face; a face gone for longer does). With the
    ``checked`` frames given, a frame nearer to a check that missed the face (other than a single
    miss between two hits) than to one that found it does not count: a face that leaves is not
    stretched ``reach`` frames beyond its last detection."""
    present = np.zeros(num_frames, dtype=bool)
    for f in detected:
        present[max(0, f - reach):f + reach + 1] = True
    if checked is not None:  # misses at the ends of a run of hits, not one between two hits
        order, hits = sorted(checked), set(detected)
        missed = [f for k, f in enumerate(order) if f not in hits and not (
            0 < k < len(order) - 1 and order[k - 1] in hits and order[k + 1] in hits)]
        t = np.arange(num_frames)
        present &= _distance(t, sorted(hits)) <= _distance(t, missed)
    return present


def make_detector(detector: str, upsample: int = 1, max_side: int = 320):
    """``(detect, name)``: ``detect(frame) -> (boxes (k, 4), keypoints (k, 6, 2) or None, ...)``
    for ``detector`` (:data:`DETECTORS`), or ``(None, why)`` when the centre crop stands in."""
    if detector not in DETECTORS:
        raise ValueError(f"detector {detector!r}: expected one of {DETECTORS}")
    if detector == "none":
        return None, "face detection turned off: centre crop"
    if detector == "dlib":
        return FaceDetector(max_side=max_side, upsample=upsample).detect, DLIB_NAME
    from .blazeface import BlazeFaceDetector
    try:
        return BlazeFaceDetector().detect, BLAZEFACE_NAME
    except FileNotFoundError as exc:
        if detector == "blazeface":
            raise FaceDetectionError(str(exc)) from None
        return None, f"{exc}: centre crop instead of a face detector"


def _where(box: np.ndarray, width: int) -> str:
    x = (box[0] + box[2]) / 2 / width
    return "left" if x < 1 / 3 else "right" if x > 2 / 3 else "middle"


def _detect_checked(reader, detect, checked: list[int], chunk: int, progress: bool
                    ) -> dict[int, np.ndarray]:
    """``{frame: (k, 6)}``: each face's box, roll and score, in the checked frames with a face."""
    detections: dict[int, np.ndarray] = {}
    with progress_bar(total=len(checked), desc="face detection", unit="frame",
                      disable=not progress) as bar:
        for i in range(0, len(checked), chunk):
            indices = checked[i:i + chunk]
            for frame_index, frame in zip(indices, reader.read(indices)):
                boxes, points, scores = detect(frame)
                if len(boxes):
                    rolls = [roll_of(p) for p in points] if points is not None else [0.0] * len(boxes)
                    scores = np.ones(len(boxes)) if scores is None else scores
                    detections[frame_index] = np.column_stack([boxes, rolls, scores])
            bar.update(len(indices))
    return detections


def track_face(reader, detector: str = "auto", every: int = 5, max_side: int = 320,
               chunk: int = 32, progress: bool = True, upsample: int = 1) -> FaceTrack:
    """The face followed through ``reader`` (a ``ClipReader`` or ``VideoStream``): per-frame box
    and roll of the largest joined track (module docstring), or the centre square when
    ``detector`` is ``"none"`` (or ``"auto"`` without BlazeFace's weights, with a warning).
    ``upsample`` and ``max_side`` apply to dlib's HOG detector: how often it doubles the reduced
    frame (2 finds smaller and less typical faces, about four times slower) and the side the
    frame is reduced to first."""
    detect, name = make_detector(detector, upsample, max_side)
    n = len(reader)
    height, width = reader.read([0]).shape[1:3]
    if detect is None:
        if detector == "auto":
            warnings.warn(f"{reader.path}: {name}", stacklevel=2)
        return FaceTrack(np.tile(centre_box(width, height), (n, 1)), CENTRE_NAME, name)
    checked = sorted(set(range(0, n, every)) | {n - 1})
    detections = _detect_checked(reader, detect, checked, chunk, progress)
    what = "BlazeFace" if name == BLAZEFACE_NAME else "dlib's HOG detector"
    faces = join_tracks([t for t in link_tracks(detections)  # faint ones go before joining
                         if max(row[5] for row in t.values()) >= MIN_TRACK_SCORE])
    if not faces:
        raise FaceDetectionError(f"{reader.path}: no face found in any of the {len(checked)} "
                                 f"frames checked (1 in {every} of {n}) by {what}; "
                                 "use --detector none to run on a centre crop")
    track = largest_track(faces)
    rows = interpolate_boxes(track, n)
    seen = (f"the largest of {len(faces)} faces seen, at the {_where(rows.mean(0), width)} of "
            "the frame" if len(faces) > 1 else "the one face seen")
    note = (f"followed {seen}: detected in {len(track)} of {len(checked)} frames checked"
            + (f" (up-sampled {upsample}x)" if upsample != 1 and name == DLIB_NAME else ""))
    return FaceTrack(rows[:, :4], name, note, detected_frames=len(track),
                     checked_frames=len(checked),
                     present=face_present(sorted(track), n, every, checked),
                     rolls=rows[:, 4], faces=len(faces))
