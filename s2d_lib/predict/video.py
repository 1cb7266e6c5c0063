"""One video in, per-window class probabilities out: face track, windows, model, smoothing."""
from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Sequence

import av
import numpy as np

from ..data.decode import ClipReader
from ..data.labels import CLASSES
from ..data.video import FRAME_RATE
from ..devices import resolve_device
from ..face_detection import CENTRE_NAME, FaceDetectionError, FaceTrack, square_box, track_face
from ..model import S2D
from .engine import prepare_model, resolve_precision, window_probs
from .stream import VideoStream, open_video, turned
from .windows import Windows, plan_windows, smooth_probs

__all__ = ["Prediction", "PredictError", "class_names_for", "predict_video", "probe_fps",
           "find_face", "turn_words", "TURNS", "MIN_FACE_FRACTION", "NO_FACE"]

#: Frame rate assumed when the input (a folder of frames) does not say.
#: A window whose frames show the face in fewer than this fraction gets no emotion.
MIN_FACE_FRACTION = 0.5
#: What a window without a face is called in the summary, the timeline and the annotated video.
NO_FACE = "no face"
#: Class orders guessed from the class count when a checkpoint does not name its classes.
_ORDER_BY_COUNT = {len(CLASSES["DFEW"]): "DFEW", len(CLASSES["MAFW"]): "MAFW"}


class PredictError(ValueError):
    """The input cannot be predicted on (too short, wrong window) or the output folder is taken."""


@dataclass
class Prediction:
    """Per-window class probabilities of one video and how they were obtained.

    Windows whose face fraction is below ``min_face`` have NaN probabilities and no label.
    """

    video: str
    fps: float
    num_frames: int
    frame_size: tuple[int, int]          # width, height
    windows: Windows                     # frame indices and times of every window
    probs: np.ndarray                    # (W, K) softmax per window (NaN rows: no face)
    smoothed: np.ndarray                 # (W, K) centred moving average over ``smooth`` windows
    smooth: int
    class_names: tuple[str, ...]
    boxes: np.ndarray                    # (num_frames, 4) face box x0, y0, x1, y1 per frame
    face_present: np.ndarray             # (num_frames,) the tracked face was detected there
    min_face: float                      # face fraction a window needs for an emotion
    margin: float                        # crop = square around the box, + margin on each side
    detector: str                        # "blazeface", "dlib-hog" or "centre-crop"
    detector_note: str
    rolls: np.ndarray | None = None      # (num_frames,) degrees the face is turned clockwise
    precision: str = "fp32"
    checkpoint: str = ""
    turn: int = 0                        # degrees the frames were turned (counter-clockwise)
    reading: str = ""                    # how the frames were read (size, rotation, turn)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per stage

    def __post_init__(self) -> None:
        if self.rolls is None:  # no keypoints: the crops are not turned
            self.rolls = np.zeros(self.num_frames)

    @property
    def window(self) -> int:
        """T, frames per window."""
        return self.windows.frames.shape[1]

    @property
    def face_fraction(self) -> np.ndarray:
        """(W,) fraction of each window's frames in which the face was detected."""
        return self.face_present[self.windows.frames].mean(1)

    @property
    def has_face(self) -> np.ndarray:
        """(W,) windows that get an emotion."""
        return self.face_fraction >= self.min_face

    @property
    def timestamps(self) -> np.ndarray:
        """Centre of each window in seconds."""
        return self.windows.centres

    @property
    def labels(self) -> list[str | None]:
        """The class with the highest smoothed probability per window; None without a face."""
        return [self.class_names[int(np.argmax(p))] if ok else None
                for p, ok in zip(self.smoothed, self.has_face)]

    @property
    def crop_boxes(self) -> np.ndarray:
        """(num_frames, 4) square crops fed to the model (each turned by :attr:`rolls` about its
        centre, :func:`~s2d_lib.face_detection.crop_face`)."""
        return np.stack([square_box(b, self.margin) for b in self.boxes])

    def most_frequent(self) -> tuple[str | None, int]:
        """The most frequent label among the windows with a face and how many windows have it."""
        labels = [label for label in self.labels if label is not None]
        if not labels:
            return None, 0
        top = max(self.class_names, key=labels.count)
        return top, labels.count(top)

    def window_at(self, frame: int) -> int:
        """The window whose centre is nearest to ``frame``'s time."""
        return int(np.abs(self.timestamps - (frame + 0.5) / self.fps).argmin())

    def rows(self) -> list[dict]:
        """One dict per window: frames, times, face fraction, label and raw and smoothed
        probabilities (label and probabilities None without a face)."""
        w = self.windows
        out = []
        for i, (frames, ok) in enumerate(zip(w.frames, self.has_face)):
            out.append({"window": i, "frames": [int(f) for f in frames],
                        "start_s": round(float(w.start_times[i]), 4),
                        "end_s": round(float(w.end_times[i]), 4),
                        "centre_s": round(float(w.centres[i]), 4),
                        "face": round(float(self.face_fraction[i]), 4),
                        "label": self.labels[i],
                        "probs": dict(zip(self.class_names, self.probs[i].tolist())) if ok
                        else None,
                        "smoothed": dict(zip(self.class_names, self.smoothed[i].tolist())) if ok
                        else None})
        return out

    def to_json(self) -> dict:
        """Everything in plain JSON types (``predictions.json``)."""
        w = self.windows
        return {"video": self.video, "checkpoint": self.checkpoint, "fps": self.fps,
                "num_frames": self.num_frames, "frame_size": list(self.frame_size),
                "window_frames": self.window, "window_seconds": round(w.span, 6),
                "stride_seconds": round(w.stride_seconds, 6), "consecutive": w.consecutive,
                "smooth": self.smooth, "min_face": self.min_face, "precision": self.precision,
                "class_names": list(self.class_names), "detector": self.detector,
                "detector_note": self.detector_note, "margin": self.margin,
                "face_rolls": np.round(self.rolls, 2).tolist(),
                "turn_degrees": self.turn, "reading": self.reading,
                "windows_without_face": int((~self.has_face).sum()),
                "seconds": self.seconds, "windows": self.rows(),
                "face_boxes": np.round(self.boxes, 1).tolist(),
                "face_detected": self.face_present.astype(int).tolist()}


