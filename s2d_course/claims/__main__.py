"""The paper's ablation claims, measured in miniature as dose-response curves:
``python -m s2d_course.claims`` (``make claims``); the plan is ``results/claims_plan.md``.

Writes ``results/claims.json`` (:mod:`.measure`) and ``figures/claims.png`` (:mod:`.plot`) and
prints the claims table (:mod:`.report`). ``--check`` re-trains the two reference runs and compares
how they train with the calibration seeds (:mod:`.check`); ``--calibrate`` writes those;
``--readme`` writes the README's claims blocks from the results.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence

from s2d_lib.logs import show_logs

from . import check
from .measure import FIGURE, RESULTS, describe_world, run_claims, summarise
from .report import claims_table, write_readme_table
from .setup import CLAIMS, RUNS, WORLD, WORLDS, Budget, Setup, build_world


def main(argv: Sequence[str] | None = None) -> dict | list:
    """``python -m s2d_course.claims [--seeds N] [--only CLAIM ...] [--check]``."""
    parser = argparse.ArgumentParser(prog="python -m s2d_course.claims",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=Budget.seeds)
    parser.add_argument("--only", nargs="+", choices=tuple(CLAIMS), default=tuple(CLAIMS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--figure", type=Path, default=FIGURE)
    parser.add_argument("--world", type=Path, default=WORLD)
    parser.add_argument("--runs", type=Path, default=RUNS)
    parser.add_argument("--readme", type=Path, help="write the claims table into this README "
                        "(between its <!-- claims-table --> markers) from --out, and stop")
    parser.add_argument("--check", action="store_true", help="re-train the two reference runs; "
                        "compare how they train with the calibration seeds (results/claims_check.json)")
    parser.add_argument("--calibrate", action="store_true", help="train the reference runs for "
                        "--seeds seeds on this machine's float path and another CPU type's and "
                        "write results/claims_check.json")
    args = parser.parse_args(argv)
    show_logs(stream=sys.stderr)
    if args.readme:
        write_readme_table(json.loads(args.out.read_text()), args.readme)
        return {}
    setup = Setup(world=args.world, runs=args.runs, budget=Budget(seeds=args.seeds))
    start = time.perf_counter()
    world = build_world(setup, folders=("base",) if args.check or args.calibrate else tuple(WORLDS))
    if args.calibrate:
        return check.calibrate(check.for_check(setup), args.seeds)
    if args.check:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            problems = check.check(json.loads(check.CALIBRATION.read_text()),
                                   check.with_runs(check.for_check(setup), Path(tmp)))
        print(f"claims check: {len(problems)} problem(s) in {time.perf_counter() - start:.0f} s")
        if problems:
            sys.exit(1)
        return problems
    world.update(describe_world(setup))
    raw = run_claims(setup, args.only)
    result = summarise(raw, setup.budget, world)
    result["seconds"] = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    from .plot import plot_claims
    plot_claims(result, save=args.figure)
    print(claims_table(result))
    return result


if __name__ == "__main__":
    main()
