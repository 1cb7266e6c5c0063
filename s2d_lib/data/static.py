"""Image datasets RAF-DB (basic) and AffectNet, read from the releases' own files.

Items are ``(image[3, H, W], label)`` -- float, normalised with the ImageNet mean / std --
and, for AffectNet with ``with_landmarks=True``, ``(image, label, landmarks[68, 2])`` in pixel
coordinates of the returned image. Labels keep each dataset's own order (``classes``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import tv_tensors

from .annotations import read_affectnet_csv, read_rafdb_partition
from .errors import DatasetError
from .labels import CLASSES
from .layouts import AFFECTNET_IMAGES, AFFECTNET_SPLITS, RAFDB_IMAGES, RAFDB_LABELS
from .transforms import RELEASE_AUTO_AUGMENT, eval_transform, train_transform

__all__ = ["RAFDB", "AffectNet"]


def _load_image(path: Path) -> Image.Image:
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except FileNotFoundError:
        raise DatasetError(path, "image file not found") from None
    except OSError as e:
        raise DatasetError(path, f"unreadable image ({e})") from None


def _root(path: str | Path, name: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(path, f"{name} root not found")
    return path


def _default_transform(split_is_train: bool, augment: bool | None, image_size: int,
                       rand_augment: bool) -> Callable:
    if split_is_train if augment is None else augment:
        return train_transform(image_size, RELEASE_AUTO_AUGMENT if rand_augment else None)
    return eval_transform(image_size)


class RAFDB(Dataset):
    """RAF-DB basic: ``root`` is the ``basic`` folder or its parent.

    Reads ``EmoLabel/list_patition_label.txt`` (labels 1..7 in the file, 0..6 here) and
    ``Image/aligned/<name>_aligned.jpg``. ``augment`` defaults to ``split == "train"``.
    """

    classes = CLASSES["RAF-DB"]

    def __init__(self, root: str | Path, split: str = "train", image_size: int = 224,
                 transform: Callable | None = None, augment: bool | None = None) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', not {split!r}")
        root = _root(root, "RAF-DB")
        self.root = root / "basic" if (root / "basic").is_dir() else root
        self.samples = read_rafdb_partition(self.root / RAFDB_LABELS, split)
        self.transform = transform or _default_transform(split == "train", augment, image_size, True)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> list[int]:
        """Label of every sample, in order."""
        return [label for _, label in self.samples]

    def image_path(self, name: str) -> Path:
        """``train_00001.jpg`` -> ``Image/aligned/train_00001_aligned.jpg``."""
        return self.root / RAFDB_IMAGES / f"{Path(name).stem}_aligned.jpg"

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        name, label = self.samples[index]
        image = tv_tensors.Image(torch.from_numpy(np.array(_load_image(self.image_path(name))))
                                 .permute(2, 0, 1))
        return self.transform(image), label


class AffectNet(Dataset):
    """AffectNet, manually annotated part: ``training.csv`` (``split="train"``) or
    ``validation.csv`` (``split="val"``), images under ``Manually_Annotated_Images/``.

    ``num_classes=8`` keeps codes 0-7, ``7`` also drops contempt (7); codes 8-10 (none,
    uncertain, non-face) are always dropped. ``crop_face`` crops the image to the CSV's face box.
    With ``with_landmarks`` items carry the 68 landmarks; RandAugment is then left out of the
    default train transform (its geometric operations would not move the points).
    """

    def __init__(self, root: str | Path, split: str = "train", num_classes: int = 7,
                 image_size: int = 224, transform: Callable | None = None,
                 augment: bool | None = None, with_landmarks: bool = False,
                 crop_face: bool = True) -> None:
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', not {split!r}")
        if num_classes not in (7, 8):
            raise ValueError(f"num_classes must be 7 or 8, not {num_classes}")
        self.root = _root(root, "AffectNet")
        csv_path = self.root / AFFECTNET_SPLITS[split]
        self.rows = [r for r in read_affectnet_csv(csv_path) if r["expression"] < num_classes]
        if with_landmarks:
            missing = [r["path"] for r in self.rows if r["landmarks"] is None]
            if missing:
                raise DatasetError(csv_path, f"{len(missing)} rows without facial_landmarks, "
                                             f"e.g. {missing[0]}")
        self.classes = CLASSES["AffectNet"][:num_classes]
        self.with_landmarks, self.crop_face = with_landmarks, crop_face
        self.transform = transform or _default_transform(split == "train", augment, image_size,
                                                         not with_landmarks)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def labels(self) -> list[int]:
        """Label of every sample, in order."""
        return [r["expression"] for r in self.rows]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        row = self.rows[index]
        image = _load_image(self.root / AFFECTNET_IMAGES / row["path"])
        offset = np.zeros(2)
        if self.crop_face:
            x, y, w, h = row["box"]
            image = image.crop((x, y, x + w, y + h))
            offset = np.array([x, y], float)
        pixels = tv_tensors.Image(torch.from_numpy(np.array(image)).permute(2, 0, 1))
        if not self.with_landmarks:
            return self.transform(pixels), row["expression"]
        points = tv_tensors.KeyPoints(torch.tensor(np.asarray(row["landmarks"]) - offset,
                                                   dtype=torch.float32),
                                      canvas_size=(image.height, image.width))
        pixels, points = self.transform(pixels, points)
        return pixels, row["expression"], points.as_subclass(torch.Tensor)
