"""Prediction on a video: face track, windows, smoothing, outputs, the command line, bad input,
the released checkpoint end to end, and precision options."""
from __future__ import annotations

import csv
import json
import sys
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
from s2d_lib.checkpoints import load_any_checkpoint, save_checkpoint
from s2d_lib.data.decode import ClipReader
from s2d_lib.data.labels import CLASSES
from s2d_course.synthetic.clips import plan_clip
from s2d_course.synthetic.face import Pose, sample_identity
from s2d_course.synthetic.render import render_face, sample_scene
from s2d_course.synthetic.writers import write_mp4
from s2d_lib.data.transforms import normalize
from s2d_lib.face_detection import (centre_box, crop_face, face_present, interpolate_boxes, iou,
                                    largest_track, link_tracks, square_box, track_face)
from s2d_lib.predict import (PROBABILITY_TOLERANCE, PredictError, class_names_for, main,
                             predict_video, prepare_model, write_outputs)

from conftest import random_state_dict

CLIP_FRAMES, CLIP_SIZE, T = 36, 128, 8
#: The astronaut's face (hairline to chin, cheek to cheek) in the 512 x 512 image, read off the
#: picture by eye.
ASTRONAUT_FACE = np.array([175, 70, 270, 165])
OUTPUTS = ["annotated.mp4", "predictions.csv", "predictions.json", "timeline.png"]


def render_clip(seed: int, label: str, num_frames: int, size: int = CLIP_SIZE
                ) -> tuple[list[Image.Image], np.ndarray]:
    """A synthetic talking face and the box around its landmarks per frame."""
    rng = np.random.default_rng(seed)
    idn, scene = sample_identity(rng), sample_scene(rng, size, occlusion=0, blur=0)
    plan = plan_clip(rng, label, num_frames, Pose())
    frames, boxes = [], []
    for t in range(num_frames):
        img, lm = render_face(idn, plan.aus(t), plan.poses[t], scene, size, float(plan.talk[t]))
        frames.append(img)
        boxes.append([*lm.min(0), *lm.max(0)])
    return frames, np.array(boxes)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A synthetic talking face written to mp4 (25 fps), and its landmark box per frame."""
    frames, boxes = render_clip(1, "happiness", CLIP_FRAMES)  # dlib finds this face throughout
    path = tmp_path_factory.mktemp("clip") / "face.mp4"
    write_mp4(path, frames)
    return path, boxes


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised tiny model, saved as one of our checkpoints (no metadata)."""
    torch.manual_seed(0)
    model = timm.create_model("s2d_tiny_patch8_64", num_classes=7, num_frames=T)
    return save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


def _write_still(path: Path, image: np.ndarray, n: int) -> Path:
    write_mp4(path, [Image.fromarray(image)] * n)
    return path


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
    # A face is seen up to ``reach`` frames from a detection.
    present = face_present([0, 5, 15], 25, reach=3)
    assert present.tolist() == [True] * 9 + [False] * 3 + [True] * 7 + [False] * 6
    # Checked every 5th frame: a face that leaves counts up to the midpoint to the check that
    # missed it; a single miss between two hits (frame 10 in the second case) loses nothing.
    checks = [0, 5, 10, 15, 20, 24]
    assert face_present([0, 5, 10], 25, reach=5, checked=checks).tolist() == \
        [True] * 13 + [False] * 12
    assert face_present([0, 5, 15], 25, reach=5, checked=checks).tolist() == \
        [True] * 18 + [False] * 7
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
    assert track.boxes.shape == (20, 4) and track.present.all()
    for box in track.boxes:
        assert iou(box, ASTRONAUT_FACE) > 0.5, box


def test_centre_crop_when_the_blazeface_weights_are_missing(clip, monkeypatch, tmp_path):
    from s2d_lib import blazeface
    monkeypatch.setattr(blazeface, "default_weights", lambda: tmp_path / "absent.safetensors")
    with pytest.warns(UserWarning, match="BlazeFace weights not found.*centre crop"):
        track = track_face(ClipReader(clip[0]), "auto", progress=False)
    assert track.detector == "centre-crop"
    np.testing.assert_allclose(track.boxes, np.tile([0, 0, CLIP_SIZE, CLIP_SIZE], (CLIP_FRAMES, 1)))
    with pytest.raises(face_detection.FaceDetectionError, match="absent.safetensors"):
        track_face(ClipReader(clip[0]), "blazeface", progress=False)


