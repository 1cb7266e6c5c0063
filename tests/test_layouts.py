"""The datasets' release layouts (s2d_lib.data.layouts) and the paper_smoke synthetic suite."""
from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
import torch

from s2d_lib.data import DFEW, MAFW, RAFDB, AffectNet, CLASSES, DatasetError, FERV39k, build_dataset
from s2d_lib.data.decode import ClipReader
from s2d_lib.data.layouts import VIDEO_LAYOUTS, video_layout
from s2d_course.synthetic import PRESETS, build_suite, dataset_paths
from s2d_course.synthetic.suite import _stamp

#: The float path changes nothing here (the datasets' folder layouts): CI's second pass leaves it out.
pytestmark = pytest.mark.once

_LOADERS = {"DFEW": DFEW, "FERV39k": FERV39k, "MAFW": MAFW}


def _mkdirs(root: Path, *folders: str) -> Path:
    for f in folders:
        (root / f).mkdir(parents=True, exist_ok=True)
    return root


def test_dfew_prefers_the_16_frame_folders_then_falls_back(tmp_path: Path):
    root = _mkdirs(tmp_path / "DFEW", "Clip/original", "Clip/clip_112x112")
    assert video_layout("DFEW", root)[0] == root / "Clip/clip_112x112"
    _mkdirs(root, "Clip/clip_224x224")
    assert video_layout("DFEW", root)[0] == root / "Clip/clip_224x224"
    _mkdirs(root, "Clip/clip_224x224_16f")
    frames, split = video_layout("DFEW", root, "test", 3)
    assert frames == root / "Clip/clip_224x224_16f"
    assert split == root / "EmoLabel_DataSplit/test(single-labeled)/test_set_3.csv"
    assert video_layout("DFEW", root, source="videos")[0] == root / "Clip/original"


def test_ferv39k_and_mafw_candidates(tmp_path: Path):
    ferv = _mkdirs(tmp_path / "FERV39k", "Action/Happy/0001")
    assert video_layout("FERV39k", ferv, "train") == (ferv, ferv / "Annotation/train.csv")
    _mkdirs(ferv, "2_ClipsforFaceCrop/Action/Happy/0001")
    assert video_layout("FERV39k", ferv)[0] == ferv / "2_ClipsforFaceCrop"
    mafw = _mkdirs(tmp_path / "MAFW", "frames", "data/clips")
    assert video_layout("MAFW", mafw, "train", 2) == (
        mafw / "frames", mafw / "anno/single/no_caption/set_2/train.csv")
    _mkdirs(mafw, "data/frames/frames_crop_align_224")
    assert video_layout("MAFW", mafw)[0] == mafw / "data/frames/frames_crop_align_224"
    assert video_layout("MAFW", mafw, source="videos")[0] == mafw / "data/clips"


def test_errors_name_the_root_and_the_candidates(tmp_path: Path):
    root = _mkdirs(tmp_path / "DFEW", "EmoLabel_DataSplit")
    with pytest.raises(DatasetError, match=r"DFEW.*clip_224x224_16f.*Clip/original") as e:
        video_layout("DFEW", root)
    assert e.value.path == root
    with pytest.raises(DatasetError, match="root not found"):
        video_layout("MAFW", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="none for this source"):
        video_layout("FERV39k", tmp_path, source="videos")
    with pytest.raises(ValueError, match="split"):
        video_layout("DFEW", root, "val")
    with pytest.raises(ValueError, match="fold"):
        video_layout("MAFW", root, fold=0)
    with pytest.raises(ValueError, match="unknown"):
        video_layout("RAF-DB", root)


def test_the_tiny_suite_folders_are_still_found(tmp_path: Path):
    """The tiny suite's folders (112 px DFEW frames beside mp4, flat MAFW frames, FERV39k scenes
    under the root) resolve as before, to what dataset_paths names."""
    out = tmp_path / "synthetic"
    paths = dataset_paths(out)
    _mkdirs(out, "DFEW/Clip/clip_112x112", "DFEW/Clip/original", "MAFW/frames", "FERV39k/War")
    for name in _LOADERS:
        assert video_layout(name, out / name)[0] == paths[name]["data_root"]
    assert video_layout("DFEW", out / "DFEW", source="videos")[0] == paths["DFEW"]["video_root"]


