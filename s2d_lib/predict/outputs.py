"""What a prediction becomes on disk: the CSV / JSON table, the timeline figure, the annotated video.

:func:`write_outputs` builds every file in a temporary folder beside ``out_dir`` and renames it
when complete, so a failed run leaves nothing half-written.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from ..face_detection import crop_face
from .stream import open_video, turned
from .video import NO_FACE, Prediction, PredictError

__all__ = ["OUTPUT_FILES", "timeline_figure", "annotate_frame", "write_table", "write_outputs",
           "check_out"]

OUTPUT_FILES = ("predictions.csv", "predictions.json", "timeline.png")
#: Face box and label colour in the annotated video: visible on most backgrounds.
BOX_COLOUR = (255, 215, 0)
NO_FACE_COLOUR = (150, 150, 150)


def _open(frames, prediction: Prediction):
    """The frames as the prediction saw them: a path opened as ``predict_video`` opens it, a
    reader or a (N, H, W, 3) array, turned by the prediction's turn."""
    if isinstance(frames, (str, os.PathLike)):
        frames = open_video(frames)
    elif not hasattr(frames, "read"):
        frames = _ArrayReader(np.asarray(frames))
    return turned(frames, prediction.turn)


class _ArrayReader:
    """An (N, H, W, 3) array with a reader's ``read``."""

    def __init__(self, frames: np.ndarray) -> None:
        self.frames, self.path = frames, "frames"

    def __len__(self) -> int:
        return len(self.frames)

    def read(self, indices) -> np.ndarray:
        return self.frames[list(indices)]


def _read(frames, indices) -> np.ndarray:
    """Frames at ``indices`` from a reader."""
    return frames.read(indices)


def _colours(k: int) -> list[tuple[int, int, int]]:
    from matplotlib import colormaps
    cmap = colormaps["tab10" if k <= 10 else "tab20"]
    return [tuple(int(255 * c) for c in cmap(i)[:3]) for i in range(k)]


def _no_face_spans(p: Prediction) -> list[tuple[float, float]]:
    """Time spans (s) of runs of windows without a face, each window's share of the timeline
    reaching half-way to its neighbours' centres."""
    half = p.windows.stride_seconds / 2
    spans: list[tuple[float, float]] = []
    for centre, ok in zip(p.timestamps, p.has_face):
        if ok:
            continue
        lo, hi = centre - half, centre + half
        if spans and lo <= spans[-1][1] + 1e-9:
            spans[-1] = (spans[-1][0], hi)
        else:
            spans.append((lo, hi))
    return spans