def test_dlib_missing_is_named_with_its_extra(clip, monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib raises ImportError
    with pytest.raises(face_detection.FaceDetectionError, match=r"s2d-notebooks\[notebooks\]"):
        track_face(ClipReader(clip[0]), "dlib", progress=False)
    assert track_face(ClipReader(clip[0]), "auto", progress=False).detector == "blazeface"


def test_end_to_end_tiny_model(clip, tiny_checkpoint, tmp_path):
    path, face_boxes = clip
    model = load_any_checkpoint(tiny_checkpoint)
    pred = predict_video(path, model, consecutive=True, stride_seconds=4 / 25, smooth=3,
                         precision="fp32", progress=False)
    starts = [0, 4, 8, 12, 16, 20, 24, 28]
    np.testing.assert_array_equal(pred.windows.frames, np.array(starts)[:, None] + np.arange(T))
    assert pred.probs.shape == pred.smoothed.shape == (len(starts), 7)
    assert pred.fps == pytest.approx(25) and pred.class_names == CLASSES["DFEW"]
    assert pred.detector == "blazeface" and pred.has_face.all()
    assert np.median([iou(a, b) for a, b in zip(pred.boxes, face_boxes)]) > 0.5
    # The per-frame caches (crops, landmark features) give what one plain forward pass gives.
    window = pred.windows.frames[2]
    crops = [crop_face(frame, pred.crop_boxes[f], 64, pred.rolls[f])
             for f, frame in zip(window, ClipReader(path).read(window))]
    video = normalize()(torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2))
    with torch.inference_mode():
        expected = model(video.transpose(0, 1)[None]).softmax(-1)[0].numpy()
    np.testing.assert_allclose(pred.probs[2], expected, atol=1e-5)

    paths = write_outputs(pred, tmp_path / "out", path)
    with open(paths["predictions.csv"]) as f:
        rows = list(csv.DictReader(f))
    assert [r["frames"] for r in rows] == [" ".join(map(str, range(s, s + T))) for s in starts]
    assert all(float(r["face"]) == 1.0 for r in rows)
    for prefix in ("p_", "smoothed_"):
        sums = [sum(float(r[prefix + c]) for c in CLASSES["DFEW"]) for r in rows]
        np.testing.assert_allclose(sums, 1.0, atol=1e-4)
    assert all(float(r["end_s"]) - float(r["start_s"]) == pytest.approx(T / 25) for r in rows)
    saved = json.loads(paths["predictions.json"].read_text())
    assert saved["consecutive"] and saved["window_seconds"] == pytest.approx(T / 25)
    assert [w["frames"][0] for w in saved["windows"]] == starts
    assert saved["detector"] == "blazeface" and len(saved["face_boxes"]) == CLIP_FRAMES
    assert len(saved["face_rolls"]) == CLIP_FRAMES
    with Image.open(paths["timeline.png"]) as im:
        assert im.size[0] > 600 and im.size[1] > 300
    annotated = ClipReader(paths["annotated.mp4"])
    assert len(annotated) == CLIP_FRAMES
    assert annotated.read([0]).shape[1:] == (CLIP_SIZE, CLIP_SIZE + 160, 3)


