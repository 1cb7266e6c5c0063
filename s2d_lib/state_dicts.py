"""State dicts: the one reader of checkpoint files, the load report, and the two foreign parts
S2D loads by name (the released MobileFaceNet, a timm ViT).

* ``read_state_dict(source)`` finds the state dict in a file, a loaded checkpoint or a bare dict;
  what a load did is a ``LoadReport``, what does not fit a ``CheckpointError``;
  ``load_exact`` loads a state dict that fits exactly or raises.
* ``load_torch_file(path)`` reads a ``.pth`` / ``.pth.tar`` without running code from it: tensors,
  plain containers and the harmless types training checkpoints carry beside them
  (:data:`SAFE_GLOBALS`: ``argparse.Namespace``, NumPy scalars, dtypes and arrays); a file that
  needs anything else raises ``UnsafeCheckpointError`` unless it is trusted (``trust=True``, or
  every load inside ``with trusted_checkpoints():``).
* ``split_landmark_stream`` / ``with_landmark_stream``: the one place of the rule that keeps the
  frozen landmark network's tensors under ``landmark_stream.`` in our S2D files.
  ``landmark_stream_by_reference`` writes an S2D file that names its landmark network's file (by
  path and SHA-256) instead of holding a copy; the reader joins the named tensors back in.
* ``load_landmark_weights(model_or_net, source)`` loads MobileFaceNet weights (the released file,
  ours, or the ``landmark_stream.*`` of one of our S2D files); names and shapes must match.
* ``load_vit_backbone(model, source)`` copies a timm ViT (e.g. MAE weights) into S2D's ViT.
"""
from __future__ import annotations

import argparse
import contextvars
import hashlib
import os
import pickle
import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from .landmarks import LandmarkStream, MobileFaceNet

__all__ = ["CheckpointError", "UnsafeCheckpointError", "LoadReport", "StateDict",
           "LANDMARK_PREFIX", "read_state_dict", "compare_keys", "load_exact",
           "split_landmark_stream", "with_landmark_stream",
           "load_landmark_weights", "load_landmarks", "load_vit_backbone",
           "landmark_stream_by_reference", "file_sha256", "load_torch_file", "trusted_checkpoints",
           "SAFE_GLOBALS"]

LANDMARK_PREFIX = "landmark_stream."
#: The safetensors header entries of an S2D file whose landmark network lives in another file:
#: that file's path (relative to this file's folder) and its SHA-256.
LANDMARK_FILE, LANDMARK_SHA256 = "landmark_stream_file", "landmark_stream_sha256"

StateDict = Mapping[str, torch.Tensor]


class CheckpointError(ValueError):
    """A checkpoint does not fit the model beyond the documented conversions."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint holds pickled objects that only an unrestricted (code-running) load builds."""


def _numpy_globals() -> list[Any]:
    """NumPy's pickle entry points for scalars and arrays, under the module name NumPy 2 writes
    (``numpy._core``) and the one NumPy 1 wrote (``numpy.core``), and its numeric dtype classes
    (the type a weights-only load checks before setting a dtype's state). No object dtype: an
    object array or scalar would hold arbitrary Python objects."""
    scalar = np.float64(0).__reduce__()[0]  # numpy._core.multiarray.scalar (numpy.core on 1.x)
    reconstruct = np.zeros(0).__reduce__()[0]  # numpy._core.multiarray._reconstruct
    entries: list[Any] = [np.ndarray, np.dtype]
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        entries += [(scalar, f"{module}.scalar"), (reconstruct, f"{module}._reconstruct")]
    codes = "?" + np.typecodes["AllInteger"] + np.typecodes["AllFloat"]
    entries += sorted({type(np.dtype(code)) for code in codes}, key=lambda t: t.__name__)
    return entries


