"""``python -m benchmarks.base_steps [--out benchmarks/RESULTS.md]``: the base model's forward and
dynamic training step (ViT-B/16, 16 frames at 224 px, batch 1, landmark view computed) on this
CPU, per op: where the time goes that the matmul limit does not explain.

Two precisions: float32 (fused SDPA) and what ``precision=auto`` trains in on a CPU with native
bfloat16 (bfloat16 autocast, SDPA's math path). Each is timed (median of 2 after 1 untimed) and
profiled over one more step; the share of matrix products (``mm``/``addmm``/``bmm``/
``linear``-backed convolution) in the self CPU time says how close to the matmul limit the step
could get if everything else cost nothing. The section "Base model steps" of ``--out`` is
replaced (or appended).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from s2d_course.paths import REPO

from .inference import write_section
from .machine import describe, matmul_limit, time_fn, top_ops, use_all_cores
from .steps import Case, _build, _inputs, _step_fn, count_gflops

SECTION = "## Base model steps"
MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::_scaled_dot_product_flash_attention_for_cpu",
              "aten::mkldnn_convolution", "aten::convolution_backward")
STEP_SETTINGS = {"float32": {}, "bf16 + math attention": {"bf16": True, "attention": "math"}}


def measure(case: Case) -> dict:
    from torch.profiler import ProfilerActivity, profile

    model = _build(case, torch.device("cpu"))
    step = _step_fn(case, model, model, *_inputs(model, case, torch.device("cpu")))
    timing = time_fn(step, repeats=2, warmup=1)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    ops = top_ops(prof)
    return {"s": timing.median, "top": [(key, share) for key, share, _, _ in ops[:6]],
            "matmul_share": sum(share for key, share, _, _ in ops if key in MATMUL_OPS)}


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.base_steps",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    args = parser.parse_args(argv)
    use_all_cores()
    info, start = describe(), time.perf_counter()
    limits = {"float32": matmul_limit(torch.device("cpu")),
              "bfloat16": matmul_limit(torch.device("cpu"), torch.bfloat16)}
    rows = []
    for step in ("forward", "train"):
        for name, options in STEP_SETTINGS.items():
            case = Case("base", step, **options)
            rows.append((step, name, count_gflops(case), measure(case)))
    lines = [SECTION, "",
             f"`python -m benchmarks.base_steps` ran in {time.perf_counter() - start:.0f} s on "
             f"{info['CPU']} ({info['torch']}). Matmul limits here: float32 {limits['float32']:.0f} "
             f"GFLOP/s, bfloat16 {limits['bfloat16']:.0f} GFLOP/s (dense 4096² products). "
             "*Matrix-product share*: self CPU time in matrix products, attention kernels and "
             "convolutions; the rest (GELU, LayerNorm, softmax, copies, the optimiser) is what keeps "
             "a step below the limit.", "",
             "| step | precision | s / clip | GFLOP/s | of float32 limit | of bfloat16 limit | "
             "matrix-product share | top ops (self CPU share) |", "|---|---|---|---|---|---|---|---|"]
    for step, name, gflops, r in rows:
        rate = gflops / r["s"]
        top = ", ".join(f"`{k.removeprefix('aten::')}` {100 * share:.0f}%" for k, share in r["top"][:4])
        lines.append(f"| {step} | {name} | {r['s']:.2f} | {rate:.0f} | {100 * rate / limits['float32']:.0f}% | "
                     f"{100 * rate / limits['bfloat16']:.0f}% | {100 * r['matmul_share']:.0f}% | {top} |")
    section = "\n".join(lines) + "\n"
    write_section(args.out, section, SECTION)
    print(section)
    return section


if __name__ == "__main__":
    main()
