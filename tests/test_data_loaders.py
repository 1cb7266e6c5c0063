"""Loaders on a mini synthetic suite: shapes, sampling, label maps, and bad input."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from torch.utils.data import DataLoader

from s2d_lib.data import (DFEW, MAFW, RAFDB, AffectNet, CLASSES, DatasetError, FERV39k,
                          build_dataset, label_map)
from s2d_lib.data.decode import ClipReader
from s2d_lib.checkpoints import save_checkpoint
from s2d_lib.config import load_config
from s2d_lib.data import frame_sampling
from s2d_course.synthetic import dataset_paths
from s2d_lib.evaluate import evaluate_checkpoint
from s2d_lib.splits import build_split


@pytest.fixture(scope="module")
def suite(mini_suite: Path) -> Path:
    return mini_suite


def test_label_orders_and_map():
    assert CLASSES["DFEW"] == ("Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear")
    assert CLASSES["RAF-DB"][0] == "Surprise" and CLASSES["AffectNet"][7] == "Contempt"
    assert len(CLASSES["MAFW"]) == 11
    assert label_map("DFEW", "RAF-DB") == [3, 4, 6, 5, 0, 2, 1]
    assert label_map("FERV39k", "DFEW") == [3, 5, 6, 0, 2, 1, 4]
    mafw_to_dfew = label_map("MAFW", "DFEW")
    assert mafw_to_dfew.count(-1) == 4 and mafw_to_dfew[CLASSES["MAFW"].index("Happiness")] == 0
    for a in CLASSES:
        for b in CLASSES:
            for i, j in enumerate(label_map(a, b)):
                assert j == -1 or label_map(b, a)[j] == i


def test_sampling():
    assert frame_sampling.train_window(5, 8, np.random.default_rng(0)) == [0, 1, 2, 3, 4, 4, 4, 4]
    w = frame_sampling.train_window(40, 16, np.random.default_rng(0))
    assert w == list(range(w[0], w[0] + 16))
    assert frame_sampling.test_windows(40, 16, 2) == [list(range(16)), list(range(24, 40))]
    assert frame_sampling.test_windows(10, 16, 2)[0] == list(range(10)) + [9] * 6
    assert frame_sampling.spatial_crops(64, 80, 64, 2) == [(0, 0), (0, 16)]
    assert frame_sampling.spatial_crops(72, 72, 64, 2) == [(0, 0), (8, 8)]


def test_uniform_sampling_spans_the_whole_clip():
    rng = np.random.default_rng(0)
    for _ in range(20):  # one frame from every fifth of the clip, in order
        picks = frame_sampling.train_segments(40, 8, rng)
        assert [p // 5 for p in picks] == list(range(8))
    assert frame_sampling.test_segments(40, 8, 1) == [[2, 7, 12, 17, 22, 27, 32, 37]]
    assert frame_sampling.test_segments(40, 8, 2) == [[1, 6, 11, 16, 21, 26, 31, 36],
                                                [3, 8, 13, 18, 23, 28, 33, 38]]
    short = frame_sampling.test_segments(5, 8, 1)[0]  # shorter than T: frames repeat, in order
    assert sorted(short) == short and set(short) == set(range(5))
    assert frame_sampling.train_frames(40, 8, np.random.default_rng(1), "window") == \
        frame_sampling.train_window(40, 8, np.random.default_rng(1))
    assert frame_sampling.test_frames(40, 8, 2, "uniform") == frame_sampling.test_segments(40, 8, 2)
    with pytest.raises(ValueError, match="sampling must be one of"):
        frame_sampling.test_frames(40, 8, 1, "random")


def test_uniform_views_read_the_planned_frames(suite: Path):
    test = build_dataset("DFEW", suite / "DFEW", "test")
    length = len(ClipReader(test.clip_path(test.samples[0][0])))
    kw = dict(image_size=32, num_spatial_views=1)
    every = build_dataset("DFEW", suite / "DFEW", "test", num_frames=length,
                          num_temporal_views=1, **kw)[0][0][0]       # (3, length, 32, 32)
    uniform = build_dataset("DFEW", suite / "DFEW", "test", num_frames=4, num_temporal_views=2,
                            sampling="uniform", **kw)[0][0]          # (2, 3, 4, 32, 32)
    for view, picks in zip(uniform, frame_sampling.test_segments(length, 4, 2)):
        torch.testing.assert_close(view, every[:, picks])
    with pytest.raises(ValueError, match="sampling must be one of"):
        build_dataset("DFEW", suite / "DFEW", "train", sampling="middle")


@pytest.mark.parametrize("name", ["DFEW", "FERV39k", "MAFW"])
def test_video_items(suite: Path, name: str):
    train = build_dataset(name, suite / name, "train", image_size=32, num_frames=8, seed=0)
    clip, label = train[0]
    assert clip.shape == (3, 8, 32, 32) and clip.dtype == torch.float32
    assert 0 <= label < len(train.classes) == len(CLASSES[name])
    test = build_dataset(name, suite / name, "test", image_size=32, num_frames=8,
                         num_temporal_views=3, num_spatial_views=2)
    views, _ = test[0]
    assert views.shape == (6, 3, 8, 32, 32)
    assert abs(views.mean().item()) < 2  # ImageNet-normalised
    batch, labels = next(iter(DataLoader(train, batch_size=4)))
    assert batch.shape == (4, 3, 8, 32, 32) and labels.shape == (4,)


def test_frames_and_mp4_give_the_same_clip(suite: Path):
    kw = dict(image_size=64, num_frames=16)
    frames = build_dataset("DFEW", suite / "DFEW", "test", **kw)
    videos = build_dataset("DFEW", suite / "DFEW", "test", frames=False, **kw)
    pyav = build_dataset("DFEW", suite / "DFEW", "test", frames=False, backend="pyav", **kw)
    a, b, c = frames[1][0], videos[1][0], pyav[1][0]
    assert a.shape == b.shape and (a - b).abs().mean() < 0.15
    assert torch.allclose(b, c, atol=0.05)


def test_static_items(suite: Path):
    raf = RAFDB(suite / "RAF-DB", "train", image_size=48)
    image, label = raf[0]
    assert image.shape == (3, 48, 48) and 0 <= label < 7 and len(raf) == 35
    assert RAFDB(suite / "RAF-DB" / "basic", "test").classes == CLASSES["RAF-DB"]
    a8 = AffectNet(suite / "AffectNet", "train", num_classes=8, image_size=48)
    a7 = AffectNet(suite / "AffectNet", "train", num_classes=7, image_size=48)
    assert set(a8.labels) <= set(range(8)) and set(a7.labels) <= set(range(7))
    assert len(a7) == len(a8) - a8.labels.count(7)
    image, label, points = AffectNet(suite / "AffectNet", "val", num_classes=8, image_size=48,
                                     with_landmarks=True)[0]
    assert image.shape == (3, 48, 48) and points.shape == (68, 2)
    assert points.min() > -5 and points.max() < 53  # moved with the face crop and the resize


def test_bad_input_names_the_file(suite: Path, tmp_path: Path):
    paths = dataset_paths(suite)
    ann = paths["DFEW"]["annotations"] / "test(single-labeled)" / "test_set_1.csv"
    with pytest.raises(DatasetError, match="nowhere.*DFEW data root not found"):
        DFEW(tmp_path / "nowhere", ann)
    with pytest.raises(DatasetError, match="RAF-DB root not found"):
        RAFDB(tmp_path / "nowhere")
    # A missing frame folder.
    root = tmp_path / "frames"
    shutil.copytree(paths["DFEW"]["data_root"], root)
    name = DFEW(root, ann).samples[0][0]
    shutil.rmtree(root / name)
    with pytest.raises(DatasetError, match=f"{name}: no frame folder or video file"):
        DFEW(root, ann, mode="test")[0]
    # Empty and unreadable videos.
    videos = tmp_path / "videos"
    shutil.copytree(paths["DFEW"]["video_root"], videos)
    (videos / f"{name}.mp4").write_bytes(b"")
    with pytest.raises(DatasetError, match=f"{name}.mp4: empty video file"):
        DFEW(videos, ann, mode="test")[0]
    (videos / f"{name}.mp4").write_bytes(b"not a video at all" * 100)
    for backend in ("decord", "pyav"):
        with pytest.raises(DatasetError, match=f"{name}.mp4: unreadable video"):
            ClipReader(videos / f"{name}.mp4", backend)
    # A CSV with an out-of-range label or a missing column.
    bad = tmp_path / "test_set_1.csv"
    bad.write_text("video_name,label\n00001,9\n")
    with pytest.raises(DatasetError, match="test_set_1.csv: line 2: label 9 outside 0..6"):
        DFEW(paths["DFEW"]["data_root"], bad)
    bad.write_text("video,label\n00001,1\n")
    with pytest.raises(DatasetError, match="missing column"):
        MAFW(paths["MAFW"]["data_root"], bad)
    with pytest.raises(DatasetError, match="annotation file not found"):
        FERV39k(paths["FERV39k"]["data_root"], tmp_path / "train.csv")


def test_skip_corrupt_counts_in_training_only(suite: Path, tmp_path: Path):
    paths = dataset_paths(suite)
    ann = paths["DFEW"]["annotations"] / "train(single-labeled)" / "train_set_1.csv"
    root = tmp_path / "frames"
    shutil.copytree(paths["DFEW"]["data_root"], root)
    ds = DFEW(root, ann, num_frames=4, image_size=16, skip_corrupt=True)
    shutil.rmtree(root / ds.samples[0][0])
    with pytest.warns(UserWarning, match="skipped corrupt clip"):
        clip, label = ds[0]
    assert label == ds.samples[1][1] and len(ds.skipped) == 1 and ds.samples[0][0] in ds.skipped[0]
    with pytest.raises(DatasetError):
        DFEW(root, ann, num_frames=4, image_size=16)[0]
    with pytest.raises(ValueError, match="training only"):
        DFEW(root, ann, mode="test", skip_corrupt=True)


def test_evaluate_reads_the_frames_the_checkpoint_was_trained_on(suite: Path, tmp_path: Path):
    torch.manual_seed(0)
    model = timm.create_model("s2d_tiny_patch8_64", num_classes=7, num_frames=2)
    ckpt = save_checkpoint(model, tmp_path / "dfer.safetensors",
                           {"stage": "dfer", "dataset": "DFEW", "frame_sampling": "uniform"})
    kw = dict(dataset="DFEW", data_root=str(suite / "DFEW"), views=(1, 1), batch_size=4,
              progress=False)
    trained = evaluate_checkpoint(ckpt, **kw)
    window = evaluate_checkpoint(ckpt, sampling="window", **kw)
    assert (trained["frame_sampling"], window["frame_sampling"]) == ("uniform", "window")
    assert trained["labels"] == window["labels"]
    for sampling_name in ("uniform", "window"):  # the config's sampling reaches the dataset
        cfg = load_config("dfer_tiny", {"data_root": str(suite / "DFEW"),
                                        "frame_sampling": sampling_name})
        assert build_split(cfg, "test").sampling == build_split(cfg, "train", mode="train")\
            .sampling == sampling_name
