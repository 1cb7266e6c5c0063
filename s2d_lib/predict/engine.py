"""Running the model on many overlapping windows: per-frame work once, then one precision option.

Each frame is cropped, normalised and run through the frozen, per-frame landmark network once,
however many windows share it (consecutive windows share ``T - stride`` frames). Everything
after the patch embedding mixes the T frames of a window (the TMA's temporal attention, the
temporal embedding added per position), so the ViT itself runs once per window. Sharing the
patch embedding as well would save 0.6 % of the base model's FLOPs and needs a hook in the model,
so it is not done.

Precision options (``INFERENCE_PRECISIONS``), measured in ``benchmarks/RESULTS.md`` ("Video inference"):

- ``fp32``: the reference;
- ``bf16``: ``torch.autocast`` to bfloat16 (on the CPU it pays where the CPU has AVX512-BF16 or
  AMX; elsewhere it is emulated and slower);
- ``int8``: ``torch.ao.quantization.quantize_dynamic`` on the Linear layers (int8 weights,
  activations quantised per call); on the CPU only (its kernels are FBGEMM's);
- ``compile``: ``torch.compile`` (the first call compiles, tens of seconds on a small CPU).

``auto`` (the default) takes int8 on the CPU and fp32 elsewhere, the fastest option within the
stated tolerance on the CPU benchmark.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import warnings
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..data.transforms import normalize
from ..face_detection import crop_face
from ..progress import progress_bar

__all__ = ["INFERENCE_PRECISIONS", "PROBABILITY_TOLERANCE", "resolve_precision", "prepare_model",
           "window_probs"]

log = logging.getLogger("s2d_lib.predict.engine")

INFERENCE_PRECISIONS = ("auto", "fp32", "bf16", "int8", "compile")
#: Largest change of any class probability against fp32 that a faster option may make to be the
#: default (measured on the released-format and the tiny trained checkpoints).
PROBABILITY_TOLERANCE = 0.02


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> the default for ``device`` (int8 on the CPU, fp32 elsewhere); checks names."""
    if precision not in INFERENCE_PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected one of {INFERENCE_PRECISIONS}")
    if precision == "auto":
        return "int8" if device.type == "cpu" else "fp32"
    if precision == "int8" and device.type != "cpu":
        raise ValueError("precision 'int8' (dynamic quantisation) runs on the CPU only")
    return precision


def prepare_model(model: nn.Module, precision: str, device: torch.device
                  ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A function ``(video[B,3,T,H,W], landmarks[B,T,C,g,g]) -> logits[B,K]`` running ``model``
    (left unchanged: int8 quantises a copy) at ``precision`` (already resolved) on ``device``."""
    model = model.eval().to(device)
    if precision == "int8":
        with warnings.catch_warnings():  # torch.ao's notice that it moves to torchao one day
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            model = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {nn.Linear},
                                                           dtype=torch.qint8)
    forward = torch.compile(model) if precision == "compile" else model

    def run(video: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        context = torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" \
            else contextlib.nullcontext()
        with context:
            return forward(video, landmarks).float()
    return run


def _frame_features(model: nn.Module, frames: np.ndarray, boxes: np.ndarray, rolls: np.ndarray,
                    size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised crops ``(n, 3, S, S)`` of ``frames`` and their landmark view."""
    crops = np.stack([crop_face(frame, box, size, roll)
                      for frame, box, roll in zip(frames, boxes, rolls)])
    x = normalize()(torch.from_numpy(crops).permute(0, 3, 1, 2)).to(device)
    return x, model.landmark_features(x)


def window_probs(model: nn.Module, run: Callable, read: Callable[[Sequence[int]], np.ndarray],
                 crop_boxes: np.ndarray, windows: np.ndarray, batch_size: int,
                 device: torch.device, progress: bool = True,
                 rolls: np.ndarray | None = None) -> np.ndarray:
    """Softmax ``(W, K)`` of ``run`` on every row of ``windows`` (frame indices ``(W, T)``).

    ``read(indices)`` returns frames, ``crop_boxes`` the square crop of every frame, ``rolls``
    the degrees each crop is turned back by (:func:`~s2d_lib.face_detection.crop_face`; None:
    0). A frame's
    crop and landmark view are computed once and dropped when no later window needs it.
    """
    size = model.pretrained_cfg["input_size"][-1]  # the input size the weights carry
    rolls = np.zeros(len(crop_boxes)) if rolls is None else np.asarray(rolls)
    last_use = {}
    for w, row in enumerate(windows):
        for f in row:
            last_use[int(f)] = w
    cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    probs = []
    with progress_bar(total=len(windows), desc="S2D windows", unit="window",
                      disable=not progress) as bar, torch.inference_mode():
        for i in range(0, len(windows), batch_size):
            batch = windows[i:i + batch_size]
            missing = sorted({int(f) for f in batch.flat} - cache.keys())
            if missing:
                x, lm = _frame_features(model, read(missing), crop_boxes[missing], rolls[missing],
                                        size, device)
                cache.update(zip(missing, zip(x, lm)))
            video = torch.stack([torch.stack([cache[int(f)][0] for f in row], dim=1)
                                 for row in batch])                        # (B, 3, T, S, S)
            landmarks = torch.stack([torch.stack([cache[int(f)][1] for f in row])
                                     for row in batch])                    # (B, T, C, g, g)
            probs.append(run(video, landmarks).softmax(-1).cpu().numpy())
            done = i + len(batch) - 1
            cache = {f: v for f, v in cache.items() if last_use[f] > done}
            bar.update(len(batch))
    return np.concatenate(probs).astype(np.float64) if probs else \
        np.zeros((0, model.num_classes))
