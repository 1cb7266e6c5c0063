"""The harder synthetic world (``claims``): real class frequencies, label noise, nuisances, calibration."""
from __future__ import annotations

import csv
import hashlib
import json
import math
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from s2d_lib.data import CLASSES
from s2d_lib.data.annotations import (read_dfew_split, read_ferv39k_label_index, read_ferv39k_split,
                                      read_mafw_split, read_rafdb_partition)
from s2d_lib.data.labels import canonical_names
from s2d_course.synthetic import PRESETS, SuitePreset, build_suite, dataset_paths
from s2d_course.synthetic.calibration import calibrate_world
from s2d_course.synthetic.frequencies import CONFUSIONS, REAL_COUNTS, allocate, split_counts
from s2d_course.synthetic.nuisances import NUISANCES, NuisanceRates
from s2d_course.synthetic.items import SUITE_DATASETS, clip_frames as _clip_frames
from s2d_course.synthetic.suite import _plan, _stamp

WORLD = SuitePreset("world", rafdb=(28, 14), affectnet=(8, 2), dfew=20, ferv39k=(14, 7), mafw=22,
                    frames=(8, 12), frequencies="real", blend=(0.25, 0.25), label_noise=0.1,
                    talk=0.5, hand=0.5, motion_blur=0.5, out_of_view=0.5, turn=0.5)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world")
    build_suite(out, WORLD, seed=0, workers=2, progress=False)
    return out


def _counts(labels) -> dict[str, int]:
    return dict(Counter(labels))


def test_real_counts_match_the_annotation_files(reference_dir: Path):
    ann = reference_dir / "annotations"
    dfew = ann / "DFEW" / "EmoLabel_DataSplit"
    samples = (read_dfew_split(dfew / "train(single-labeled)" / "train_set_1.csv")
               + read_dfew_split(dfew / "test(single-labeled)" / "test_set_1.csv"))
    names = canonical_names("DFEW")
    assert _counts(names[y] for _, y in samples) == REAL_COUNTS["DFEW"]["all"]
    ferv = ann / "FERV39K" / "Annotation"
    index = read_ferv39k_label_index(ferv / "label_index.txt")
    assert index == {c: i for i, c in enumerate(CLASSES["FERV39k"])}
    for split in ("train", "test"):
        rows = read_ferv39k_split(ferv / f"{split}.csv")
        assert _counts(canonical_names("FERV39k")[y] for _, y in rows) == REAL_COUNTS["FERV39k"][split]
    mafw = ann / "MAFW" / "anno" / "single" / "no_caption" / "set_1"
    rows = read_mafw_split(mafw / "train.csv") + read_mafw_split(mafw / "test.csv")
    assert _counts(canonical_names("MAFW")[y] for _, y in rows) == REAL_COUNTS["MAFW"]["all"]


def test_constants_use_each_datasets_classes():
    for dataset, splits in REAL_COUNTS.items():
        for counts in splits.values():
            assert sorted(counts) == sorted(canonical_names(dataset))
    assert sum(REAL_COUNTS["RAF-DB"]["train"].values()) == 12271
    assert sum(REAL_COUNTS["RAF-DB"]["test"].values()) == 3068


@pytest.mark.parametrize("n", [3, 7, 11, 14, 50, 400, 1000, 1500])
def test_allocate_is_exact_and_close_to_the_quota(n: int):
    for splits in REAL_COUNTS.values():
        for real in splits.values():
            got = allocate(real, n)
            assert sum(got.values()) == n and got == allocate(real, n)
            total = sum(real.values())
            if n >= len(real):
                assert min(got.values()) >= 1
            lifted = sum(1 for c in real if real[c] * n / total < 1)
            for c, k in got.items():  # within rounding, plus what lifting rare classes cost
                assert abs(k - real[c] * n / total) < 1 + lifted


