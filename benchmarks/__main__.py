"""``python -m benchmarks [--quick] [--out benchmarks/RESULTS.md] [--data-root data/synthetic]``.

Measures, in one run on this machine, the matmul limit, every model configuration and the video
loader, then writes the markdown table to ``--out`` and prints it; progress goes to stderr.
The full run keeps to a time budget (10 minutes on the 2-core CI machine): the torch.compile
configurations come last and get what is left, each compile bounded by ``COMPILE_LIMIT_S``.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from s2d_course.paths import REPO

from .loading import LoaderCase, ensure_dfew, loader_clips_per_s
from .machine import describe, matmul_limit, use_all_cores
from .report import LoaderResult, Results, StepResult, render
from .steps import Case, count_gflops, measure, measure_here

#: Seconds a torch.compile may take before its configuration is reported as skipped.
COMPILE_LIMIT_S = 120.0
#: Seconds the full run may take; a minute of the 10 is left for start-up, FLOP counts and the report.
BUDGET_S = 540.0


_START = time.perf_counter()


def _log(message: str) -> None:
    print(f"[bench {time.perf_counter() - _START:4.0f} s] {message}", file=sys.stderr, flush=True)


def _step_cases(model: str, repeats: int, options_repeats: int) -> list[Case]:
    """Reference forward and training step, then each option (compile excluded).

    At base size a training step takes about 40 s on two CPU cores, so the attention and
    landmark options are timed on the forward only there (the tiny rows show both steps), and
    gradient checkpointing -- a training-only option -- on the training step.
    """
    fwd, train = Case(model, "forward", repeats=repeats), Case(model, "train", repeats=repeats)
    options = [(fwd, {"attention": "math"}), (train, {"attention": "math"}),
               (fwd, {"landmarks": "cached"}), (train, {"landmarks": "cached"}),
               (train, {"checkpointing": True})]
    if model == "base":
        options = [(c, o) for c, o in options if c is fwd or "checkpointing" in o]
    return [fwd, train] + [replace(c, repeats=options_repeats, **option) for c, option in options]


def _cuda_cases(model: str, repeats: int) -> list[Case]:
    """On a GPU: fp32 at batch 1, and bf16 autocast at batch 8 (the paper's per-GPU batch)."""
    return [Case(model, step, device="cuda", repeats=repeats, warmup=2, **kw)
            for kw in ({}, {"bf16": True, "batch": 8}) for step in ("forward", "train")]


class Runner:
    """Measures cases in order, within the run's time budget."""

    def __init__(self, results: Results, quick: bool, budget_s: float) -> None:
        self.results, self.quick = results, quick
        self.deadline = time.perf_counter() + budget_s

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def step(self, case: Case, skip: str = "") -> StepResult:
        """Measure ``case`` (in a fresh process unless quick) and add it to the results."""
        limit = self.results.limits["cuda bf16" if case.bf16 else case.device]
        label = f"{case.model} {case.device} {case.step}, {case.option}"
        if not skip and self.left() < 20:
            skip = "skipped: the run's time budget is spent"
        if skip:
            result = {"skipped": skip}
        else:
            _log(f"{label} ...")
            timeout = self._timeout(case)
            result = measure_here(case) if self.quick else measure(case, timeout)
            if result.get("timed_out") and "compile_s" not in result:
                result = {"skipped": f"skipped: compiling took over {COMPILE_LIMIT_S:.0f} s"
                          if case.compile and timeout >= COMPILE_LIMIT_S
                          else "skipped: the run's time budget ran out during this step"}
        _log(f"{label}: " + (f"{result['median_s']:.3f} s" if "median_s" in result
                             else result.get("skipped") or result["error"]))
        r = StepResult(case, result, count_gflops(case) if "median_s" in result else math.nan, limit)
        self.results.steps.append(r)
        return r

    def _timeout(self, case: Case) -> float:
        if not case.compile:
            return self.left()
        # Compile, then warm-up and repeats at a pessimistic 3x the uncompiled step, plus start-up.
        ref = self.results.find(case.model, case.step, case.device, case.batch)
        step_s = ref.seconds if ref is not None and ref.ok else 10.0
        return min(self.left(), COMPILE_LIMIT_S + 3 * step_s * (case.warmup + case.repeats) + 20)


def run(quick: bool, data_root: Path, budget_s: float = BUDGET_S) -> Results:
    """Measure everything; ``quick``: one repeat, tiny model only, a small loader sample."""
    start = time.perf_counter()
    threads = use_all_cores()
    _log(f"{threads} threads; measuring the matmul limit")
    # --quick only checks that everything runs: a smaller product is limit enough.
    limits = {"cpu": matmul_limit(torch.device("cpu"), size=2048 if quick else 4096,
                                  repeats=1 if quick else 5)}
    cuda = torch.cuda.is_available()
    if cuda:
        limits["cuda"] = matmul_limit(torch.device("cuda"), repeats=10)
        limits["cuda bf16"] = matmul_limit(torch.device("cuda"), torch.bfloat16, repeats=10)
    results = Results(describe(), limits, quick=quick)
    runner = Runner(results, quick, budget_s - (time.perf_counter() - start))
    models = {"tiny": (1, 1)} if quick else {"tiny": (5, 3), "base": (3, 1)}
    results.repeats = {m: f"{n}" if quick else f"{n} (options: {o})" for m, (n, o) in models.items()}

    for case in _step_cases("tiny", *models["tiny"]):
        runner.step(case)
    _loaders(results, data_root, clips=2 if quick else 12)
    if "base" in models:
        for case in _step_cases("base", *models["base"]):
            runner.step(case)
    if cuda:
        for case in _cuda_cases("tiny" if quick else "base", 2 if quick else 5):
            runner.step(case)
    # torch.compile last: each compile takes minutes on a small CPU, so it gets what is left.
    for step in ("forward", "train"):
        case = Case("tiny", step, compile=True, repeats=models["tiny"][1])
        runner.step(case, skip="skipped: --quick does not compile" if quick else "")
    if "base" in models:
        fwd = runner.step(Case("base", "forward", compile=True, repeats=models["base"][1]))
        runner.step(Case("base", "train", compile=True, repeats=models["base"][1]),
                    skip="" if fwd.ok else "skipped: not tried, as the base forward compile was "
                    + (fwd.result.get("skipped") or "failed: " + fwd.result.get("error", "")))
    results.runtime_s = time.perf_counter() - start
    return results


def _loaders(results: Results, data_root: Path, clips: int) -> None:
    """Loader clips/s for frame folders and mp4, tiny and paper frame size, 0 and 2 workers."""
    dfew = ensure_dfew(data_root)
    for source in ("frames", "mp4"):
        for size in (64, 224):
            for workers in (0, 2):
                case = LoaderCase(source, size, workers)
                try:
                    cps, error = loader_clips_per_s(dfew, case, clips), ""
                except Exception as e:  # reported in the table; the other figures still count
                    cps, error = None, f"{type(e).__name__}: {e}".splitlines()[0][:160]
                _log(f"loader {source} {size}px {workers} workers: "
                     + (f"{cps:.1f} clips/s" if cps is not None else error))
                results.loaders.append(LoaderResult(case, cps, error))


def main(argv: list[str] | None = None) -> str:
    """Run the benchmarks, write the markdown table and print it; returns the markdown."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="one repeat, tiny model only, small loader sample (smoke test)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    parser.add_argument("--data-root", type=Path, default=REPO / "data" / "synthetic",
                        help="synthetic suite root; its DFEW is generated when missing")
    args = parser.parse_args(argv)
    markdown = render(run(args.quick, args.data_root))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    kept = ""  # python -m benchmarks.inference writes its own section; keep it
    if args.out.is_file() and "\n## Video inference" in args.out.read_text():
        kept = "\n## Video inference" + args.out.read_text().split("\n## Video inference", 1)[1]
    args.out.write_text(markdown.rstrip("\n") + "\n" + kept)
    print(markdown)
    _log(f"wrote {args.out}")
    return markdown


if __name__ == "__main__":
    main()
