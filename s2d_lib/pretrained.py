"""The facts that travel with the weights: a ``pretrained_cfg``-style record (timm's name) that
every model carries and every checkpoint the project writes stores beside its tensors.

Fields: ``input_size`` (3, H, W), ``mean`` / ``std`` (the input normalisation), ``num_frames``
(T), ``frame_sampling`` (``window``: T consecutive frames | ``uniform``: T spread over the clip),
``clip_seconds`` (the span the training clips' frames covered; ``None``: T consecutive frames at
the video's own rate), ``label_names`` (the classes in the classifier's order), ``num_classes``
and ``landmark_hash`` (the landmark network the model was trained with, as the landmark cache
keys it). Prediction and
evaluation read them from the file (:func:`read_record`); a released ``.pth`` carries none and
gets the release's values from :data:`RELEASED`, the one table of them.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

__all__ = ["MEAN", "STD", "FRAME_RATE", "RECORD_KEYS", "RELEASED", "model_record", "training_record", "record_of",
           "read_record"]

#: The input normalisation of every S2D model (timm's ImageNet mean and std, as the release).
MEAN, STD = IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
#: Frame rate of frame folders, which store none: the release's DFEW / FERV39k / MAFW frames and
#: the synthetic suite's are taken at 25 fps.
FRAME_RATE = 25.0
#: What a checkpoint's record holds (besides timm's own keys).
RECORD_KEYS = ("input_size", "mean", "std", "num_frames", "frame_sampling", "clip_seconds",
               "num_classes", "label_names", "landmark_hash")
#: The authors' released DFER checkpoints: 224 px, ImageNet normalisation, 16-frame DFEW clips
#: (``clip_224x224_16f`` time-interpolates each clip, about 3 s, to 16 frames), DFEW's labels.
RELEASED: dict[str, Any] = {
    "input_size": (3, 224, 224), "mean": MEAN, "std": STD,
    "num_frames": 16, "frame_sampling": "window", "clip_seconds": 3.0, "num_classes": 7,
    "label_names": ("Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear"),
    "landmark_hash": None,
}


def model_record(img_size: int, num_frames: int, num_classes: int) -> dict[str, Any]:
    """The record a freshly built model starts with: what its architecture fixes."""
    return {"input_size": (3, img_size, img_size), "mean": MEAN,
            "std": STD, "num_frames": num_frames, "frame_sampling": "window",
            "clip_seconds": None, "num_classes": num_classes, "label_names": None,
            "landmark_hash": None, "first_conv": "patch_embed.proj",
            "classifier": "head.fc_cls"}


def training_record(model: Any, frame_sampling: str, label_names: Sequence[str], dataset: Any,
                    landmark_hash: str | None) -> dict[str, Any]:
    """``model``'s record completed with what its training run fixes: the frame sampling, the
    classes in order, the landmark network, and the span of the training clips
    (:func:`clip_seconds`)."""
    seconds = clip_seconds(dataset) if model.num_frames > 1 and frame_sampling == "uniform" else None
    return {**model.pretrained_cfg, "frame_sampling": frame_sampling, "clip_seconds": seconds,
            "label_names": list(label_names), "landmark_hash": landmark_hash}


def clip_seconds(dataset: Any) -> float | None:
    """Mean length in seconds (at :data:`FRAME_RATE`) of the clips of ``dataset`` (wrappers such
    as ``Subset`` looked through), which T uniform samples spread over; ``None`` when unknown."""
    while not hasattr(dataset, "clip_frame_counts") and hasattr(dataset, "dataset"):
        dataset = dataset.dataset
    if not hasattr(dataset, "clip_frame_counts"):
        return None
    return round(float(np.mean(dataset.clip_frame_counts())) / FRAME_RATE, 4)


def record_of(model: Any) -> dict[str, Any]:
    """``model.pretrained_cfg`` as plain JSON values (tuples as lists, unknown objects dropped)."""
    cfg = dict(getattr(model, "pretrained_cfg", None) or {})
    out = {}
    for key, value in cfg.items():
        if isinstance(value, tuple):
            value = list(value)
        if value is None or isinstance(value, (str, int, float, bool, list, dict)):
            out[key] = value
    return out


def read_record(path: str | os.PathLike, model: Any = None) -> dict[str, Any]:
    """The record of a checkpoint file: ours (``.safetensors`` with its ``.json``) holds it; a file
    of ours written before the record existed gets it from its metadata and ``model``; a released
    file gets :data:`RELEASED`."""
    path = Path(path)
    if path.suffix != ".safetensors":
        return dict(RELEASED)
    info = json.loads(path.with_suffix(".json").read_text())
    if "pretrained_cfg" in info:
        return info["pretrained_cfg"]
    meta = info.get("metadata", {})
    record = record_of(model) if model is not None else {}
    record.update(frame_sampling=meta.get("frame_sampling", "window"), clip_seconds=None,
                  label_names=meta.get("class_names"))
    return record
