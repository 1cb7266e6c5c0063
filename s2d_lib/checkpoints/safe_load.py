"""Reading a ``.pth`` / ``.pth.tar`` without running code from it, and the errors of every load.

``load_torch_file(path)`` reads tensors, plain containers and the harmless types training
checkpoints carry beside them (:data:`SAFE_GLOBALS`: ``argparse.Namespace``, NumPy scalars,
dtypes and arrays); a file that needs anything else raises ``UnsafeCheckpointError`` unless it is
trusted (``trust=True``, or every load inside ``with trusted_checkpoints():``).
"""
from __future__ import annotations

import argparse
import contextvars
import os
import pickle
import re
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
import torch

__all__ = ["CheckpointError", "UnsafeCheckpointError", "SAFE_GLOBALS", "load_torch_file",
           "trusted_checkpoints", "is_trusted"]


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


def is_trusted(trust: bool = False) -> bool:
    """Whether a load may unpickle without restriction: ``trust``, or inside
    :func:`trusted_checkpoints`."""
    return trust or _TRUSTED.get()


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
