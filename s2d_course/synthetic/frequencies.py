"""Class frequencies of the real datasets, and exact label counts of a synthetic split.

:data:`REAL_COUNTS` holds each dataset's published class counts in canonical names
(:mod:`s2d_lib.data.labels`): DFEW and MAFW over the whole set (their five folds are cut
stratified from it), FERV39k and RAF-DB per split. They come from the annotation files -- DFEW
``EmoLabel_DataSplit`` set 1 (train + test), FERV39k ``Annotation/{train,test}.csv``, MAFW
``anno/single/no_caption/set_1`` (train + test) -- and, for RAF-DB, the counts published with
RAF-DB basic; ``tests/test_data_synthetic_world.py`` recounts the video ones from the files.

:func:`allocate` turns frequencies into exact counts for ``n`` samples (largest remainder, each
class at least once when ``n`` allows), so a planned split never depends on sampling luck.

:data:`CONFUSIONS` pair the classes that annotators and models confuse most on real
in-the-wild data -- anger / disgust, fear / surprise, sadness / neutral, a faint smile read as
neutral, and MAFW's extra classes read as their nearest basic one (anxiety as fear,
disappointment and helplessness as sadness, contempt as disgust or neutral); weights are
relative. A mislabelled sample (``label_noise`` of a preset) shows a confusion of the class its
annotation gives, so the annotation files keep the real class frequencies while each annotated
class holds about the same share of faces of a neighbouring class.
"""
from __future__ import annotations

import numpy as np

__all__ = ["REAL_COUNTS", "CONFUSIONS", "allocate", "split_counts", "confuse"]

REAL_COUNTS: dict[str, dict[str, dict[str, int]]] = {
    "DFEW": {"all": {"happiness": 2445, "sadness": 1894, "neutral": 2669, "anger": 2173,
                     "surprise": 1469, "disgust": 145, "fear": 902}},
    "FERV39k": {
        "train": {"anger": 5906, "disgust": 1833, "fear": 1680, "happiness": 5854,
                  "neutral": 7790, "sadness": 5523, "surprise": 2502},
        "test": {"anger": 1487, "disgust": 467, "fear": 431, "happiness": 1473,
                 "neutral": 1958, "sadness": 1393, "surprise": 638}},
    "MAFW": {"all": {"anger": 1390, "anxiety": 916, "contempt": 236, "disappointment": 182,
                     "disgust": 639, "fear": 625, "happiness": 1242, "helplessness": 262,
                     "neutral": 1138, "sadness": 1470, "surprise": 1072}},
    "RAF-DB": {
        "train": {"surprise": 1290, "fear": 281, "disgust": 717, "happiness": 4772,
                  "sadness": 1982, "anger": 705, "neutral": 2524},
        "test": {"surprise": 329, "fear": 74, "disgust": 160, "happiness": 1185,
                 "sadness": 478, "anger": 162, "neutral": 680}},
}

CONFUSIONS: dict[str, dict[str, float]] = {
    "neutral": {"sadness": 3, "happiness": 1, "anger": 1, "surprise": 1, "contempt": 1},
    "happiness": {"neutral": 3, "surprise": 2, "contempt": 1},
    "sadness": {"neutral": 3, "disappointment": 2, "helplessness": 1, "fear": 1, "disgust": 1},
    "surprise": {"fear": 3, "happiness": 1, "neutral": 1},
    "fear": {"surprise": 3, "anxiety": 2, "sadness": 1},
    "disgust": {"anger": 3, "sadness": 1, "contempt": 1},
    "anger": {"disgust": 3, "neutral": 1, "sadness": 1},
    "contempt": {"disgust": 2, "neutral": 2, "happiness": 1},
    "anxiety": {"fear": 3, "sadness": 1, "helplessness": 1},
    "helplessness": {"sadness": 2, "disappointment": 2, "anxiety": 1},
    "disappointment": {"sadness": 3, "helplessness": 1, "neutral": 1},
}


def allocate(counts: dict[str, int], n: int) -> dict[str, int]:
    """Exact counts for ``n`` samples in proportion to ``counts`` (largest remainder).

    Every class gets at least one sample when ``n`` is at least the number of classes; ties go
    to the class listed first, so the result is deterministic.
    """
    names = list(counts)
    quota = np.array([counts[c] for c in names], float)
    quota = quota / quota.sum() * n
    base = np.floor(quota).astype(int)
    if n >= len(names):
        base = np.maximum(base, 1)
        while base.sum() > n:  # the classes lifted to one are paid for by the most over-served
            excess = np.where(base > 1, base - quota, -np.inf)
            base[int(np.argmax(excess))] -= 1
    order = sorted(range(len(names)), key=lambda i: (-(quota[i] - base[i]), i))
    for i in order[:n - base.sum()]:
        base[i] += 1
    return {c: int(k) for c, k in zip(names, base)}


def split_counts(dataset: str, split: str, n: int) -> dict[str, int]:
    """Exact class counts of a synthetic ``split`` of ``n`` samples following the real dataset;
    ``split`` is ``train`` / ``test`` for RAF-DB and FERV39k and ``all`` for DFEW and MAFW."""
    return allocate(REAL_COUNTS[dataset][split], n)


def confuse(label: str, classes: tuple[str, ...], rng: np.random.Generator) -> str:
    """A class other than ``label`` that is confused with it, drawn from its
    :data:`CONFUSIONS` among ``classes``."""
    options = {c: w for c, w in CONFUSIONS[label].items() if c in classes and c != label}
    if not options:  # no listed neighbour in this label set: any other class
        options = {c: 1.0 for c in classes if c != label}
    names = list(options)
    weights = np.array([options[c] for c in names], float)
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]
