"""The worlds with time in them (``claims3``, :mod:`s2d_course.synthetic.timeline`) and their
calibration (:mod:`s2d_course.synthetic.time_calibration`)."""
from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from s2d_course.synthetic import PRESETS, build_suite
from s2d_course.synthetic.face import expression_aus
from s2d_course.synthetic.items import item_timeline
from s2d_course.synthetic.suite import _plan, _stamp, clean_folds
from s2d_course.synthetic.time_calibration import (bounds, order_features, pooled_features,
                                                   verdict)
from s2d_course.synthetic.timeline import (TIMED_FPS, draw_timeline, frame_features, syllables,
                                           timed_plan)


def _runs(open_: np.ndarray) -> int:
    return int(open_[0]) + int(np.sum(open_[1:] & ~open_[:-1]))


def test_order_features_of_hand_made_sequences():
    hold = [0, 1, 1, 1, 1, 0, 0, 0]
    alternate = [1, 0, 1, 0, 1, 0, 1, 0]
    flat = [0.6] * 8
    x = np.array([hold, alternate, flat], float)[:, :, None]  # (N, T, 1)
    transitions, longest, autocorr = order_features(x).T
    np.testing.assert_array_equal(transitions, [2, 7, 0])
    np.testing.assert_array_equal(longest, [4, 1, 8])
    # alternating 0/1: centred values +-0.5, seven lag-1 products of -0.25 over 8 squares of 0.25
    assert autocorr[1] == pytest.approx(-7 / 8)
    assert autocorr[2] == 0.0  # constant: no variance, 0 by definition
    c = np.array(hold) - 0.5
    assert autocorr[0] == pytest.approx((c[1:] * c[:-1]).sum() / (c ** 2).sum())
    mean, top = pooled_features(x).T
    np.testing.assert_allclose(mean, [0.5, 0.5, 0.6])
    np.testing.assert_allclose(top, [1, 1, 0.6])


def test_speech_rhythm_is_not_aliased_and_always_opens_twice():
    rng = np.random.default_rng(0)
    for _ in range(300):
        rate, phase, duty = rng.uniform(3, 6), rng.random(), rng.uniform(0.4, 0.6)
        open_, index = syllables(8, rate, phase, duty)
        assert _runs(open_) >= 2
        assert 2.5 <= TIMED_FPS / rate <= 5  # period in frames: above the Nyquist limit of 2
        assert np.all(np.diff(index) >= 0) and index.max() <= 3


def test_the_bounds_see_order_only_where_order_is_the_cue():
    """Hand-made clips: class A opens once for four frames, class B twice for two; the same
    multiset of frames, random placement. Pooled features cannot tell them, order features can."""
    rng = np.random.default_rng(1)
    x, y = [], []
    for i in range(400):
        seq = np.zeros(8)
        if i % 2 == 0:
            s = rng.integers(0, 5)
            seq[s:s + 4] = 1
        else:
            s = rng.integers(0, 2)
            seq[s:s + 2] = 1
            seq[s + 4:s + 6] = 1
        x.append(np.stack([seq, rng.random(8)], 1))
        y.append("A" if i % 2 == 0 else "B")
    clips = {"x": np.array(x), "label": np.array(y), "fold": np.arange(400) % 5 + 1,
             "talks": np.array(y) == "B"}
    out = bounds(clips)
    assert out["order_aware"]["all"] == 100.0
    assert out["per_frame"]["all"] < 70  # chance is 50 %
    assert out["gap"]["all"] == pytest.approx(out["order_aware"]["all"] - out["per_frame"]["all"])


def test_validity_rule():
    def row(gap_all, gap_talk):
        return {"gap": {"all": gap_all, "talking_vs_expression": gap_talk}}
    assert verdict({0.0: row(1.0, 0.0), 0.5: row(5.0, 20.0)})["valid"]
    assert not verdict({0.0: row(1.0, 0.0), 0.5: row(5.0, 12.0)})["valid"]
    assert not verdict({0.0: row(4.0, 0.0), 0.5: row(5.0, 20.0)})["valid"]


def test_a_pure_talker_and_a_surprise_show_the_same_frames_in_another_order():
    """The same draws (blinks off, no ordinary talk): a neutral emphatic talker whose stressed
    syllables look like surprise shows exactly the surprise clip's frames, rearranged."""
    rng = np.random.default_rng(5)
    found = 0
    while found < 20:
        d = replace(draw_timeline(rng, (8, 8)), blink=np.ones(8))
        talker = timed_plan(d, "neutral", "pure", emphatic=1.0, talk=0.0)
        if talker.lookalike_class != "surprise":
            continue
        surprise = timed_plan(d, "surprise", "pure", emphatic=1.0, talk=0.0)
        a, b = frame_features(talker), frame_features(surprise)
        np.testing.assert_array_equal(np.sort(a, 0), np.sort(b, 0))
        assert _runs(talker.lookalike > 0) >= 2 and _runs(surprise.intensity > 0) == 1
        on = np.flatnonzero(talker.lookalike > 0)[0]
        assert talker.aus(on) == {**expression_aus({"surprise": d.apex}), "43": 0.0}
        found += 1


