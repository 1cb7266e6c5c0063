"""Finding the face in a video: detect, link into tracks, keep the largest, crop it square.

The detector is dlib's HOG frontal-face detector, whose model ships inside the ``dlib-bin``
wheel (nothing is downloaded). It runs on a grayscale copy of every ``every``-th frame,
reduced so that its longer side is at most ``max_side`` pixels (and up-sampled once inside
dlib, so faces down to ~40 px of the reduced frame are found). Detections are linked from one
detected frame to the next by IoU; the track with the largest total area is the face; its box
is interpolated between detected frames and held before the first and after the last one.
A frame counts as showing a face when a face was detected at most ``every`` frames away: a face
that leaves the picture is not silently replaced by its last box.

Without dlib (or with ``detector="none"``) the crop is the largest centred square of the frame.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image

from .progress import progress_bar

try:  # dlib-bin is a dependency, but a platform without its wheel still gets a centre crop
    import dlib
except ImportError:  # pragma: no cover - depends on the platform
    dlib = None

__all__ = ["FaceDetector", "FaceTrack", "FaceDetectionError", "DETECTORS", "DLIB_NAME",
           "CENTRE_NAME", "iou", "link_tracks", "largest_track", "interpolate_boxes", "square_box",
           "centre_box", "crop_face", "face_present", "track_face"]

#: ``auto``: dlib when importable, else a centre crop (with a warning); ``none``: centre crop.
DETECTORS = ("auto", "dlib", "none")
DLIB_NAME = "dlib-hog"
CENTRE_NAME = "centre-crop"


class FaceDetectionError(ValueError):
    """No face found in any frame, or the requested detector is not installed."""


class FaceDetector:
    """dlib's HOG frontal-face detector on a reduced grayscale frame.

    ``detector(frame uint8 (H, W, 3)) -> (k, 4)`` boxes ``x0, y0, x1, y1`` in the frame's pixels.
    """

    def __init__(self, max_side: int = 320, upsample: int = 1) -> None:
        if dlib is None:
            raise FaceDetectionError("dlib is not installed (pip install dlib-bin)")
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
    """Link per-frame detections ``{frame: (k, 4)}`` into tracks ``{frame: box}``.

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


def largest_track(tracks: Sequence[dict[int, np.ndarray]]) -> dict[int, np.ndarray]:
    """The track with the largest total box area: the face seen longest and closest."""
    return max(tracks, key=lambda t: sum(_area(b) for b in t.values()))


def interpolate_boxes(track: dict[int, np.ndarray], num_frames: int) -> np.ndarray:
    """``(num_frames, 4)`` boxes: linear between the track's frames, held beyond its ends."""
    frames = np.array(sorted(track))
    boxes = np.stack([track[f] for f in frames])
    t = np.arange(num_frames)
    return np.stack([np.interp(t, frames, boxes[:, j]) for j in range(4)], axis=1)


def square_box(box: np.ndarray, margin: float = 0.25) -> np.ndarray:
    """The square around ``box``'s centre whose side is its longer side plus ``margin`` of it on
    each side (dlib's box ends at the brows; the margin brings in forehead, ears and chin)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = max(box[2] - box[0], box[3] - box[1]) * (0.5 + margin)
    return np.array([cx - half, cy - half, cx + half, cy + half])


def centre_box(width: int, height: int) -> np.ndarray:
    """The largest centred square of a ``width`` x ``height`` frame."""
    side = min(width, height)
    x0, y0 = (width - side) / 2, (height - side) / 2
    return np.array([x0, y0, x0 + side, y0 + side], dtype=np.float64)


def crop_face(frame: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """``box`` of ``frame`` resized to ``size`` x ``size`` (uint8); outside the frame is black."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    crop = Image.fromarray(frame).crop((x0, y0, x1, y1))  # PIL pads outside the frame with 0
    return np.asarray(crop.resize((size, size), Image.BILINEAR))


@dataclass
class FaceTrack:
    """Per-frame face boxes and how they were found."""

    boxes: np.ndarray            # (num_frames, 4) face box x0, y0, x1, y1 in frame pixels
    detector: str                # "dlib-hog" or "centre-crop"
    note: str                    # why the centre crop was used, or what the detector saw
    detected_frames: int = 0     # frames where the kept track has a detection
    checked_frames: int = 0      # frames the detector ran on
    present: np.ndarray | None = None  # (num_frames,) bool: the face is seen there

    def __post_init__(self) -> None:
        if self.present is None:  # no detector ran: every frame is taken to show the face
            self.present = np.ones(len(self.boxes), dtype=bool)


def face_present(detected: Sequence[int], num_frames: int, reach: int) -> np.ndarray:
    """``(num_frames,)`` bool: a face was detected at most ``reach`` frames away (one missed
    check between two hits does not lose the face; a face gone for longer does)."""
    present = np.zeros(num_frames, dtype=bool)
    for f in detected:
        present[max(0, f - reach):f + reach + 1] = True
    return present


def track_face(reader, detector: str = "auto", every: int = 5, max_side: int = 320,
               chunk: int = 32, progress: bool = True, upsample: int = 1) -> FaceTrack:
    """The face box in every frame of ``reader`` (a ``ClipReader``): the largest dlib track, or
    the centre square when ``detector`` is ``"none"`` or dlib is missing (``"auto"`` warns).
    ``upsample``: how often dlib doubles the reduced frame before scanning it (2 finds smaller
    and less typical faces, about four times slower)."""
    if detector not in DETECTORS:
        raise ValueError(f"detector {detector!r}: expected one of {DETECTORS}")
    n = len(reader)
    height, width = reader.read([0]).shape[1:3]
    if detector == "dlib" and dlib is None:
        raise FaceDetectionError("detector 'dlib' requested but dlib is not installed "
                                 "(pip install dlib-bin)")
    if detector == "none" or dlib is None:
        note = "face detection turned off: centre crop" if detector == "none" else \
            "dlib is not installed: centre crop instead of a face detector"
        if detector == "auto":
            warnings.warn(f"{reader.path}: {note}", stacklevel=2)
        return FaceTrack(np.tile(centre_box(width, height), (n, 1)), CENTRE_NAME, note)
    detect = FaceDetector(max_side=max_side, upsample=upsample)
    checked = sorted(set(range(0, n, every)) | {n - 1})
    detections: dict[int, np.ndarray] = {}
    with progress_bar(total=len(checked), desc="face detection", unit="frame",
                      disable=not progress) as bar:
        for i in range(0, len(checked), chunk):
            indices = checked[i:i + chunk]
            for frame_index, frame in zip(indices, reader.read(indices)):
                boxes = detect(frame)
                if len(boxes):
                    detections[frame_index] = boxes
            bar.update(len(indices))
    if not detections:
        raise FaceDetectionError(f"{reader.path}: no face found in any of the {len(checked)} "
                                 f"frames checked (1 in {every} of {n}) by dlib's HOG "
                                 "detector; use --detector none to run on a centre crop")
    track = largest_track(link_tracks(detections))
    return FaceTrack(interpolate_boxes(track, n), DLIB_NAME,
                     f"largest face track: detected in {len(track)} of {len(checked)} frames "
                     "checked" + (f" (up-sampled {upsample}x)" if upsample != 1 else ""),
                     detected_frames=len(track), checked_frames=len(checked),
                     present=face_present(sorted(detections), n, reach=every))
