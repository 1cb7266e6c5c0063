"""Time, FLOPs and memory of one S2D step (forward, or dynamic-stage training step) in one
configuration.

``measure`` runs a configuration in a fresh Python process (``python -m benchmarks.steps
'<case json>'``, which prints JSON lines): torch.compile caches, thread pools and allocator
arenas of one configuration then cannot flatter or burden the next, a crash is contained, and a
compile that runs too long can be stopped. Peak memory is the kernel's peak RSS over the timed
steps (reset after the warm-up), plus CUDA's max allocated memory on a GPU.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from typing import Callable

import timm
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import s2d_lib  # noqa: F401  (registers the S2D models with timm)
from s2d_lib.model import S2D, set_trainable
from s2d_lib.cost import profile
from s2d_course.paths import REPO

from .machine import peak_rss_mib, reset_peak_rss, rss_mib, time_fn, use_all_cores

__all__ = ["MODELS", "Case", "run_case", "measure", "measure_here", "count_gflops"]

#: Benchmark size name -> timm model name.
MODELS = {"tiny": "s2d_tiny_patch8_64", "base": "s2d_base_patch16_224"}
NUM_CLASSES = 7
#: "fused": SDPA picks its fused kernel (flash / memory-efficient / cuDNN on a GPU, the fused
#: flash kernel on the CPU); "math": the reference path that materialises the attention matrix.
ATTENTION = {"fused": [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
                       SDPBackend.CUDNN_ATTENTION],
             "math": [SDPBackend.MATH]}


@dataclass(frozen=True)
class Case:
    """One measured configuration."""

    model: str                      # "tiny" | "base"
    step: str                       # "forward" | "train" (dynamic stage)
    attention: str = "fused"        # "fused" | "math"
    landmarks: str = "computed"     # "computed" by the landmark stream | "cached" (passed in)
    compile: bool = False           # torch.compile the model
    checkpointing: bool = False     # model.set_grad_checkpointing(True)
    bf16: bool = False              # torch.autocast(bfloat16)
    batch: int = 1
    num_frames: int = 16
    device: str = "cpu"
    repeats: int = 3
    warmup: int = 1

    @property
    def option(self) -> str:
        """What differs from the reference configuration, for the table."""
        parts = []
        if self.attention != "fused":
            parts.append(f"{self.attention} attention")
        if self.landmarks != "computed":
            parts.append(f"landmarks {self.landmarks}")
        if self.compile:
            parts.append("torch.compile")
        if self.checkpointing:
            parts.append("grad checkpointing")
        if self.bf16:
            parts.append("bf16 autocast")
        return ", ".join(parts) or "reference"

    def reference(self) -> "Case":
        """The same model, step, batch and device with every option at its default."""
        return replace(self, attention="fused", landmarks="computed", compile=False,
                       checkpointing=False, bf16=False)


def _build(case: Case, device: torch.device) -> S2D:
    with device:  # built in place: on "meta" nothing is allocated
        model = timm.create_model(MODELS[case.model], num_classes=NUM_CLASSES,
                                  num_frames=case.num_frames)
    if case.step == "train":
        set_trainable(model, "dynamic")
        model.train()
    else:
        model.eval()
    model.set_grad_checkpointing(case.checkpointing)
    return model


def _inputs(model: S2D, case: Case, device: torch.device):
    size = model.config["img_size"]
    g = torch.Generator().manual_seed(0)
    video = torch.randn(case.batch, 3, case.num_frames, size, size, generator=g).to(device)
    labels = torch.randint(0, NUM_CLASSES, (case.batch,), generator=g).to(device)
    features = None
    if case.landmarks == "cached":  # what a feature cache on disk hands the model
        features = model.landmark_features(model.fold_frames(video))
    return video, labels, features


def _step_fn(case: Case, model: S2D, net: Callable, video, labels, features) -> Callable[[], None]:
    """The callable that is timed: ``net`` is ``model`` or its compiled twin."""

    def context() -> ExitStack:
        stack = ExitStack()
        stack.enter_context(sdpa_kernel(ATTENTION[case.attention]))
        if case.bf16:
            stack.enter_context(torch.autocast(video.device.type, dtype=torch.bfloat16))
        return stack

    if case.step == "forward":
        def forward() -> None:
            with torch.inference_mode(), context():
                net(video, features)
        return forward
    if case.step != "train":
        raise ValueError(f"step must be 'forward' or 'train', got {case.step!r}")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def train() -> None:
        with context():
            logits = net(video, features)
            loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return train


def run_case(case: Case, report: Callable[[dict], None] = lambda _: None) -> dict:
    """Measure ``case`` in this process: seconds per step, peak memory, compile time.
    ``report`` receives partial results as soon as they exist (the compile time)."""
    use_all_cores()
    device = torch.device(case.device)
    model = _build(case, device)
    video, labels, features = _inputs(model, case, device)
    net = torch.compile(model) if case.compile else model
    step = _step_fn(case, model, net, video, labels, features)
    # The peak covers every call of the step (the first one allocates the gradients and the
    # optimizer state, and compiles), not the building of the model.
    per_step = reset_peak_rss()
    at_rest = rss_mib()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    result: dict = {}
    if case.compile:  # the first call compiles: reported, not timed as a step
        start = time.perf_counter()
        step()
        result["compile_s"] = time.perf_counter() - start
        report(result)
    for _ in range(case.warmup):
        step()
    timing = time_fn(step, case.repeats, warmup=0, device=device)
    peak = peak_rss_mib()
    result.update(times=timing.times, median_s=timing.median, peak_rss_mib=peak,
                  step_rss_mib=peak - at_rest if per_step else None)
    if device.type == "cuda":
        result["cuda_max_allocated_mib"] = torch.cuda.max_memory_allocated(device) / 2 ** 20
    return result


def _reason(text: str) -> str:
    """The last informative line of a child's stderr, for the table."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line]
    line = (errors or lines or ["no output"])[-1].replace("|", "/")
    return line if len(line) <= 160 else line[:157] + "..."


