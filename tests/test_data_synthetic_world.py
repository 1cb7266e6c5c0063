"""The real datasets' class frequencies and their exact allocation to synthetic splits."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from s2d_lib.data import CLASSES
from s2d_lib.data.annotations import (read_dfew_split, read_ferv39k_label_index, read_ferv39k_split,
                                      read_mafw_split)
from s2d_lib.data.labels import canonical_names
from s2d_lib.data.synthetic.frequencies import REAL_COUNTS, allocate


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

