"""The authors' released checkpoint format, converted into S2D's by a fixed list of rules.

* ``checkpoint_filter_fn(state_dict, model)``: the documented conversions (``module.`` prefix,
  landmark keys, ``norm.*`` -> ``ln_post.*``, a static temporal embedding repeated over T
  frames, a classifier of another class count); timm applies it to ``pretrained=True`` files.
* ``load_released(model, source)``: a released S2D checkpoint (static or fine-tuned) after those
  conversions, loaded exactly or not at all.
* ``inflate(model, source)``: a T-frame model started from a static (or dynamic) checkpoint,
  taking every tensor that fits and reporting the rest.

The readers, the load report and the project's own format live in :mod:`s2d_lib.checkpoints`,
which keeps these three names importable as well.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Mapping

import torch
from torch import nn

from .checkpoints import (CheckpointError, LoadReport, StateDict, _compare, _load_exact,
                          checkpoint_metadata, read_state_dict)

__all__ = ["checkpoint_filter_fn", "load_released", "inflate"]

log = logging.getLogger(__name__)


def checkpoint_filter_fn(state_dict: StateDict, model: nn.Module,
                         report: LoadReport | None = None) -> dict[str, torch.Tensor]:
    """Turn a released S2D state dict into ours (the documented conversions, nothing else).

    1. a ``module.`` prefix (saved from DistributedDataParallel) is stripped;
    2. keys of the landmark network (containing ``landmark``) are dropped: it loads separately;
    3. a final norm saved as ``norm.*`` becomes ``ln_post.*``;
    4. a static (T=1) ``temporal_embedding`` is repeated over the model's T frames, so every
       frame starts with the embedding the static model was trained with;
    5. a classifier with another class count is dropped and the model's own (freshly
       initialised) one is kept.
    """
    report = report if report is not None else LoadReport("<state dict>")
    own = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    if any(k.startswith("module.") for k in state_dict):
        report.conversions.append("stripped the 'module.' prefix")
    for key, value in state_dict.items():
        key = key[len("module."):] if key.startswith("module.") else key
        if "landmark" in key:
            report.dropped.append(key)
            continue
        if key.startswith("norm."):
            new = "ln_post." + key[len("norm."):]
            report.conversions.append(f"renamed {key} -> {new}")
            key = new
        out[key] = value
    te = out.get("temporal_embedding")
    if te is not None and "temporal_embedding" in own:
        t_model = own["temporal_embedding"].shape[1]
        if te.shape[1] == 1 and t_model > 1:
            out["temporal_embedding"] = te.expand(-1, t_model, -1).clone()
            report.conversions.append(f"temporal_embedding: static T=1 repeated to T={t_model}")
    for key in ("head.fc_cls.weight", "head.fc_cls.bias"):
        if key in out and key in own and out[key].shape[0] != own[key].shape[0]:
            report.reinitialised.append(
                f"{key}: checkpoint has {out[key].shape[0]} classes, model has {own[key].shape[0]}")
            out[key] = own[key]
    return out


def load_released(model: nn.Module, source: str | os.PathLike | Mapping[str, Any]) -> LoadReport:
    """Load the authors' released S2D checkpoint (static or fine-tuned) into ``model``.

    Raises ``CheckpointError`` listing missing, unexpected and shape-mismatched keys when the
    file does not fit after the conversions of ``checkpoint_filter_fn``; never loads partially.
    """
    state_dict, name = read_state_dict(source)
    report = LoadReport(name)
    return _load_exact(model, checkpoint_filter_fn(state_dict, model, report), report)


def inflate(model: nn.Module, source: str | os.PathLike | Mapping[str, Any], fresh_tma: bool = False,
            target_dataset: str | None = None) -> LoadReport:
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
    ``target_dataset``'s label order when both are known.
    """
    state_dict, name = read_state_dict(source)
    report = LoadReport(name)
    converted = checkpoint_filter_fn(state_dict, model, report)
    own = model.state_dict()
    _compare(own, converted, report)
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
    from .data.labels import CLASSES, label_map

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