def _last_json(text: str | bytes | None) -> dict:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    lines = [line for line in (text or "").splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def measure(case: Case, timeout: float) -> dict:
    """``run_case`` in a fresh process. On failure ``{"error": reason}``; past ``timeout``
    ``{"error": ..., "timed_out": True}`` with the compile time if compiling had finished."""
    cmd = [sys.executable, "-m", "benchmarks.steps", json.dumps(asdict(case))]
    try:
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        partial = _last_json(e.stdout)
        what = (f"compiled in {partial['compile_s']:.0f} s, steps" if "compile_s" in partial
                else "compiling" if case.compile else "it")
        return {**partial, "error": f"{what} did not finish in {timeout:.0f} s", "timed_out": True}
    result = _last_json(done.stdout)
    if done.returncode != 0 or "median_s" not in result:
        return {**result, "error": _reason(done.stderr)}
    return result


def measure_here(case: Case) -> dict:
    """``run_case`` in this process (quick runs: no process start-up per configuration; the
    peak-RSS reset keeps the configurations' peaks apart). ``{"error": reason}`` on failure."""
    try:
        return run_case(case)
    except Exception as e:  # a failing option is a result to report, not the end of the run
        return {"error": f"{type(e).__name__}: {e}".splitlines()[0][:160].replace("|", "/")}


def count_gflops(case: Case) -> float:
    """Useful GFLOPs of one step of ``case``, counted on a meta-device twin (nothing computed).

    Forward: ``s2d_lib.cost.profile`` (the landmark view added when it is computed). Training
    step: ``FlopCounterMode`` around the real step (forward, loss, backward). Recomputation
    under gradient checkpointing is not counted (it is the option's price, not useful work), nor
    is the AdamW update (elementwise, a few FLOPs per trainable parameter).
    """
    return _count(replace(case.reference(), landmarks=case.landmarks, device="meta", repeats=0,
                          warmup=0))


@lru_cache(maxsize=None)
def _count(case: Case) -> float:
    """``count_gflops`` of a reference case on the meta device; attention kernel, compile and
    checkpointing do not change the useful work, so their cases share one count."""
    model = _build(case, torch.device("meta"))
    if case.step == "forward":
        cost = profile(model)
        landmarks = cost.gflops_landmark_view if case.landmarks == "computed" else 0.0
        return case.batch * (cost.gflops_model + landmarks)
    video, labels, features = _inputs(model, case, torch.device("meta"))
    # The counter has no formula for the fused attention kernels: count through the math path.
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        logits = model(video, features)
        F.cross_entropy(logits, labels).backward()
    return counter.get_total_flops() / 1e9


def main() -> None:
    """Child process: measure the case given as JSON and print JSON lines (partial, then final)."""
    case = Case(**json.loads(sys.argv[1]))
    result = run_case(case, report=lambda partial: print(json.dumps(partial), flush=True))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
