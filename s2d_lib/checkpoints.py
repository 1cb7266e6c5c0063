"""Checkpoints: the project's own files and the authors' released ones, into one S2D model.

* ``save_checkpoint`` / ``load_checkpoint``: our format, a safetensors file with the weights (the
  landmark stream's under ``landmark_stream.``, :mod:`s2d_lib.state_dicts`) and a JSON beside it
  with the model config, its ``pretrained_cfg`` record (:mod:`s2d_lib.pretrained`) and the run's
  metadata, written atomically. A reloaded model carries the record as ``pretrained_cfg``.
* ``load_released(model, source)``: a released S2D checkpoint (static or fine-tuned) after the
  conversions of :func:`s2d_lib.model.checkpoint_filter_fn`, loaded exactly or not at all.
* ``inflate(model, source)``: a T-frame model started from a static (or dynamic) checkpoint,
  taking every tensor that fits and reporting the rest.
* A checkpoint may name its frozen landmark network's file instead of holding a copy
  (``landmark_stream_by_reference``, as the shipped tiny runs do); reading it joins it back.
* ``load_any_checkpoint`` takes either format. Every file is read by
  :func:`~s2d_lib.state_dicts.read_state_dict`, which runs no code from a ``.pth``: a file that
  holds more than tensors and plain data raises ``UnsafeCheckpointError`` unless ``trust=True``.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Mapping

import timm
import torch
from safetensors.torch import save_file
from torch import nn

from .data.labels import CLASSES, label_map
from .landmarks import MobileFaceNet
from .model import S2D, checkpoint_filter_fn
from .pretrained import RELEASED, read_record, record_of
from .state_dicts import (LANDMARK_PREFIX, CheckpointError, LoadReport, StateDict,
                          UnsafeCheckpointError, compare_keys, file_sha256,
                          landmark_stream_by_reference, load_exact, load_landmark_weights,
                          load_landmarks, load_vit_backbone, read_state_dict,
                          split_landmark_stream, trusted_checkpoints, with_landmark_stream)

__all__ = ["CheckpointError", "UnsafeCheckpointError", "LoadReport", "StateDict",
           "LANDMARK_PREFIX", "read_state_dict",
           "load_landmark_weights", "load_landmarks", "load_vit_backbone", "save_checkpoint",
           "load_checkpoint", "checkpoint_metadata", "load_any_checkpoint", "load_released",
           "inflate", "checkpoint_filter_fn", "split_landmark_stream", "file_sha256",
           "landmark_stream_by_reference", "trusted_checkpoints"]

log = logging.getLogger(__name__)


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_checkpoint(model: nn.Module, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write ``path`` (.safetensors: S2D weights + ``landmark_stream.*``) and ``path``'s ``.json``
    (model config and ``metadata``), each atomically. Returns the safetensors path."""
    path = Path(path).with_suffix(".safetensors")
    tensors = with_landmark_stream(model)
    config = {"model": type(model).__name__, "config": getattr(model, "config", {}),
              "pretrained_cfg": record_of(model), "metadata": metadata or {}}
    _atomic_write(path, lambda tmp: save_file(tensors, tmp))
    _atomic_write(path.with_suffix(".json"),
                  lambda tmp: Path(tmp).write_text(json.dumps(config, indent=2)))
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu"):
    """Rebuild the model saved by ``save_checkpoint`` (S2D or MobileFaceNet) with its weights.
    Its metadata (stage, dataset, epoch, ...) is read by :func:`checkpoint_metadata`."""
    path = Path(path).with_suffix(".safetensors")
    info = _checkpoint_json(path)
    classes = {"S2D": S2D, "MobileFaceNet": MobileFaceNet}
    if info.get("model") not in classes:
        raise CheckpointError(f"{path.with_suffix('.json')}: unknown model type {info.get('model')!r}")
    tensors = read_state_dict(path)[0]  # the one reader of every file
    model = classes[info["model"]](**info["config"])
    own, stream = split_landmark_stream(tensors)
    load_exact(model, own, LoadReport(str(path)))
    if stream:
        load_exact(model.landmark_stream.net, stream, LoadReport(str(path)))
    if isinstance(model, S2D):
        model.pretrained_cfg = model.default_cfg = read_record(path, model)
    return model.to(map_location)


def _checkpoint_json(path: Path) -> dict:
    meta_path = path.with_suffix(".json")
    for p in (path, meta_path):
        if not p.is_file():
            raise CheckpointError(f"{p}: missing (a checkpoint is a .safetensors + .json pair)")
    return json.loads(meta_path.read_text())


def checkpoint_metadata(path: str | os.PathLike) -> dict:
    """The metadata our checkpoint was saved with (``stage``, ``dataset``, ``epoch``,
    ``class_names``, ``frame_sampling``, ...); ``{}`` for a file in the release's format."""
    path = Path(path)
    if path.suffix != ".safetensors":
        return {}
    return _checkpoint_json(path).get("metadata", {})



