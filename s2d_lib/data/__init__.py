"""Data engine: loaders of RAF-DB, AffectNet, DFEW, FERV39k and MAFW reading the real releases'
files unchanged, the label spaces and their mapping, frame sampling and transforms, and a
synthetic generator writing the same layouts (:mod:`s2d_lib.data.synthetic`)."""
from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from .errors import DatasetError
from .labels import CLASSES, label_map
from .static import RAFDB, AffectNet
from .transforms import eval_transform, train_transform
from .video import DFEW, MAFW, FERV39k, VideoDataset

__all__ = ["DatasetError", "CLASSES", "label_map", "RAFDB", "AffectNet", "DFEW", "FERV39k", "MAFW",
           "VideoDataset", "train_transform", "eval_transform", "build_dataset"]

_VIDEO = {"DFEW": DFEW, "FERV39k": FERV39k, "MAFW": MAFW}


def build_dataset(name: str, root: str | Path, split: str = "train", fold: int = 1,
                  frames: bool = True, **kwargs) -> Dataset:
    """One-line construction from a dataset's top folder (the real release or the synthetic one).

    ``root`` is the folder the release unpacks to (``.../RAF-DB``, ``.../AffectNet``,
    ``.../DFEW``, ``.../FERV39k``, ``.../MAFW``); ``split`` is ``train`` or ``test`` (AffectNet:
    ``val`` for test); ``fold`` picks DFEW / MAFW's ``set_K``; ``frames=False`` reads DFEW's mp4
    clips instead of its frame folders. Other keyword arguments go to the dataset class. The
    video layouts assumed are those of the synthetic suite (:mod:`s2d_lib.data.synthetic.suite`);
    for another layout call the class with ``data_root`` and ``annotation_file`` directly.
    """
    from .synthetic.suite import DFEW_FRAMES, MAFW_FRAMES

    root = Path(root)
    if name == "RAF-DB":
        return RAFDB(root, split, **kwargs)
    if name == "AffectNet":
        return AffectNet(root, "val" if split == "test" else split, **kwargs)
    if name not in _VIDEO:
        raise ValueError(f"unknown dataset {name!r}; choose from {list(CLASSES)}")
    kwargs.setdefault("mode", split)
    if name == "DFEW":
        data_root = root / (DFEW_FRAMES if frames else "Clip/original")
        ann = root / "EmoLabel_DataSplit" / f"{split}(single-labeled)" / f"{split}_set_{fold}.csv"
    elif name == "FERV39k":
        data_root, ann = root, root / "Annotation" / f"{split}.csv"
    else:
        data_root = root / MAFW_FRAMES
        ann = root / "anno" / "single" / "no_caption" / f"set_{fold}" / f"{split}.csv"
    return _VIDEO[name](data_root, ann, **kwargs)
