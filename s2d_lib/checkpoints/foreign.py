"""Weights from elsewhere into an S2D model: the authors' released files, a timm ViT, a
MobileFaceNet.

* :data:`RELEASED`: what the authors' released DFER files are (the one table of their facts).
* ``checkpoint_filter_fn`` turns a released S2D state dict into ours (timm's hook: the model's
  ``build_model_with_cfg`` passes it as ``pretrained_filter_fn``); ``load_released`` loads one
  exactly or not at all.
* ``inflate(model, source)``: a T-frame model started from a static (or dynamic) checkpoint,
  taking every tensor that fits and reporting the rest.
* ``load_landmark_weights`` (MobileFaceNet weights) and ``load_vit_backbone`` (a timm ViT, e.g.
  MAE weights) fill one part of S2D.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Mapping

import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch import nn

from ..data.labels import CLASSES, label_map
from ..landmarks import LandmarkStream, MobileFaceNet
from .tensors import (CheckpointError, LoadReport, StateDict, compare_keys, load_exact,
                      read_description, read_state_dict, split_landmark_stream)

__all__ = ["RELEASED", "RUN_FACTS", "checkpoint_filter_fn", "load_released", "inflate",
           "load_landmark_weights", "load_vit_backbone"]

log = logging.getLogger(__name__)

#: The authors' released DFER checkpoints: 224 px, ImageNet normalisation, 16-frame DFEW clips
#: (``clip_224x224_16f`` time-interpolates each clip, about 3 s, to 16 frames), DFEW's labels.
#: The first four are what timm's ``pretrained_cfg`` says of weights; the rest are the run's
#: facts, which a file of ours records in its metadata (:data:`RUN_FACTS`).
RELEASED: dict[str, Any] = {
    "input_size": (3, 224, 224), "mean": IMAGENET_DEFAULT_MEAN, "std": IMAGENET_DEFAULT_STD,
    "num_classes": 7, "frame_sampling": "window", "clip_seconds": 3.0,
    "class_names": ("Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear"),
}
#: The run's facts among them: what a released file's metadata would say.
RUN_FACTS = ("frame_sampling", "clip_seconds", "class_names")
#: Where a released static file may keep its landmark network: a top-level module whose name
#: starts so (``landmark_model.``, or our ``landmark_stream.``); it loads separately.
LANDMARK_MODULE = "landmark"


def checkpoint_filter_fn(state_dict: StateDict, model: nn.Module,
                         report: LoadReport | None = None) -> dict[str, torch.Tensor]:
    """Turn a released S2D state dict into ours (the documented conversions, nothing else).

    1. a ``module.`` prefix (saved from DistributedDataParallel) is stripped;
    2. the landmark network's keys (those starting with ``landmark``: a top-level module of
       its own) are dropped: it loads separately;
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
        if key.startswith(LANDMARK_MODULE):
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
            target_dataset: str | None = None, trust: bool = False,
            source_dataset: str | None = None) -> LoadReport:
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
    ``target_dataset``'s label order when both are known (``source_dataset``: the source's, read
    from its metadata when ``source`` is one of our files). ``trust``: the file may hold any
    pickled object (see ``read_state_dict``).
    """
    state_dict, name = read_state_dict(source, trust)
    if source_dataset is None and isinstance(source, (str, os.PathLike)) \
            and str(source).endswith(".safetensors"):
        source_dataset = read_description(source)["metadata"].get("dataset")
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
    _reorder_classifier(taken, source_dataset, target_dataset, report)
    model.load_state_dict({**own, **taken}, strict=True)
    report.loaded = len(taken)
    if report.unexpected or report.missing:
        log.warning("%s: %d tensors loaded; skipped %d keys the model does not have (%s); "
                    "%d tensors keep their initialisation (%s)", name, report.loaded,
                    len(report.unexpected), ", ".join(report.unexpected[:6]) or "-",
                    len(report.missing), ", ".join(report.missing[:6]) or "-")
    return report


def _reorder_classifier(state_dict: dict, source_dataset: str | None, target_dataset: str | None,
                        report: LoadReport) -> None:
    """Re-order a classifier of ours trained on another dataset to ``target_dataset``'s labels."""
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


def load_landmark_weights(target: nn.Module, source: str | os.PathLike | Mapping[str, Any],
                          trust: bool = False) -> LoadReport:
    """Load MobileFaceNet weights into an S2D model's landmark stream, a ``LandmarkStream`` or a
    ``MobileFaceNet``, from a released file, one of our MobileFaceNet files, or one of our S2D
    files (its ``landmark_stream.*``). Names and shapes must match exactly. ``trust``: see
    :func:`read_state_dict`."""
    net = getattr(target, "landmark_stream", target)
    net = net.net if isinstance(net, LandmarkStream) else net
    if not isinstance(net, MobileFaceNet):
        raise TypeError(f"cannot find a MobileFaceNet in {type(target).__name__}")
    state_dict, name = read_state_dict(source, trust)
    state_dict = split_landmark_stream(state_dict)[1] or state_dict
    state_dict = {k[len("module."):] if k.startswith("module.") else k: v
                  for k, v in state_dict.items()}
    report = load_exact(net, state_dict, LoadReport(name))
    net.eval()
    return report


def load_vit_backbone(model: nn.Module, source: str | os.PathLike | Mapping[str, Any] | nn.Module,
                      trust: bool = False) -> LoadReport:
    """Copy a timm ViT's weights (``patch_embed``, ``cls_token``, ``pos_embed``, ``blocks``,
    final ``norm``/``fc_norm`` -> ``ln_post``) into S2D; S2D's own parts keep their values.

    ``source`` may be a timm ``VisionTransformer``, its state dict, or a file holding one (such
    as MAE weights saved locally). Its blocks must have S2D's width and depth. ``trust``: see
    :func:`read_state_dict`."""
    if isinstance(source, nn.Module):
        state_dict, name = source.state_dict(), type(source).__name__
    else:
        state_dict, name = read_state_dict(source, trust)
    report = LoadReport(name)
    own = model.state_dict()
    picked: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        target = key
        if key.startswith(("norm.", "fc_norm.")):
            target = "ln_post." + key.split(".", 1)[1]
        if target.startswith(("patch_embed.", "blocks.", "ln_post.")) or target in ("cls_token",
                                                                                   "pos_embed"):
            picked[target] = value
        else:
            report.dropped.append(key)
    expected = {k for k in own if k.startswith(("patch_embed.", "blocks.", "ln_post."))}
    expected |= {"cls_token", "pos_embed"}
    report.missing = sorted(expected - set(picked))
    report.unexpected = sorted(set(picked) - set(own))
    report.mismatched = sorted(k for k in set(picked) & set(own) if picked[k].shape != own[k].shape)
    if not report.ok:
        raise CheckpointError(f"ViT weights do not fit the S2D backbone:\n{report}")
    model.load_state_dict({**own, **picked}, strict=True)
    report.loaded = len(picked)
    return report
