"""Which float path this process computes on, and how to run a command as on another CPU type.

Seeded training repeats bit for bit on one CPU type, and only there: PyTorch's vectorised
kernels (AVX2, AVX-512), MKL's matrix products and oneDNN's convolutions pick their code path
from the CPU, and each path sums in another order. A few hundred optimiser steps turn that
rounding into points of test accuracy. Each library lets the path be chosen from the
environment, so one machine can compute as another would:

``python s2d_course/float_path.py --env`` prints the settings of *another CPU type* for this
machine (one vector width down for PyTorch, MKL and oneDNN), and
``S2D_FLOAT=other make test`` runs the whole test suite with them (the Makefile exports them
before any process starts: the libraries read them once, when they first compute).

This file imports nothing outside the standard library, so the Makefile can run it with any
Python before the environment exists.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["OTHER_CPU_VARIABLES", "cpu_flags", "other_cpu_env", "describe", "is_other_cpu"]

#: The environment variables that choose a float path, and what each one chooses.
OTHER_CPU_VARIABLES = {
    "ATEN_CPU_CAPABILITY": "PyTorch's vectorised kernels: avx512, avx2 or default (no vectors)",
    "MKL_CBWR": "MKL's code path for matrix products (AVX2, AVX, ...: that instruction set's kernels)",
    "ONEDNN_MAX_CPU_ISA": "the widest instruction set oneDNN's convolutions may use",
    "S2D_FLOAT": "'other' when the three above were set by this module",
}


def cpu_flags(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags (empty where ``cpuinfo`` is not readable: not Linux)."""
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def other_cpu_env(flags: set[str]) -> dict[str, str]:
    """Settings under which a machine with ``flags`` rounds as another CPU type does: one vector
    width narrower than its own for PyTorch, MKL and oneDNN. (MKL's ``COMPATIBLE`` path would
    round otherwise too, but its SSE2 matrix products are 2.5 times slower than AVX2's on an
    AVX-512 machine; one width down keeps the mode's tests near their usual time.)"""
    if "avx512f" in flags:
        aten, mkl, onednn = "avx2", "AVX2", "AVX2"
    else:  # AVX2 machines (and older): PyTorch's scalar kernels, MKL's AVX path (no FMA)
        aten, mkl, onednn = "default", "AVX", "SSE41"
    return {"ATEN_CPU_CAPABILITY": aten, "MKL_CBWR": mkl, "ONEDNN_MAX_CPU_ISA": onednn,
            "S2D_FLOAT": "other"}


def is_other_cpu() -> bool:
    """Whether this process runs with :func:`other_cpu_env`'s settings."""
    return os.environ.get("S2D_FLOAT") == "other"


def describe() -> dict:
    """This process's float path: the CPU, PyTorch's kernel width, the path settings in force and
    the thread count. Two runs with equal descriptions (and inputs) give equal bits."""
    import torch  # only here: the command-line use below must work before torch is installed

    from s2d_lib.precision import native_bf16

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu or sys.platform, "torch": torch.__version__,
            "kernels": torch.backends.cpu.get_cpu_capability(),
            "mkl_cbwr": os.environ.get("MKL_CBWR", ""),
            "onednn_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""),
            "threads": torch.get_num_threads(), "native_bf16": native_bf16()}


def main(argv: list[str] | None = None) -> int:
    """``--env``: print ``NAME=value`` pairs of :func:`other_cpu_env` for this machine."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["--env"]:
        print(__doc__.split("\n\n")[0] + "\nusage: python s2d_course/float_path.py --env", file=sys.stderr)
        return 2
    print(" ".join(f"{k}={v}" for k, v in other_cpu_env(cpu_flags()).items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