def timeline_figure(prediction: Prediction, frames=None, num_thumbs: int = 8) -> Figure:
    """The smoothed (solid) and raw (faint) probabilities over time under a filmstrip of the face
    crops; windows without a face are a grey band. ``frames``: the video's path, reader or
    (N, H, W, 3) array as given to ``predict_video`` (turned here by the prediction's turn); None
    re-opens it."""
    p = prediction
    frames = _open(frames if frames is not None else p.video, p)
    duration = p.num_frames / p.fps
    times = (np.arange(num_thumbs) + 0.5) * duration / num_thumbs
    picks = np.minimum((times * p.fps).astype(int), p.num_frames - 1)
    crops = p.crop_boxes
    strip = np.concatenate([crop_face(frame, crops[f], 96, p.rolls[f])
                            for f, frame in zip(picks, _read(frames, picks))], axis=1)
    fig = Figure(figsize=(10, 4.8), layout="constrained")
    strip_ax, ax = fig.subplots(2, 1, sharex=True, height_ratios=[1, 2])
    strip_ax.imshow(strip, extent=(0, duration, 0, 1), aspect="auto")
    strip_ax.set_yticks([])
    how = "consecutive frames" if p.windows.consecutive else f"{p.windows.span:.2f} s"
    strip_ax.set_title(f"{Path(p.video).name}: S2D probabilities per window of {p.window} frames "
                       f"over {how} (smoothed over {p.smooth}; face: {p.detector})", fontsize=10)
    for k, (lo, hi) in enumerate(_no_face_spans(p)):
        ax.axvspan(max(lo, 0), min(hi, duration), color="0.8", zorder=0,
                   label=NO_FACE if k == 0 else None)
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
    (the smoothed probabilities of the nearest window; "no face" and empty bars in a window
    without a face). Width and height are even (H.264)."""
    p = prediction
    h, w = frame.shape[:2]
    window = p.window_at(index)
    face = bool(p.has_face[window])
    probs = np.nan_to_num(p.smoothed[window]) if face else np.zeros(len(p.class_names))
    top = int(probs.argmax())
    colours = _colours(len(p.class_names))
    row = int(np.clip(h // (len(p.class_names) + 2), 12, 40))
    font = _font(max(9, int(row * 0.6)))
    panel = max(160, 10 * row)
    canvas = Image.new("RGB", (w + panel + (w + panel) % 2, h + h % 2), (24, 24, 24))
    canvas.paste(Image.fromarray(frame), (0, 0))
    draw = ImageDraw.Draw(canvas)
    x0, y0, x1, y1 = p.boxes[index]
    colour = BOX_COLOUR if face else NO_FACE_COLOUR
    if face or p.face_present[index]:
        draw.rectangle([x0, y0, x1, y1], outline=colour, width=max(2, h // 160))
    label = f"{p.class_names[top]} {probs[top]:.0%}" if face else NO_FACE
    tx, ty = (x0, max(0, y0 - row)) if face else (4, 4)
    draw.rectangle(draw.textbbox((tx, ty), label, font=font), fill=(0, 0, 0))
    draw.text((tx, ty), label, fill=colour, font=font)
    draw.text((w + 6, 2), f"t = {index / p.fps:6.2f} s", fill=(230, 230, 230), font=font)
    name_w = int(panel * 0.45)
    for k, (name, prob) in enumerate(zip(p.class_names, probs)):
        y = (k + 1) * row + 4
        draw.text((w + 6, y), name[:12], fill=(230, 230, 230), font=font)
        bar_x = w + name_w
        bar_w = panel - name_w - 6
        draw.rectangle([bar_x, y + 2, bar_x + bar_w, y + row - 4], outline=(80, 80, 80))
        if face:
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


def write_table(prediction: Prediction, path: str | os.PathLike) -> None:
    """``predictions.csv``: one row per window; ``frames`` holds its frame indices separated by
    spaces, ``face`` the fraction of them showing the face; label and probabilities are empty
    in a window without a face."""
    names = prediction.class_names
    columns = ("window", "frames", "start_s", "end_s", "centre_s", "face", "label")
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(list(columns) + [f"p_{c}" for c in names] + [f"smoothed_{c}" for c in names])
        for r in prediction.rows():
            cells = dict(r, frames=" ".join(map(str, r["frames"])), label=r["label"] or "")
            probs = [f"{r[key][c]:.6f}" if r[key] else "" for key in ("probs", "smoothed")
                     for c in names]
            writer.writerow([cells[k] for k in columns] + probs)


def check_out(out: Path, overwrite: bool) -> None:
    """``PredictError`` when ``out`` holds something and ``overwrite`` is not set."""
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise PredictError(f"{out}: already exists and is not empty; pass --overwrite to "
                           "replace it")


def _replace(tmp: Path, out: Path) -> None:
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


def write_outputs(prediction: Prediction, out_dir: str | os.PathLike, frames=None,
                  gif: bool = False, overwrite: bool = False) -> dict[str, Path]:
    """Write the CSV, JSON, timeline and annotated video into ``out_dir`` all at once (built in
    a temporary folder beside it, renamed when complete). Returns name -> path."""
    out = Path(out_dir)
    check_out(out, overwrite)
    source = frames if frames is not None else prediction.video
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{os.getpid()}.{time.time_ns()}.tmp"
    tmp.mkdir()  # not mkdtemp: its 0700 mode would stay on the renamed folder
    try:
        write_table(prediction, tmp / "predictions.csv")
        # NaN is not JSON: windows without a face already hold None.
        (tmp / "predictions.json").write_text(json.dumps(prediction.to_json(), indent=1))
        timeline_figure(prediction, source).savefig(tmp / "timeline.png", dpi=120)
        video_name = "annotated.gif" if gif else "annotated.mp4"
        (_write_gif if gif else _write_video)(tmp / video_name, prediction,
                                              _open(source, prediction))
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {name: out / name for name in OUTPUT_FILES + (video_name,)}
