"""Run S2D on your own video: find the face, slide a window of T frames, smooth, write results.

``python -m s2d_lib.predict VIDEO --checkpoint CKPT [--out DIR] [--window 16 --stride 4]``

The face is found with dlib's HOG detector (``s2d_lib.face_detection``; a centre crop when dlib
is missing or with ``--detector none``), cropped square with a margin and resized to the
model's input. Every window of T = ``model.num_frames`` consecutive frames, ``--stride`` frames
apart, gets a softmax over the classes; a centred moving average over ``--smooth`` windows
steadies the timeline. ``--out`` receives ``predictions.csv`` / ``predictions.json`` (per
window: start, end and centre time, raw and smoothed probabilities), ``timeline.png`` (the
probabilities under a filmstrip of the face) and ``annotated.mp4`` (or ``annotated.gif`` with
``--gif``): face box, current label and a probability bar per class. The folder is written
under a temporary name and renamed when complete, so a failed run leaves nothing behind.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av
import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from .checkpoints import CheckpointError, checkpoint_metadata, load_any_checkpoint
from .data.decode import VIDEO_EXTENSIONS, ClipReader
from .data.errors import DatasetError
from .data.labels import CLASSES
from .data.transforms import normalize
from .face_detection import (DETECTORS, DLIB_NAME, FaceDetectionError, crop_face, square_box,
                             track_face)
from .model import S2D
from .progress import progress_bar

__all__ = ["Prediction", "PredictError", "class_names_for", "window_starts", "smooth_probs",
           "predict_video", "timeline_figure", "annotate_frame", "write_outputs", "main"]

#: Frame rate assumed when the input (a folder of frames) does not say.
DEFAULT_FPS = 25.0
#: Class orders guessed from the class count when a checkpoint does not name its classes.
_ORDER_BY_COUNT = {len(CLASSES["DFEW"]): "DFEW", len(CLASSES["MAFW"]): "MAFW"}
OUTPUT_FILES = ("predictions.csv", "predictions.json", "timeline.png")
#: Face box and label colour in the annotated video: visible on most backgrounds.
BOX_COLOUR = (255, 215, 0)


class PredictError(ValueError):
    """The input cannot be predicted on (too short, wrong window) or the output folder is taken."""


@dataclass
class Prediction:
    """Per-window class probabilities of one video and how they were obtained."""

    video: str
    fps: float
    num_frames: int
    frame_size: tuple[int, int]          # width, height
    window: int                          # T frames per window
    stride: int
    starts: np.ndarray                   # (W,) first frame of each window
    probs: np.ndarray                    # (W, K) softmax per window
    smoothed: np.ndarray                 # (W, K) centred moving average over ``smooth`` windows
    smooth: int
    class_names: tuple[str, ...]
    boxes: np.ndarray                    # (num_frames, 4) face box x0, y0, x1, y1 per frame
    margin: float                        # crop = square around the box, + margin on each side
    detector: str                        # "dlib-hog" or "centre-crop"
    detector_note: str
    checkpoint: str = ""
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per stage

    @property
    def start_times(self) -> np.ndarray:
        """Start of each window in seconds."""
        return self.starts / self.fps

    @property
    def end_times(self) -> np.ndarray:
        """End of each window (end of its last frame) in seconds."""
        return (self.starts + self.window) / self.fps

    @property
    def timestamps(self) -> np.ndarray:
        """Centre of each window in seconds: where its prediction sits on the timeline."""
        return (self.starts + self.window / 2) / self.fps

    @property
    def labels(self) -> list[str]:
        """The class with the highest smoothed probability in each window."""
        return [self.class_names[k] for k in self.smoothed.argmax(1)]

    @property
    def crop_boxes(self) -> np.ndarray:
        """(num_frames, 4) square crops fed to the model."""
        return np.stack([square_box(b, self.margin) for b in self.boxes])

    def window_at(self, frame: int) -> int:
        """The window whose centre is nearest to ``frame``."""
        return int(np.abs(self.starts + self.window / 2 - (frame + 0.5)).argmin())

    def rows(self) -> list[dict]:
        """One dict per window: frames, times, label (top smoothed class), raw and smoothed
        probabilities."""
        out = []
        for w, start in enumerate(self.starts):
            out.append({"window": w, "start_frame": int(start),
                        "end_frame": int(start + self.window - 1),
                        "start_s": round(float(self.start_times[w]), 4),
                        "end_s": round(float(self.end_times[w]), 4),
                        "centre_s": round(float(self.timestamps[w]), 4),
                        "label": self.labels[w],
                        "probs": {c: float(p) for c, p in zip(self.class_names, self.probs[w])},
                        "smoothed": {c: float(p) for c, p in
                                     zip(self.class_names, self.smoothed[w])}})
        return out

    def to_json(self) -> dict:
        """Everything in plain JSON types (``predictions.json``)."""
        return {"video": self.video, "checkpoint": self.checkpoint, "fps": self.fps,
                "num_frames": self.num_frames, "frame_size": list(self.frame_size),
                "window": self.window, "stride": self.stride, "smooth": self.smooth,
                "class_names": list(self.class_names), "detector": self.detector,
                "detector_note": self.detector_note, "margin": self.margin,
                "seconds": self.seconds, "windows": self.rows(),
                "face_boxes": np.round(self.boxes, 1).tolist()}


def class_names_for(model: S2D, dataset: str | None = None, metadata: dict | None = None
                    ) -> tuple[str, ...]:
    """Class names of ``model``'s outputs: ``dataset``'s order if given, else the names in the
    checkpoint's ``metadata`` (:func:`~s2d_lib.checkpoints.checkpoint_metadata`), else DFEW's
    (7 classes) or MAFW's (11) order, else ``class k``."""
    k = model.num_classes
    meta = metadata or {}
    if dataset is None and len(meta.get("class_names") or ()) == k:
        return tuple(meta["class_names"])
    dataset = dataset or (meta.get("dataset") if meta.get("dataset") in CLASSES else None) \
        or _ORDER_BY_COUNT.get(k)
    if dataset is not None:
        if len(CLASSES[dataset]) != k:
            raise PredictError(f"{dataset} has {len(CLASSES[dataset])} classes, the model {k}")
        return CLASSES[dataset]
    return tuple(f"class {i}" for i in range(k))