def test_world_plans_follow_the_real_frequencies():
    p = PRESETS["claims"]
    raf = _plan("RAF-DB", p, 0)  # the annotated labels; the true ones differ by the label noise
    n_train = p.rafdb[0]
    assert _counts(it.annotated for it in raf[:n_train]) == split_counts("RAF-DB", "train", n_train)
    assert _counts(it.annotated for it in raf[n_train:]) == split_counts("RAF-DB", "test", p.rafdb[1])
    dfew = _plan("DFEW", p, 0)
    assert _counts(it.annotated for it in dfew) == split_counts("DFEW", "all", p.dfew)
    ferv = _plan("FERV39k", p, 0)
    assert _counts(it.annotated for it in ferv[p.ferv39k[0]:]) == \
        split_counts("FERV39k", "test", p.ferv39k[1])
    mafw = _plan("MAFW", p, 0)
    assert _counts(it.annotated for it in mafw) == split_counts("MAFW", "all", p.mafw)
    affect = Counter(it.label for it in _plan("AffectNet", p, 0))  # stays balanced
    extra = sum(affect.pop(c, 0) for c in ("none", "uncertain", "nonface"))
    assert max(affect.values()) - min(affect.values()) <= 1 + extra


def test_label_noise_is_exact_and_confusable():
    p = PRESETS["claims"]
    for dataset, sizes in (("RAF-DB", p.rafdb), ("DFEW", (p.dfew,)), ("FERV39k", p.ferv39k),
                           ("MAFW", (p.mafw,))):
        items, start = _plan(dataset, p, 0), 0
        for n in sizes:
            part = items[start:start + n]
            noisy = [it for it in part if it.written is not None]
            assert len(noisy) == math.floor(p.label_noise * n + 0.5)
            for it in noisy:  # the face shows a confusion of the annotated class
                assert it.written != it.label and it.label in canonical_names(dataset)
                assert it.label in CONFUSIONS[it.written] or not set(CONFUSIONS[it.written]) & \
                    set(canonical_names(dataset))
            start += n
    assert all(it.written is None for it in _plan("AffectNet", p, 0))


def _plan_hash(p: SuitePreset) -> str:
    h = hashlib.sha256()
    for ds in SUITE_DATASETS:
        for it in _plan(ds, p, 0):
            h.update(repr((it.dataset, it.index, it.label, it.files, it.size, it.seed,
                           it.frames)).encode())
    return h.hexdigest()[:16]


@pytest.mark.parametrize("name, expected", [("tiny", "54ccbf4c718d6e50"), ("small", "e7cef48bca3a9398"),
                                            ("mini", "0312c58fdd011631"),
                                            ("paper_smoke", "a2d752977e1814ae")])
def test_older_presets_plan_as_before(name: str, expected: str):
    """The hashes were taken before the world fields existed: the course's suites are unchanged
    (paper_smoke's after its sizes were cut to one test clip per video dataset)."""
    p = PRESETS[name]
    assert _plan_hash(p) == expected
    items = [it for ds in SUITE_DATASETS for it in _plan(ds, p, 0)]
    assert all(it.written is None and it.nuisances is None and it.talk == 0.35 for it in items)
    assert {it.blend for it in items if it.frames[1]} == {0.15}
    assert {it.blend for it in items if not it.frames[1]} == {0.10}
    assert set(_stamp(p, 0, "DFEW")["preset"]).isdisjoint({"frequencies", "hand", "label_noise"})


def test_world_stamp_and_bad_frequencies():
    stamp = _stamp(PRESETS["claims"], 0, "DFEW")["preset"]
    assert stamp["frequencies"] == "real" and stamp["hand"] == 0.3
    with pytest.raises(ValueError, match="frequencies"):
        SuitePreset("x", rafdb=(1, 1), affectnet=(1, 1), dfew=1, ferv39k=(1, 1), mafw=1,
                    frequencies="uniform")


def test_world_annotations_and_truth(world: Path):
    labels = {}
    for ds in ("RAF-DB", "DFEW", "FERV39k", "MAFW"):
        with (world / ds / "synthetic_labels.csv").open(newline="") as f:
            labels[ds] = {r["sample"]: r for r in csv.DictReader(f)}
    raf = world / "RAF-DB" / "basic" / "EmoLabel" / "list_patition_label.txt"
    names = canonical_names("RAF-DB")
    for split, n in zip(("train", "test"), WORLD.rafdb):
        rows = read_rafdb_partition(raf, split)
        assert len(rows) == n
        assert all(labels["RAF-DB"][s]["written"] == names[y] for s, y in rows)
        assert _counts(names[y] for _, y in rows) == split_counts("RAF-DB", split, n)
        noisy = sum(labels["RAF-DB"][s]["label"] != labels["RAF-DB"][s]["written"] for s, _ in rows)
        assert noisy == math.floor(WORLD.label_noise * n + 0.5)
    paths = dataset_paths(world, WORLD)
    ferv = paths["FERV39k"]["annotations"]
    for split in ("train", "test"):
        for path, y in read_ferv39k_split(ferv / f"{split}.csv"):
            assert path.split("/")[1] == CLASSES["FERV39k"][y]  # the folder names the written class
            assert labels["FERV39k"][path]["split"] == split
            assert labels["FERV39k"][path]["written"] == canonical_names("FERV39k")[y]
    dfew = paths["DFEW"]["annotations"]
    for k in range(1, 6):
        for n, y in read_dfew_split(dfew / "test(single-labeled)" / f"test_set_{k}.csv"):
            assert labels["DFEW"][n]["split"] == str(k)
            assert labels["DFEW"][n]["written"] == canonical_names("DFEW")[y]
    mafw = paths["MAFW"]["annotations"]
    assert len(read_mafw_split(mafw / "set_1" / "test.csv")) + \
        len(read_mafw_split(mafw / "set_1" / "train.csv")) == WORLD.mafw


