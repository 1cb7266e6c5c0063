"""Unlabelled images for MAE pretraining: found on disk, held in memory as uint8, augmented per
step on the tensor side with a seeded generator (so a run is repeatable to the bit).

* ``image_files(*folders)``: the image files under folders (or matching globs), sorted.
* ``load_images(files, size)`` / ``dataset_images(dataset, size)``: one ``(N, 3, size, size)``
  uint8 tensor, each image resized on its short side and centre-cropped to a square.
* ``random_resized_crop(batch, generator)``: MAE's augmentation, a random resized crop (area
  20-100 %, aspect 3/4-4/3) and a horizontal flip with probability 1/2, returned normalised
  with S2D's mean and std.
* ``IndexStream``: an endless stream of batches of indices, one shuffled pass after another.

No label is ever read: a dataset's items give only their image (the first element of a tuple).
"""
from __future__ import annotations

import glob
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from timm.data import IMAGENET_DEFAULT_MEAN as MEAN, IMAGENET_DEFAULT_STD as STD
from ..progress import progress_bar

__all__ = ["IMAGE_SUFFIXES", "image_files", "load_images", "dataset_images", "random_resized_crop",
           "normalise", "IndexStream"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def image_files(*folders: str | Path, pattern: str = "**/*") -> list[Path]:
    """Image files (``IMAGE_SUFFIXES``, any case) matching ``pattern`` under each folder; an
    argument that is a file is taken as is, one that is neither is read as a glob. Sorted and
    without duplicates, so a run sees the same images in the same order everywhere."""
    found: set[Path] = set()
    for source in folders:
        path = Path(source)
        if path.is_dir():
            candidates = path.glob(pattern)
        elif path.is_file():
            candidates = [path]
        else:
            candidates = (Path(p) for p in glob.glob(str(source), recursive=True))
        found |= {p for p in candidates if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()}
    return sorted(found)


def _square(image: Image.Image, size: int) -> torch.Tensor:
    """A PIL image resized on its short side and centre-cropped to ``(3, size, size)`` uint8."""
    image = ImageOps.fit(image.convert("RGB"), (size, size), Image.Resampling.BICUBIC)
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)


def load_images(files: Sequence[str | Path], size: int, progress: bool = True) -> torch.Tensor:
    """The images of ``files`` as one ``(N, 3, size, size)`` uint8 tensor, in the given order."""
    out = torch.empty(len(files), 3, size, size, dtype=torch.uint8)
    for i, path in enumerate(progress_bar(files, desc="loading images", disable=not progress,
                                          leave=False)):
        with Image.open(path) as image:
            out[i] = _square(image, size)
    return out


def _as_uint8(image, size: int) -> torch.Tensor:
    """One dataset image -- PIL, uint8 array/tensor (HWC or CHW), or a float tensor (3, H, W)
    normalised with S2D's mean and std (the project's datasets) -- as ``(3, size, size)`` uint8."""
    if isinstance(image, Image.Image):
        return _square(image, size)
    x = torch.as_tensor(np.asarray(image)) if not isinstance(image, torch.Tensor) else image
    if x.dim() == 3 and x.shape[-1] == 3 and x.shape[0] != 3:
        x = x.permute(2, 0, 1)
    if x.is_floating_point():
        mean, std = torch.tensor(MEAN).view(3, 1, 1), torch.tensor(STD).view(3, 1, 1)
        x = ((x.float() * std + mean) * 255).round().clamp(0, 255).to(torch.uint8)
    if x.dtype != torch.uint8 or x.dim() != 3 or x.shape[0] != 3:
        raise TypeError(f"cannot read a dataset item of type {x.dtype}, shape {tuple(x.shape)} "
                        "as an RGB image")
    if x.shape[1:] != (size, size):
        return _square(Image.fromarray(x.permute(1, 2, 0).numpy()), size)
    return x


def dataset_images(dataset: Dataset, size: int, progress: bool = True) -> torch.Tensor:
    """Every image of ``dataset`` (its items, or their first element: labels are not read) as
    one ``(N, 3, size, size)`` uint8 tensor. Use a dataset without random augmentation."""
    out = torch.empty(len(dataset), 3, size, size, dtype=torch.uint8)
    for i in progress_bar(range(len(dataset)), desc="loading images", disable=not progress,
                          leave=False):
        item = dataset[i]
        out[i] = _as_uint8(item[0] if isinstance(item, (tuple, list)) else item, size)
    return out


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 (or [0, 255] float) images ``(B, 3, H, W)`` -> float normalised with S2D's mean/std."""
    mean = torch.tensor(MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=images.device).view(1, 3, 1, 1)
    return (images.float() / 255 - mean) / std


def _crop_boxes(n: int, height: int, width: int, scale: tuple[float, float],
                ratio: tuple[float, float], generator: torch.Generator, attempts: int = 10
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random crop sizes ``(w, h)`` in pixels, as a random resized crop draws them: area a
    uniform share of the image in ``scale``, log-uniform aspect in ``ratio``; the first of
    ``attempts`` draws that fits, else the whole image."""
    area = height * width * (scale[0] + (scale[1] - scale[0]) * torch.rand(n, attempts, generator=generator))
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(log_lo + (log_hi - log_lo) * torch.rand(n, attempts, generator=generator))
    w, h = (area * aspect).sqrt(), (area / aspect).sqrt()
    fits = (w <= width) & (h <= height)
    first = fits.to(torch.uint8).argmax(1, keepdim=True)  # the first draw that fits
    w, h = w.gather(1, first)[:, 0], h.gather(1, first)[:, 0]
    none = ~fits.any(1)
    return torch.where(none, float(width), w), torch.where(none, float(height), h)


def random_resized_crop(images: torch.Tensor, generator: torch.Generator,
                        scale: tuple[float, float] = (0.2, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3), flip: float = 0.5
                        ) -> torch.Tensor:
    """MAE's augmentation of uint8 ``images (B, 3, H, W)``: a random crop resized (bicubic) back
    to ``H x W``, flipped left-right with probability ``flip``; normalised float out. Every
    random number comes from ``generator`` (on the CPU)."""
    b, _, height, width = images.shape
    w, h = _crop_boxes(b, height, width, scale, ratio, generator)
    x0 = torch.rand(b, generator=generator) * (width - w)
    y0 = torch.rand(b, generator=generator) * (height - h)
    mirror = torch.where(torch.rand(b, generator=generator) < flip, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = mirror * w / width, h / height
    theta[:, 0, 2] = (x0 + w / 2) / width * 2 - 1
    theta[:, 1, 2] = (y0 + h / 2) / height * 2 - 1
    theta = theta.to(images.device)
    grid = F.affine_grid(theta, [b, 3, height, width], align_corners=False)
    out = F.grid_sample(images.float(), grid, mode="bicubic", padding_mode="border",
                        align_corners=False)
    return normalise(out.clamp(0, 255))


class IndexStream:
    """Batches of ``batch_size`` indices into ``n`` items: one random permutation after another
    (drawn from ``generator``), so every item is seen once before any is seen again."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator) -> None:
        if n < 1:
            raise ValueError("no images to train on")
        self.n, self.batch_size, self.generator = n, batch_size, generator
        self._queue = torch.empty(0, dtype=torch.long)

    def next(self) -> torch.Tensor:
        """The next batch of indices."""
        while len(self._queue) < self.batch_size:
            self._queue = torch.cat([self._queue, torch.randperm(self.n, generator=self.generator)])
        batch, self._queue = self._queue[:self.batch_size], self._queue[self.batch_size:]
        return batch