def class_names_for(model: S2D, dataset: str | None = None, metadata: dict | None = None
                    ) -> tuple[str, ...]:
    """Class names of ``model``'s outputs: ``dataset``'s order if given, else the names in the
    checkpoint's ``metadata`` (:func:`~s2d_lib.checkpoints.checkpoint_metadata`), else DFEW's
    (7 classes) or MAFW's (11) order, else ``class k``."""
    k = model.num_classes
    meta = metadata or {}
    names = meta.get("label_names") or meta.get("class_names") or ()
    if dataset is None and len(names) == k:
        return tuple(names)
    dataset = dataset or (meta.get("dataset") if meta.get("dataset") in CLASSES else None) \
        or _ORDER_BY_COUNT.get(k)
    if dataset is not None:
        if len(CLASSES[dataset]) != k:
            raise PredictError(f"{dataset} has {len(CLASSES[dataset])} classes, the model {k}")
        return CLASSES[dataset]
    return tuple(f"class {i}" for i in range(k))


def probe_fps(path: Path) -> float | None:
    """The frame rate of the video file ``path`` (None for a folder of frames or a stream without
    one); ``PredictError`` when FFmpeg does not see a video in it (decord alone opens some text
    files as one-frame "videos")."""
    if path.is_dir():
        return None
    try:
        with av.open(str(path)) as container:
            kind, streams = container.format.name, container.streams.video
            rate = (streams[0].average_rate or streams[0].guessed_rate) if streams else None
    except av.error.FFmpegError as exc:
        raise PredictError(f"{path}: not a video (FFmpeg cannot read it: {exc.strerror})") from None
    if not streams:
        raise PredictError(f"{path}: not a video (no video stream)")
    if kind == "image2" or kind.endswith("_pipe"):
        raise PredictError(f"{path}: a still image, not a video")
    return float(rate) if rate else None