def test_nuisance_flags_beside_the_landmarks(world: Path):
    seen = Counter()
    for ds, folder in (("DFEW", "DFEW/Clip/clip_112x112"), ("FERV39k", "FERV39k"),
                       ("MAFW", "MAFW/frames")):
        for lm_file in (world / folder).rglob("landmarks.npy"):
            flags = json.loads((lm_file.parent / "nuisance.json").read_text())
            T = len(np.load(lm_file))
            assert set(flags) == set(NUISANCES) | {"intensity"}
            assert all(len(v) == T for v in flags.values())
            assert all(set(flags[k]) <= {0, 1} for k in NUISANCES)
            seen.update(k for k in NUISANCES if any(flags[k]))
    assert set(seen) == set(NUISANCES)


def _item(dataset: str, p: SuitePreset, flag: str) -> tuple:
    """The first planned clip of ``dataset`` whose frames carry ``flag``, with its render."""
    for it in _plan(dataset, p, 0):
        frames, lms, flags, _ = _clip_frames(it)
        if any(flags[flag]):
            return it, frames, lms, flags
    raise AssertionError(f"no clip with {flag}")


@pytest.mark.parametrize("flag", ["hand", "out_of_view", "motion_blur", "turn"])
def test_nuisance_frames_differ_from_the_same_clip_without_them(flag: str):
    only = replace(WORLD, **{k: float(k == flag) for k in ("hand", "motion_blur", "out_of_view", "turn")})
    it, frames, lms, flags = _item("DFEW", only, flag)
    clean_frames, clean_lms, clean_flags, _ = _clip_frames(replace(it, nuisances=NuisanceRates()))
    assert not any(any(clean_flags[k]) for k in ("hand", "motion_blur", "out_of_view", "turn"))
    # share of pixels that change visibly (a hand is often close to the face's own colour)
    diff = np.array([(np.abs(np.asarray(a, float) - np.asarray(b, float)).max(-1) > 20).mean()
                     for a, b in zip(frames, clean_frames)])
    on = np.array(flags[flag], bool)
    assert (diff[on] > 0.01).all()
    if flag == "hand":  # a hand changes the pixels of its frames only, never the landmarks
        assert (diff[~on] == 0).all()
        np.testing.assert_array_equal(lms, clean_lms)
    if flag == "out_of_view":
        side = WORLD.frame_size
        outside = ((lms < 0) | (lms >= side)).any(-1).mean(-1)
        assert outside[on].mean() > outside[~on].mean() + 0.1


def test_calibrate_world_numbers_in_range(world: Path):
    numbers = calibrate_world(world)
    for key in ("rafdb_pixel_war", "rafdb_pixel_uar", "dfew_pixel_middle_uar", "dfew_pixel_mean_war",
                "dfew_landmark_middle_war", "dfew_landmark_mean_uar", "dfew_frame_landmark_all",
                "dfew_frame_pixel_hand_with", "dfew_frame_landmark_turn_without",
                "dfew_test_label_noise", "rafdb_test_label_noise"):
        assert key in numbers
    for key, value in numbers.items():
        assert math.isnan(value) or 0 <= value <= 1, key
    assert abs(numbers["rafdb_test_label_noise"] - round(0.1 * 14) / 14) < 1e-9


# ---------------------------------------------------------------- the claims2 worlds

def _first_clip(preset: SuitePreset, label: str):
    return next(it for it in _plan("DFEW", preset, 0) if it.label == label)


