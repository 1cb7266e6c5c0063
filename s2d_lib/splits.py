"""The datasets of a run, built from its config: train (augmented), train as deterministic
views (validation and the landmark cache), and test (N x M views), read from each dataset's
release layout under ``data_root``."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from sklearn.model_selection import train_test_split
from torch.utils.data import Dataset

from .config import VIDEO_DATASETS, TrainConfig
from .data.labels import CLASSES
from .data.layouts import video_layout
from .data.transforms import train_transform

__all__ = ["DataSplits", "build_split", "build_data", "train_val_indices", "labelled_share"]


@dataclass
class DataSplits:
    """The datasets of one run. ``train`` yields training views (augmented); ``train_eval`` the
    same samples as deterministic views (used for the validation split and the landmark cache);
    ``test`` deterministic test views. Items are ``(x, label)`` with x an image ``(3, H, W)``, a
    clip ``(3, T, H, W)`` or test views ``(V, 3, T, H, W)``."""

    train: Dataset
    train_eval: Dataset
    test: Dataset | None
    labels: Sequence[int]
    class_names: Sequence[str]
    name: str = "data"
    val: Dataset | None = field(default=None)


def _train_transform(cfg: TrainConfig, size: int):
    """The training augmentation of ``cfg`` (:func:`~s2d_lib.data.transforms.train_transform`)."""
    return train_transform(size, cfg.auto_augment, cfg.reprob, scale=cfg.crop_scale)


def build_split(cfg: TrainConfig, split: str, image_size: int | None = None,
                mode: str = "test", views: tuple[int, int] | None = None) -> Dataset:
    """One split (``train`` / ``test``) of the dataset ``cfg`` names, in ``mode`` ``train``
    (augmented) or ``test`` (deterministic ``views`` = N x M, default from ``cfg``)."""
    from .data import video

    if not cfg.data_root:
        raise ValueError(f"no {cfg.dataset} folder given: set data_root=<folder> (the command "
                         "line: python -m s2d_lib.train ... data_root=<folder>)")

    size = image_size or cfg.image_size
    n, m = views or (cfg.test_clips, cfg.test_crops)
    if cfg.dataset in VIDEO_DATASETS:
        frames, annotation = video_layout(cfg.dataset, cfg.data_root, split, max(cfg.fold, 1))
        cls = getattr(video, cfg.dataset)
        return cls(frames, annotation, num_frames=cfg.num_frames, mode=mode, image_size=size,
                   num_temporal_views=n, num_spatial_views=m,
                   transform=_train_transform(cfg, size) if mode == "train" else None,
                   seed=cfg.seed, sampling=cfg.frame_sampling, test_resize=cfg.test_resize)
    from .data import static

    augment = mode == "train"
    transform = _train_transform(cfg, size) if augment else None
    if cfg.dataset == "RAF-DB":
        return static.RAFDB(cfg.data_root, split, image_size=size, transform=transform,
                            augment=augment)
    return static.AffectNet(cfg.data_root, "train" if split == "train" else "val",
                            num_classes=cfg.classes, image_size=size, transform=transform,
                            augment=augment)


def build_data(cfg: TrainConfig) -> DataSplits:
    """Train (augmented), train as deterministic single views, and test (N x M views) splits of
    the dataset ``cfg`` names, read from its release layout under ``data_root``."""
    train_set = build_split(cfg, "train", mode="train")
    root = hashlib.sha1(str(Path(cfg.data_root).resolve()).encode()).hexdigest()[:8]
    return DataSplits(
        train=train_set, train_eval=build_split(cfg, "train", views=(1, 1)),
        test=build_split(cfg, "test"), labels=list(train_set.labels),
        class_names=list(CLASSES[cfg.dataset])[:cfg.classes],
        name=f"{cfg.dataset}-{root}-fold{cfg.fold}-{cfg.image_size}px-views{cfg.test_clips}x"
             f"{cfg.test_crops}" + ("" if cfg.num_frames == 1 else f"-{cfg.frame_sampling}"))


def train_val_indices(labels: Sequence[int], val_fraction: float, train_fraction: float,
                      seed: int) -> tuple[list[int], list[int]]:
    """The training items and the validation items a run of ``seed`` carves from a training split
    with ``labels``: a stratified ``val_fraction`` for validation (none at 0), then the
    :func:`labelled_share` of the rest (repeated to its length)."""
    train_idx, val_idx = list(range(len(labels))), []
    if val_fraction > 0:
        train_idx, val_idx = train_test_split(train_idx, test_size=val_fraction, stratify=labels,
                                              random_state=seed)
    if train_fraction < 1:
        train_idx = labelled_share(train_idx, labels, train_fraction, seed)
    return train_idx, val_idx


def labelled_share(train_idx: list[int], labels: Sequence[int], fraction: float,
                    seed: int) -> list[int]:
    """A stratified share of the training items (the same for every arm of a seed), repeated to
    the length of the whole split: an epoch has as many steps whatever the share, so a learning
    curve compares label budgets at an equal number of steps and validation checks."""
    share = train_test_split(train_idx, train_size=fraction, random_state=seed,
                             stratify=[labels[i] for i in train_idx])[0]
    repeats = -(-len(train_idx) // len(share))
    return (share * repeats)[:len(train_idx)]