def test_doses_pair_clip_for_clip():
    small = {name: replace(PRESETS[name], dfew=120) for name in
             ("claims3", "claims3_talk25", "claims3_talk50", "claims3_blend25", "claims3_blend75")}
    plans = {k: _plan("DFEW", p, 0) for k, p in small.items()}
    base = plans["claims3"]
    assert all([it.label for it in v] == [it.label for it in base] for v in plans.values())
    assert len({tuple(clean_folds(v, 0)) for v in plans.values()}) == 1
    timelines = {k: [item_timeline(it) for it in v] for k, v in plans.items()}
    talk25 = {i for i, t in enumerate(timelines["claims3_talk25"]) if t.lookalike_class}
    talk50 = {i for i, t in enumerate(timelines["claims3_talk50"]) if t.lookalike_class}
    blend25 = {i for i, t in enumerate(timelines["claims3_blend25"]) if len(t.blend) > 1}
    blend75 = {i for i, t in enumerate(timelines["claims3_blend75"]) if len(t.blend) > 1}
    assert talk25 < talk50 and blend25 < blend75 and 8 <= len(talk50) and 30 <= len(blend75)
    for name, changed in (("claims3_talk50", talk50), ("claims3_blend75", blend75)):
        for i, (a, b) in enumerate(zip(timelines["claims3"], timelines[name])):
            same = np.array_equal(frame_features(a), frame_features(b))
            assert same == (i not in changed), (name, i)
    assert all(base[i].label == "neutral" for i in talk50)
    assert all(it.written is None for it in plans["claims3_talk50"])
    relabelled = [it for it in plans["claims3_blend75"] if it.written is not None]
    assert relabelled and all(plans["claims3_blend75"].index(it) in blend75 for it in relabelled)


def test_blended_clips_train_on_an_annotator_label_and_test_on_the_clean_one(tmp_path: Path):
    p = replace(PRESETS["claims3_blend75"], dfew=20)
    build_suite(tmp_path, p, seed=0, datasets=("DFEW",), workers=1, progress=False)
    root = tmp_path / "DFEW"
    with open(root / "synthetic_labels.csv") as f:
        truth = {r["sample"]: r for r in csv.DictReader(f)}
    names = ("happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear")

    def read(split: str, k: int) -> dict[str, str]:
        folder = "test(single-labeled)" if split == "test" else "train(single-labeled)"
        with open(root / "EmoLabel_DataSplit" / folder / f"{split}_set_{k}.csv") as f:
            return {r["video_name"]: names[int(r["label"])] for r in csv.DictReader(f)}
    tests, trains = read("test", 1), read("train", 1)
    assert len(tests) == 4 and len(trains) == 16
    assert all(truth[n]["label"] == y for n, y in tests.items())
    assert all(truth[n]["written"] == y for n, y in trains.items())
    assert any(r["written"] != r["label"] for r in truth.values())
    clip = root / "Clip" / "clip_112x112" / "00001"
    assert len(list(clip.glob("*.jpg"))) == 8 and (clip / "landmarks.npy").exists()


def test_older_presets_keep_their_stamps():
    for name in ("tiny", "claims", "claims2", "claims2_apex25"):
        stamp = _stamp(PRESETS[name], 0, "DFEW")["preset"]
        assert "timing" not in stamp and "emphatic" not in stamp
    assert _stamp(PRESETS["claims3_talk50"], 0, "DFEW")["preset"]["emphatic"] == 0.5
    with pytest.raises(ValueError, match="timing"):
        replace(PRESETS["claims3"], timing="slow")


def test_the_course_samples_every_frame_of_a_timed_clip_in_order():
    """The rationale's no-aliasing argument: T = 8 frames from an 8-frame clip are the clip's
    frames in order, in training and in test, under both samplings."""
    from s2d_lib.data.frame_sampling import test_frames, train_frames

    rng = np.random.default_rng(0)
    frames = PRESETS["claims3"].frames
    assert frames == (8, 8)
    for sampling in ("uniform", "window"):
        for _ in range(20):
            assert train_frames(8, 8, rng, sampling) == list(range(8))
        assert test_frames(8, 8, 1, sampling) == [list(range(8))]
