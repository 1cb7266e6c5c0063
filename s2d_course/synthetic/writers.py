"""Writers of the real datasets' layouts: frame folders, mp4 clips and annotation files.

The annotation files match the real releases byte for byte in format (headers, zero-padded
names, 1-based RAF-DB labels, CRLF line ends of the FERV39k / MAFW text files), so the loaders
in :mod:`s2d_lib.data` read synthetic and real data with the same code.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterable, Sequence

import av
import numpy as np
from PIL import Image

from s2d_lib.data.labels import CLASSES, MAFW_FILE_NAMES, RAFDB_FILE_OFFSET
from s2d_lib.data.annotations import AFFECTNET_COLUMNS
from s2d_lib.data.layouts import DFEW_SPLIT_DIRS, FOLDS, RAFDB_LABELS
from s2d_lib.data.video import FRAME_RATE

__all__ = ["LANDMARKS_FILE", "NUISANCE_FILE", "SYNTHETIC_LABELS", "FRAME_PATTERN", "write_frames",
           "write_mp4", "write_rafdb_labels", "write_affectnet_csv", "write_dfew_splits",
           "write_ferv39k_annotations", "write_mafw_annotations", "write_synthetic_labels"]

#: Per-clip landmarks, saved inside each frame folder: float32 (T, 68, 2), pixel (x, y).
LANDMARKS_FILE = "landmarks.npy"
#: Per-frame nuisance flags beside the landmarks (presets with nuisances; see ``nuisances``).
NUISANCE_FILE = "nuisance.json"
#: Per-sample truth in each dataset folder (presets with label noise or nuisances).
SYNTHETIC_LABELS = "synthetic_labels.csv"
#: Frame file names inside a clip folder (1-based).
FRAME_PATTERN = "{:05d}.jpg"


def write_frames(folder: Path, frames: Sequence[Image.Image], landmarks: np.ndarray,
                 quality: int, nuisance: dict | None = None) -> None:
    """JPEG frames ``00001.jpg``..., ``nuisance.json`` when given, and ``landmarks.npy`` (written
    last: it marks the clip complete)."""
    folder.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(frames):
        frame.save(folder / FRAME_PATTERN.format(t + 1), quality=quality)
    if nuisance is not None:
        (folder / NUISANCE_FILE).write_text(json.dumps(nuisance, separators=(",", ":")))
    np.save(folder / LANDMARKS_FILE, landmarks.astype(np.float32))


def write_mp4(path: Path, frames: Sequence[Image.Image], fps: int = int(FRAME_RATE)) -> None:
    """An H.264 mp4 of the frames (PyAV); written to a temporary name and renamed when complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames[0].size
        stream.pix_fmt = "yuv420p"
        # A constant quantizer, not x264's default rate control: its float look-ahead (mb-tree)
        # gives different bytes for the same frames depending on the process's earlier work.
        stream.options = {"qp": "20", "preset": "veryfast"}
        stream.thread_count = 1
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_image(frame)))
        container.mux(stream.encode())
    tmp.replace(path)


def _write_lines(path: Path, lines: Iterable[str], newline: str = "\n", final: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = newline.join(lines)
    path.write_bytes((text + (newline if final else "")).encode())


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_rafdb_labels(basic: Path, samples: Sequence[tuple[str, int]]) -> None:
    """``EmoLabel/list_patition_label.txt`` (sic): ``train_00001.jpg 5`` with 1-based labels."""
    _write_lines(basic / RAFDB_LABELS,
                 (f"{name} {label + RAFDB_FILE_OFFSET}" for name, label in samples))


def write_affectnet_csv(path: Path, rows: Sequence[dict]) -> None:
    """``training.csv`` / ``validation.csv`` with the official columns; landmarks as ``x;y;...``."""
    def fmt(row: dict) -> list:
        lm = row["landmarks"]
        flat = "" if lm is None else ";".join(f"{v:.2f}" for v in np.asarray(lm).ravel())
        return [row["path"], *row["box"], flat, row["expression"],
                f"{row['valence']:.6f}", f"{row['arousal']:.6f}"]
    _write_csv(path, AFFECTNET_COLUMNS, (fmt(r) for r in rows))


def write_dfew_splits(root: Path, folds: dict[str, int], labels: dict[str, int],
                      num_folds: int = FOLDS, test_labels: dict[str, int] | None = None) -> None:
    """``EmoLabel_DataSplit/{train,test}(single-labeled)/{train,test}_set_K.csv``: ``video_name,label``
    (the test files with ``test_labels`` when given: clean labels beside annotators' ones)."""
    for k in range(1, num_folds + 1):
        for split, in_split in (("test", lambda f: f == k), ("train", lambda f: f != k)):
            names = sorted(n for n, f in folds.items() if in_split(f))
            given = test_labels if split == "test" and test_labels is not None else labels
            _write_csv(root / "EmoLabel_DataSplit" / DFEW_SPLIT_DIRS[split] / f"{split}_set_{k}.csv",
                       ("video_name", "label"), ((n, given[n]) for n in names))


def write_ferv39k_annotations(root: Path, splits: dict[str, list[tuple[str, int]]]) -> None:
    """``Annotation/{train,test}.csv`` (``path,id``) and ``Annotation/label_index.txt`` (CRLF)."""
    for split, samples in splits.items():
        _write_csv(root / "Annotation" / f"{split}.csv", ("path", "id"), samples)
    _write_lines(root / "Annotation" / "label_index.txt",
                 (f"{name} {i}" for i, name in enumerate(CLASSES["FERV39k"])), "\r\n")


def write_mafw_annotations(root: Path, folds: dict[str, int], labels: dict[str, int],
                           num_folds: int = FOLDS) -> None:
    """``anno/single/no_caption/set_K/{train,test}.{csv,txt}`` and ``id_to_calss.txt`` (sic).

    As in the release, the csv has header ``video_name,labels`` and the txt lines
    ``03747.mp4 anger`` (CRLF); both list a split sorted by label, then name.
    """
    base = root / "anno" / "single" / "no_caption"
    for k in range(1, num_folds + 1):
        for split, in_split in (("test", lambda f: f == k), ("train", lambda f: f != k)):
            names = sorted((labels[n], n) for n, f in folds.items() if in_split(f))
            _write_csv(base / f"set_{k}" / f"{split}.csv", ("video_name", "labels"),
                       ((n, y) for y, n in names))
            _write_lines(base / f"set_{k}" / f"{split}.txt",
                         (f"{n}.mp4 {MAFW_FILE_NAMES[y]}" for y, n in names), "\r\n")
    names = [c if c != "Contempt" else "contempt" for c in CLASSES["MAFW"]]  # sic, as released
    _write_lines(base / "id_to_calss.txt", (f"{i}: '{c}'," for i, c in enumerate(names)),
                 final=False)


def write_synthetic_labels(path: Path, rows: Iterable[tuple[str, str, str, str, str]]) -> None:
    """``synthetic_labels.csv``: ``sample,split,label,written,second`` -- the sample's name as the
    annotation files give it, its split (``train`` / ``test`` / ``val``, or the DFEW / MAFW fold
    whose test set holds it), the true (rendered) canonical label, the label written to the
    annotation files, and the second expression of a blend (empty if none)."""
    _write_csv(path, ("sample", "split", "label", "written", "second"), rows)
