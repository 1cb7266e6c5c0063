"""Which arithmetic a training step computes in: ``precision=auto|fp32|bf16|fp16`` of a config,
the one setting for every device.

* ``fp32``: float32 throughout, on a GPU too.
* ``fp16``: the release's mixed precision: float16 autocast of the forward pass with a
  ``GradScaler`` (on a GPU; a CPU runs it too, slowly, which tests the path).
* ``bf16``: bfloat16 autocast of the forward pass; the weights, the optimiser and the loss
  stay float32. On the CPU, attention then takes SDPA's math path: the fused flash kernel's
  bfloat16 backward is slower on the CPU than its float32 one, and the math path is where
  bfloat16 pays (``benchmarks/RESULTS.md``, "Training steps", measures both on the tiny
  static and video steps).
* ``auto`` (default): ``fp16`` on a GPU (the release's); on a CPU, ``bf16`` where it computes
  bfloat16 natively (AMX or AVX-512 BF16, and oneDNN allowed to use it), ``fp32`` elsewhere.
  Emulated bfloat16 is slower than float32, so machines without it keep float32.

It replaces the former ``amp`` flag (a GPU's half of the choice): see ``config._retired``.

bfloat16 rounds otherwise than float32: a run trained in one differs from the same seed trained
in the other as much as two CPU types differ (the spread of seeds, not a change of result). A
run's ``config.yaml`` keeps the setting and its ``results.json`` the dtype it resolved to.
"""
from __future__ import annotations

import os
from contextlib import nullcontext
from functools import cache
from pathlib import Path

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

__all__ = ["PRECISIONS", "native_bf16", "autocast_dtype", "attention_path"]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: oneDNN ISA caps (ONEDNN_MAX_CPU_ISA) under which it cannot use bfloat16 instructions
_NO_BF16_ISA = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"}


@cache
def _cpu_flags() -> set[str]:
    """The CPU's feature flags, read once (empty where /proc/cpuinfo is not readable)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AMX or AVX-512 BF16) and oneDNN may use it."""
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() in _NO_BF16_ISA:
        return False
    if os.environ.get("ATEN_CPU_CAPABILITY", "").lower() in ("avx2", "default"):
        return False
    return bool(_cpu_flags() & {"amx_bf16", "avx512_bf16"})


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a training step on ``device``, or None for float32 (float16 takes
    a ``GradScaler``)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if device.type not in ("cpu", "cuda") or precision == "fp32":
        return None
    if precision == "auto":
        precision = "fp16" if device.type == "cuda" else "bf16" if native_bf16() else "fp32"
    return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)


def attention_path(dtype: torch.dtype | None, device: torch.device):
    """The SDPA context for a forward pass in ``dtype``: the math path for CPU bfloat16."""
    if dtype == torch.bfloat16 and device.type == "cpu":
        return sdpa_kernel([SDPBackend.MATH])
    return nullcontext()