def load_any_checkpoint(path: str | os.PathLike, model_name: str = "s2d_base_patch16_224",
                        landmark_weights: str | os.PathLike | None = None,
                        trust: bool = False) -> nn.Module:
    """Our ``.safetensors`` checkpoint, or a released ``.pth`` rebuilt as ``model_name`` with the
    frame count and class count its tensors imply; in eval mode. ``trust``: the ``.pth`` files
    (checkpoint and landmark weights) may hold any pickled object (see ``read_state_dict``)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        model = load_checkpoint(path)
    else:
        state_dict, _ = read_state_dict(path, trust)
        if "head.fc_cls.weight" not in state_dict or "temporal_embedding" not in state_dict:
            raise CheckpointError(f"{path}: no head.fc_cls.weight / temporal_embedding: not an "
                                  "S2D checkpoint")
        model = timm.create_model(model_name, num_classes=state_dict["head.fc_cls.weight"].shape[0],
                                  num_frames=state_dict["temporal_embedding"].shape[1])
        load_released(model, state_dict)
        own = {k: model.pretrained_cfg[k] for k in ("input_size", "num_frames", "num_classes")}
        names = RELEASED["label_names"] if own["num_classes"] == RELEASED["num_classes"] else None
        model.pretrained_cfg = model.default_cfg = {**model.pretrained_cfg, **RELEASED, **own,
                                                    "label_names": names}
        if landmark_weights is None:
            warnings.warn(f"{path}: released checkpoints hold no landmark network; without "
                          "landmark weights the landmark view comes from random weights",
                          stacklevel=2)
    if landmark_weights is not None:
        load_landmark_weights(model, landmark_weights, trust)
    return model.eval()


def load_released(model: nn.Module, source: str | os.PathLike | Mapping[str, Any],
                  trust: bool = False) -> LoadReport:
    """Load the authors' released S2D checkpoint (static or fine-tuned) into ``model``.

    Raises ``CheckpointError`` listing missing, unexpected and shape-mismatched keys when the
    file does not fit after the conversions of ``checkpoint_filter_fn``; never loads partially.
    ``trust``: the file may hold any pickled object (see ``read_state_dict``).
    """
    state_dict, name = read_state_dict(source, trust)
    report = LoadReport(name)
    return load_exact(model, checkpoint_filter_fn(state_dict, model, report), report)


def inflate(model: nn.Module, source: str | os.PathLike | Mapping[str, Any], fresh_tma: bool = False,
            target_dataset: str | None = None, trust: bool = False) -> LoadReport:
    """Start the T-frame ``model`` from a static (T = 1) or dynamic checkpoint, as the release
    does with ``pretrain-AffectNet-7.pth``.

    After the conversions of ``checkpoint_filter_fn`` (landmark keys dropped, ``norm.*`` ->
    ``ln_post.*``, a T = 1 temporal embedding repeated over T frames, a classifier of another
    class count re-initialised) every tensor whose name and shape fit is loaded; the rest keeps
    the model's initialisation (the release's). Keys the model does not have and tensors it keeps
    are listed in the report and logged, never skipped silently. Raises ``CheckpointError`` when
    the ViT itself (``patch_embed``, ``blocks``) is missing or a shape does not fit. With
    ``fresh_tma`` the TMAs keep their fresh initialisation (a static model's temporal attention
    has only seen one frame). A classifier trained on another dataset of ours is re-ordered to
    ``target_dataset``'s label order when both are known. ``trust``: the file may hold any
    pickled object (see ``read_state_dict``).
    """
    state_dict, name = read_state_dict(source, trust)
    report = LoadReport(name)
    converted = checkpoint_filter_fn(state_dict, model, report)
    own = model.state_dict()
    compare_keys(own, converted, report)
    vit_missing = [k for k in report.missing if k.startswith(("patch_embed.", "blocks."))]
    if vit_missing or report.mismatched:
        raise CheckpointError(f"{name} cannot start this model (the ViT must be complete and "
                              f"every shape must fit):\n{report}")
    taken = {k: v for k, v in converted.items() if k in own}
    if fresh_tma:
        tma = [k for k in taken if ".TMA." in k]
        for k in tma:
            del taken[k]
        report.reinitialised.append(f"{len(tma)} TMA tensors (fresh temporal adapters)")
    _reorder_classifier(taken, source, target_dataset, report)
    model.load_state_dict({**own, **taken}, strict=True)
    report.loaded = len(taken)
    if report.unexpected or report.missing:
        log.warning("%s: %d tensors loaded; skipped %d keys the model does not have (%s); "
                    "%d tensors keep their initialisation (%s)", name, report.loaded,
                    len(report.unexpected), ", ".join(report.unexpected[:6]) or "-",
                    len(report.missing), ", ".join(report.missing[:6]) or "-")
    return report


def _reorder_classifier(state_dict: dict, source, target_dataset: str | None,
                        report: LoadReport) -> None:
    """Re-order a classifier of ours trained on another dataset to ``target_dataset``'s labels."""
    source_dataset = (checkpoint_metadata(source).get("dataset")
                      if isinstance(source, (str, os.PathLike)) else None)
    if not (source_dataset in CLASSES and target_dataset in CLASSES
            and source_dataset != target_dataset):
        return
    order = label_map(target_dataset, source_dataset)
    w = state_dict.get("head.fc_cls.weight")
    if -1 not in order and w is not None and w.shape[0] == len(CLASSES[source_dataset]):
        state_dict["head.fc_cls.weight"] = w[order]
        state_dict["head.fc_cls.bias"] = state_dict["head.fc_cls.bias"][order]
        report.conversions.append(f"classifier re-ordered from {source_dataset} to "
                                  f"{target_dataset} labels")
