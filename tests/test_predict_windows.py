"""Windows as spans of time, and windows without a face."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import timm
import torch
from PIL import Image

import s2d_lib  # noqa: F401
from s2d_lib.checkpoints import load_any_checkpoint
from s2d_lib.data import frame_sampling
from s2d_course.synthetic.writers import write_mp4
from s2d_lib.predict import (NO_FACE, annotate_frame, plan_windows, predict_video, smooth_probs,
                             summary, timeline_figure, training_span, write_outputs)

from test_predict import T, render_clip, tiny_checkpoint  # noqa: F401 (fixture)


def test_span_windows_spread_t_frames_and_slide_on_their_grid():
    w = plan_windows(250, 25.0, 8, window_seconds=3.0, stride_seconds=0.75)
    assert w.span == pytest.approx(3.0) and w.stride == 2 and w.stride_seconds == pytest.approx(0.75)
    # The first window takes the middle of each of 8 segments of 75 frames, as evaluation's
    # uniform sampling does on a 75-frame clip.
    assert w.frames[0].tolist() == frame_sampling.test_segments(75, 8, 1)[0]
    np.testing.assert_array_equal(w.frames[1, :6], w.frames[0, 2:])  # shared with the next
    # 10 s hold 26 grid steps of 0.375 s: windows start at steps 0, 2, ..., 18.
    assert len(w) == 10 and w.end_times[-1] == pytest.approx(18 * 0.375 + 3.0)
    np.testing.assert_allclose(w.centres, w.start_times + 1.5)
    # Consecutive: T frames in a row, stride in frames.
    c = plan_windows(36, 25.0, 8, consecutive=True, stride_seconds=4 / 25)
    assert c.frames[:, 0].tolist() == [0, 4, 8, 12, 16, 20, 24, 28]
    np.testing.assert_array_equal(np.diff(c.frames, axis=1), 1)
    # Shorter than a window: one window over the whole video; fewer than T frames: an error.
    short = plan_windows(40, 25.0, 16, window_seconds=3.0)
    assert len(short) == 1 and short.span == pytest.approx(1.6)
    with pytest.raises(ValueError, match="7 frames, shorter than one window of 8 frames"):
        plan_windows(7, 25.0, 8, window_seconds=3.0)


def test_training_span_follows_the_checkpoint():
    assert training_span({}, 16) == (3.0, False)                             # released .pth
    assert training_span({"frame_sampling": "window"}, 8) == (None, True)
    assert training_span({"frame_sampling": "uniform"}, 8) == (pytest.approx(1.12), False)
    assert training_span({"frame_sampling": "uniform", "clip_seconds": 3}, 8) == (3.0, False)


def test_smoothing_skips_windows_without_a_face():
    probs = np.random.default_rng(0).dirichlet(np.ones(5), size=12)
    np.testing.assert_allclose(smooth_probs(probs, 1), probs)
    smoothed = smooth_probs(probs, 5)
    np.testing.assert_allclose(smoothed.sum(1), 1.0)
    np.testing.assert_allclose(smoothed[5], probs[3:8].mean(0))  # centred: 2 each side
    np.testing.assert_allclose(smoothed[0], probs[:3].mean(0))   # shorter at the ends
    probs[6] = np.nan
    smoothed = smooth_probs(probs, 5)
    assert np.isnan(smoothed[6]).all()
    np.testing.assert_allclose(smoothed[5], probs[[3, 4, 5, 7]].mean(0))


# ------------------------------------------------------------------ a 3 s expression

FPS, SIZE, CLASSES3, IDENTITIES = 25, 32, ("neutral", "happiness", "surprise"), 8


def _episode(seconds: float = 3.0) -> np.ndarray:
    """Expression intensity over an episode: 0.5 s onset, apex, 0.5 s offset."""
    t = np.arange(round(seconds * FPS)) / FPS
    return np.clip(np.minimum(t / 0.5, (seconds - t) / 0.5), 0, 1)


def _render(seed: int, timeline: list[tuple[str, np.ndarray]]) -> list[Image.Image]:
    """Frames of one identity through ``(label, intensities)`` segments (each distinct frame is
    drawn once)."""
    from s2d_course.synthetic.face import Pose, expression_aus, sample_identity
    from s2d_course.synthetic.render import render_face, sample_scene

    rng = np.random.default_rng(seed)
    idn, scene = sample_identity(rng), sample_scene(rng, SIZE, occlusion=0, blur=0)
    drawn: dict[tuple[str, float], Image.Image] = {}
    frames = []
    for label, values in timeline:
        for v in values:
            key = ("neutral", 0.0) if label == "neutral" or v == 0 else (label, round(float(v), 3))
            if key not in drawn:
                aus = expression_aus({key[0]: key[1]}) if key[1] else {}
                drawn[key] = render_face(idn, aus, Pose(), scene, SIZE)[0]
            frames.append(drawn[key])
    return frames


def _train_on_uniform_3s_clips(seed: int = 0, steps: int = 120) -> torch.nn.Module:
    """A small S2D (the tiny architecture, smaller) trained on uniform 8-frame samples of 3 s
    clips of three expressions by 8 identities (about 20 s on two idle CPU cores)."""
    from s2d_lib.data.frame_sampling import train_segments
    from s2d_lib.data.transforms import normalize

    torch.manual_seed(seed)
    model = timm.create_model("s2d_tiny_patch8_64", img_size=SIZE, patch_size=8, embed_dim=64,
                              depth=2, num_heads=2, landmark_input_size=SIZE, num_frames=T,
                              num_classes=3, drop_rate=0.0)
    # This 2-layer model learns the three expressions in 120 steps from PyTorch's default init of
    # the adapters and a small normal head; from the release's init (truncated normal 0.02
    # everywhere) it needs more steps than this test should spend.
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Linear) and not name.startswith("blocks"):
            m.reset_parameters()
    torch.nn.init.zeros_(model.temporal_embedding)
    torch.nn.init.normal_(model.head.fc_cls.weight, std=0.01)
    clips, labels = [], []
    with torch.no_grad():  # the frozen landmark view of every distinct frame, computed once
        for identity in range(IDENTITIES):
            for k, label in enumerate(CLASSES3):
                frames = _render(100 + identity, [(label, _episode())])
                distinct = list({id(f): f for f in frames}.values())
                x = torch.from_numpy(np.stack([np.asarray(f) for f in distinct]))
                x = normalize()(x.permute(0, 3, 1, 2))
                at = {id(f): i for i, f in enumerate(distinct)}
                index = torch.tensor([at[id(f)] for f in frames])
                clips.append((x[index], model.landmark_features(x)[index]))
                labels.append(k)
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    rng, y = np.random.default_rng(seed), torch.tensor(labels)
    model.train()
    for _ in range(steps):
        picks = [train_segments(len(x), T, rng) for x, _ in clips]
        video = torch.stack([x[i].transpose(0, 1) for (x, _), i in zip(clips, picks)])
        landmarks = torch.stack([lm[i] for (_, lm), i in zip(clips, picks)])
        loss = torch.nn.functional.cross_entropy(model(video, landmarks), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


@pytest.mark.slow
@pytest.mark.usefixtures("all_threads")
def test_a_3s_expression_is_read_by_a_model_trained_on_3s_clips(tmp_path):
    model = _train_on_uniform_3s_clips()
    rest = np.zeros(3 * FPS)
    video = tmp_path / "episodes.mp4"  # neutral, happiness, neutral, surprise, neutral: 3 s each
    write_mp4(video, _render(7, [("neutral", rest), ("happiness", _episode()), ("neutral", rest),
                                 ("surprise", _episode()), ("neutral", rest)]), fps=FPS)
    window_seconds, consecutive = training_span({"frame_sampling": "uniform",
                                                 "clip_seconds": 3.0}, T)
    pred = predict_video(video, model, window_seconds, 0.75, consecutive, smooth=1,
                         detector="none", class_names=CLASSES3, precision="fp32", progress=False)
    assert pred.windows.span == pytest.approx(3.0) and len(pred.windows) == 17
    # Each expression is read where it shows: its probability peaks in the window that covers it.
    # (Which class the model prefers on the neutral stretches is left to the rounding of a short
    # run: it differs between CPU types, as S2D_FLOAT=other shows.)
    probs = dict(zip(pred.windows.start_times.round(3), pred.probs))
    happy, surprise = CLASSES3.index("happiness"), CLASSES3.index("surprise")
    assert probs[3.0][happy] > max(probs[0.0][happy], probs[6.0][happy])
    assert probs[9.0][surprise] > max(probs[6.0][surprise], probs[12.0][surprise])
    # The old behaviour stays available: 8 consecutive frames (0.32 s) per window.
    old = predict_video(video, model, consecutive=True, stride_seconds=0.75, smooth=1,
                        detector="none", class_names=CLASSES3, precision="fp32", progress=False)
    assert old.windows.span == pytest.approx(T / FPS)
    np.testing.assert_array_equal(np.diff(old.windows.frames, axis=1), 1)


# ------------------------------------------------------------------ no face

def test_windows_without_a_face_get_no_emotion(tiny_checkpoint, tmp_path):  # noqa: F811
    faces, _ = render_clip(2, "happiness", 30)
    wall = np.linspace(0, 255, 128 * 128 * 3).reshape(128, 128, 3).astype(np.uint8)
    video = tmp_path / "face_then_wall.mp4"
    write_mp4(video, faces + [Image.fromarray(wall)] * 30)
    pred = predict_video(video, load_any_checkpoint(tiny_checkpoint), consecutive=True,
                         stride_seconds=4 / 25, smooth=3, precision="fp32", progress=False)
    assert pred.face_present[:28].all() and not pred.face_present[33:].any()
    first = pred.windows.frames[:, 0]
    expected = pred.face_present[pred.windows.frames].mean(1) >= 0.5
    np.testing.assert_array_equal(pred.has_face, expected)
    assert expected[first < 20].all() and not expected[first >= 32].any()
    assert np.isnan(pred.probs[~expected]).all() and not np.isnan(pred.probs[expected]).any()
    assert [label is None for label in pred.labels] == (~expected).tolist()
    top, count = pred.most_frequent()
    assert top is not None and count == pred.labels.count(top) <= expected.sum()
    faceless = int((~expected).sum())
    assert f"{faceless} of {len(first)} windows without a face" in summary(pred)

    paths = write_outputs(pred, tmp_path / "out", video)
    rows = list(csv.DictReader(open(paths["predictions.csv"])))
    for row, ok in zip(rows, expected):
        assert (row["label"] != "") == ok and (row["p_Happy"] != "") == ok
        assert (float(row["face"]) >= 0.5) == ok
    saved = json.loads(paths["predictions.json"].read_text())
    assert saved["windows_without_face"] == faceless
    assert all((w["probs"] is None) == (not ok) for w, ok in zip(saved["windows"], expected))
    bands = [p for p in timeline_figure(pred, video).axes[1].patches]
    assert len(bands) == 1 and bands[0].get_label() == NO_FACE
    # The annotated frame of a faceless window draws no probability bars (no class colours).
    last = annotate_frame(np.asarray(Image.fromarray(wall)), pred, 59)
    panel = np.asarray(last)[:, 128:]
    first_frame = annotate_frame(np.asarray(faces[10]), pred, 10)
    colourful = lambda a: (a.max(-1).astype(int) - a.min(-1) > 60).sum()  # noqa: E731
    assert colourful(panel) == 0 < colourful(np.asarray(first_frame)[:, 128:])
