"""Train / evaluation transforms for images and clips, assembled from torchvision v2 and timm.

Clips go through the transform as one ``tv_tensors.Video`` (T, C, H, W), so every frame gets
the same crop, flip, RandAugment operations and erased box. Normalisation uses timm's ImageNet
constants, as the release does.
"""
from __future__ import annotations

import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torchvision.transforms import v2

__all__ = ["train_transform", "eval_transform", "normalize", "MEAN", "STD"]

MEAN, STD = IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD


def normalize() -> v2.Compose:
    """uint8 -> float in [0, 1] -> ImageNet-normalised."""
    return v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)])


def train_transform(image_size: int, scale: tuple[float, float] = (0.6, 1.0),
                    rand_augment: bool = True, erase_prob: float = 0.25) -> v2.Compose:
    """Random resized crop, horizontal flip, RandAugment (m9, 2 ops), normalise, random erasing.

    Pass ``rand_augment=False`` when landmarks travel with the image: RandAugment's geometric
    operations do not move ``tv_tensors.KeyPoints``.
    """
    steps = [v2.RandomResizedCrop(image_size, scale=scale, antialias=True), v2.RandomHorizontalFlip()]
    if rand_augment:
        steps.append(v2.RandAugment(num_ops=2, magnitude=9))
    steps += [normalize(), v2.RandomErasing(p=erase_prob, value=0)]
    return v2.Compose(steps)


def eval_transform(image_size: int) -> v2.Compose:
    """Resize to ``image_size`` x ``image_size`` and normalise."""
    return v2.Compose([v2.Resize((image_size, image_size), antialias=True), normalize()])
