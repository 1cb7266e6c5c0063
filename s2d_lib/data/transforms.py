"""Train / evaluation transforms for images and clips: the release's augmentation, built on timm.

:func:`train_transform` is the one training transform of the project. In the release's order it
applies timm's RandAugment (``rand-m7-n4-mstd0.5-inc1`` in timm's meaning), a random resized
crop and a horizontal flip, the ImageNet normalisation, and timm's random erasing. A clip
(``tv_tensors.Video`` or a ``(T, 3, H, W)`` tensor) is augmented as one: every frame gets the
same RandAugment operations and magnitudes, the same crop and flip, and the same erased box.
:func:`eval_transform` resizes to a square (no aspect kept) and normalises.
"""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import PIL.Image
import torch
from timm.data.auto_augment import RandAugment, rand_augment_transform
from timm.data.random_erasing import RandomErasing
from timm.data.transforms import str_to_pil_interp
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from timm.data import IMAGENET_DEFAULT_MEAN as MEAN, IMAGENET_DEFAULT_STD as STD

__all__ = ["train_transform", "eval_transform", "normalize", "ClipRandAugment",
           "ClipRandomErasing", "RELEASE_AUTO_AUGMENT"]

#: The release's RandAugment policy, in timm's notation: magnitude 7 of 10 with std 0.5, four
#: operations drawn from the increasing set, each applied with probability 0.5.
RELEASE_AUTO_AUGMENT = "rand-m7-n4-mstd0.5-inc1"


def _is_plain_tensor(x: Any) -> bool:
    return type(x) is torch.Tensor


# Only the pixels are augmented here: landmarks (tv_tensors.KeyPoints) pass through untouched.
_PIXELS = (tv_tensors.Image, tv_tensors.Video, _is_plain_tensor)


def _frames(x: torch.Tensor) -> torch.Tensor:
    """An image (C, H, W) or a clip (T, C, H, W) as a stack of frames (N, C, H, W)."""
    if x.ndim not in (3, 4):
        raise ValueError(f"expected an image (C, H, W) or a clip (T, C, H, W), got shape "
                         f"{tuple(x.shape)}")
    return x.unsqueeze(0) if x.ndim == 3 else x


def _like(result: torch.Tensor, inpt: torch.Tensor) -> torch.Tensor:
    return tv_tensors.wrap(result, like=inpt) if isinstance(inpt, tv_tensors.TVTensor) else result


def _same_draws_on_every_frame(policy: RandAugment, frames: list[PIL.Image.Image]) -> list:
    """Apply ``policy`` to every frame with the random draws of the first one.

    timm's RandAugment draws its operations from numpy and each operation's application,
    magnitude and sign from ``random``; replaying both generators' state for every frame gives
    all frames the same operations and magnitudes, and leaves the generators advanced once.
    """
    py_state, np_state = random.getstate(), np.random.get_state()
    out = []
    for frame in frames:
        random.setstate(py_state)
        np.random.set_state(np_state)
        out.append(policy(frame))
    return out


