"""Checkpoints: reading state dicts, timm ViT backbones, the landmark network's files, and the
project's own files.

* ``read_state_dict(source)`` finds the state dict in a file, a loaded checkpoint or a bare
  dict; what a load did is a ``LoadReport``, what does not fit a ``CheckpointError``.
* ``load_landmark_weights(model_or_net, source)`` loads the released MobileFaceNet file (names
  and shapes must match exactly).
* ``load_vit_backbone(model, source)`` copies a timm ViT (e.g. MAE weights) into S2D's ViT.
* ``save_checkpoint`` / ``load_checkpoint``: the project's own format, a safetensors file with
  the weights (landmark stream included) and a JSON of the model config beside it, written
  atomically; ``load_any_checkpoint`` takes either format.

The authors' released S2D files are converted by :mod:`s2d_lib.release_format`
(``checkpoint_filter_fn``, ``load_released``, ``inflate``); those names can be imported from
here as well.
"""
from __future__ import annotations

import json
import os
import pickle
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .landmarks import LandmarkStream, MobileFaceNet

__all__ = ["CheckpointError", "LoadReport", "read_state_dict", "load_landmark_weights",
           "load_landmarks", "load_vit_backbone", "save_checkpoint", "load_checkpoint",
           "checkpoint_metadata", "load_any_checkpoint"]

#: Names of :mod:`s2d_lib.release_format` that can be imported from here too, as they could before
#: it had a module of its own (looked up on first use: that module imports this one).
_RELEASE_FORMAT = ("checkpoint_filter_fn", "load_released", "inflate")

#: Key prefix of the landmark network's tensors inside our S2D checkpoints.
LANDMARK_PREFIX = "landmark_stream."

StateDict = Mapping[str, torch.Tensor]


class CheckpointError(ValueError):
    """A checkpoint does not fit the model beyond the documented conversions."""


@dataclass
class LoadReport:
    """What a load did: the conversions applied and the keys that did not fit."""

    source: str
    loaded: int = 0
    conversions: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    reinitialised: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def __str__(self) -> str:
        lines = [f"{self.source}: {self.loaded} tensors loaded"]
        lines += [f"  conversion: {c}" for c in self.conversions]
        if self.dropped:
            lines.append(f"  dropped {len(self.dropped)} keys (e.g. {self.dropped[0]})")
        lines += [f"  re-initialised: {k}" for k in self.reinitialised]
        for what in ("missing", "unexpected", "mismatched"):
            keys = getattr(self, what)
            if keys:
                lines.append(f"  {what} ({len(keys)}): {', '.join(keys[:8])}"
                             + (" ..." if len(keys) > 8 else ""))
        return "\n".join(lines)


