"""Where each dataset keeps its images, frames and split files: the releases' layouts, in one place.

The loaders (:func:`s2d_lib.data.build_dataset`), the trainer, evaluation, the calibration
and the synthetic generator all take their paths from here. A video dataset may hold its clips
in several folders (DFEW ships 16-frame folders, full-length 224 px and 112 px frames, and the
original mp4 files); :func:`video_layout` takes the first candidate that exists, in the order
of :data:`VIDEO_LAYOUTS`, the release's choice first:

- DFEW: ``Clip/clip_224x224_16f/<00001>/`` (the dataset's own 16-frame, time-interpolated
  folders), then ``Clip/clip_224x224``, ``Clip/clip_112x112`` (the synthetic suite's) and the
  mp4 files of ``Clip/original``; split files
  ``EmoLabel_DataSplit/{split}(single-labeled)/{split}_set_{fold}.csv``.
- FERV39k: ``2_ClipsforFaceCrop/<Scene>/<Class>/<0001>/``, or the scene folders directly under
  the root (the synthetic suite's); split files ``Annotation/{split}.csv``.
- MAFW: ``data/frames/frames_crop_align_224/<00001>/``, then ``frames`` (the synthetic suite's),
  ``data/frames``, and the mp4 files of ``data/clips`` or ``clips``; split files
  ``anno/single/no_caption/set_{fold}/{split}.csv``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import DatasetError

__all__ = ["VideoLayout", "VIDEO_LAYOUTS", "video_layout", "RAFDB_LABELS", "RAFDB_IMAGES",
           "AFFECTNET_IMAGES", "AFFECTNET_SPLITS", "DFEW_FRAMES_16F", "DFEW_FRAMES_224",
           "DFEW_FRAMES_112", "DFEW_VIDEOS", "DFEW_SPLIT_DIRS", "FERV39K_FRAMES",
           "MAFW_FRAMES_224", "MAFW_FRAMES", "FOLDS"]

#: DFEW and MAFW are split five ways (``set_1`` .. ``set_5``); results are the mean over the folds.
FOLDS = 5

#: RAF-DB, relative to its ``basic`` folder.
RAFDB_LABELS = "EmoLabel/list_patition_label.txt"  # sic
RAFDB_IMAGES = "Image/aligned"
#: AffectNet, relative to its root.
AFFECTNET_IMAGES = "Manually_Annotated_Images"
AFFECTNET_SPLITS = {"train": "training.csv", "val": "validation.csv"}

DFEW_FRAMES_16F = "Clip/clip_224x224_16f"
DFEW_FRAMES_224 = "Clip/clip_224x224"
DFEW_FRAMES_112 = "Clip/clip_112x112"
DFEW_VIDEOS = "Clip/original"
DFEW_SPLIT_DIRS = {"train": "train(single-labeled)", "test": "test(single-labeled)"}
FERV39K_FRAMES = "2_ClipsforFaceCrop"
MAFW_FRAMES_224 = "data/frames/frames_crop_align_224"
MAFW_FRAMES = "frames"


@dataclass(frozen=True)
class VideoLayout:
    """Candidate clip folders (relative to the dataset root; ``""`` is the root itself) and the
    split file pattern (``{split}``: train / test, ``{fold}``: 1-5)."""

    frames: tuple[str, ...]
    videos: tuple[str, ...]
    split_file: str
    folds: bool = True

    def candidates(self, source: str = "any") -> tuple[str, ...]:
        """Folders to look in: ``frames``, ``videos`` or ``any`` (frames first)."""
        if source not in ("any", "frames", "videos"):
            raise ValueError(f"source must be 'any', 'frames' or 'videos', not {source!r}")
        return {"any": self.frames + self.videos, "frames": self.frames,
                "videos": self.videos}[source]


VIDEO_LAYOUTS = {
    "DFEW": VideoLayout((DFEW_FRAMES_16F, DFEW_FRAMES_224, DFEW_FRAMES_112), (DFEW_VIDEOS,),
                        "EmoLabel_DataSplit/{split}(single-labeled)/{split}_set_{fold}.csv"),
    "FERV39k": VideoLayout((FERV39K_FRAMES, ""), (), "Annotation/{split}.csv", folds=False),
    "MAFW": VideoLayout((MAFW_FRAMES_224, MAFW_FRAMES, "data/frames"), ("data/clips", "clips"),
                        "anno/single/no_caption/set_{fold}/{split}.csv"),
}


def video_layout(dataset: str, root: str | Path, split: str = "train", fold: int = 1,
                 source: str = "any") -> tuple[Path, Path]:
    """``(clip folder, split file)`` of ``dataset`` (DFEW, FERV39k, MAFW) under ``root``.

    The clip folder is the first candidate of :data:`VIDEO_LAYOUTS` that exists (``source``:
    ``frames`` or ``videos`` limits the search); ``fold`` picks DFEW / MAFW's ``set_K``.
    Raises :class:`DatasetError` naming the root and the folders looked for.
    """
    if dataset not in VIDEO_LAYOUTS:
        raise ValueError(f"unknown video dataset {dataset!r}; choose from {list(VIDEO_LAYOUTS)}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    layout, root = VIDEO_LAYOUTS[dataset], Path(root)
    if layout.folds and not 1 <= fold <= FOLDS:
        raise ValueError(f"{dataset} fold must be 1-{FOLDS}, not {fold}")
    if not root.is_dir():
        raise DatasetError(root, f"{dataset} root not found")
    candidates = layout.candidates(source)
    for folder in candidates:
        if (root / folder).is_dir():
            return root / folder, root / layout.split_file.format(split=split, fold=fold)
    looked = ", ".join(c or "." for c in candidates) or "none for this source"
    raise DatasetError(root, f"no {dataset} {source if source != 'any' else 'clip'} folder "
                             f"(looked for {looked})")
