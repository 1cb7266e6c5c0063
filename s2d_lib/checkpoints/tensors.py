"""Tensors in and out of files: the one reader of every checkpoint file, the load report, and the
rule that keeps the frozen landmark network beside S2D's own tensors.

* ``read_state_dict(source)`` finds the state dict in a file (``.safetensors``; a ``.pth`` read
  by :func:`~s2d_lib.checkpoints.safe_load.load_torch_file`), a loaded checkpoint or a bare dict;
  ``read_header(path)`` reads a safetensors file's metadata alone, without its tensors.
* What a load did is a ``LoadReport``; ``load_exact`` loads a state dict that fits exactly or
  raises ``CheckpointError``.
* ``split_landmark_stream`` / ``with_landmark_stream``: our S2D files keep the landmark
  network's tensors under ``landmark_stream.``. ``landmark_stream_by_reference`` writes an S2D
  file that names its landmark network's file (by path and SHA-256) instead of holding a copy;
  the reader joins the named tensors back in.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from .safe_load import CheckpointError, UnsafeCheckpointError, is_trusted, load_torch_file

__all__ = ["LoadReport", "StateDict", "LANDMARK_PREFIX", "read_state_dict", "read_header",
           "read_description", "ARCHITECTURE", "KWARGS", "METADATA",
           "file_sha256", "compare_keys", "load_exact", "split_landmark_stream",
           "with_landmark_stream", "landmark_stream_by_reference"]

LANDMARK_PREFIX = "landmark_stream."
#: The safetensors header entries of an S2D file whose landmark network lives in another file:
#: that file's path (relative to this file's folder) and its SHA-256.
LANDMARK_FILE, LANDMARK_SHA256 = "landmark_stream_file", "landmark_stream_sha256"

#: The header entries of our files that describe them: the model's registered timm name (or
#: ``MobileFaceNet``), its constructor's arguments (JSON), and the run's facts (JSON).
ARCHITECTURE, KWARGS, METADATA = "s2d.architecture", "s2d.kwargs", "s2d.metadata"

StateDict = Mapping[str, torch.Tensor]


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


def read_state_dict(source: str | os.PathLike | Mapping[str, Any], trust: bool = False
                    ) -> tuple[dict[str, torch.Tensor], str]:
    """The state dict inside ``source`` (a path, a loaded checkpoint dict, or a bare state dict)
    and a name for messages. Accepts the keys ``model`` / ``model_state_dict`` / ``state_dict``.
    A ``.pth`` file is read by :func:`~s2d_lib.checkpoints.safe_load.load_torch_file`; ``trust``
    (or :func:`~s2d_lib.checkpoints.safe_load.trusted_checkpoints`) lets it hold any pickled
    object, running its code."""
    name = "<state dict>"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = str(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such checkpoint file")
        if path.suffix == ".safetensors":
            return _read_safetensors(path), name
        try:
            source = load_torch_file(path, is_trusted(trust))
        except UnsafeCheckpointError:
            raise
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


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (hex), read in 1 MiB blocks: what a weights record names."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_header(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of the safetensors file ``path`` (its header's string entries), read without
    its tensors; ``{}`` when it has none."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with safe_open(str(path), "pt") as f:
            return dict(f.metadata() or {})
    except Exception as exc:  # not a safetensors file, or a truncated one
        raise CheckpointError(f"{path}: cannot be read as a safetensors file ({exc})") from exc


def read_description(path: str | os.PathLike) -> dict[str, Any]:
    """``{"architecture", "kwargs", "metadata"}`` of one of our ``.safetensors`` files, from its
    header; a file written before the header held them has them in the ``.json`` beside it
    (its ``pretrained_cfg`` then also held the run's facts, which join ``metadata``)."""
    path = Path(path)
    header = read_header(path)
    if ARCHITECTURE in header:
        return {"architecture": header[ARCHITECTURE], "kwargs": json.loads(header[KWARGS]),
                "metadata": json.loads(header.get(METADATA, "{}"))}
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        raise CheckpointError(f"{sidecar}: missing (the file's header does not describe the model, "
                              "so it is an older .safetensors + .json pair)")
    info = json.loads(sidecar.read_text())
    record, meta = info.get("pretrained_cfg") or {}, dict(info.get("metadata") or {})
    for key in ("frame_sampling", "clip_seconds", "landmark_hash"):
        if key in record:
            meta[key] = record[key]
    meta.setdefault("frame_sampling", "window")
    if record.get("label_names") and "class_names" not in meta:
        meta["class_names"] = record["label_names"]
    architecture = info.get("architecture") or record.get("architecture") or info.get("model")
    kwargs = info.get("kwargs") or info.get("config") or {}
    return {"architecture": architecture, "kwargs": kwargs, "metadata": meta}


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors, with the landmark network joined back in (under
    ``landmark_stream.``) when the file names it instead of holding it."""
    with safe_open(str(path), "pt") as f:  # one read: the tensors and the header's entries
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        header = f.metadata() or {}
    if LANDMARK_FILE not in header:
        return tensors
    other = Path(os.path.normpath(path.parent / header[LANDMARK_FILE]))
    if not other.is_file():
        raise CheckpointError(f"{path}: its landmark network is in {other}, which is missing "
                              "(keep the checkpoint's folder beside the landmark network's)")
    if file_sha256(other) != header.get(LANDMARK_SHA256):
        raise CheckpointError(f"{path}: {other} is not the landmark network it was saved with "
                              f"(SHA-256 {header.get(LANDMARK_SHA256)})")
    tensors.update({LANDMARK_PREFIX + k: v for k, v in load_file(str(other)).items()})
    return tensors


def landmark_stream_by_reference(tensors: StateDict, landmark_file: str | os.PathLike,
                                 path: str | os.PathLike, metadata: Mapping[str, str] | None = None
                                 ) -> Path:
    """Write ``tensors`` (one of our S2D files' state dicts) to ``path`` without its
    ``landmark_stream.*`` copy: the header names ``landmark_file`` (path relative to ``path``'s
    folder, SHA-256) instead, and :func:`read_state_dict` joins it back. Raises unless
    ``landmark_file`` holds exactly the tensors it replaces, so a read gives the same weights.
    ``metadata``: the file's other header entries (:func:`read_header` of the file it shrinks)."""
    own, stream = split_landmark_stream(tensors)
    landmark_file, path = Path(landmark_file), Path(path)
    other = load_file(str(landmark_file))
    if stream.keys() != other.keys() or not all(
            stream[k].dtype == other[k].dtype and torch.equal(stream[k], other[k]) for k in stream):
        raise CheckpointError(f"{landmark_file} does not hold the landmark network of the "
                              f"tensors to write to {path}")
    save_file(own, str(path), metadata={
        **(metadata or {}), LANDMARK_FILE: os.path.relpath(landmark_file, path.parent),
        LANDMARK_SHA256: file_sha256(landmark_file)})
    return path


def compare_keys(own: StateDict, state_dict: StateDict, report: LoadReport) -> None:
    """Fill ``report``'s missing, unexpected and shape-mismatched keys of ``state_dict``."""
    report.missing = sorted(set(own) - set(state_dict))
    report.unexpected = sorted(set(state_dict) - set(own))
    report.mismatched = sorted(f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model "
                               f"{tuple(own[k].shape)}" for k in set(own) & set(state_dict)
                               if state_dict[k].shape != own[k].shape)


def load_exact(module: nn.Module, state_dict: StateDict, report: LoadReport) -> LoadReport:
    """Load when names and shapes fit exactly; otherwise raise with the report."""
    compare_keys(module.state_dict(), state_dict, report)
    if not report.ok:
        raise CheckpointError(f"checkpoint does not fit the model:\n{report}")
    module.load_state_dict(state_dict, strict=True)
    report.loaded = len(state_dict)
    for message in report.reinitialised:
        if message.startswith("head."):
            warnings.warn(f"{report.source}: classifier re-initialised ({message})", stacklevel=3)
    return report


def split_landmark_stream(state_dict: StateDict) -> tuple[dict[str, torch.Tensor],
                                                     dict[str, torch.Tensor]]:
    """``(S2D tensors, landmark network tensors without their prefix)`` of one of our files."""
    own = {k: v for k, v in state_dict.items() if not k.startswith(LANDMARK_PREFIX)}
    stream = {k[len(LANDMARK_PREFIX):]: v for k, v in state_dict.items()
              if k.startswith(LANDMARK_PREFIX)}
    return own, stream


def with_landmark_stream(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s state dict plus its landmark network's under ``landmark_stream.`` (on the CPU),
    as our S2D files hold them."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    stream = getattr(model, "landmark_stream", None)
    if stream is not None:
        tensors.update({f"{LANDMARK_PREFIX}{k}": v.detach().cpu().contiguous()
                        for k, v in stream.net.state_dict().items()})
    return tensors
