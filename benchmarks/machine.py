"""The machine: what it is, its dense matmul limit, and the peak memory of a measured step."""
from __future__ import annotations

import ctypes
import os
import platform
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Callable

import torch

__all__ = ["Timing", "time_fn", "use_all_cores", "describe", "matmul_limit", "reset_peak_rss",
           "rss_mib", "peak_rss_mib", "top_ops"]


@dataclass
class Timing:
    """Wall-clock seconds of the timed repeats (warm-up excluded)."""

    times: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def _synchronize(device: torch.device) -> None:
    # CUDA kernels run asynchronously: without this the clock stops before the work is done.
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_fn(fn: Callable[[], object], repeats: int, warmup: int = 1,
            device: torch.device = torch.device("cpu")) -> Timing:
    """Run ``fn`` ``warmup`` times untimed, then time ``repeats`` calls with ``perf_counter``."""
    for _ in range(warmup):
        fn()
    _synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _synchronize(device)
        times.append(time.perf_counter() - start)
    return Timing(times)


def use_all_cores() -> int:
    """Give torch one thread per core (its default can be lower inside containers)."""
    torch.set_num_threads(os.cpu_count() or 1)
    return torch.get_num_threads()


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> dict[str, str]:
    """Machine facts that the numbers depend on, as printable strings."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    info = {
        "CPU": f"{_cpu_model()}, {os.cpu_count()} cores, {torch.backends.cpu.get_cpu_capability()}",
        "torch": f"{torch.__version__} ({torch.get_num_threads()} threads)",
        "Python": f"{sys.version.split()[0]} on {platform.platform()}",
        "load average at start": "n/a" if load is None else " / ".join(f"{x:.2f}" for x in load),
        "GPU": ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
               if torch.cuda.is_available() else "none",
    }
    return info


def matmul_limit(device: torch.device, dtype: torch.dtype = torch.float32, size: int = 4096,
                 repeats: int = 5) -> float:
    """GFLOP/s of a dense ``size x size`` ``torch.matmul`` (median of ``repeats``): the most
    a model made of matrix products can hope for on this device."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=g).to(device, dtype)
    b = torch.randn(size, size, generator=g).to(device, dtype)
    out = torch.empty(size, size, device=device, dtype=dtype)
    timing = time_fn(lambda: torch.matmul(a, b, out=out), repeats, warmup=1, device=device)
    return 2 * size ** 3 / timing.median / 1e9


def reset_peak_rss() -> bool:
    """Restart the kernel's peak-RSS counter at the current RSS (Linux ``clear_refs`` 5), so the
    next :func:`peak_rss_mib` covers only what ran since. False where this is not possible."""
    try:  # glibc keeps freed memory resident; hand it back so that reuse does not hide a peak
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _status_mib(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_mib() -> float | None:
    """Current resident memory of this process, MiB (None without ``/proc``)."""
    return _status_mib("VmRSS")


def peak_rss_mib() -> float:
    """Peak resident memory of this process (since :func:`reset_peak_rss`), MiB."""
    peak = _status_mib("VmHWM")
    if peak is not None:
        return peak
    # No /proc: ru_maxrss is the whole life of the process (KiB on Linux, bytes on macOS).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2 ** 20 if sys.platform == "darwin" else peak / 1024


def top_ops(prof) -> list[tuple[str, float, float, int]]:
    """``(op, share of the self CPU time, self seconds, calls)`` of a ``torch.profiler`` run,
    the largest first."""
    events = sorted(((e.key, e.self_cpu_time_total, e.count) for e in prof.key_averages()),
                    key=lambda e: -e[1])
    total = sum(t for _, t, _ in events) or 1.0
    return [(key, t / total, t / 1e6, calls) for key, t, calls in events]
