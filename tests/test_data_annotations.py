"""The real releases' split files (../shared/reference/annotations) through the loaders' parsers."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from s2d_lib.data import CLASSES, DatasetError
from s2d_lib.data.annotations import (read_dfew_split, read_ferv39k_label_index, read_ferv39k_split,
                                      read_label_csv, read_mafw_class_file, read_mafw_compound,
                                      read_mafw_split)

#: The float path changes nothing here (the annotation files' formats): CI's second pass leaves it out.
pytestmark = pytest.mark.once


@pytest.fixture(scope="module")
def ann(reference_dir: Path) -> Path:
    return reference_dir / "annotations"


def test_dfew_all_folds(ann: Path):
    base = ann / "DFEW" / "EmoLabel_DataSplit"
    everything: dict[str, int] = {}
    tests = []
    for k in range(1, 6):
        train = read_dfew_split(base / "train(single-labeled)" / f"train_set_{k}.csv")
        test = read_dfew_split(base / "test(single-labeled)" / f"test_set_{k}.csv")
        for name, label in train + test:
            assert len(name) == 5 and name.isdigit()
            assert 0 <= label < 7
            assert everything.setdefault(name, label) == label  # a clip keeps its label
        assert not {n for n, _ in train} & {n for n, _ in test}
        tests.append({n for n, _ in test})
        assert sorted({y for _, y in train}) == list(range(7))
        if k == 1:
            assert (len(train), len(test)) == (9356, 2341)
    assert len(set().union(*tests)) == sum(map(len, tests)) == len(everything)  # 5 disjoint folds
    assert len(CLASSES["DFEW"]) == 7


def test_ferv39k(ann: Path):
    base = ann / "FERV39K" / "Annotation"
    train, test = read_ferv39k_split(base / "train.csv"), read_ferv39k_split(base / "test.csv")
    assert (len(train), len(test)) == (31088, 7847)
    index = read_ferv39k_label_index(base / "label_index.txt")
    assert [name for name, _ in sorted(index.items(), key=lambda kv: kv[1])] == list(CLASSES["FERV39k"])
    for path, label in train + test:
        scene, emotion, clip = path.split("/")
        assert CLASSES["FERV39k"][label] == emotion and clip.isdigit()
    assert not {p for p, _ in train} & {p for p, _ in test}


def test_mafw_all_folds_csv_and_txt_agree(ann: Path):
    base = ann / "MAFW" / "anno" / "single" / "no_caption"
    assert [c.lower() for c in read_mafw_class_file(base / "id_to_calss.txt")] == \
        [c.lower() for c in CLASSES["MAFW"]]
    for k in range(1, 6):
        for split in ("train", "test"):
            csv_rows = read_mafw_split(base / f"set_{k}" / f"{split}.csv")
            txt_rows = read_mafw_split(base / f"set_{k}" / f"{split}.txt")
            assert sorted(csv_rows) == sorted(txt_rows)
            assert all(0 <= y < 11 for _, y in csv_rows)
            assert len(Counter(y for _, y in csv_rows)) == 11
        if k == 1:
            assert len(read_mafw_split(base / "set_1" / "train.csv")) == 7333
            assert len(read_mafw_split(base / "set_1" / "test.csv")) == 1839
    for split in ("train", "test"):  # the un-numbered split beside the folds
        assert all(0 <= y < 11 for _, y in read_mafw_split(base / f"{split}.csv"))


def test_mafw_compound(ann: Path):
    files = sorted((ann / "MAFW" / "anno" / "compound" / "no_caption").glob("set_*/*.txt"))
    assert len(files) == 10
    for f in files:
        rows = read_mafw_compound(f)
        assert rows and all(labels and all(0 <= y < 11 for y in labels) for _, labels in rows)


def _parser(path: Path):
    parts = path.parts
    if "DFEW" in parts:
        return read_dfew_split
    if "FERV39K" in parts:
        return read_ferv39k_label_index if path.name == "label_index.txt" else read_ferv39k_split
    if path.name == "id_to_calss.txt":
        return read_mafw_class_file
    return read_mafw_compound if "compound" in parts else read_mafw_split


def test_every_reference_file_is_parsed(ann: Path):
    files = sorted(f for f in ann.rglob("*") if f.is_file())
    # 10 DFEW, 3 FERV39k, 20 MAFW fold files + 2 un-numbered + id_to_calss, 10 compound
    assert len(files) == 10 + 3 + 20 + 2 + 1 + 10
    for f in files:
        assert len(_parser(f)(f)) > 0, f


def test_bad_csvs_name_the_file(tmp_path: Path):
    bad_column = tmp_path / "train_set_1.csv"
    bad_column.write_text("video_name,emotion\n00001,1\n")
    with pytest.raises(DatasetError, match="train_set_1.csv.*missing column"):
        read_dfew_split(bad_column)
    out_of_range = tmp_path / "test.csv"
    out_of_range.write_text("path,id\nCrime/Angry/0001,7\n")
    with pytest.raises(DatasetError, match=r"test.csv: line 2: label 7 outside 0..6"):
        read_ferv39k_split(out_of_range)
    not_int = tmp_path / "x.csv"
    not_int.write_text("video_name,labels\n00001,anger\n")
    with pytest.raises(DatasetError, match="not an integer"):
        read_label_csv(not_int, "video_name", "labels", 11)
    unknown = tmp_path / "train.txt"
    unknown.write_text("00001.mp4 joy\r\n")
    with pytest.raises(DatasetError, match="unknown class 'joy'"):
        read_mafw_split(unknown)
    with pytest.raises(DatasetError, match="annotation file not found"):
        read_dfew_split(tmp_path / "missing.csv")