def window_starts(num_frames: int, window: int, stride: int) -> np.ndarray:
    """First frames of the windows of ``window`` frames, ``stride`` apart, inside the video."""
    return np.arange(0, num_frames - window + 1, stride)


def smooth_probs(probs: np.ndarray, k: int) -> np.ndarray:
    """Centred moving average of ``k`` windows (fewer at the ends), so rows still sum to 1."""
    if k <= 1:
        return probs.copy()
    kernel = np.ones(k)
    total = np.stack([np.convolve(probs[:, j], kernel, mode="same") for j in range(probs.shape[1])],
                     axis=1)
    count = np.convolve(np.ones(len(probs)), kernel, mode="same")[:, None]
    return total / count


def _probe_fps(path: Path) -> float | None:
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


def _open(frames) -> ClipReader | np.ndarray:
    """A ``ClipReader`` for a path, the reader or (N, H, W, 3) array itself otherwise."""
    return ClipReader(frames) if isinstance(frames, (str, os.PathLike)) else frames


def _read(frames, indices: Sequence[int]) -> np.ndarray:
    """Frames at ``indices`` from a ``ClipReader`` or a (N, H, W, 3) array."""
    return frames.read(indices) if hasattr(frames, "read") else np.asarray(frames)[list(indices)]


def predict_video(video: str | os.PathLike | ClipReader, model: S2D, window: int | None = None,
                  stride: int = 4, smooth: int = 5, detector: str = "auto", detect_every: int = 5,
                  margin: float = 0.25, class_names: Sequence[str] | None = None,
                  batch_size: int = 4, device: str = "auto", fps: float | None = None,
                  progress: bool = True) -> Prediction:
    """Per-window probabilities of ``model`` on the largest face of ``video``.

    ``window`` must be the model's frame count T (None takes it); ``smooth`` is the moving
    average length in windows; ``detector`` is ``auto`` / ``dlib`` / ``none`` (centre crop).
    Raises ``DatasetError`` (unreadable video), ``FaceDetectionError`` (no face) or
    ``PredictError`` (shorter than one window), each naming the file.
    """
    reader = video if isinstance(video, ClipReader) else ClipReader(video)
    T = model.num_frames
    if window is not None and window != T:
        raise PredictError(f"--window {window}: this checkpoint was trained on windows of {T} "
                           "frames (its temporal embedding has T entries)")
    if min(stride, smooth, detect_every, batch_size) < 1:
        raise PredictError(f"stride ({stride}), smooth ({smooth}), detect_every ({detect_every}) "
                           f"and batch_size ({batch_size}) must be at least 1")
    probed_fps = _probe_fps(reader.path)
    n = len(reader)
    if n < T:
        raise PredictError(f"{reader.path}: {n} frames, shorter than one window of {T} frames")
    fps = fps or probed_fps
    if fps is None:
        warnings.warn(f"{reader.path}: frame rate unknown, assuming {DEFAULT_FPS} fps",
                      stacklevel=2)
        fps = DEFAULT_FPS
    names = tuple(class_names) if class_names is not None else class_names_for(model)
    if len(names) != model.num_classes:
        raise PredictError(f"{len(names)} class names for a model with {model.num_classes} classes")
    dev = torch.device(device if device != "auto" else
                       ("cuda" if torch.cuda.is_available() else "cpu"))
    model = model.eval().to(dev)

    clock = time.perf_counter()
    face = track_face(reader, detector, every=detect_every, progress=progress)
    seconds = {"detection": time.perf_counter() - clock}
    if face.detector != DLIB_NAME:
        margin = 0.0  # the centre square is the crop already; a margin would add black borders

    clock = time.perf_counter()
    size = model.config["img_size"]
    crops_at = np.stack([square_box(b, margin) for b in face.boxes])
    starts = window_starts(n, T, stride)
    to_input = normalize()
    # Each frame is cropped, normalised and run through the (frozen, per-frame) landmark network
    # once, however many windows share it: with stride 4 that is 4x less landmark work.
    cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    probs = []
    with progress_bar(total=len(starts), desc="S2D windows", unit="window",
                      disable=not progress) as bar, \
            torch.inference_mode():
        for i in range(0, len(starts), batch_size):
            batch = starts[i:i + batch_size]
            missing = [f for f in range(batch[0], batch[-1] + T) if f not in cache]
            if missing:
                crops = np.stack([crop_face(frame, crops_at[f], size)
                                  for f, frame in zip(missing, _read(reader, missing))])
                x = to_input(torch.from_numpy(crops).permute(0, 3, 1, 2)).to(dev)
                cache.update(zip(missing, zip(x, model.landmark_features(x))))
            video_in = torch.stack([torch.stack([cache[f][0] for f in range(s, s + T)], dim=1)
                                    for s in batch])                       # (B, 3, T, S, S)
            landmarks = torch.stack([torch.stack([cache[f][1] for f in range(s, s + T)])
                                     for s in batch])                      # (B, T, 128, g, g)
            logits, _ = model(video_in, landmarks)
            probs.append(logits.float().softmax(-1).cpu().numpy())
            keep_from = starts[i + batch_size] if i + batch_size < len(starts) else n
            cache = {f: v for f, v in cache.items() if f >= keep_from}
            bar.update(len(batch))
    seconds["model"] = time.perf_counter() - clock
    probs = np.concatenate(probs).astype(np.float64)
    height, width = _read(reader, [0]).shape[1:3]
    return Prediction(video=str(reader.path), fps=float(fps), num_frames=n,
                      frame_size=(int(width), int(height)), window=T, stride=stride, starts=starts,
                      probs=probs, smoothed=smooth_probs(probs, smooth), smooth=smooth,
                      class_names=names, boxes=face.boxes, margin=margin, detector=face.detector,
                      detector_note=face.note, seconds=seconds)