def test_claims2_variants_change_only_their_dose_clip_for_clip():
    base, apex = PRESETS["claims2"], PRESETS["claims2_apex25"]
    ambiguous = PRESETS["claims2_ambiguity50"]
    small = {k: replace(p, dfew=30, frames=(10, 14)) for k, p in
             (("base", base), ("apex", apex), ("ambiguous", ambiguous))}
    plans = {k: _plan("DFEW", p, 0) for k, p in small.items()}
    for a, b in zip(plans["base"], plans["apex"]):
        assert (a.label, a.files) == (b.label, b.files)
        _, lm_a, flags_a, _ = _clip_frames(a, render=True)
        _, lm_b, flags_b, _ = _clip_frames(b, render=True)
        assert len(lm_a) == len(lm_b)  # the same clip length
        shown = np.array(flags_b["intensity"]) > 0
        if a.label != "neutral":  # the apex over every frame vs a quarter of them
            assert (np.array(flags_a["intensity"]) > 0).all()
            assert shown.sum() == max(1, round(0.25 * len(shown)))
            assert len(set(np.array(flags_b["intensity"])[shown])) == 1  # a plateau
        break
    noisy = [it for it in plans["ambiguous"] if it.written is not None]
    assert len(noisy) == math.floor(0.1 * 30 + 0.5)
    same = blended = 0
    for a, b in zip(plans["base"], plans["ambiguous"]):
        meta = _clip_frames(b, render=False)[3]
        blended += meta["second"] is not None
        if meta["second"] is None and b.written is None and not same:
            _, lm_a, _, _ = _clip_frames(a)
            _, lm_b, _, _ = _clip_frames(b)
            np.testing.assert_array_equal(lm_a, lm_b)  # neither blended nor noisy: the same clip
            same += 1
    assert same == 1 and 5 <= blended <= 22  # about half of the 30 clips blend


def test_claims2_appearance_cues_show_in_pixels_not_in_landmarks():
    """The same face with and without the appearance cues: the same landmarks, other pixels, and
    only where an expression's AUs are on (a neutral face is unchanged)."""
    from s2d_course.synthetic.face import expression_aus, sample_identity, sample_pose
    from s2d_course.synthetic.render import render_face, sample_scene

    for label, changes in (("sadness", True), ("happiness", True), ("anger", True),
                           ("neutral", False)):
        rng = np.random.default_rng(3)
        idn, pose, scene = sample_identity(rng), sample_pose(rng, 0.3), sample_scene(rng, 112)
        aus = expression_aus({label: 1.0}) if label != "neutral" else {}
        plain, lm_plain = render_face(idn, aus, pose, scene, 112, gain=1.0)
        cued, lm_cued = render_face(idn, aus, pose, scene, 112, gain=1.0, appearance=1.0)
        np.testing.assert_array_equal(lm_plain, lm_cued)
        changed = (np.abs(np.asarray(plain, float) - np.asarray(cued, float)).max(-1) > 20).mean()
        assert (changed > 0.005) == changes, (label, changed)


def test_expression_gain_scales_the_geometry_only():
    from s2d_course.synthetic.face import expression_aus, landmarks, sample_identity, Pose

    idn = sample_identity(np.random.default_rng(0))
    aus = expression_aus({"surprise": 1.0})
    rest = landmarks(idn, {}, Pose())
    for gain in (1.0, 2.5):
        np.testing.assert_array_equal(landmarks(idn, {}, Pose(), gain=gain), rest)
    small = np.abs(landmarks(idn, aus, Pose(), gain=1.0) - rest).max()
    large = np.abs(landmarks(idn, aus, Pose(), gain=2.5) - rest).max()
    assert 2 < large / small < 3


def test_rafdb_landmarks_are_the_rendered_ones(tmp_path: Path):
    """The static landmark baseline's landmarks, planned again, are the rendered faces'."""
    from s2d_course.synthetic.calibration import align, rafdb_landmarks
    from s2d_course.synthetic.items import _render_static

    p = replace(PRESETS["claims2"], name="claims2_small", rafdb=(14, 7))
    build_suite(tmp_path, p, seed=0, datasets=("RAF-DB",), workers=1, progress=False)
    marks = rafdb_landmarks(tmp_path / "RAF-DB")
    assert len(marks) == 21
    item = _plan("RAF-DB", p, 0)[3]
    rendered = _render_static(item, tmp_path)["landmarks"]
    name = Path(item.files[0]).name.replace("_aligned", "")
    np.testing.assert_allclose(align(marks[name]), align(rendered), atol=1e-5)