class ClipRandAugment(v2.Transform):
    """timm's RandAugment (``rand_augment_transform(config)``) on a uint8 image or clip, with the
    same sampled operations and magnitudes on every frame.

    As in the release, the translation range is 45 % of the frame's short side, the fill colour
    timm's default grey, and the resampling ``interpolation`` (bicubic).
    """

    _transformed_types = _PIXELS

    def __init__(self, config: str = RELEASE_AUTO_AUGMENT, interpolation: str = "bicubic") -> None:
        super().__init__()
        if not config.startswith("rand"):
            raise ValueError(f"auto_augment {config!r}: only timm's RandAugment ('rand-...') "
                             "is supported")
        self.config, self.interpolation = config, interpolation
        self._policies: dict[int, RandAugment] = {}

    def policy(self, short_side: int) -> RandAugment:
        """timm's RandAugment for frames whose short side is ``short_side``."""
        if short_side not in self._policies:
            hparams = dict(translate_const=int(short_side * 0.45),
                           interpolation=str_to_pil_interp(self.interpolation))
            self._policies[short_side] = rand_augment_transform(self.config, hparams)
        return self._policies[short_side]

    def check_inputs(self, flat_inputs: list[Any]) -> None:
        if any(isinstance(x, (tv_tensors.KeyPoints, tv_tensors.BoundingBoxes)) for x in flat_inputs):
            raise ValueError("RandAugment's geometric operations do not move landmarks or boxes; "
                             "use auto_augment=None when they travel with the image")

    def transform(self, inpt: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        frames = _frames(inpt)
        if frames.dtype != torch.uint8:
            raise TypeError(f"RandAugment works on uint8 frames, got {frames.dtype}")
        policy = self.policy(min(frames.shape[-2:]))
        images = _same_draws_on_every_frame(policy, [TF.to_pil_image(f) for f in frames])
        out = torch.stack([TF.pil_to_tensor(im) for im in images])
        return _like(out if inpt.ndim == 4 else out[0], inpt)


class ClipRandomErasing(v2.Transform):
    """timm's ``RandomErasing`` on a normalised image or clip: with probability ``p`` one box,
    the same on every frame, filled per ``mode`` (``pixel``: normal noise drawn for every pixel
    of every frame).

    The decision is drawn from torch's generator (as torchvision's erasing does) and is drawn
    even when ``p`` is 0, so the random stream of the other steps does not depend on ``p``.
    """

    _transformed_types = _PIXELS

    def __init__(self, p: float = 0.25, mode: str = "pixel", max_count: int = 1) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"erasing probability must be in [0, 1], not {p}")
        self.p, self.mode, self.max_count = p, mode, max_count
        # probability 1: whether to erase is decided in make_params, once per image or clip
        self._eraser = RandomErasing(probability=1.0, mode=mode, max_count=max_count, device="cpu")

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        return {"erase": bool(torch.rand(1) < self.p)}

    def transform(self, inpt: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        if not params["erase"]:
            return inpt
        frames = _frames(inpt)
        if not frames.is_floating_point():
            raise TypeError(f"random erasing works on normalised float frames, got {frames.dtype}")
        out = frames.as_subclass(torch.Tensor).clone()
        # (N*C, H, W): timm picks one box for the whole stack and fills it per channel and frame
        self._eraser.device = out.device
        self._eraser(out.view(-1, *out.shape[-2:]))
        return _like(out if inpt.ndim == 4 else out[0], inpt)


def normalize() -> v2.Compose:
    """uint8 -> float in [0, 1] -> ImageNet-normalised."""
    return v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)])


def train_transform(image_size: int, auto_augment: str | None = RELEASE_AUTO_AUGMENT,
                    reprob: float = 0.25, scale: tuple[float, float] = (0.08, 1.0),
                    ratio: tuple[float, float] = (3 / 4, 4 / 3), hflip: float = 0.5,
                    interpolation: str = "bicubic", erase_mode: str = "pixel",
                    erase_count: int = 1) -> v2.Compose:
    """The release's training augmentation of a uint8 image (3, H, W) or clip (T, 3, H, W).

    In order: timm's RandAugment ``auto_augment`` (``None`` or ``""``: none), random resized
    crop to ``image_size`` with ``scale`` and ``ratio``, horizontal flip with probability
    ``hflip``, ImageNet normalisation, timm's random erasing with probability ``reprob``. Every
    random choice is made once per image or clip. The defaults are the release's; the tiny
    presets use ``auto_augment=None, reprob=0, scale=(0.6, 1.0)``. Landmarks
    (``tv_tensors.KeyPoints``) passed with the image follow the crop and flip; they require
    ``auto_augment=None``.
    """
    steps: list[v2.Transform] = []
    if auto_augment:
        steps.append(ClipRandAugment(auto_augment, interpolation))
    steps += [v2.RandomResizedCrop(image_size, scale=scale, ratio=ratio, antialias=True),
              v2.RandomHorizontalFlip(hflip), normalize(),
              ClipRandomErasing(reprob, erase_mode, erase_count)]
    return v2.Compose(steps)


def eval_transform(image_size: int) -> v2.Compose:
    """Resize to ``image_size`` x ``image_size`` (squashed, no aspect kept) and normalise."""
    return v2.Compose([v2.Resize((image_size, image_size), antialias=True), normalize()])
