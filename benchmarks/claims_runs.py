"""``python -m benchmarks.claims_runs [--out benchmarks/RESULTS.md]``: what makes a claims run fast.

Times seed 0 of the static and of the video reference run of :mod:`s2d_course.claims` (claims world,
its budget; the world and its landmark cache are built first when missing) three ways:

- as ``make claims`` runs them: the landmark view cached once per item, items kept in memory;
- items decoded from disk in every epoch (no :class:`~s2d_lib.data.memory.InMemory`);
- no landmark cache: the landmark network runs in every step, on the augmented frames (the
  trainer's recipe without the cache, so the run learns from other inputs: a speed figure only);
- in float32 (``precision=fp32``): the run as ``make claims`` computed it before bfloat16
  autocast (on a CPU without native bfloat16 the two ways are the same run).

The section "Claims runs" of ``--out`` is replaced (or appended); the rest of the file is kept.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from s2d_course.claims.setup import Budget, Setup, build_world
from s2d_lib.splits import build_data
from s2d_lib.trainer import fit
from s2d_course.paths import REPO

from .inference import write_section
from .machine import describe

SECTION = "## Claims runs"
WAYS = ("as make claims runs it", "items decoded in every epoch", "no landmark cache",
        "in float32 (precision=fp32)")


def _seconds(cfg, data) -> float:
    start = time.perf_counter()
    fit(cfg, data)
    return time.perf_counter() - start


def measure(setup: Setup) -> list[tuple[str, str, int, float]]:
    """``(stage, way, optimiser steps, seconds)`` for the static and the video reference run."""
    b = setup.budget
    static = setup.static_config({}, 1.0, 0)
    cases = [("static", static, b.static_epochs * b.static_steps),
             ("video", setup.video_config({}, 0), b.video_epochs * b.video_steps)]
    rows = []
    fit(static, setup.data(static))  # the video runs start from this checkpoint
    for stage, cfg, steps in cases:
        for way in WAYS:
            print(f"[claims runs] {stage}: {way} ...", file=sys.stderr, flush=True)
            out = replace(cfg, out_dir=str(Path(cfg.out_dir).with_name(f"{stage}-{len(rows)}")))
            if way == WAYS[0]:
                data = setup.data(out)  # read into memory by the static run above / untimed here
                for dataset in (data.train_eval, data.test or ()):
                    for i in range(len(dataset)):
                        dataset[i]
                seconds = _seconds(out, data)
            elif way == WAYS[1]:
                seconds = _seconds(out, build_data(out))
            elif way == WAYS[2]:
                out = replace(out, landmark_cache=False)
                seconds = _seconds(out, build_data(out))
            else:  # the same run in float32: what make claims computed before precision=auto
                seconds = _seconds(replace(out, precision="fp32"), setup.data(out))
            rows.append((stage, way, steps, seconds))
    return rows


def render(rows, info: dict[str, str], runtime: float, b: Budget) -> str:
    """The section: method, one row per stage and way, speed-up of the first way over each."""
    first = {stage: seconds for stage, way, _, seconds in rows if way == WAYS[0]}
    lines = [SECTION, "",
             f"`python -m benchmarks.claims_runs` ran in {runtime:.0f} s on {info['CPU']} "
             f"({info['torch']}; load average at start {info['load average at start']}). Seed 0 "
             f"of the reference runs of `make claims` (claims world and budget: static "
             f"{b.static_epochs} epochs of {b.static_steps} steps at batch {b.static_batch}, video "
             f"{b.video_epochs} epochs of {b.video_steps} steps at batch {b.video_batch}), "
             "validation and test "
             "included, one run each. *No landmark cache* trains on augmented frames, so it is a "
             "speed figure, not the same run.", "",
             "| run | way | optimiser steps | s / run | s / step | make claims' way is |",
             "|---|---|---|---|---|---|"]
    for stage, way, steps, seconds in rows:
        gain = "—" if way == WAYS[0] else f"{seconds / first[stage]:.2f}× faster"
        lines.append(f"| {stage} | {way} | {steps} | {seconds:.1f} | {seconds / steps:.3f} | "
                     f"{gain} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    """Measure, write the section into ``--out`` and print it."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.claims_runs",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    args = parser.parse_args(argv)
    info, start = describe(), time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        setup = Setup(runs=Path(tmp))
        build_world(setup)
        rows = measure(setup)
    section = render(rows, info, time.perf_counter() - start, setup.budget)
    write_section(args.out, section, SECTION)
    print(section)
    return section


if __name__ == "__main__":
    main()