def read_state_dict(source: str | os.PathLike | Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], str]:
    """The state dict inside ``source`` (a path, a loaded checkpoint dict, or a bare state dict)
    and a name for messages. Accepts the keys ``model`` / ``model_state_dict`` / ``state_dict``."""
    name = "<state dict>"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = str(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such checkpoint file")
        if path.suffix == ".safetensors":
            return dict(load_file(str(path))), name
        try:
            source = _torch_load(path)
        except Exception as exc:  # corrupt, truncated, or not a torch file at all
            raise CheckpointError(f"{path}: cannot be read as a PyTorch checkpoint ({exc})") from exc
    if not isinstance(source, Mapping):
        raise CheckpointError(f"{name}: expected a dict, got {type(source).__name__}")
    for key in ("model", "model_state_dict", "state_dict"):
        if key in source and isinstance(source[key], Mapping):
            source = source[key]
            break
    tensors = {k: v for k, v in source.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{name}: holds no tensors (keys: {list(source)[:5]})")
    return tensors, name


def _torch_load(path: Path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights_only" not in str(exc):
            raise
    # Released training checkpoints also pickle their argparse options: only do this for files
    # you trust.
    warnings.warn(f"{path}: holds pickled Python objects besides tensors; loading it with "
                  "weights_only=False", stacklevel=3)
    return torch.load(path, map_location="cpu", weights_only=False)


def _compare(own: StateDict, state_dict: StateDict, report: LoadReport) -> None:
    """Fill ``report``'s missing, unexpected and shape-mismatched keys of ``state_dict``."""
    report.missing = sorted(set(own) - set(state_dict))
    report.unexpected = sorted(set(state_dict) - set(own))
    report.mismatched = sorted(f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model "
                               f"{tuple(own[k].shape)}" for k in set(own) & set(state_dict)
                               if state_dict[k].shape != own[k].shape)


def _load_exact(module: nn.Module, state_dict: StateDict, report: LoadReport) -> LoadReport:
    """Load when names and shapes fit exactly; otherwise raise with the report."""
    _compare(module.state_dict(), state_dict, report)
    if not report.ok:
        raise CheckpointError(f"checkpoint does not fit the model:\n{report}")
    module.load_state_dict(state_dict, strict=True)
    report.loaded = len(state_dict)
    for message in report.reinitialised:
        if message.startswith("head."):
            warnings.warn(f"{report.source}: classifier re-initialised ({message})", stacklevel=3)
    return report


def load_landmark_weights(target: nn.Module, source: str | os.PathLike | Mapping[str, Any]
                          ) -> LoadReport:
    """Load released (or our own) MobileFaceNet weights into an S2D model's landmark stream,
    a ``LandmarkStream`` or a ``MobileFaceNet``. Names and shapes must match exactly."""
    net = getattr(target, "landmark_stream", target)
    net = net.net if isinstance(net, LandmarkStream) else net
    if not isinstance(net, MobileFaceNet):
        raise TypeError(f"cannot find a MobileFaceNet in {type(target).__name__}")
    state_dict, name = read_state_dict(source)
    state_dict = {k[len("module."):] if k.startswith("module.") else k: v
                  for k, v in state_dict.items()}
    report = _load_exact(net, state_dict, LoadReport(name))
    net.eval()
    return report


def load_vit_backbone(model: nn.Module, source: str | os.PathLike | Mapping[str, Any] | nn.Module
                      ) -> LoadReport:
    """Copy a timm ViT's weights (``patch_embed``, ``cls_token``, ``pos_embed``, ``blocks``,
    final ``norm``/``fc_norm`` -> ``ln_post``) into S2D; S2D's own parts keep their values.

    ``source`` may be a timm ``VisionTransformer``, its state dict, or a file holding one (such
    as MAE weights saved locally). Its blocks must have S2D's width and depth."""
    if isinstance(source, nn.Module):
        state_dict, name = source.state_dict(), type(source).__name__
    else:
        state_dict, name = read_state_dict(source)
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
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    stream = getattr(model, "landmark_stream", None)
    if stream is not None:
        tensors.update({f"{LANDMARK_PREFIX}{k}": v.detach().cpu().contiguous()
                        for k, v in stream.net.state_dict().items()})
    config = {"model": type(model).__name__, "config": getattr(model, "config", {}),
              "metadata": metadata or {}}
    _atomic_write(path, lambda tmp: save_file(tensors, tmp))
    _atomic_write(path.with_suffix(".json"),
                  lambda tmp: Path(tmp).write_text(json.dumps(config, indent=2)))
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu"):
    """Rebuild the model saved by ``save_checkpoint`` (S2D or MobileFaceNet) with its weights.
    Its metadata (stage, dataset, epoch, ...) is read by :func:`checkpoint_metadata`."""
    from .model import S2D  # local import: model imports nothing from here

    path = Path(path).with_suffix(".safetensors")
    info = _checkpoint_json(path)
    classes = {"S2D": S2D, "MobileFaceNet": MobileFaceNet}
    if info.get("model") not in classes:
        raise CheckpointError(f"{path.with_suffix('.json')}: unknown model type {info.get('model')!r}")
    tensors = load_file(str(path), device=str(map_location))
    model = classes[info["model"]](**info["config"])
    stream = split_landmark_stream(tensors)
    own = {k: v for k, v in tensors.items() if not k.startswith(LANDMARK_PREFIX)}
    _load_exact(model, own, LoadReport(str(path)))
    if stream:
        _load_exact(model.landmark_stream.net, stream, LoadReport(str(path)))
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


def split_landmark_stream(state_dict: StateDict) -> dict[str, torch.Tensor]:
    """The landmark network's tensors of one of our S2D checkpoints, without their prefix."""
    return {k[len(LANDMARK_PREFIX):]: v for k, v in state_dict.items()
            if k.startswith(LANDMARK_PREFIX)}


def load_landmarks(model: nn.Module, source: str | os.PathLike | Mapping[str, Any]) -> LoadReport:
    """Load MobileFaceNet weights into ``model``'s landmark stream from a released file, one of
    our MobileFaceNet checkpoints, or one of our S2D checkpoints (its ``landmark_stream.*``)."""
    state_dict, name = read_state_dict(source)
    state_dict = split_landmark_stream(state_dict) or state_dict
    report = load_landmark_weights(model, state_dict)
    report.source = name
    return report


def load_any_checkpoint(path: str | os.PathLike, model_name: str = "s2d_base_patch16_224",
                        landmark_weights: str | os.PathLike | None = None) -> nn.Module:
    """Our ``.safetensors`` checkpoint, or a released ``.pth`` rebuilt as ``model_name`` with the
    frame count and class count its tensors imply; in eval mode."""
    import timm

    from . import model as _model  # noqa: F401  (registers the s2d_* models with timm)
    from .release_format import load_released

    path = Path(path)
    if path.suffix == ".safetensors":
        model = load_checkpoint(path)
    else:
        state_dict, _ = read_state_dict(path)
        if "head.fc_cls.weight" not in state_dict or "temporal_embedding" not in state_dict:
            raise CheckpointError(f"{path}: no head.fc_cls.weight / temporal_embedding: not an "
                                  "S2D checkpoint")
        model = timm.create_model(model_name, num_classes=state_dict["head.fc_cls.weight"].shape[0],
                                  num_frames=state_dict["temporal_embedding"].shape[1])
        load_released(model, state_dict)
        if landmark_weights is None:
            warnings.warn(f"{path}: released checkpoints hold no landmark network; without "
                          "landmark weights the landmark view comes from random weights",
                          stacklevel=2)
    if landmark_weights is not None:
        load_landmarks(model, landmark_weights)
    return model.eval()


def __getattr__(name: str):
    """The names of :mod:`s2d_lib.release_format` that used to live here."""
    if name in _RELEASE_FORMAT:
        from . import release_format

        return getattr(release_format, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
