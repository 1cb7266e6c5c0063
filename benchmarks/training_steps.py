"""``python -m benchmarks.training_steps [--out benchmarks/RESULTS.md]``: where a claims-run training
step spends its time, and what each way of speeding it up buys and costs.

The steps are the trainer's own (:meth:`s2d_lib.trainer.Trainer._step`) on the reference runs of
:mod:`s2d_course.claims` (claims world, seed 0): the static step (32 images, landmark view from the
cache, every S2D parameter training) and the video step (16 clips of 8 frames, the dynamic stage:
frozen ViT, prompters, TMAs and head training). For each stage:

- a per-op profile of the reference step (``torch.profiler``, self CPU time over 4 steps);
- each option alone, in a fresh process: seconds per step (median of 6 after 2 untimed), the share
  of the machine's float32 matmul limit, and what it does to the result: the training loss after
  8 steps and whether the trained weights are bit-identical to the reference's.

The section "Training steps" of ``--out`` is replaced (or appended); the rest of the file is kept.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from s2d_course.paths import REPO

from .inference import write_section
from .digests import tensors_digest
from .machine import describe, matmul_limit, top_ops

SECTION = "## Training steps"
#: option -> what it changes (the reference is the trainer as it runs today)
OPTIONS = {
    "reference": "float32, fused SDPA, AdamW for-loop: the trainer before `precision=auto`",
    "foreach AdamW": "AdamW's multi-tensor (foreach) update",
    "fused AdamW": "AdamW's fused CPU kernel",
    "math attention": "SDPA's math path instead of the fused flash kernel",
    "bf16 autocast": "bfloat16 autocast, fused SDPA",
    "bf16 + math attention": "`precision=bf16` (what `auto` picks on a CPU with native bfloat16)",
    "torch.compile": "the model compiled once (inductor), reused by a second model",
    "torch.compile + bf16": "both",
    "torch.compile + bf16 + math attention": "the model compiled, computing as `precision=bf16`",
}
STEPS, WARMUP, PROFILED = 8, 2, 4


def _trainer(stage: str, option: str, seed: int, out: Path):
    from s2d_course.claims.setup import Setup
    from s2d_lib.trainer import Trainer

    setup = Setup(runs=out)
    cfg = setup.static_config({}, 1.0, seed) if stage == "static" else setup.video_config({}, seed)
    if stage == "video" and not Path(cfg.init).is_file():
        raise FileNotFoundError(f"{cfg.init}: run `python -m benchmarks.training_steps` (it trains "
                                "the static reference run first)")
    precision = "bf16" if option.endswith("bf16 + math attention") else "fp32"
    trainer = Trainer(replace(cfg, out_dir=str(out / f"{stage}-{option}-{seed}"), precision=precision),
                      setup.data(cfg), None, ())
    if option in ("foreach AdamW", "fused AdamW"):
        key = "foreach" if option == "foreach AdamW" else "fused"
        trainer.optimizer = torch.optim.AdamW(trainer.optimizer.param_groups, **{key: True})
        trainer.scheduler.optimizer = trainer.optimizer
    if option in ("bf16 autocast", "torch.compile + bf16"):  # autocast alone, flash attention kept
        from contextlib import nullcontext

        from s2d_lib import trainer as trainer_module

        trainer_module.attention_path = lambda *_: nullcontext()  # (this process measures one option)
        trainer.use_amp, trainer.amp_dtype = True, torch.bfloat16
    if "compile" in option:
        trainer.net = torch.compile(trainer.net)
    return trainer


def _batches(trainer, n: int) -> list:
    from s2d_lib.evaluate import as_video, single_view, unpack

    batches = []
    for batch in trainer.loader:
        x, y, lf = unpack(batch, trainer.device)
        x, lf = single_view(as_video(x), lf)
        batches.append((x, y, lf))
        if len(batches) == n:
            return batches
    raise ValueError("fewer batches than steps")


def run_option(stage: str, option: str, out: Path, profile: bool) -> dict:
    """In this process: time ``option``'s steps, digest its weights, profile when asked."""
    from contextlib import nullcontext

    from torch.nn.attention import SDPBackend, sdpa_kernel

    attention = sdpa_kernel([SDPBackend.MATH]) if option == "math attention" else nullcontext()
    totals = {"loss": 0.0, "ce": 0.0, "easdl": 0.0, "easdl_steps": 0}
    result: dict = {}
    with attention:
        trainer = _trainer(stage, option, 0, out)
        batches = _batches(trainer, STEPS)
        trainer.net.train()
        times, losses = [], []
        for i, batch in enumerate(batches):
            start = time.perf_counter()
            losses.append(trainer._step(i, *batch, 0.0, False, totals))
            times.append(time.perf_counter() - start)
        result.update(first_s=times[0], s_per_step=statistics.median(times[WARMUP:]),
                      loss=losses[-1], weights=tensors_digest(trainer.model.state_dict())[:16])
        if "compile" in option:  # a second model of the same shapes: the compiled code is reused
            second = _trainer(stage, option, 1, out)
            start = time.perf_counter()
            second._step(0, *_batches(second, 1)[0], 0.0, False, totals)
            result["second_model_first_s"] = time.perf_counter() - start
        if profile:
            from torch.profiler import ProfilerActivity
            from torch.profiler import profile as torch_profile

            with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
                for i, batch in enumerate(batches[:PROFILED]):
                    trainer._step(STEPS + i, *batch, 0.0, False, totals)
            result["profile"] = [(key, share, seconds / PROFILED, calls // PROFILED)
                                 for key, share, seconds, calls in top_ops(prof)[:12]]
    return result


def gflops(stage: str, out: Path) -> float:
    """FLOPs of one training step (forward + backward, math attention: the counter has no formula
    for the fused kernels), counted on the real step."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    trainer = _trainer(stage, "reference", 0, out)
    x, y, lf = _batches(trainer, 1)[0]
    with sdpa_kernel([SDPBackend.MATH]), FlopCounterMode(display=False) as counter:
        logits, _ = trainer.net(x, lf)
        torch.nn.functional.cross_entropy(logits, y).backward()
    return counter.get_total_flops() / 1e9


def measure(stage: str, option: str, out: Path, profile: bool = False) -> dict:
    """:func:`run_option` in a fresh process (compile caches and thread pools start clean)."""
    cmd = [sys.executable, "-m", "benchmarks.training_steps", "--child",
           json.dumps({"stage": stage, "option": option, "out": str(out), "profile": profile})]
    # the compiler's on-disk cache starts empty for each run of this benchmark: compile times are cold
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(out / "inductor")}
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1][:160]}
    return json.loads(lines[-1])


def render(results: dict, flops: dict, limit: float, info: dict, runtime: float) -> str:
    lines = [SECTION, "",
             f"`python -m benchmarks.training_steps` ran in {runtime:.0f} s on {info['CPU']} "
             f"({info['torch']}; load average at start {info['load average at start']}); the "
             f"float32 matmul limit here is {limit:.0f} GFLOP/s. The trainer's own step on seed 0 of "
             "the claims reference runs: static (32 images, the landmark view from the cache) "
             "and video (16 clips × 8 frames, the dynamic stage). Each option alone, in a fresh "
             f"process; seconds per step are the median of {STEPS - WARMUP} after {WARMUP} untimed. "
             f"*Result*: the training loss after {STEPS} steps, and whether the weights then are "
             "bit-identical to the reference's.", ""]
    for stage, rows in results.items():
        ref = rows["reference"]
        lines += [f"**{stage} step profile** ({flops[stage]:.1f} GFLOPs per step; self CPU time of "
                  f"{PROFILED} reference steps, the top ops):", "",
                  "| op | share | ms / step | calls / step |", "|---|---|---|---|"]
        for key, share, seconds, calls in ref.get("profile", []):
            lines.append(f"| `{key[:60]}` | {100 * share:.1f}% | {1000 * seconds:.1f} | {calls} |")
        lines += ["", f"**{stage} step options**:", "",
                  "| option | s / step | GFLOP/s | of matmul limit | speed-up | first step s | "
                  "loss after 8 steps | weights bit-identical |", "|---|---|---|---|---|---|---|---|"]
        for option, r in rows.items():
            if "error" in r:
                lines.append(f"| {option} | failed: {r['error']} | | | | | | |")
                continue
            rate = flops[stage] / r["s_per_step"]
            first = f"{r['first_s']:.1f}" + (f" (2nd model: {r['second_model_first_s']:.2f})"
                                             if "second_model_first_s" in r else "")
            lines.append(f"| {option} | {r['s_per_step']:.3f} | {rate:.0f} | {100 * rate / limit:.0f}% | "
                         f"{ref['s_per_step'] / r['s_per_step']:.2f}× | {first} | {r['loss']:.6f} | "
                         f"{'yes' if r['weights'] == ref['weights'] else 'no'} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.training_steps",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    parser.add_argument("--options", nargs="*", default=list(OPTIONS), choices=list(OPTIONS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        job = json.loads(args.child)
        print(json.dumps(run_option(job["stage"], job["option"], Path(job["out"]), job["profile"])))
        return ""
    import tempfile

    from s2d_course.claims.setup import Setup, build_world, train_run

    info, start = describe(), time.perf_counter()
    limit = matmul_limit(torch.device("cpu"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        setup = Setup(runs=out)
        build_world(setup)
        train_run(setup, setup.static_config({}, 1.0, 0))  # the video runs start from it
        train_run(setup, setup.static_config({}, 1.0, 1))
        results, flops = {}, {}
        for stage in ("static", "video"):
            flops[stage] = gflops(stage, out)
            results[stage] = {}
            for option in ["reference"] + [o for o in args.options if o != "reference"]:
                print(f"[training steps] {stage}: {option} ...", file=sys.stderr, flush=True)
                results[stage][option] = measure(stage, option, out, profile=option == "reference")
    section = render(results, flops, limit, info, time.perf_counter() - start)
    write_section(args.out, section, SECTION)
    print(section)
    return section


if __name__ == "__main__":
    main()
