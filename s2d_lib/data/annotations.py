"""Parsers of the datasets' own annotation files, read unchanged.

Each returns a list of ``(name, label)`` samples with 0-based labels in the dataset's own order
(see :mod:`s2d_lib.data.labels`) and raises :class:`DatasetError` naming the file and line for
anything it cannot use.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

from .errors import DatasetError
from .labels import CLASSES, MAFW_FILE_NAMES, RAFDB_FILE_OFFSET

__all__ = ["Sample", "read_label_csv", "read_dfew_split", "read_ferv39k_split",
           "read_mafw_split", "read_mafw_compound", "read_ferv39k_label_index", "read_mafw_class_file",
           "read_rafdb_partition", "read_affectnet_csv", "AFFECTNET_COLUMNS"]

Sample = tuple[str, int]

#: Columns of AffectNet's ``training.csv`` / ``validation.csv``.
AFFECTNET_COLUMNS = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height",
                     "facial_landmarks", "expression", "valence", "arousal")


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "annotation file not found")
    return path


def _label(value: str, num_classes: int, path: Path, line: int) -> int:
    try:
        label = int(value)
    except ValueError:
        raise DatasetError(path, f"line {line}: label {value!r} is not an integer") from None
    if not 0 <= label < num_classes:
        raise DatasetError(path, f"line {line}: label {label} outside 0..{num_classes - 1}")
    return label


def read_label_csv(path: str | Path, name_column: str, label_column: str,
                   num_classes: int) -> list[Sample]:
    """Rows of a ``name,label`` CSV with a header; names are kept as strings (``02522``)."""
    path = _existing(path)
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = {name_column, label_column} - set(reader.fieldnames or ())
        if missing:
            raise DatasetError(path, f"missing column(s) {sorted(missing)}; "
                                     f"header is {reader.fieldnames}")
        samples = []
        for line, row in enumerate(reader, start=2):
            name = (row[name_column] or "").strip()
            if not name:
                raise DatasetError(path, f"line {line}: empty {name_column!r}")
            samples.append((name, _label(row[label_column], num_classes, path, line)))
    if not samples:
        raise DatasetError(path, "no samples")
    return samples


def read_dfew_split(path: str | Path) -> list[Sample]:
    """DFEW ``EmoLabel_DataSplit/{train,test}(single-labeled)/*_set_K.csv``: ``video_name,label``."""
    return read_label_csv(path, "video_name", "label", len(CLASSES["DFEW"]))


def read_ferv39k_split(path: str | Path) -> list[Sample]:
    """FERV39k ``Annotation/{train,test}.csv``: ``path,id`` with paths like ``Crime/Angry/0063``."""
    return read_label_csv(path, "path", "id", len(CLASSES["FERV39k"]))


def _mafw_txt(path: Path, allow_compound: bool) -> list[tuple[str, tuple[int, ...]]]:
    samples = []
    for line, text in enumerate(path.read_text().splitlines(), start=1):
        if not text.strip():
            continue
        parts = text.split()
        if len(parts) != 2:
            raise DatasetError(path, f"line {line}: expected '<video>.mp4 <class>', got {text!r}")
        video, cls = parts
        names = cls.split("_") if allow_compound else [cls]
        unknown = [n for n in names if n not in MAFW_FILE_NAMES]
        if unknown:
            raise DatasetError(path, f"line {line}: unknown class {unknown[0]!r} "
                                     f"(classes are {MAFW_FILE_NAMES})")
        samples.append((Path(video).stem, tuple(MAFW_FILE_NAMES.index(n) for n in names)))
    if not samples:
        raise DatasetError(path, "no samples")
    return samples


def read_mafw_compound(path: str | Path) -> list[tuple[str, tuple[int, ...]]]:
    """MAFW ``anno/compound/no_caption/set_K/{train,test}.txt`` (``08085.mp4 disgust_fear``):
    each clip with the tuple of its class ids, in the order written."""
    return _mafw_txt(_existing(path), allow_compound=True)


def read_mafw_split(path: str | Path) -> list[Sample]:
    """MAFW ``anno/single/no_caption/set_K/{train,test}.csv`` (``video_name,labels``) or the
    ``.txt`` twin (``03747.mp4 anger``); names are returned without the ``.mp4`` suffix."""
    path = _existing(path)
    if path.suffix == ".csv":
        return read_label_csv(path, "video_name", "labels", len(CLASSES["MAFW"]))
    return [(name, labels[0]) for name, labels in _mafw_txt(path, allow_compound=False)]


def read_ferv39k_label_index(path: str | Path) -> dict[str, int]:
    """FERV39k ``Annotation/label_index.txt`` (``Angry 0`` per line) as ``{name: id}``."""
    path = _existing(path)
    index = {}
    for line, text in enumerate(path.read_text().splitlines(), start=1):
        if text.strip():
            try:
                name, value = text.split()
                index[name] = int(value)
            except ValueError:
                raise DatasetError(path, f"line {line}: expected '<name> <id>', got {text!r}") from None
    return index


def read_mafw_class_file(path: str | Path) -> list[str]:
    """MAFW ``id_to_calss.txt`` (``0: 'Anger',`` per line) as the list of class names by id."""
    path = _existing(path)
    found = dict()
    for line, text in enumerate(path.read_text().splitlines(), start=1):
        if text.strip():
            match = re.fullmatch(r"\s*(\d+):\s*'([^']+)',?\s*", text)
            if match is None:
                raise DatasetError(path, f"line {line}: expected \"<id>: '<name>',\", got {text!r}")
            found[int(match[1])] = match[2]
    if sorted(found) != list(range(len(found))):
        raise DatasetError(path, f"ids {sorted(found)} are not 0..{len(found) - 1}")
    return [found[i] for i in range(len(found))]


def read_rafdb_partition(path: str | Path, split: str) -> list[Sample]:
    """RAF-DB ``basic/EmoLabel/list_patition_label.txt`` (``train_00001.jpg 5``, labels 1..7):
    the rows of ``split`` ('train' or 'test') with 0-based labels."""
    path = _existing(path)
    samples = []
    for line, text in enumerate(path.read_text().splitlines(), start=1):
        if not text.strip():
            continue
        parts = text.split()
        if len(parts) != 2:
            raise DatasetError(path, f"line {line}: expected '<image> <label>', got {text!r}")
        if parts[0].startswith(split + "_"):
            label = _label(parts[1], len(CLASSES["RAF-DB"]) + RAFDB_FILE_OFFSET, path, line)
            if label < RAFDB_FILE_OFFSET:
                raise DatasetError(path, f"line {line}: label {label} outside 1..7")
            samples.append((parts[0], label - RAFDB_FILE_OFFSET))
    if not samples:
        raise DatasetError(path, f"no {split!r} samples")
    return samples


def read_affectnet_csv(path: str | Path) -> list[dict]:
    """AffectNet ``training.csv`` / ``validation.csv`` rows (all codes 0-10 kept; filtering is the
    dataset's job). ``box`` is ``(x, y, w, h)``; ``landmarks`` a list of 68 ``(x, y)`` or None."""
    path = _existing(path)
    rows = []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = set(AFFECTNET_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise DatasetError(path, f"missing column(s) {sorted(missing)}; "
                                     f"header is {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            try:
                box = tuple(int(float(row[k])) for k in ("face_x", "face_y", "face_width",
                                                          "face_height"))
                values = [float(v) for v in row["facial_landmarks"].split(";") if v.strip()]
                valence, arousal = float(row["valence"]), float(row["arousal"])
            except ValueError as e:
                raise DatasetError(path, f"line {line}: {e}") from None
            if values and len(values) != 136:
                raise DatasetError(path, f"line {line}: {len(values)} landmark values, expected 136")
            rows.append(dict(path=row["subDirectory_filePath"], box=box,
                             landmarks=list(zip(values[::2], values[1::2])) or None,
                             expression=_label(row["expression"], 11, path, line),
                             valence=valence, arousal=arousal))
    return rows