#: What a checkpoint may hold beside what ``torch.load(weights_only=True)`` takes by default
#: (tensors, dtypes, ``dict``/``list``/``tuple``/``set``/``OrderedDict``/``Counter``, numbers,
#: strings): the training script's options (``args``, an ``argparse.Namespace``) and NumPy
#: scalars, dtypes and arrays (an optimiser's or sampler's numbers, NumPy's RNG state).
SAFE_GLOBALS: list[Any] = [argparse.Namespace, *_numpy_globals()]

_TRUSTED = contextvars.ContextVar("s2d_trusted_checkpoints", default=False)


@contextmanager
def trusted_checkpoints(trust: bool = True) -> Iterator[None]:
    """Inside the block every checkpoint file the loaders read is trusted, as with ``trust=True``
    (what ``--trust-checkpoint`` does for a command that loads several files, e.g. training)."""
    token = _TRUSTED.set(trust)
    try:
        yield
    finally:
        _TRUSTED.reset(token)


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
    A ``.pth`` file is read by :func:`load_torch_file`; ``trust`` (or
    :func:`trusted_checkpoints`) lets it hold any pickled object, running its code."""
    name = "<state dict>"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = str(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such checkpoint file")
        if path.suffix == ".safetensors":
            return _read_safetensors(path), name
        try:
            source = load_torch_file(path, trust or _TRUSTED.get())
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
                                 path: str | os.PathLike) -> Path:
    """Write ``tensors`` (one of our S2D files' state dicts) to ``path`` without its
    ``landmark_stream.*`` copy: the header names ``landmark_file`` (path relative to ``path``'s
    folder, SHA-256) instead, and :func:`read_state_dict` joins it back. Raises unless
    ``landmark_file`` holds exactly the tensors it replaces, so a read gives the same weights."""
    own, stream = split_landmark_stream(tensors)
    landmark_file, path = Path(landmark_file), Path(path)
    other = load_file(str(landmark_file))
    if stream.keys() != other.keys() or not all(
            stream[k].dtype == other[k].dtype and torch.equal(stream[k], other[k]) for k in stream):
        raise CheckpointError(f"{landmark_file} does not hold the landmark network of the "
                              f"tensors to write to {path}")
    save_file(own, str(path), metadata={
        LANDMARK_FILE: os.path.relpath(landmark_file, path.parent),
        LANDMARK_SHA256: file_sha256(landmark_file)})
    return path


def load_torch_file(path: str | os.PathLike, trust: bool = False) -> Any:
    """``torch.load`` of ``path`` on the CPU that runs no code from the file: weights-only, with
    :data:`SAFE_GLOBALS` allowed for this call only. Raises ``UnsafeCheckpointError`` naming the
    file and what it would need. Only with ``trust`` is the file unpickled without restriction
    (which runs whatever code it carries: for files from a source you trust)."""
    if trust:
        return torch.load(path, map_location="cpu", weights_only=False)
    with torch.serialization.safe_globals(SAFE_GLOBALS):
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            offending = _unsafe_globals(path, str(exc))
    raise UnsafeCheckpointError(
        f"{path}: refused: it holds pickled Python objects beyond tensors and plain data "
        f"({', '.join(offending)}), and unpickling them can run code from the file. If you "
        "trust where the file comes from, load it with trust=True (on the command line: "
        "--trust-checkpoint)")


def _unsafe_globals(path: str | os.PathLike, message: str) -> list[str]:
    """What a refused file would import (call under the same allowlist as the load)."""
    try:  # every global the file names, read without unpickling (zip-format files)
        names = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # a legacy (pre-1.6) file: the name the refused load stopped at
        names = []
    found = re.search(r"GLOBAL (\S+)|got <class '([^']+)'>|function (.+?)(?: which|$)", message,
                      re.MULTILINE)
    if found and not names:
        names = [next(g for g in found.groups() if g)]
    return names or ["an object that is not plain data"]


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


#: The same loader under the name notebooks 02 and 03 use for "the model's landmark network".
load_landmarks = load_landmark_weights


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
