"""Label orders of each dataset (``book/architecture.md``, "Frames and label orders") and the
mapping between their label spaces.

Every dataset keeps its own 0-based order, exactly as its annotation files use it. Classes are
compared through one shared vocabulary of *canonical* names (``CANONICAL``), which is also the
vocabulary the synthetic generator draws expressions from.
"""
from __future__ import annotations

__all__ = ["CLASSES", "CANONICAL", "BASIC7", "canonical_names", "label_map",
           "MAFW_FILE_NAMES", "RAFDB_FILE_OFFSET"]

#: The shared vocabulary: the seven basic expressions first, then MAFW's four extra classes.
BASIC7 = ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger")
CANONICAL = BASIC7 + ("contempt", "anxiety", "helplessness", "disappointment")

#: Each dataset's class names, in the order of its label indices.
CLASSES: dict[str, tuple[str, ...]] = {
    "DFEW": ("Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear"),
    "FERV39k": ("Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"),
    "MAFW": ("Anger", "Anxiety", "Contempt", "Disappointment", "Disgust", "Fear", "Happiness",
             "Helplessness", "Neutral", "Sadness", "Surprise"),
    "RAF-DB": ("Surprise", "Fear", "Disgust", "Happiness", "Sadness", "Anger", "Neutral"),
    "AffectNet": ("Neutral", "Happy", "Sad", "Surprise", "Fear", "Disgust", "Anger", "Contempt"),
}

#: RAF-DB's ``list_patition_label.txt`` stores labels 1..7; the loaders use 0..6.
RAFDB_FILE_OFFSET = 1
#: MAFW's ``.txt`` split files name the class in lower case (``03747.mp4 anger``).
MAFW_FILE_NAMES = tuple(name.lower() for name in CLASSES["MAFW"])

_SYNONYMS = {"happy": "happiness", "sad": "sadness", "angry": "anger"}


def canonical_names(dataset: str) -> tuple[str, ...]:
    """The dataset's classes, in its own order, as names of the shared vocabulary."""
    return tuple(_SYNONYMS.get(c.lower(), c.lower()) for c in CLASSES[dataset])


def label_map(source: str, target: str) -> list[int]:
    """For each label of ``source``, the label of ``target`` with the same meaning, or -1 if none.

    Used to carry a classifier head from one label space to another, e.g. the static RAF-DB
    head to DFEW: ``weight_dfew = weight_raf[label_map("DFEW", "RAF-DB")]``.
    """
    target_names = canonical_names(target)
    return [target_names.index(n) if n in target_names else -1 for n in canonical_names(source)]
