"""Data engine: loaders of RAF-DB, AffectNet, DFEW, FERV39k and MAFW reading the real releases'
files unchanged, the label spaces and their mapping, frame sampling and transforms. (The course's
synthetic generator writes the same layouts.)"""
from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from .errors import DatasetError
from .labels import CLASSES, label_map
from .layouts import video_layout
from .static import RAFDB, AffectNet
from .transforms import eval_transform, train_transform
from .video import DFEW, MAFW, FERV39k, VideoDataset

__all__ = ["DatasetError", "CLASSES", "label_map", "RAFDB", "AffectNet", "DFEW", "FERV39k", "MAFW",
           "VideoDataset", "train_transform", "eval_transform", "build_dataset", "video_layout"]

_VIDEO = {"DFEW": DFEW, "FERV39k": FERV39k, "MAFW": MAFW}


def build_dataset(name: str, root: str | Path, split: str = "train", fold: int = 1,
                  frames: bool = True, **kwargs) -> Dataset:
    """One-line construction from a dataset's top folder (the real release or the synthetic one).

    ``root`` is the folder the release unpacks to (``.../RAF-DB``, ``.../AffectNet``,
    ``.../DFEW``, ``.../FERV39k``, ``.../MAFW``); ``split`` is ``train`` or ``test`` (AffectNet:
    ``val`` for test); ``fold`` picks DFEW / MAFW's ``set_K``; ``frames=False`` reads the mp4
    clips (DFEW's ``Clip/original``, MAFW's ``data/clips``) instead of the frame folders. Other
    keyword arguments go to the dataset class. The folders are found by
    :func:`~s2d_lib.data.layouts.video_layout`; for another layout call the class with
    ``data_root`` and ``annotation_file`` directly.
    """
    root = Path(root)
    if name == "RAF-DB":
        return RAFDB(root, split, **kwargs)
    if name == "AffectNet":
        return AffectNet(root, "val" if split == "test" else split, **kwargs)
    if name not in _VIDEO:
        raise ValueError(f"unknown dataset {name!r}; choose from {list(CLASSES)}")
    kwargs.setdefault("mode", split)
    data_root, annotation = video_layout(name, root, split, fold, "frames" if frames else "videos")
    return _VIDEO[name](data_root, annotation, **kwargs)