def test_command_line_span_windows_centre_crop_gif(clip, tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "cli"
    pred = main([str(clip[0]), "--checkpoint", str(tiny_checkpoint), "--out", str(out),
                 "--detector", "none", "--window-seconds", "0.96", "--stride", "6", "--gif",
                 "--no-progress"])
    assert "centre-crop" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["annotated.gif", "predictions.csv",
                                                     "predictions.json", "timeline.png"]
    saved = json.loads((out / "predictions.json").read_text())
    assert saved["detector"] == "centre-crop" and "turned off" in saved["detector_note"]
    assert saved["margin"] == 0 and np.allclose(pred.crop_boxes, [0, 0, CLIP_SIZE, CLIP_SIZE])
    # 0.96 s = 24 frames at 25 fps; 8 frames, one every 3, from the middle of each segment;
    # 6 frames of stride = 2 grid steps.
    assert saved["window_seconds"] == pytest.approx(0.96) and not saved["consecutive"]
    assert [w["frames"] for w in saved["windows"]] == [
        [s + 1 + 3 * t for t in range(T)] for s in (0, 6, 12)]
    with Image.open(out / "annotated.gif") as im:
        assert im.n_frames == len(range(0, CLIP_FRAMES, 2))  # 25 fps shown at 12.5 fps
    with pytest.raises(SystemExit, match="not empty; pass --overwrite"):
        main([str(clip[0]), "--checkpoint", str(tiny_checkpoint), "--out", str(out)])
    assert (out / "annotated.gif").is_file()
    write_outputs(pred, out, clip[0], overwrite=True)
    assert sorted(p.name for p in out.parent.iterdir()) == ["cli"]
    assert sorted(p.name for p in out.iterdir()) == OUTPUTS


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


@pytest.mark.slow  # the base model's int8 copy scoring a 16-frame window at 224 px
def test_released_checkpoint_end_to_end(released_shapes, tmp_path, capsys):
    """The command with the authors' formats: a DFER .pth and a MobileFaceNet .pth.tar built
    from the reference shapes, on a 2 s clip, writes every output; the default window is 3 s."""
    checkpoint, landmarks = tmp_path / "DFEW-fold1.pth", tmp_path / "mobilefacenet.pth.tar"
    torch.save({"model": random_state_dict(released_shapes["s2d_base_patch16_224_T16"])},
               checkpoint)
    torch.save({"state_dict": random_state_dict(released_shapes["mobilefacenet_112_136"], 1)},
               landmarks)
    frames = np.random.default_rng(0).integers(0, 256, (50, 48, 64, 3), dtype=np.uint8)
    video = tmp_path / "short.mp4"
    write_mp4(video, [Image.fromarray(f) for f in frames])
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # landmark weights given: no warning expected
        pred = main([str(video), "--checkpoint", str(checkpoint), "--landmark-weights",
                     str(landmarks), "--detector", "none", "--smooth", "1", "--out", str(out),
                     "--no-progress"])
    assert "1 windows of 16 frames over 2.00 s" in capsys.readouterr().out  # shorter than 3 s
    assert sorted(p.name for p in out.iterdir()) == OUTPUTS
    assert pred.window == 16 and pred.class_names == CLASSES["DFEW"] and pred.precision == "int8"
    np.testing.assert_allclose(pred.probs.sum(1), 1.0, rtol=1e-5)
    saved = json.loads((out / "predictions.json").read_text())
    assert saved["checkpoint"] == str(checkpoint)
    assert saved["windows"][0]["frames"] == [int((t + 0.5) * 50 / 16) for t in range(16)]
    assert len(ClipReader(out / "annotated.mp4")) == 50


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_faster_precisions_stay_within_the_tolerance(precision):
    torch.manual_seed(0)
    model = timm.create_model("s2d_tiny_patch8_64", num_classes=7, num_frames=T).eval()
    with torch.no_grad():  # a sharper head than the random init's, so probabilities can move
        model.head.fc_cls.weight.mul_(10)
    video = torch.randn(2, 3, T, 64, 64)
    with torch.inference_mode():
        landmarks = model.landmark_features(model.fold_frames(video)).unflatten(0, (2, T))
        cpu = torch.device("cpu")
        ref = prepare_model(model, "fp32", cpu)(video, landmarks).softmax(-1)
        fast = prepare_model(model, precision, cpu)(video, landmarks).softmax(-1)
    assert 0 < (fast - ref).abs().max() < PROBABILITY_TOLERANCE
    assert isinstance(model.head.fc_cls, torch.nn.Linear)  # int8 quantised a copy
