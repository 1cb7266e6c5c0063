"""``python -m s2d_lib.predict VIDEO --checkpoint CKPT [--out DIR] [...]``: the command line."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from ..checkpoints import CheckpointError, checkpoint_metadata, load_any_checkpoint
from ..data.decode import VIDEO_EXTENSIONS
from ..data.errors import DatasetError
from ..data.labels import CLASSES
from ..data.video import FRAME_RATE
from ..face_detection import DETECTORS, FaceDetectionError
from .engine import INFERENCE_PRECISIONS
from .outputs import check_out, write_outputs
from .stream import open_video
from .video import (MIN_FACE_FRACTION, Prediction, PredictError, class_names_for,
                    predict_video, probe_fps)
from .windows import training_span

__all__ = ["main", "summary"]


def _parser() -> argparse.ArgumentParser:
    from . import __doc__ as doc
    parser = argparse.ArgumentParser(prog="python -m s2d_lib.predict",
                                     description=doc.split("\n\n")[0])
    add = parser.add_argument
    add("video", help="a video file (or a folder of frames)")
    add("--checkpoint", required=True, help="ours (.safetensors) or the authors' released .pth")
    add("--out", default=None, help="output folder (default runs/predict/<video>)")
    add("--window-seconds", type=float, default=None,
        help="span of a window, its T frames spread uniformly over it (default: the span of the "
             "checkpoint's training clips: 3 s for a released file)")
    add("--consecutive", action="store_true",
        help="windows of T consecutive frames instead (the default for checkpoints trained on "
             "contiguous windows)")
    stride = parser.add_mutually_exclusive_group()
    stride.add_argument("--stride-seconds", type=float, default=None,
                        help="time between window starts (default: window span / 6)")
    stride.add_argument("--stride", type=int, default=None,
                        help="frames between window starts (= --stride-seconds STRIDE / fps)")
    add("--smooth", type=int, default=5, help="moving average over K windows")
    add("--min-face", type=float, default=MIN_FACE_FRACTION,
        help="fraction of a window's frames that must show the face for it to get an emotion")
    add("--model", default="s2d_base_patch16_224", help="architecture of a released .pth")
    add("--landmark-weights", default=None, help="MobileFaceNet weights")
    add("--trust-checkpoint", action="store_true",
        help="load a .pth that holds pickled Python objects beyond tensors and plain data (runs "
             "code from the file: only for a file from a source you trust)")
    add("--dataset", default=None, choices=sorted(CLASSES),
        help="class order of the checkpoint (default: its metadata, else DFEW for 7 classes, "
             "MAFW for 11)")
    add("--detector", default="auto", choices=DETECTORS,
        help="auto / blazeface: BlazeFace (the default; auto takes a centre crop when its weights "
             "are missing); dlib: dlib's HOG detector (the notebooks extra); none: centre crop")
    add("--detect-every", type=int, default=5,
        help="run the detector on every k-th frame, interpolate between")
    add("--detect-upsample", type=int, default=1,
        help="with --detector dlib: dlib doubles each checked frame this often before scanning "
             "it (2: finds more faces, about four times slower)")
    add("--margin", type=float, default=0.25,
        help="crop margin on each side, as a fraction of the face box")
    add("--fps", type=float, default=None, help="override the video's frame rate")
    add("--precision", default="auto", choices=INFERENCE_PRECISIONS,
        help="auto: int8 on the CPU, fp32 on a GPU (benchmarks/RESULTS.md, 'Video inference')")
    add("--batch-size", type=int, default=4)
    add("--device", default="auto")
    add("--gif", action="store_true", help="annotated.gif instead of .mp4")
    add("--overwrite", action="store_true", help="replace a non-empty --out")
    add("--no-progress", action="store_true")
    return parser


def summary(prediction: Prediction) -> str:
    """Two lines: what was read, and the most frequent label among the windows with a face."""
    p = prediction
    total = sum(p.seconds.values())
    how = "consecutive frames" if p.windows.consecutive else f"{p.windows.span:.2f} s"
    n, faceless = len(p.labels), int((~p.has_face).sum())
    top, count = p.most_frequent()
    verdict = (f"most frequent label: {top} ({count / (n - faceless):.0%} of the windows with a "
               f"face)" if top else "no window shows a face")
    return (f"{p.video}: {p.num_frames} frames at {p.fps:g} fps, {n} windows of {p.window} frames "
            f"over {how}; face: {p.detector} ({p.detector_note})"
            + (f"; frames {p.reading}" if p.reading else "") + "\n"
            f"{verdict}; {faceless} of {n} windows without a face; "
            f"{p.num_frames / p.fps / total:.2f} video-seconds/s ({p.precision}; detection + model)")


def main(argv: Sequence[str] | None = None) -> Prediction:
    """Command line entry point; bad input exits with ``error: FILE: problem``."""
    args = _parser().parse_args(argv)
    out = Path(args.out) if args.out else Path("runs") / "predict" / Path(args.video).stem
    try:
        check_out(out, args.overwrite)
        video = Path(args.video)
        if video.is_file() and video.suffix.lower() not in VIDEO_EXTENSIONS:
            probe_fps(video)  # FFmpeg's verdict first: decord opens some text files, logging in C++
        reader = open_video(args.video)  # fail on a bad video before loading a model
        model = load_any_checkpoint(args.checkpoint, args.model, args.landmark_weights,
                                    trust=args.trust_checkpoint)
        record = checkpoint_metadata(args.checkpoint)  # the facts the checkpoint carries
        try:
            names = class_names_for(model, args.dataset, record)
        except PredictError as exc:
            raise PredictError(f"{args.checkpoint}: {exc}") from None
        span, consecutive = training_span(record, model.num_frames)
        consecutive = consecutive or args.consecutive
        if args.window_seconds is not None and not args.consecutive:
            span, consecutive = args.window_seconds, False
        stride = args.stride_seconds
        if args.stride is not None:
            stride = args.stride / (args.fps or probe_fps(reader.path) or FRAME_RATE)
        prediction = predict_video(reader, model, span, stride, consecutive, args.smooth,
                                   args.detector, args.detect_every, args.margin, args.min_face,
                                   names, args.batch_size, args.device, args.fps,
                                   args.precision, progress=not args.no_progress,
                                   detect_upsample=args.detect_upsample)
        prediction.checkpoint = str(args.checkpoint)
        paths = write_outputs(prediction, out, reader, args.gif, args.overwrite)
    except (DatasetError, FaceDetectionError, PredictError, CheckpointError) as exc:
        raise SystemExit(f"error: {exc}") from None
    print(summary(prediction))
    for path in paths.values():
        print(f"-> {path}")
    return prediction
