"""The paper's ablation claims, measured in miniature: ``python -m s2d_course.claims`` (``make claims``).

A claim compares arms that differ in exactly one thing (same data, epochs, recipe and budget),
trained for several seeds per arm, paired by seed, each selected on its validation split and
tested once:

* ``landmark_view``: MCP with the landmark view vs the same model with the landmark branch
  removed, static stage, at several shares of the labelled training set (a learning curve);
* ``temporal_attention``: DFER fine-tuning with the TMAs' attention over frames vs the same TMAs
  with each frame attending to itself alone; the static model's frame average is a reference;
* ``easdl``: cross-entropy with vs without the EASDL soft-label term;
* ``static_pretraining``: the video stage started from the static checkpoint vs from the
  model's own initialisation.

Video seed ``s`` starts from the static checkpoint of seed ``s`` (landmark view, all labels).
Results go to ``results/claims.json`` (per seed: UAR, WAR, test size; per arm: mean ± std; per
claim: the paired difference with a 95 % t-interval) and ``figures/claims.png``.
``--check`` re-trains the two reference runs and compares how they train with the calibration
seeds (:mod:`s2d_course.claims_check`); ``--calibrate`` writes those.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import stats

from s2d_lib.config import TrainConfig
from s2d_lib.data.labels import label_map
from s2d_lib.evaluate import frame_average_baseline
from s2d_lib.logs import show_logs

from . import claims_check, float_path, paths
from .claims_report import (claims_table, describe_attention, describe_claim,  # noqa: F401
                            write_readme_table)
from .claims_setup import (CLAIMS, LANDMARKS, RUNS, WORLD, Budget, Claim, Setup,  # noqa: F401
                           build_world, train_run)

__all__ = ["CLAIMS", "Budget", "Claim", "Setup", "run_claims", "summarise", "paired_difference",
           "claims_table", "describe_claim", "describe_attention", "load_claims", "main"]

log = logging.getLogger(__name__)

RESULTS = paths.RESULTS / "claims.json"
FIGURE = paths.FIGURES / "claims.png"
def _frame_average(setup: Setup, seed: int) -> dict:
    """The static model of ``seed`` scoring each frame alone, softmax averaged over the clip."""
    from s2d_lib.checkpoints import load_any_checkpoint

    cfg = setup.video_config({}, seed)
    data = setup.data(cfg)
    static = load_any_checkpoint(setup.static_checkpoint(seed))
    result = frame_average_baseline(static, data.test, cfg.classes,
                                    label_map("DFEW", "RAF-DB"), batch_size=16)
    return {"uar": result["uar"], "war": result["war"], "n": int(sum(result["support"]))}


def _runs_of(claim: Claim, setup: Setup, seed: int) -> list[tuple[str, float, TrainConfig]]:
    """``(arm, fraction, config)`` of every run of ``claim`` for ``seed``."""
    out = []
    for arm, overrides in claim.arms.items():
        for fraction in claim.fractions:
            cfg = (setup.static_config(overrides, fraction, seed) if claim.stage == "static"
                   else setup.video_config(overrides, seed))
            out.append((arm, fraction, cfg))
    return out


def run_claims(setup: Setup, claims: Sequence[str] = tuple(CLAIMS)) -> dict:
    """Train every arm of ``claims`` for every seed (finished runs are read back) and return the
    raw per-seed results ``{claim: {arm: {fraction: [per seed]}}}``."""
    from .tma_attention import tma_attention_stats

    raw: dict = {}
    seeds = range(setup.budget.seeds)
    for seed in seeds:  # the static checkpoints first: every video run of the seed starts there
        train_run(setup, setup.static_config({}, 1.0, seed))
    for name in claims:
        claim = CLAIMS[name]
        raw[name] = {}
        for seed in seeds:
            for arm, fraction, cfg in _runs_of(claim, setup, seed):
                log.info("claim %s, arm %r, share %g, seed %d", name, arm, fraction, seed)
                raw[name].setdefault(arm, {}).setdefault(f"{fraction:g}", []).append(
                    {"seed": seed, **train_run(setup, cfg)})
        if name == "temporal_attention":
            raw[name]["frame average of the static model"] = {
                "1": [{"seed": s, **_frame_average(setup, s)} for s in seeds]}
    attention = {}
    for seed in seeds:
        cfg = setup.video_config({}, seed)
        attention[seed] = tma_attention_stats(cfg, setup.data(cfg).test)
    return {"raw": raw, "tma_attention": attention}


def paired_difference(reference: Sequence[float], other: Sequence[float]) -> dict:
    """``other - reference`` paired by seed: mean, std and the 95 % t-interval of the mean."""
    d = np.asarray(other, float) - np.asarray(reference, float)
    n = len(d)
    std = float(d.std(ddof=1)) if n > 1 else float("nan")
    half = float(stats.t.ppf(0.975, n - 1) * std / np.sqrt(n)) if n > 1 else float("nan")
    mean = float(d.mean())
    return {"mean": mean, "std": std, "ci95": [mean - half, mean + half], "n": n}


def _arm_summary(runs: list[dict]) -> dict:
    out = {"seeds": [r["seed"] for r in runs], "test_size": runs[0]["n"]}
    for metric in ("uar", "war"):
        values = np.array([r[metric] for r in runs])
        out[metric] = {"mean": float(values.mean()), "std": float(values.std(ddof=1))
                       if len(values) > 1 else 0.0, "per_seed": values.tolist()}
    return out


def summarise(raw: dict, budget: Budget, world: dict) -> dict:
    """Per arm (and label share) mean ± std; per claim the paired difference of each other arm
    from the first, by UAR and WAR."""
    claims = {}
    for name, arms in raw["raw"].items():
        claim = CLAIMS[name]
        reference = next(iter(claim.arms))
        entry = {"question": claim.question, "stage": claim.stage, "reference": reference,
                 "arms": {}, "differences": {}}
        for arm, shares in arms.items():
            entry["arms"][arm] = {share: _arm_summary(runs) for share, runs in shares.items()}
            if arm == reference:
                continue
            for share, runs in shares.items():
                ref = {r["seed"]: r for r in arms[reference][share]}
                pairs = [(ref[r["seed"]], r) for r in runs if r["seed"] in ref]
                entry["differences"][f"{arm} @ {share}"] = {
                    metric: paired_difference([a[metric] for a, _ in pairs],
                                              [b[metric] for _, b in pairs])
                    for metric in ("uar", "war")}
        claims[name] = entry
    return {"claims": claims, "tma_attention": raw["tma_attention"], "raw": raw["raw"],
            "budget": budget.__dict__, "world": world, "machine": float_path.describe()}


def load_claims(path: str | Path = RESULTS) -> dict:
    """The measured claims (``results/claims.json``); a missing file is an error: measuring them
    is ``make claims`` (about 45 minutes on two CPU cores), never a side effect of reading."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no measured claims; run `make claims` (python -m "
                                "s2d_course.claims, about 45 minutes on two CPU cores) first")
    return json.loads(path.read_text())


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
                        "--seeds seeds and write results/claims_check.json")
    args = parser.parse_args(argv)
    show_logs(stream=sys.stderr)
    if args.readme:
        write_readme_table(json.loads(args.out.read_text()), args.readme)
        return {}
    setup = Setup(world=args.world, runs=args.runs, budget=Budget(seeds=args.seeds))
    start = time.perf_counter()
    world = build_world(setup)
    if args.calibrate:
        return claims_check.calibrate(setup, args.seeds)
    if args.check:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            problems = claims_check.check(json.loads(claims_check.CALIBRATION.read_text()),
                                          claims_check.with_runs(setup, Path(tmp)))
        print(f"claims check: {len(problems)} problem(s) in {time.perf_counter() - start:.0f} s")
        if problems:
            sys.exit(1)
        return problems
    raw = run_claims(setup, args.only)
    result = summarise(raw, setup.budget, world)
    result["seconds"] = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    from .claims_plot import plot_claims
    plot_claims(result, save=args.figure)
    print(claims_table(result))
    return result


if __name__ == "__main__":
    main()