# ---------------------------------------------------------------- figures and annotated video

def _colours(k: int) -> list[tuple[int, int, int]]:
    from matplotlib import colormaps
    cmap = colormaps["tab10" if k <= 10 else "tab20"]
    return [tuple(int(255 * c) for c in cmap(i)[:3]) for i in range(k)]


def timeline_figure(prediction: Prediction, frames=None, num_thumbs: int = 8) -> Figure:
    """The smoothed (solid) and raw (faint) probabilities over time under a filmstrip of the face
    crops. ``frames``: the video's path, ``ClipReader`` or (N, H, W, 3) array; None re-opens it."""
    p = prediction
    frames = _open(frames if frames is not None else p.video)
    duration = p.num_frames / p.fps
    times = (np.arange(num_thumbs) + 0.5) * duration / num_thumbs
    picks = np.minimum((times * p.fps).astype(int), p.num_frames - 1)
    crops = p.crop_boxes
    strip = np.concatenate([crop_face(frame, crops[f], 96)
                            for f, frame in zip(picks, _read(frames, picks))], axis=1)
    fig = Figure(figsize=(10, 4.8), layout="constrained")
    strip_ax, ax = fig.subplots(2, 1, sharex=True, height_ratios=[1, 2])
    strip_ax.imshow(strip, extent=(0, duration, 0, 1), aspect="auto")
    strip_ax.set_yticks([])
    strip_ax.set_title(f"{Path(p.video).name}: S2D probabilities per window of {p.window} frames "
                       f"(smoothed over {p.smooth}; face: {p.detector})", fontsize=10)
    colours = [tuple(c / 255 for c in rgb) for rgb in _colours(len(p.class_names))]
    for k, name in enumerate(p.class_names):
        ax.plot(p.timestamps, p.probs[:, k], color=colours[k], alpha=0.25, linewidth=0.8)
        ax.plot(p.timestamps, p.smoothed[:, k], color=colours[k], linewidth=1.8, label=name)
    ax.set_xlim(0, duration)
    ax.set_ylim(0, 1)
    ax.set_xlabel("time (s), window centres")
    ax.set_ylabel("probability")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    return fig


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def annotate_frame(frame: np.ndarray, prediction: Prediction, index: int) -> Image.Image:
    """Frame ``index`` with its face box and label, beside a panel of per-class probability bars
    (the smoothed probabilities of the nearest window). Width and height are even (H.264)."""
    p = prediction
    h, w = frame.shape[:2]
    probs = p.smoothed[p.window_at(index)]
    top = int(probs.argmax())
    colours = _colours(len(p.class_names))
    row = int(np.clip(h // (len(p.class_names) + 2), 12, 40))
    font = _font(max(9, int(row * 0.6)))
    panel = max(160, 10 * row)
    canvas = Image.new("RGB", (w + panel + (w + panel) % 2, h + h % 2), (24, 24, 24))
    canvas.paste(Image.fromarray(frame), (0, 0))
    draw = ImageDraw.Draw(canvas)
    x0, y0, x1, y1 = p.boxes[index]
    line = max(2, h // 160)
    draw.rectangle([x0, y0, x1, y1], outline=BOX_COLOUR, width=line)
    label = f"{p.class_names[top]} {probs[top]:.0%}"
    tx, ty = x0, max(0, y0 - row)
    draw.rectangle(draw.textbbox((tx, ty), label, font=font), fill=(0, 0, 0))
    draw.text((tx, ty), label, fill=BOX_COLOUR, font=font)
    draw.text((w + 6, 2), f"t = {index / p.fps:6.2f} s", fill=(230, 230, 230), font=font)
    name_w = int(panel * 0.45)
    for k, (name, prob) in enumerate(zip(p.class_names, probs)):
        y = (k + 1) * row + 4
        draw.text((w + 6, y), name[:12], fill=(230, 230, 230), font=font)
        bar_x = w + name_w
        bar_w = panel - name_w - 6
        draw.rectangle([bar_x, y + 2, bar_x + bar_w, y + row - 4], outline=(80, 80, 80))
        draw.rectangle([bar_x, y + 2, bar_x + bar_w * prob, y + row - 4],
                       fill=colours[k], outline=(255, 255, 255) if k == top else None)
    return canvas


def _video_codec() -> str:
    """The first H.264 encoder this PyAV build has, else MPEG-4 part 2."""
    for name in ("libx264", "h264", "mpeg4"):
        try:
            av.codec.Codec(name, "w")
            return name
        except (av.codec.codec.UnknownCodecError, ValueError):
            continue
    raise PredictError("this PyAV build has no H.264 or MPEG-4 encoder; use --gif")


def _write_video(path: Path, prediction: Prediction, frames, chunk: int = 32) -> None:
    rate = Fraction(prediction.fps).limit_denominator(1001)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(_video_codec(), rate=rate)
        stream.pix_fmt = "yuv420p"
        for i in range(0, prediction.num_frames, chunk):
            indices = list(range(i, min(i + chunk, prediction.num_frames)))
            for f, frame in zip(indices, _read(frames, indices)):
                image = annotate_frame(frame, prediction, f)
                if f == 0:
                    stream.width, stream.height = image.size
                container.mux(stream.encode(av.VideoFrame.from_image(image)))
        container.mux(stream.encode())


def _write_gif(path: Path, prediction: Prediction, frames, max_fps: float = 10.0) -> None:
    step = max(1, round(prediction.fps / max_fps))  # a GIF at full frame rate is huge and slow
    indices = list(range(0, prediction.num_frames, step))
    images = [annotate_frame(frame, prediction, f)
              for f, frame in zip(indices, _read(frames, indices))]
    images[0].save(path, save_all=True, append_images=images[1:], loop=0,
                   duration=round(1000 * step / prediction.fps))


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise PredictError(f"{out}: already exists and is not empty; pass --overwrite to "
                           "replace it")


def write_outputs(prediction: Prediction, out_dir: str | os.PathLike, frames=None,
                  gif: bool = False, overwrite: bool = False) -> dict[str, Path]:
    """Write the CSV, JSON, timeline and annotated video into ``out_dir`` all at once (built in
    a temporary folder beside it, renamed when complete). Returns name -> path."""
    out = Path(out_dir)
    _check_out(out, overwrite)
    frames = _open(frames if frames is not None else prediction.video)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{os.getpid()}.{time.time_ns()}.tmp"
    tmp.mkdir()  # not mkdtemp: its 0700 mode would stay on the renamed folder
    try:
        rows = prediction.rows()
        names = prediction.class_names
        with open(tmp / "predictions.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["window", "start_frame", "end_frame", "start_s", "end_s", "centre_s",
                             "label"] + [f"p_{c}" for c in names]
                            + [f"smoothed_{c}" for c in names])
            for r in rows:
                writer.writerow([r[k] for k in ("window", "start_frame", "end_frame", "start_s",
                                                "end_s", "centre_s", "label")]
                                + [f"{r['probs'][c]:.6f}" for c in names]
                                + [f"{r['smoothed'][c]:.6f}" for c in names])
        (tmp / "predictions.json").write_text(json.dumps(prediction.to_json(), indent=1))
        timeline_figure(prediction, frames).savefig(tmp / "timeline.png", dpi=120)
        video_name = "annotated.gif" if gif else "annotated.mp4"
        (_write_gif if gif else _write_video)(tmp / video_name, prediction, frames)
        if out.exists():
            old = tmp.with_suffix(".old")
            out.rename(old)
            tmp.rename(out)
            if old.is_dir():
                shutil.rmtree(old)
            else:
                old.unlink()
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {name: out / name for name in OUTPUT_FILES + (video_name,)}


def main(argv: Sequence[str] | None = None) -> Prediction:
    """Command line entry point; bad input exits with ``error: FILE: problem``."""
    parser = argparse.ArgumentParser(prog="python -m s2d_lib.predict",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("video", help="a video file (or a folder of frames)")
    parser.add_argument("--checkpoint", required=True,
                        help="ours (.safetensors) or the authors' released .pth")
    parser.add_argument("--out", default=None, help="output folder (default runs/predict/<video>)")
    parser.add_argument("--window", type=int, default=None,
                        help="frames per window: the checkpoint's T (default)")
    parser.add_argument("--stride", type=int, default=4, help="frames between window starts")
    parser.add_argument("--smooth", type=int, default=5, help="moving average over K windows")
    parser.add_argument("--model", default="s2d_base_patch16_224",
                        help="architecture of a released .pth")
    parser.add_argument("--landmark-weights", default=None, help="MobileFaceNet weights")
    parser.add_argument("--dataset", default=None, choices=sorted(CLASSES),
                        help="class order of the checkpoint (default: its metadata, else DFEW "
                             "for 7 classes, MAFW for 11)")
    parser.add_argument("--detector", default="auto", choices=DETECTORS,
                        help="auto: dlib if installed, else centre crop; none: centre crop")
    parser.add_argument("--detect-every", type=int, default=5,
                        help="run the detector on every k-th frame, interpolate between")
    parser.add_argument("--margin", type=float, default=0.25,
                        help="crop margin on each side, as a fraction of the face box")
    parser.add_argument("--fps", type=float, default=None, help="override the video's frame rate")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--gif", action="store_true", help="annotated.gif instead of .mp4")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else Path("runs") / "predict" / Path(args.video).stem
    try:
        _check_out(out, args.overwrite)
        video = Path(args.video)
        if video.is_file() and video.suffix.lower() not in VIDEO_EXTENSIONS:
            _probe_fps(video)  # FFmpeg's verdict first: decord opens some text files, logging in C++
        reader = ClipReader(args.video)  # fail on a bad video before loading a model
        model = load_any_checkpoint(args.checkpoint, args.model, args.landmark_weights)
        try:
            names = class_names_for(model, args.dataset, checkpoint_metadata(args.checkpoint))
        except PredictError as exc:
            raise PredictError(f"{args.checkpoint}: {exc}") from None
        prediction = predict_video(reader, model, args.window, args.stride, args.smooth,
                                   args.detector, args.detect_every, args.margin, names,
                                   args.batch_size,
                                   args.device, args.fps, progress=not args.no_progress)
        prediction.checkpoint = str(args.checkpoint)
        paths = write_outputs(prediction, out, reader, args.gif, args.overwrite)
    except (DatasetError, FaceDetectionError, PredictError, CheckpointError) as exc:
        raise SystemExit(f"error: {exc}") from None
    total = sum(prediction.seconds.values())
    labels = prediction.labels
    top = max(set(labels), key=labels.count)
    print(f"{prediction.video}: {prediction.num_frames} frames at {prediction.fps:g} fps, "
          f"{len(labels)} windows; face: {prediction.detector} ({prediction.detector_note})")
    print(f"most frequent label: {top} ({labels.count(top) / len(labels):.0%} of windows); "
          f"{prediction.num_frames / total:.1f} frames/s (detection + model)")
    for path in paths.values():
        print(f"-> {path}", file=sys.stderr)
    return prediction


if __name__ == "__main__":
    main()