#: Turns tried, in order, when no face is found upright (counter-clockwise degrees; 270 is a
#: quarter turn clockwise): a portrait clip whose rotation tag is missing or ignored.
TURNS = (270, 90)


def turn_words(degrees: int) -> str:
    """A turn of ``degrees`` counter-clockwise in words."""
    return {0: "upright", 90: "turned 90° counter-clockwise", 180: "turned 180°",
            270: "turned 90° clockwise"}[degrees % 360]


def _lying_turn(face: FaceTrack) -> int:
    """The quarter turns (counter-clockwise degrees) that stand a face found lying on its side
    upright: its median roll while seen, rounded to a multiple of 90 (0 for an upright face)."""
    seen = face.rolls[face.present] if face.present.any() else face.rolls
    return int(round(float(np.median(seen)) / 90.0)) * 90 % 360


def find_face(reader, detector: str = "auto", every: int = 5, progress: bool = True,
              upsample: int = 1) -> tuple[FaceTrack, int]:
    """:func:`~s2d_lib.face_detection.track_face` on ``reader``; when it finds no face upright,
    again on the frames turned a quarter turn either way (:data:`TURNS`), and when the face it
    finds lies on its side (BlazeFace's roll beyond 45 degrees), again on the frames turned to
    stand it upright. Returns the track and the turn (counter-clockwise degrees) under which it
    was found; raises the upright search's ``FaceDetectionError`` when none finds a face."""
    track = partial(track_face, detector=detector, every=every, progress=progress,
                    upsample=upsample)
    try:
        face = track(reader)
    except FaceDetectionError as upright:
        if detector == "none" or "pip install" in str(upright):
            raise
        for degrees in TURNS:
            try:
                face = track(turned(reader, degrees))
            except FaceDetectionError:
                continue
            face.note += f"; no face upright, found with the frames {turn_words(degrees)}"
            return face, degrees
        raise upright
    degrees = _lying_turn(face)
    if degrees:
        roll = float(np.median(face.rolls[face.present]))
        try:
            face = track(turned(reader, degrees))
        except FaceDetectionError:
            return face, 0
        face.note += (f"; the face lay on its side upright (roll {roll:.0f}°), found with the "
                      f"frames {turn_words(degrees)}")
    return face, degrees


def _check_arguments(model: S2D, names: Sequence[str], **counts: int) -> None:
    if len(names) != model.num_classes:
        raise PredictError(f"{len(names)} class names for a model with {model.num_classes} classes")
    small = {k: v for k, v in counts.items() if v < 1}
    if small:
        raise PredictError(", ".join(f"{k} ({v})" for k, v in small.items())
                           + " must be at least 1")


def _plan(reader, T: int, fps: float | None, window_seconds: float | None,
          stride_seconds: float | None, consecutive: bool) -> tuple[float, Windows]:
    """The video's frame rate (given, probed, or :data:`FRAME_RATE` with a warning) and its
    windows of ``T`` frames."""
    fps = fps or (reader.fps if isinstance(reader, VideoStream) else probe_fps(reader.path))
    if fps is None:
        warnings.warn(f"{reader.path}: frame rate unknown, assuming {FRAME_RATE} fps",
                      stacklevel=3)
        fps = FRAME_RATE
    if window_seconds is None and not consecutive:
        consecutive = True  # no span given: the model's own T consecutive frames
    try:
        return fps, plan_windows(len(reader), fps, T, window_seconds, stride_seconds, consecutive)
    except ValueError as exc:
        raise PredictError(f"{reader.path}: {exc}") from None


