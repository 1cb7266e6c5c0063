"""Prediction on a video: face track, windows, smoothing, outputs, the command line, bad input."""
from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from skimage.data import astronaut

import s2d_lib  # noqa: F401
from s2d_lib import face_detection
from s2d_lib.checkpoints import save_checkpoint
from s2d_lib.data.decode import ClipReader
from s2d_lib.data.labels import CLASSES
from s2d_lib.data.synthetic.clips import plan_clip
from s2d_lib.data.synthetic.face import Pose, sample_identity
from s2d_lib.data.synthetic.render import render_face, sample_scene
from s2d_lib.data.synthetic.writers import write_mp4
from s2d_lib.data.transforms import normalize
from s2d_lib.checkpoints import load_any_checkpoint
from s2d_lib.face_detection import (centre_box, crop_face, interpolate_boxes, iou, largest_track,
                                    link_tracks, square_box, track_face)
from s2d_lib.predict import (PredictError, class_names_for, main, predict_video, smooth_probs,
                             window_starts, write_outputs)

from conftest import random_state_dict

CLIP_FRAMES, CLIP_SIZE, T = 36, 128, 8
#: The astronaut's face (hairline to chin, cheek to cheek) in the 512 x 512 image, read off the
#: picture by eye.
ASTRONAUT_FACE = np.array([175, 70, 270, 165])


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A synthetic talking face written to mp4, and the box around its landmarks per frame."""
    rng = np.random.default_rng(0)
    idn, scene = sample_identity(rng), sample_scene(rng, CLIP_SIZE, occlusion=0, blur=0)
    plan = plan_clip(rng, "happiness", CLIP_FRAMES, Pose())
    frames, boxes = [], []
    for t in range(CLIP_FRAMES):
        img, lm = render_face(idn, plan.aus(t), plan.poses[t], scene, CLIP_SIZE,
                              float(plan.talk[t]))
        frames.append(img)
        boxes.append([*lm.min(0), *lm.max(0)])
    path = tmp_path_factory.mktemp("clip") / "face.mp4"
    write_mp4(path, frames)
    return path, np.array(boxes)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = timm.create_model("s2d_tiny_patch8_64", num_classes=7, num_frames=T)
    return save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


def _write_still(path: Path, image: np.ndarray, n: int) -> Path:
    write_mp4(path, [Image.fromarray(image)] * n)
    return path


def test_windows_and_smoothing():
    assert window_starts(36, 8, 4).tolist() == [0, 4, 8, 12, 16, 20, 24, 28]
    assert window_starts(8, 8, 4).tolist() == [0]
    probs = np.random.default_rng(0).dirichlet(np.ones(5), size=12)
    np.testing.assert_allclose(smooth_probs(probs, 1), probs)
    smoothed = smooth_probs(probs, 5)
    np.testing.assert_allclose(smoothed.sum(1), 1.0)
    np.testing.assert_allclose(smoothed[5], probs[3:8].mean(0))  # centred: 2 each side
    np.testing.assert_allclose(smoothed[0], probs[:3].mean(0))   # shorter at the ends


def test_tracks_keep_the_largest_face_and_fill_gaps():
    small = np.array([0.0, 0, 10, 10])
    big = np.array([50.0, 50, 90, 90])
    detections = {0: np.stack([small, big]), 5: np.stack([big + 2, small]), 10: small[None],
                  15: np.stack([small, big + 6])}
    tracks = link_tracks(detections)
    assert len(tracks) == 2
    face = largest_track(tracks)
    assert sorted(face) == [0, 5, 15]
    boxes = interpolate_boxes(face, 20)
    np.testing.assert_allclose(boxes[10], big + 4)     # interpolated across the missed frame 10
    np.testing.assert_allclose(boxes[19], big + 6)     # held after the last detection
    assert iou(big, big + 2) == pytest.approx(38 * 38 / (2 * 40 * 40 - 38 * 38))
    np.testing.assert_allclose(square_box(np.array([10.0, 20, 30, 60]), 0.25), [-10, 10, 50, 70])
    np.testing.assert_allclose(centre_box(320, 240), [40, 0, 280, 240])


def test_class_names_from_metadata_dataset_or_count():
    def model(k):  # class_names_for reads only the class count of the model
        return SimpleNamespace(num_classes=k)

    assert class_names_for(model(7)) == CLASSES["DFEW"]
    assert class_names_for(model(7), "FERV39k") == CLASSES["FERV39k"]
    raf = dict(dataset="RAF-DB", class_names=list(CLASSES["RAF-DB"]))
    assert class_names_for(model(7), metadata=raf) == CLASSES["RAF-DB"]
    assert class_names_for(model(7), metadata=dict(dataset="FERV39k")) == CLASSES["FERV39k"]
    assert class_names_for(model(11)) == CLASSES["MAFW"]
    assert class_names_for(model(3)) == ("class 0", "class 1", "class 2")
    with pytest.raises(PredictError, match="MAFW has 11 classes, the model 7"):
        class_names_for(model(7), "MAFW")


def test_detector_finds_the_astronaut(tmp_path):
    video = _write_still(tmp_path / "astronaut.mp4", astronaut(), 20)
    track = track_face(ClipReader(video), "dlib", every=5, progress=False)
    assert track.detector == "dlib-hog" and track.detected_frames == track.checked_frames == 5
    assert track.boxes.shape == (20, 4)
    for box in track.boxes:
        assert iou(box, ASTRONAUT_FACE) > 0.5, box


def test_centre_crop_when_dlib_is_missing(clip, monkeypatch):
    monkeypatch.setattr(face_detection, "dlib", None)
    with pytest.warns(UserWarning, match="dlib is not installed: centre crop"):
        track = track_face(ClipReader(clip[0]), "auto", progress=False)
    assert track.detector == "centre-crop"
    np.testing.assert_allclose(track.boxes, np.tile([0, 0, CLIP_SIZE, CLIP_SIZE], (CLIP_FRAMES, 1)))


def test_end_to_end_tiny_model(clip, tiny_checkpoint, tmp_path):
    path, face_boxes = clip
    model = load_any_checkpoint(tiny_checkpoint)
    pred = predict_video(path, model, stride=4, smooth=3, progress=False)
    n_windows = len(window_starts(CLIP_FRAMES, T, 4))
    assert pred.probs.shape == pred.smoothed.shape == (n_windows, 7)
    assert pred.fps == pytest.approx(25) and pred.class_names == CLASSES["DFEW"]
    assert pred.detector == "dlib-hog"
    assert np.median([iou(a, b) for a, b in zip(pred.boxes, face_boxes)]) > 0.5
    # The per-frame caches (crops, landmark features) give what one plain forward pass gives.
    start = pred.starts[2]
    window = range(start, start + T)
    crops = [crop_face(frame, pred.crop_boxes[f], 64)
             for f, frame in zip(window, ClipReader(path).read(window))]
    video = normalize()(torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2))
    with torch.inference_mode():
        expected = model(video.transpose(0, 1)[None])[0].softmax(-1)[0].numpy()
    np.testing.assert_allclose(pred.probs[2], expected, atol=1e-5)

    paths = write_outputs(pred, tmp_path / "out", path)
    with open(paths["predictions.csv"]) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == n_windows
    for prefix in ("p_", "smoothed_"):
        sums = [sum(float(r[prefix + c]) for c in CLASSES["DFEW"]) for r in rows]
        np.testing.assert_allclose(sums, 1.0, atol=1e-4)
    centres = [float(r["centre_s"]) for r in rows]
    assert np.all(np.diff(centres) > 0)
    assert all(float(r["end_s"]) - float(r["start_s"]) == pytest.approx(T / 25) for r in rows)
    saved = json.loads(paths["predictions.json"].read_text())
    assert len(saved["windows"]) == n_windows and saved["detector"] == "dlib-hog"
    assert len(saved["face_boxes"]) == CLIP_FRAMES
    with Image.open(paths["timeline.png"]) as im:
        assert im.size[0] > 600 and im.size[1] > 300
    annotated = ClipReader(paths["annotated.mp4"])
    assert len(annotated) == CLIP_FRAMES
    assert annotated.read([0]).shape[1:] == (CLIP_SIZE, CLIP_SIZE + 160, 3)


def test_command_line_centre_crop_gif(clip, tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "cli"
    pred = main([str(clip[0]), "--checkpoint", str(tiny_checkpoint), "--out", str(out),
                 "--detector", "none", "--stride", "7", "--gif", "--no-progress"])
    assert "centre-crop" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["annotated.gif", "predictions.csv",
                                                     "predictions.json", "timeline.png"]
    saved = json.loads((out / "predictions.json").read_text())
    assert saved["detector"] == "centre-crop" and "turned off" in saved["detector_note"]
    assert saved["margin"] == 0 and np.allclose(pred.crop_boxes, [0, 0, CLIP_SIZE, CLIP_SIZE])
    starts = [w["start_frame"] for w in saved["windows"]]
    assert starts == [0, 7, 14, 21, 28] == pred.starts.tolist()
    with Image.open(out / "annotated.gif") as im:
        assert im.n_frames == len(range(0, CLIP_FRAMES, 2))  # 25 fps shown at 12.5 fps
    with pytest.raises(SystemExit, match="not empty; pass --overwrite"):
        main([str(clip[0]), "--checkpoint", str(tiny_checkpoint), "--out", str(out)])
    assert (out / "annotated.gif").is_file()
    write_outputs(pred, out, clip[0], overwrite=True)
    assert sorted(p.name for p in out.parent.iterdir()) == ["cli"]
    assert sorted(p.name for p in out.iterdir()) == ["annotated.mp4", "predictions.csv",
                                                     "predictions.json", "timeline.png"]


def _bad_inputs(tmp_path: Path, clip: Path) -> dict[str, tuple[Path, str]]:
    text = tmp_path / "notes.txt"
    text.write_text("not a video\n")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[:1500])
    gradient = np.linspace(0, 255, 128 * 128 * 3).reshape(128, 128, 3).astype(np.uint8)
    short = tmp_path / "short.mp4"
    write_mp4(short, [Image.fromarray(f) for f in ClipReader(clip).read(range(T - 3))])
    return {"not a video": (text, "not a video"),
            "unreadable": (truncated, "unreadable video"),
            "missing": (tmp_path / "absent.mp4", "no such"),
            "no face": (_write_still(tmp_path / "wall.mp4", gradient, 12), "no face found"),
            "too short": (short, f"{T - 3} frames, shorter than one window of {T}")}


@pytest.mark.parametrize("case", ["not a video", "unreadable", "missing", "no face", "too short"])
def test_bad_input_exits_with_a_message_and_writes_nothing(case, clip, tiny_checkpoint, tmp_path):
    video, problem = _bad_inputs(tmp_path, clip[0])[case]
    out = tmp_path / "results" / "out"
    with pytest.raises(SystemExit) as exc:
        main([str(video), "--checkpoint", str(tiny_checkpoint), "--out", str(out), "--no-progress"])
    message = str(exc.value.code)
    assert message.startswith("error: ") and str(video) in message and problem in message
    assert not out.exists()
    assert not (out.parent.exists() and any(out.parent.iterdir()))


def test_released_checkpoint_one_window(released_shapes, tmp_path):
    checkpoint, landmarks = tmp_path / "DFEW-fold1.pth", tmp_path / "mobilefacenet.pth.tar"
    torch.save({"model": random_state_dict(released_shapes["s2d_base_patch16_224_T16"])},
               checkpoint)
    torch.save({"state_dict": random_state_dict(released_shapes["mobilefacenet_112_136"], 1)},
               landmarks)
    frames = np.random.default_rng(0).integers(0, 256, (16, 48, 64, 3), dtype=np.uint8)
    video = tmp_path / "short.mp4"
    write_mp4(video, [Image.fromarray(f) for f in frames])
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # landmark weights given: no warning expected
        pred = main([str(video), "--checkpoint", str(checkpoint), "--landmark-weights",
                     str(landmarks), "--detector", "none", "--smooth", "1", "--out", str(out),
                     "--no-progress"])
    assert pred.window == 16 and pred.starts.tolist() == [0]
    assert pred.class_names == CLASSES["DFEW"]
    np.testing.assert_allclose(pred.probs.sum(1), 1.0, rtol=1e-5)
    assert json.loads((out / "predictions.json").read_text())["checkpoint"] == str(checkpoint)