def test_the_real_split_files_are_where_the_layout_says(reference_dir: Path, tmp_path: Path):
    """Every split file of the real releases sits at the layout's path and parses."""
    real = {"DFEW": "DFEW", "FERV39k": "FERV39K", "MAFW": "MAFW"}
    for name, folder in real.items():
        root = tmp_path / name
        shutil.copytree(reference_dir / "annotations" / folder, root)
        _mkdirs(root, VIDEO_LAYOUTS[name].frames[0])
        folds = range(1, 6) if VIDEO_LAYOUTS[name].folds else [1]
        sizes = Counter()
        for fold in folds:
            for split in ("train", "test"):
                _, annotation = video_layout(name, root, split, fold)
                samples = _LOADERS[name].parse(annotation)
                sizes[split] += len(samples)
                assert {y for _, y in samples} == set(range(len(CLASSES[name])))
        assert sizes["train"] > sizes["test"] > 0


# ---------------------------------------------------------------- the paper_smoke suite

@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("paper_smoke")
    build_suite(out, "paper_smoke", seed=0, workers=2, progress=False)
    return out


def test_tiny_stamp_is_unchanged():
    """Suites stamped before the preset gained its layout fields are still recognised."""
    preset = _stamp(PRESETS["tiny"], 0, "DFEW")["preset"]
    assert list(preset) == ["name", "rafdb", "affectnet", "dfew", "ferv39k", "mafw", "frames",
                            "frame_size", "rafdb_size", "affectnet_size"]
    smoke = _stamp(PRESETS["paper_smoke"], 0, "DFEW")["preset"]
    assert smoke["layout"] == "release" and smoke["stratified"] is True


@pytest.mark.parametrize("name", ["DFEW", "FERV39k", "MAFW"])
def test_smoke_videos_are_read_from_the_release_folders(smoke: Path, name: str):
    root = smoke / name
    expected = {"DFEW": "Clip/clip_224x224_16f", "FERV39k": "2_ClipsforFaceCrop",
                "MAFW": "data/frames/frames_crop_align_224"}[name]
    frames, _ = video_layout(name, root)
    assert frames == root / expected == dataset_paths(smoke, "paper_smoke")[name]["data_root"]
    train = build_dataset(name, root, "train", 1, num_frames=16, image_size=224, seed=0)
    torch.manual_seed(0)
    clip, label = train[0]
    assert clip.shape == (3, 16, 224, 224) and 0 <= label < len(CLASSES[name])
    reader = ClipReader(train.clip_path(train.samples[0][0]))
    assert reader.read([0]).shape == (1, 224, 224, 3)
    if name == "DFEW":  # the dataset's 16-frame folders
        assert {len(ClipReader(train.clip_path(n))) for n, _ in train.samples} == {16}
    test = build_dataset(name, root, "test", 1, num_frames=16, image_size=224)
    views, _ = test[0]
    assert views.shape == (4, 3, 16, 224, 224)
    # small enough for a base-model CPU run: four training clips, one test clip
    assert len(train) == 4 and len(test) == 1


def test_smoke_images(smoke: Path):
    raf = RAFDB(smoke / "RAF-DB", "train", image_size=224)
    assert Counter(raf.labels) == Counter({k: 2 for k in range(7)})
    assert raf[0][0].shape == (3, 224, 224) and len(RAFDB(smoke / "RAF-DB", "test")) == 7
    for classes in (7, 8):
        affect = AffectNet(smoke / "AffectNet", "train", num_classes=classes, image_size=224)
        assert Counter(affect.labels) == Counter({k: 2 for k in range(classes)})
    val = AffectNet(smoke / "AffectNet", "val", num_classes=8)
    assert len(val) == 8 and val[0][0].shape == (3, 224, 224)
    stamp = json.loads((smoke / "DFEW" / ".synthetic.json").read_text())
    assert stamp["preset"]["frame_size"] == 224
