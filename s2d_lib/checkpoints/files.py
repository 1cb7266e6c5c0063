"""Our checkpoint files: a model written with what rebuilds it and the facts of its run, and read
back through timm's registry.

A file is one ``.safetensors``: the weights (an S2D model's landmark network under
``landmark_stream.``), and in its header the model's registered timm name (``architecture``,
e.g. ``s2d_tiny_patch8_64``), its constructor's arguments (``kwargs``) and the run's facts
(``metadata``: ``stage``, ``dataset``, ``epoch``, ``class_names``, ``frame_sampling``,
``clip_seconds``, ``landmark_hash``, ``test_resize``, ...). ``load_checkpoint`` rebuilds it with
``timm.create_model(architecture, **kwargs)``, so the model's ``pretrained_cfg`` is timm's;
``checkpoint_metadata`` reads the facts from the header alone. A ``.json`` beside the file
repeats the header for a reader's eyes and for tools that read it (files written before the
header held these read it from there). ``load_any_checkpoint`` also takes a released ``.pth``.
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import timm
import torch
from safetensors.torch import save_file
from torch import nn

from ..landmarks import MobileFaceNet
from .foreign import RELEASED, RUN_FACTS, load_landmark_weights, load_released
from .tensors import (ARCHITECTURE, KWARGS, METADATA, CheckpointError, LoadReport, load_exact,
                      read_description, read_state_dict, split_landmark_stream,
                      with_landmark_stream)

__all__ = ["save_checkpoint", "load_checkpoint", "checkpoint_metadata", "load_any_checkpoint",
           "architecture_of"]

#: Models that are no timm model, rebuilt from their class (the landmark network).
_PLAIN = {"MobileFaceNet": MobileFaceNet}


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


def architecture_of(model: nn.Module) -> str:
    """The name ``model`` rebuilds by: its registered timm variant (``pretrained_cfg``'s
    ``architecture``), or its class for a model that is no timm model."""
    if type(model).__name__ in _PLAIN:
        return type(model).__name__
    name = (getattr(model, "pretrained_cfg", None) or {}).get("architecture")
    if not name:
        raise CheckpointError(f"{type(model).__name__} was not built by timm.create_model: no "
                              "registered name to save it under")
    return name


def save_checkpoint(model: nn.Module, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write ``path`` (.safetensors: the weights, the landmark network's under
    ``landmark_stream.``, and a header naming the model and holding ``metadata``, the run's
    facts) and the ``.json`` beside it, each atomically. Returns the safetensors path."""
    path = Path(path).with_suffix(".safetensors")
    description = {"architecture": architecture_of(model),
                   "kwargs": getattr(model, "config", {}), "metadata": metadata or {}}
    header = {ARCHITECTURE: description["architecture"],
              KWARGS: json.dumps(description["kwargs"]),
              METADATA: json.dumps(description["metadata"])}
    tensors = with_landmark_stream(model)
    _atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=header))
    _atomic_write(path.with_suffix(".json"),
                  lambda tmp: Path(tmp).write_text(json.dumps(description, indent=2)))
    return path


def _variant_of(kwargs: dict[str, Any]) -> str:
    """The registered S2D variant whose architecture ``kwargs`` describe (a file written before
    files named it): each is built on the ``meta`` device, which allocates nothing."""
    keys = ("img_size", "patch_size", "embed_dim", "depth", "num_heads")
    for name in timm.list_models("s2d_*"):
        with torch.device("meta"):
            config = timm.create_model(name, with_landmark_stream=False).config
        if all(config[k] == kwargs.get(k) for k in keys):
            return name
    raise CheckpointError(f"no registered S2D model has the architecture {kwargs}")


def _rebuild(architecture: str | None, kwargs: dict[str, Any], path: Path) -> nn.Module:
    if architecture in _PLAIN:
        return _PLAIN[architecture](**kwargs)
    if architecture == "S2D":
        architecture = _variant_of(kwargs)
    if not architecture or not timm.is_model(architecture):
        raise CheckpointError(f"{path}: unknown model {architecture!r} (not a registered timm "
                              "model; import the package that registers it first)")
    return timm.create_model(architecture, **kwargs)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model saved by ``save_checkpoint`` (through ``timm.create_model`` with its
    registered name, or MobileFaceNet) with its weights. Its metadata (stage, dataset, epoch,
    ...) is read by :func:`checkpoint_metadata`."""
    path = Path(path).with_suffix(".safetensors")
    description = read_description(path)
    model = _rebuild(description["architecture"], description["kwargs"], path)
    own, stream = split_landmark_stream(read_state_dict(path)[0])  # the one read of the tensors
    load_exact(model, own, LoadReport(str(path)))
    if stream:
        load_exact(model.landmark_stream.net, stream, LoadReport(str(path)))
    return model.to(map_location)


def checkpoint_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The facts of the run that wrote ``path`` (``stage``, ``dataset``, ``epoch``,
    ``class_names``, ``frame_sampling``, ``clip_seconds``, ...), read from the file's header
    alone; a file in the release's format gets the release's (:data:`RELEASED`)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        return {k: RELEASED[k] for k in RUN_FACTS}
    return read_description(path)["metadata"]


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
        if landmark_weights is None:
            warnings.warn(f"{path}: released checkpoints hold no landmark network; without "
                          "landmark weights the landmark view comes from random weights",
                          stacklevel=2)
    if landmark_weights is not None:
        load_landmark_weights(model, landmark_weights, trust)
    return model.eval()
