"""The landmark feature cache: the frozen landmark network's view of every item of a dataset,
computed once and stored on disk (tiny training spends most of its time there otherwise).

The key of a cache file is the dataset's name and a hash of the landmark weights, so a retrained
landmark network never reads a stale cache.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from .model import S2D
from .progress import progress_bar

__all__ = ["landmark_hash", "landmark_cache", "in_order", "WithLandmarks",
           "check_cache_compatible"]

log = logging.getLogger(__name__)


def landmark_hash(model: S2D) -> str:
    """A short hash of the landmark network's weights: the key that keeps a cache from going stale."""
    digest = hashlib.sha256()
    for key, value in sorted(model.landmark_stream.net.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def landmark_cache(model: S2D, dataset: Dataset, key: str, cache_dir: str | os.PathLike,
                   batch_size: int = 32, device: torch.device | str = "cpu",
                   progress: bool = False) -> torch.Tensor:
    """Landmark views of every item of ``dataset`` (deterministic views), computed once and
    stored in ``cache_dir/<key>-<landmark hash>.pt`` (float16). Returns ``(n, [V,] T, 128, g, g)``.
    Computing the cache leaves the global random state untouched, so a run is the same whether
    its cache was already on disk or not."""
    path = Path(cache_dir) / f"{_safe(key)}-{landmark_hash(model)}.pt"
    if path.is_file():
        features = torch.load(path, map_location="cpu", weights_only=True)
        if features.shape[0] == len(dataset):
            return features
        log.warning("%s: holds %d items, the dataset %d; recomputing", path, features.shape[0],
                    len(dataset))
    stream = model.landmark_stream
    loader = in_order(dataset, batch_size)
    chunks = []
    for batch in progress_bar(loader, desc=f"landmark cache ({key.rsplit('-', 1)[-1]})", disable=not progress,
                              leave=False):
        x = batch[0]
        lead = x.shape[:-4] if x.dim() >= 5 else x.shape[:-3]  # (B,) or (B, V) or (B, V, ...)
        video = x if x.dim() >= 5 else x.unsqueeze(-3)         # images get T = 1
        t = video.shape[-3]
        frames = video.reshape(-1, *video.shape[-4:]).transpose(1, 2).flatten(0, 1)
        lf = stream(frames.to(device)).to("cpu", torch.float16)
        chunks.append(lf.view(*lead, t, *lf.shape[1:]))
    features = torch.cat(chunks)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(features, tmp)
    os.replace(tmp, path)
    return features


def in_order(dataset: Dataset, batch_size: int) -> DataLoader:
    """A loader over ``dataset`` in order that leaves the global random state alone (a loader
    otherwise draws its base seed from the global generator)."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, generator=torch.Generator())


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


class WithLandmarks(Dataset):
    """``dataset`` items with their cached landmark view appended: ``(x, label, lf)``."""

    def __init__(self, dataset: Dataset, features: torch.Tensor) -> None:
        if len(dataset) != len(features):
            raise ValueError(f"{len(dataset)} items but {len(features)} cached landmark views")
        self.dataset, self.features = dataset, features

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        x, label = self.dataset[index][:2]
        return x, label, self.features[index]


def check_cache_compatible(cfg) -> None:
    """Refuse a training config (:class:`~s2d_lib.config.TrainConfig`) that augments the frames
    the cache's landmark view was computed from."""
    if cfg.landmark_cache and (cfg.mixup > 0 or cfg.cutmix > 0 or cfg.auto_augment or cfg.reprob > 0):
        raise ValueError("landmark_cache=true precomputes the landmark view of the un-augmented "
                         "frames, so it cannot be combined with mixup/cutmix/auto_augment/reprob "
                         "(set them to 0/none, or landmark_cache=false)")