def predict_video(video: str | os.PathLike | ClipReader | VideoStream, model: S2D,
                  window_seconds: float | None = None, stride_seconds: float | None = None,
                  consecutive: bool = False, smooth: int = 5, detector: str = "auto",
                  detect_every: int = 5, margin: float = 0.25, min_face: float = MIN_FACE_FRACTION,
                  class_names: Sequence[str] | None = None, batch_size: int = 4,
                  device: str = "auto", fps: float | None = None, precision: str = "auto",
                  progress: bool = True, detect_upsample: int = 1) -> Prediction:
    """Per-window probabilities of ``model`` on the largest face of ``video``.

    Windows: :func:`~s2d_lib.predict.windows.plan_windows` (T = ``model.num_frames`` frames
    spread over ``window_seconds``, or consecutive; pick the span with
    :func:`~s2d_lib.predict.windows.training_span`). ``smooth``: moving average length in
    windows; ``detector``: ``auto`` (BlazeFace) / ``blazeface`` / ``dlib`` (HOG, the classic
    baseline) / ``none`` (centre crop); the crops are turned so that the eyes are level (the crop
    rule of :mod:`s2d_lib.face_detection`); ``min_face``: the
    fraction of a window's frames that must show the face for it to get an emotion;
    ``detect_upsample``: dlib's up-sampling of each checked frame (1; 2 finds more faces, slower);
    with several faces the largest face track is followed and the note says which;
    ``precision``: see :mod:`s2d_lib.predict.engine`. A video file is read forward in constant
    memory, upright and at most :data:`~s2d_lib.predict.stream.WORKING_SIDE` pixels wide
    (:class:`~s2d_lib.predict.stream.VideoStream`); when no face is found upright, the frames
    turned a quarter turn either way are tried (:func:`find_face`, the turn is recorded).
    Raises ``DatasetError`` (unreadable video, no video stream), ``FaceDetectionError`` (no
    face at all) or ``PredictError``, each naming the file.
    """
    reader = video if hasattr(video, "read") else open_video(video)
    names = tuple(class_names) if class_names is not None else class_names_for(model)
    _check_arguments(model, names, smooth=smooth, detect_every=detect_every,
                     batch_size=batch_size)
    n = len(reader)
    fps, windows = _plan(reader, model.num_frames, fps, window_seconds, stride_seconds, consecutive)
    dev = resolve_device(device)
    precision = resolve_precision(precision, dev)

    clock = time.perf_counter()
    face, turn = find_face(reader, detector, detect_every, progress, detect_upsample)
    reader = turned(reader, turn)
    seconds = {"detection": time.perf_counter() - clock}
    if face.detector == CENTRE_NAME:
        margin = 0.0  # the centre square is the crop already; a margin would add black borders

    clock = time.perf_counter()
    crops_at = np.stack([square_box(b, margin) for b in face.boxes])
    keep = face.present[windows.frames].mean(1) >= min_face
    run = prepare_model(model, precision, dev)
    probs = np.full((len(windows), model.num_classes), np.nan)
    probs[keep] = window_probs(model, run, reader.read, crops_at, windows.frames[keep],
                               batch_size, dev, progress, rolls=face.rolls)
    seconds["model"] = time.perf_counter() - clock
    height, width = reader.read([0]).shape[1:3]
    inner = getattr(reader, "reader", reader)
    reading = ", ".join(filter(None, [inner.describe() if hasattr(inner, "describe") else "",
                                      turn_words(turn) if turn else ""]))
    return Prediction(video=str(reader.path), fps=float(fps), num_frames=n,
                      frame_size=(int(width), int(height)), windows=windows, probs=probs,
                      smoothed=smooth_probs(probs, smooth), smooth=smooth, class_names=names,
                      boxes=face.boxes, face_present=face.present, min_face=min_face,
                      margin=margin, detector=face.detector, detector_note=face.note,
                      rolls=face.rolls,
                      precision=precision, seconds=seconds, turn=turn, reading=reading)
