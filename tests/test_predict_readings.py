"""Readings of a prediction: confidence summaries, labels over a stretch of time, the frames a
face detector misses, and dlib's up-sampling option that recovers the demo's surprise face."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from s2d_course.synthetic.face import Pose, expression_aus, sample_identity
from s2d_course.synthetic.render import render_face, sample_scene
from s2d_course.synthetic.writers import write_mp4
from s2d_lib.data.decode import ClipReader
from s2d_lib.face_detection import FaceDetector, track_face
from s2d_lib.predict import (Prediction, confidence_summary, detect_every_frame, label_counts,
                             miss_runs, plan_windows, top_probability)

NAMES = ("Happy", "Sad", "Fear")


def _prediction(probs: np.ndarray, face: np.ndarray) -> Prediction:
    """A prediction of consecutive 2-frame windows, one per frame step, at 10 fps."""
    n = len(probs) + 1
    windows = plan_windows(n, 10.0, 2, consecutive=True, stride_seconds=0.1)
    present = np.ones(n, dtype=bool)
    present[1:][~face] = False
    present[:-1][~face] &= False
    probs = np.where(face[:, None], probs, np.nan)
    return Prediction(video="v.mp4", fps=10.0, num_frames=n, frame_size=(8, 8), windows=windows,
                      probs=probs, smoothed=probs, smooth=1, class_names=NAMES,
                      boxes=np.zeros((n, 4)), face_present=present, min_face=0.5, margin=0.0,
                      detector="dlib-hog", detector_note="")


def test_confidence_and_labels_over_a_stretch():
    probs = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.5, 0.3, 0.2],
                      [0.1, 0.6, 0.3], [0.3, 0.3, 0.4]])
    face = np.array([True, True, True, True, True, False])
    pred = _prediction(probs, face)
    assert len(pred.windows) == 6 and pred.has_face.tolist() == face.tolist()
    np.testing.assert_allclose(top_probability(pred), [0.9, 0.7, 0.8, 0.5, 0.6])
    c = confidence_summary(pred)
    assert (c.windows, c.median, c.low, c.high) == (5, pytest.approx(0.7), 0.5, 0.9)
    assert c.q25 == pytest.approx(0.6) and c.q75 == pytest.approx(0.8)
    assert "median 0.70" in c.line()
    assert label_counts(pred) == {"Sad": 2, "Happy": 2, "Fear": 1}
    centres = pred.timestamps
    assert label_counts(pred, centres[1], centres[3]) == {"Sad": 1, "Fear": 1}
    assert list(label_counts(pred, centres[3])) == ["Happy", "Sad"]  # most frequent first


def test_miss_runs_and_every_frame_detection():
    found = np.array([1, 0, 0, 1, 1, 0, 1, 0], dtype=bool)
    assert miss_runs(found) == [(1, 2), (5, 5), (7, 7)]
    assert miss_runs(np.ones(3, dtype=bool)) == []

    class Reader:  # what detect_every_frame needs of a ClipReader
        def __len__(self):
            return len(found)

        def read(self, indices):
            return np.stack([np.full((4, 4, 3), i, np.uint8) for i in indices])

    run = detect_every_frame(Reader(), lambda f: np.zeros((int(found[f[0, 0, 0]]), 4)), "fake",
                             chunk=3)
    assert run.found.tolist() == found.tolist() and run.missed.tolist() == [1, 2, 5, 7]
    assert run.line().startswith("fake: face in 4 of 8 frames, 4 missed (frames 1-2, 5, 7)")


def demo_surprise_frames() -> list:
    """The surprise stretch of notebook 06's demo clip (frames 66-89): the drawn face, open-mouthed
    and drifting, as 160 x 120 images."""
    rng = np.random.default_rng(1)
    identity = sample_identity(rng)
    scene = sample_scene(rng, 160, occlusion=0, blur=0)
    frames = []
    for i in range(66, 90):
        pose = Pose(scale=0.45, shift=(-0.18 + 0.36 * i / 89, 0.0), roll=0.05 * np.sin(i / 15))
        image, _ = render_face(identity, expression_aus({"surprise": 1.0}), pose, scene, 160)
        frames.append(image.crop((0, 20, 160, 140)))
    return frames


def test_upsampling_finds_more_of_the_demo_surprise_face(tmp_path):
    """The surprise stretch of notebook 06's demo clip (frames 66-89, written as H.264): dlib's HOG
    detector loses most of the drawn, open-mouthed face at its default up-sampling and finds more
    of it when each frame is doubled once more."""
    frames = demo_surprise_frames()
    path = tmp_path / "surprise.mp4"
    write_mp4(path, frames, fps=25)
    reader = ClipReader(path)
    once = detect_every_frame(reader, FaceDetector(), "up 1")
    twice = detect_every_frame(reader, FaceDetector(upsample=2), "up 2")
    assert len(once.missed) > len(frames) // 2 and \
        len(twice.missed) <= len(once.missed) - len(frames) // 4, \
        (once.line(), twice.line())
    track = track_face(reader, "dlib", every=5, progress=False, upsample=2)
    assert track.detected_frames >= 3 and "up-sampled 2x" in track.note
