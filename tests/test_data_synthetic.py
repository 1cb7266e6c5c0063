"""The synthetic generator: real layouts, exact landmarks, expressive geometry, determinism, reuse."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from s2d_lib.data import CLASSES, DatasetError
from s2d_lib.data.annotations import (read_affectnet_csv, read_dfew_split, read_ferv39k_label_index,
                                      read_ferv39k_split, read_mafw_class_file, read_mafw_split,
                                      read_rafdb_partition)
from s2d_course.synthetic import PRESETS, SuitePreset, build_suite, dataset_paths
from s2d_course.synthetic.face import (EXPRESSION_AUS, Pose, expression_aus, landmarks,
                                         sample_identity)

MICRO = SuitePreset("micro", rafdb=(7, 7), affectnet=(8, 2), dfew=5, ferv39k=(4, 3), mafw=5,
                    frames=(6, 9))


@pytest.fixture(scope="module")
def suite(mini_suite: Path) -> Path:
    return mini_suite


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_rafdb_and_affectnet_layout(suite: Path):
    basic = suite / "RAF-DB" / "basic"
    lines = (basic / "EmoLabel" / "list_patition_label.txt").read_text().splitlines()
    assert lines[0] == f"train_00001.jpg {int(lines[0].split()[1])}"
    assert {int(line.split()[1]) for line in lines} <= set(range(1, 8))  # RAF's 1-based labels
    train, test = (read_rafdb_partition(basic / "EmoLabel" / "list_patition_label.txt", s)
                   for s in ("train", "test"))
    assert (len(train), len(test)) == PRESETS["mini"].rafdb
    assert test[0][0] == "test_0001.jpg"
    with Image.open(basic / "Image" / "aligned" / "test_0001_aligned.jpg") as im:
        assert im.size == (100, 100)
    rows = read_affectnet_csv(suite / "AffectNet" / "training.csv")
    assert len(rows) == PRESETS["mini"].affectnet[0]
    assert {r["expression"] for r in rows} <= set(range(11))
    assert any(r["expression"] >= 8 for r in rows + read_affectnet_csv(suite / "AffectNet" / "validation.csv"))
    face = next(r for r in rows if r["expression"] < 8)
    assert len(face["landmarks"]) == 68
    assert (suite / "AffectNet" / "Manually_Annotated_Images" / face["path"]).is_file()


def test_video_layouts_and_splits(suite: Path):
    paths = dataset_paths(suite)
    dfew = paths["DFEW"]["annotations"]
    everything = set()
    for k in range(1, 6):
        train = read_dfew_split(dfew / "train(single-labeled)" / f"train_set_{k}.csv")
        test = read_dfew_split(dfew / "test(single-labeled)" / f"test_set_{k}.csv")
        assert not {n for n, _ in train} & {n for n, _ in test}
        everything |= {n for n, _ in test}
    assert everything == {f"{i:05d}" for i in range(1, PRESETS["mini"].dfew + 1)}
    for name in everything:
        assert (paths["DFEW"]["data_root"] / name).is_dir()
        assert (paths["DFEW"]["video_root"] / f"{name}.mp4").is_file()
    ferv = paths["FERV39k"]["annotations"]
    assert read_ferv39k_label_index(ferv / "label_index.txt") == \
        {c: i for i, c in enumerate(CLASSES["FERV39k"])}
    assert b"\r\n" in (ferv / "label_index.txt").read_bytes()
    for path, label in read_ferv39k_split(ferv / "train.csv") + read_ferv39k_split(ferv / "test.csv"):
        assert path.split("/")[1] == CLASSES["FERV39k"][label]
        assert (suite / "FERV39k" / path).is_dir()
    mafw = paths["MAFW"]["annotations"]
    assert read_mafw_class_file(mafw / "id_to_calss.txt")[2] == "contempt"  # sic, as released
    for k in range(1, 6):
        for split in ("train", "test"):
            assert sorted(read_mafw_split(mafw / f"set_{k}" / f"{split}.csv")) == \
                sorted(read_mafw_split(mafw / f"set_{k}" / f"{split}.txt"))


def test_landmarks_beside_frames(suite: Path):
    folders = sorted((suite / "MAFW" / "frames").iterdir())
    lo, hi = PRESETS["mini"].frames
    for folder in folders:
        lm = np.load(folder / "landmarks.npy")
        frames = sorted(folder.glob("*.jpg"))
        assert lm.shape == (len(frames), 68, 2) and lo <= len(frames) <= hi
        assert frames[0].name == "00001.jpg"
        # Tight crops, like the real aligned faces, may cut the chin of a dropped jaw: points stay
        # within a quarter of the side around the image.
        side = PRESETS["mini"].frame_size
        assert (lm > -0.25 * side).all() and (lm < 1.25 * side).all()


def _geometry(aus: dict, idn=None) -> dict[str, float]:
    p = landmarks(idn or sample_identity(np.random.default_rng(3)), aus, Pose())
    mouth_mid = (p[51, 1] + p[57, 1]) / 2
    return {"corners_up": mouth_mid - (p[48, 1] + p[54, 1]) / 2,
            "mouth_open": p[66, 1] - p[62, 1],
            "brow_height": (p[37, 1] + p[44, 1]) / 2 - (p[19, 1] + p[24, 1]) / 2,
            "inner_brow_gap": p[22, 0] - p[21, 0],
            "eye_open": p[41, 1] - p[37, 1],
            "mouth_width": p[54, 0] - p[48, 0]}


def test_expressions_move_the_landmarks_the_facs_way():
    neutral = _geometry({})
    g = {name: _geometry(expression_aus({name: 1.0})) for name in EXPRESSION_AUS}
    assert g["happiness"]["corners_up"] > neutral["corners_up"] + 0.1
    assert g["sadness"]["corners_up"] < neutral["corners_up"] - 0.1
    assert g["surprise"]["mouth_open"] > neutral["mouth_open"] + 0.3
    assert g["surprise"]["brow_height"] > neutral["brow_height"] + 0.1
    assert g["surprise"]["eye_open"] > neutral["eye_open"]
    assert g["fear"]["mouth_width"] > neutral["mouth_width"]
    assert g["anger"]["brow_height"] < neutral["brow_height"]
    assert g["anger"]["inner_brow_gap"] < neutral["inner_brow_gap"]
    assert g["anger"]["eye_open"] < neutral["eye_open"]
    assert g["contempt"]["corners_up"] > neutral["corners_up"]  # one-sided
    p = landmarks(sample_identity(np.random.default_rng(3)), expression_aus({"contempt": 1.0}), Pose())
    assert p[48, 1] < p[54, 1] - 0.1


def test_deterministic_and_independent_of_workers(tmp_path: Path):
    build_suite(tmp_path / "a", MICRO, seed=5, workers=1, progress=False)
    build_suite(tmp_path / "b", MICRO, seed=5, workers=2, progress=False)
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert a == b and len(a) > 50
    build_suite(tmp_path / "c", MICRO, seed=6, workers=2, progress=False, datasets=("RAF-DB",))
    c = _digest(tmp_path / "c")
    assert c.keys() <= a.keys() and any(a[k] != c[k] for k in c)


def test_reuse_resume_and_conflict(tmp_path: Path):
    out = tmp_path / "s"
    assert set(build_suite(out, MICRO, workers=1, progress=False).values()) == {"built"}
    clip = out / "MAFW" / "frames" / "00003"
    mtime = (clip / "00001.jpg").stat().st_mtime_ns
    assert set(build_suite(out, MICRO, workers=1, progress=False).values()) == {"reused"}
    assert (clip / "00001.jpg").stat().st_mtime_ns == mtime
    # An interrupted build resumes: only what is missing is written again.
    (out / "MAFW" / ".synthetic.json").unlink()
    (clip / "landmarks.npy").unlink()
    assert build_suite(out, MICRO, workers=1, progress=False)["MAFW"] == "built"
    assert (clip / "landmarks.npy").is_file()
    with pytest.raises(DatasetError, match="another preset or seed"):
        build_suite(out, MICRO, seed=1, workers=1, progress=False)
