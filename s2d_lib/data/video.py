"""Video datasets DFEW, FERV39k and MAFW, read from the releases' own split files.

``data_root / <name>`` is either a frame folder or a video file ``<name>.mp4`` (any of
:data:`VIDEO_EXTENSIONS`), so the same class reads DFEW's ``clip_224x224`` frames or its
``original`` mp4 clips. Items:

- ``mode="train"``: ``(clip[3, T, H, W], label)`` -- T frames picked by ``sampling`` (a random
  contiguous window, or one random frame per segment of the whole clip; see
  :mod:`s2d_lib.data.frame_sampling`), augmented by :func:`train_transform`.
- ``mode="test"``: ``(views[N*M, 3, T, H, W], label)`` -- N temporal views x M spatial crops,
  view ``n * M + m``; frames resized so the short side is ``image_size`` (or ``short_side``),
  or with ``test_resize="square"`` squashed to ``image_size`` x ``image_size`` (the release's).
  Average the softmax over the views (2 x 2 in the paper).

Clips are float, normalised with the ImageNet mean / std. A corrupt or missing clip raises
:class:`DatasetError`; in training only, ``skip_corrupt=True`` replaces it with the next one,
counts it in ``skipped`` and warns.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as TF

from .annotations import Sample, read_dfew_split, read_ferv39k_split, read_mafw_split
from .decode import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, ClipReader
from .errors import DatasetError
from .labels import CLASSES
from .frame_sampling import check_sampling, spatial_crops, test_frames, train_frames
from .transforms import normalize, train_transform

__all__ = ["VideoDataset", "DFEW", "FERV39k", "MAFW", "FRAME_RATE", "clip_seconds"]

#: Frame rate of frame folders, which store none: the release's DFEW / FERV39k / MAFW frames and
#: the synthetic suite's are taken at 25 fps.
FRAME_RATE = 25.0


def clip_seconds(dataset: Dataset) -> float | None:
    """Mean length in seconds (at :data:`FRAME_RATE`) of the clips of ``dataset`` (wrappers such
    as ``Subset`` looked through), which T uniform samples spread over; ``None`` when unknown."""
    while not hasattr(dataset, "clip_frame_counts") and hasattr(dataset, "dataset"):
        dataset = dataset.dataset
    if not hasattr(dataset, "clip_frame_counts"):
        return None
    return round(float(np.mean(dataset.clip_frame_counts())) / FRAME_RATE, 4)


class VideoDataset(Dataset):
    """A clip dataset: ``data_root`` + a ``name,label`` split file parsed by ``parse``.

    Args:
        data_root: folder holding one frame folder or video file per sample.
        annotation_file: the release's split file (parsed by the subclass's ``parse``).
        num_frames: T, frames per clip.
        mode: ``"train"`` (random window, augmentation) or ``"test"`` (N x M views).
        image_size: output frame side.
        num_temporal_views, num_spatial_views: N and M in test mode.
        short_side: test-mode resize of the frames' short side (default ``image_size``).
        test_resize: ``"short_side"`` (keep the aspect, crop the M views) or ``"square"``
            (squash every frame to ``image_size`` x ``image_size``, as the release does).
        transform: train-mode transform of a ``tv_tensors.Video`` (T, C, H, W) uint8; default
            :func:`train_transform`.
        skip_corrupt: train mode only; skip unreadable clips instead of raising (counted).
        backend: video decoder, ``"auto"`` (decord, else PyAV), ``"decord"`` or ``"pyav"``.
        seed: seed of the train-mode frame sampling (``None``: fresh randomness).
        sampling: ``"window"`` (T contiguous frames, the release's) or ``"uniform"`` (T frames
            spread over the whole clip).
    """

    name: str = ""
    parse: Callable[[str | Path], list[Sample]]

    def __init__(self, data_root: str | Path, annotation_file: str | Path, num_frames: int = 16,
                 mode: str = "train", image_size: int = 224, num_temporal_views: int = 2,
                 num_spatial_views: int = 2, short_side: int | None = None,
                 transform: Callable | None = None, skip_corrupt: bool = False,
                 backend: str = "auto", seed: int | None = None, sampling: str = "window",
                 test_resize: str = "short_side") -> None:
        if mode not in ("train", "test"):
            raise ValueError(f"mode must be 'train' or 'test', not {mode!r}")
        if test_resize not in ("short_side", "square"):
            raise ValueError(f"test_resize must be 'short_side' or 'square', not {test_resize!r}")
        check_sampling(sampling)
        if skip_corrupt and mode != "train":
            raise ValueError("skip_corrupt is for training only: evaluation reports every bad clip")
        self.data_root = Path(data_root)
        if not self.data_root.is_dir():
            raise DatasetError(self.data_root, f"{self.name} data root not found")
        self.annotation_file = Path(annotation_file)
        self.samples = type(self).parse(self.annotation_file)
        self.classes = CLASSES[self.name]
        self.num_frames, self.mode, self.image_size = num_frames, mode, image_size
        self.num_temporal_views, self.num_spatial_views = num_temporal_views, num_spatial_views
        self.short_side, self.test_resize = short_side or image_size, test_resize
        self.transform = transform or train_transform(image_size)
        self.skip_corrupt, self.backend, self.sampling = skip_corrupt, backend, sampling
        self.skipped: list[str] = []
        self._rng = np.random.default_rng(seed)
        self._normalize = normalize()

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> list[int]:
        """Label of every sample, in order."""
        return [label for _, label in self.samples]

    def clip_frame_counts(self) -> list[int]:
        """Frames of every clip, in order (a frame folder's images; a video file's frames)."""
        counts = []
        for name, _ in self.samples:
            path = self.clip_path(name)
            counts.append(sum(p.suffix.lower() in IMAGE_EXTENSIONS for p in path.iterdir())
                          if path.is_dir() else len(ClipReader(path, self.backend)))
        return counts

    def clip_path(self, name: str) -> Path:
        """The frame folder or video file of sample ``name``."""
        folder = self.data_root / name
        if folder.is_dir():
            return folder
        for ext in VIDEO_EXTENSIONS:
            if folder.with_name(folder.name + ext).is_file():
                return folder.with_name(folder.name + ext)
        raise DatasetError(folder, f"no frame folder or video file ({'/'.join(VIDEO_EXTENSIONS)}) "
                                   f"for sample {name!r} of {self.annotation_file.name}")

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        for attempt in range(len(self)):
            name, label = self.samples[(index + attempt) % len(self)]
            try:
                return self._load(name), label
            except DatasetError as e:
                if not self.skip_corrupt:
                    raise
                self.skipped.append(str(e))
                warnings.warn(f"skipped corrupt clip ({len(self.skipped)} so far): {e}", stacklevel=2)
        raise DatasetError(self.data_root, "every clip is corrupt")

    def _load(self, name: str) -> torch.Tensor:
        reader = ClipReader(self.clip_path(name), self.backend)
        if self.mode == "train":
            frames = reader.read(train_frames(len(reader), self.num_frames, self._rng,
                                             self.sampling))
            video = tv_tensors.Video(torch.from_numpy(frames).permute(0, 3, 1, 2))
            return self.transform(video).permute(1, 0, 2, 3).contiguous()
        views = []
        for window in test_frames(len(reader), self.num_frames, self.num_temporal_views,
                                  self.sampling):
            video = torch.from_numpy(reader.read(window)).permute(0, 3, 1, 2)
            if self.test_resize == "short_side":
                video = TF.resize(video, self.short_side, antialias=True)
            if self.test_resize == "square" or min(video.shape[-2:]) < self.image_size:
                video = TF.resize(video, [self.image_size, self.image_size], antialias=True)
            for top, left in spatial_crops(*video.shape[-2:], self.image_size, self.num_spatial_views):
                crop = TF.crop(video, top, left, self.image_size, self.image_size)
                views.append(self._normalize(crop).permute(1, 0, 2, 3))
        return torch.stack(views)


class DFEW(VideoDataset):
    """DFEW: ``data_root`` holds ``<00001>/`` frame folders (``Clip/clip_224x224_16f``,
    ``Clip/clip_224x224``) or ``<00001>.mp4`` (``Clip/original``); split files
    ``EmoLabel_DataSplit/...set_K.csv``. :func:`~s2d_lib.data.layouts.video_layout` finds them."""

    name = "DFEW"
    parse = staticmethod(read_dfew_split)


class FERV39k(VideoDataset):
    """FERV39k: ``data_root`` (``2_ClipsforFaceCrop``) holds ``<Scene>/<Emotion>/<0001>/`` frame
    folders; split files ``Annotation/{train,test}.csv``."""

    name = "FERV39k"
    parse = staticmethod(read_ferv39k_split)


class MAFW(VideoDataset):
    """MAFW (11 single-label classes): ``data_root`` holds ``<00001>/`` frame folders
    (``data/frames/frames_crop_align_224``) or ``<00001>.mp4`` (``data/clips``); split files
    ``anno/single/no_caption/set_K/{train,test}.{csv,txt}``."""

    name = "MAFW"
    parse = staticmethod(read_mafw_split)
