"""Clips per second of the video loader: DFEW training clips from frame folders and from mp4
files, 16 frames, at the tiny and the paper frame size, with 0 and 2 DataLoader workers."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import DataLoader, Subset

from s2d_lib.data import build_dataset
from s2d_course.synthetic import build_suite

__all__ = ["LoaderCase", "ensure_dfew", "loader_clips_per_s"]


@dataclass(frozen=True)
class LoaderCase:
    """One loader configuration."""

    source: str          # "frames" (JPEG folders) | "mp4"
    image_size: int      # 64 (tiny) | 224 (paper)
    workers: int         # DataLoader num_workers
    num_frames: int = 16


def ensure_dfew(data_root: Path, preset: str = "tiny") -> Path:
    """``data_root/DFEW``, generating the synthetic DFEW there first when it is missing."""
    if not (data_root / "DFEW").is_dir():
        build_suite(data_root, preset, datasets=("DFEW",))
    return data_root / "DFEW"


def loader_clips_per_s(dfew: Path, case: LoaderCase, clips: int) -> float:
    """Training clips (random window, augmentation, normalisation) per second through a
    ``DataLoader`` over the first ``clips`` + 1 clips of fold 1; the first clip, which also pays
    for starting the workers, is not timed."""
    dataset = build_dataset("DFEW", dfew, "train", fold=1, frames=case.source == "frames",
                            num_frames=case.num_frames, image_size=case.image_size, seed=0)
    if len(dataset) < clips + 1:
        raise ValueError(f"{dfew}: fold 1 has {len(dataset)} training clips, need {clips + 1}")
    loader = DataLoader(Subset(dataset, range(clips + 1)), batch_size=1,
                        num_workers=case.workers)
    batches = iter(loader)
    next(batches)
    start = time.perf_counter()
    for _ in batches:
        pass
    return clips / (time.perf_counter() - start)
