"""The paper's ablation claims, measured in miniature as dose-response curves:
``python -m s2d_course.claims`` (``make claims``); the plan is ``results/claims_plan.md``.

A claim compares an S2D arm with a control that differs in exactly one thing (same data,
epochs, recipe and budget), at each level of a dose where the paper's mechanism predicts the
part helps more (:data:`~s2d_course.claims_setup.CLAIMS`):

* ``landmark_view``: MCP with the landmark view vs the same MAE-initialised model without the
  landmark branch, static stage, across the labelled share of RAF-DB (10 / 30 / 100 %);
* ``temporal_attention``: the TMAs' attention over frames vs each frame attending to itself
  alone, and vs the static model's frame average, across the share of frames that show the
  expression (100 / 50 / 25 %); an arm beyond the paper starts the attention wider;
* ``easdl``: cross-entropy with vs without the EASDL term, across label ambiguity (0 / 25 / 50 %
  blended clips, a fifth of that share mislabelled);
* ``static_pretraining``: the video stage from the static checkpoint vs from the MAE backbone,
  across the share of labelled clips (25 / 50 / 100 %).

Every arm trains for the same seeds, paired by seed, each run selected on its validation split
and tested once. Per level: the mean paired difference, its 95 % t-interval and the minimum
detectable difference at 80 % power (:func:`paired_difference`); per comparison the slope
across the levels (:func:`slope`). A control counts only if it trains: above the class prior
(chance UAR), and the no-landmark control above a pixel logistic regression trained on the same
labelled images (:func:`pixel_baselines`). Results go to ``results/claims.json`` and
``figures/claims.png``. ``--check`` re-trains the two reference runs and compares how they
train with the calibration seeds (:mod:`s2d_course.claims_check`); ``--calibrate`` writes those.
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

from s2d_lib.data.labels import label_map
from s2d_lib.evaluate import frame_average_baseline
from s2d_lib.logs import show_logs

from . import claims_check, float_path, paths
from .claims_report import (claims_table, describe_attention, describe_claim,  # noqa: F401
                            write_readme_table)
from .claims_setup import (CLAIMS, FRAME_AVERAGE, LANDMARKS, RUNS, WORLD, WORLDS,  # noqa: F401
                           Budget, Claim, Setup, build_world, train_run)

__all__ = ["CLAIMS", "Budget", "Claim", "Setup", "run_claims", "summarise", "paired_difference",
           "slope", "pixel_baselines", "claims_table", "describe_claim", "describe_attention",
           "load_claims", "main"]

log = logging.getLogger(__name__)

RESULTS = paths.RESULTS / "claims.json"
FIGURE = paths.FIGURES / "claims.png"
#: Power of the minimum detectable difference (two-sided test at 5 %).
POWER = 0.8


def _frame_average(setup: Setup, seed: int, level: float) -> dict:
    """The static model of ``seed`` scoring each frame alone, softmax averaged over the clip, on
    the test clips of the apex ``level``'s world."""
    from s2d_lib.checkpoints import load_any_checkpoint

    cfg = setup.config(CLAIMS["temporal_attention"], "TMA attention over frames", level, seed)
    data = setup.data(cfg)
    static = load_any_checkpoint(setup.static_checkpoint(seed))
    result = frame_average_baseline(static, data.test, cfg.classes,
                                    label_map("DFEW", "RAF-DB"), batch_size=16)
    return {"uar": result["uar"], "war": result["war"], "n": int(sum(result["support"]))}


def describe_world(setup: Setup) -> dict:
    """The world's calibration (baselines without any S2D part, :func:`calibrate_world`) and the
    landmark network's error on its test clips with and without each nuisance."""
    from .synthetic.calibration import calibrate_world, landmark_error

    base = setup.world / "base"
    return {"calibration": calibrate_world(base, side=32),
            "landmark_error": landmark_error(base / "DFEW", setup.landmarks)}


def run_claims(setup: Setup, claims: Sequence[str] = tuple(CLAIMS)) -> dict:
    """Train every arm of ``claims`` at each of its levels for every seed (finished runs are read
    back) and return the raw per-seed results ``{claim: {arm: {level: [per seed]}}}`` with the
    pixel baselines of the landmark claim."""
    raw: dict = {}
    seeds = range(setup.budget.seeds)
    for seed in seeds:  # the static checkpoints first: every video run of the seed starts there
        train_run(setup, setup.static_config({}, seed))
    for name in claims:
        claim = CLAIMS[name]
        raw[name] = {}
        for seed in seeds:
            for arm in claim.arms:
                for level in claim.levels_of(arm):
                    log.info("claim %s, arm %r, %s %g, seed %d", name, arm, claim.dose, level, seed)
                    run = (_frame_average(setup, seed, level) if arm == FRAME_AVERAGE
                           else train_run(setup, setup.config(claim, arm, level, seed)))
                    raw[name].setdefault(arm, {}).setdefault(f"{level:g}", []).append(
                        {"seed": seed, **run})
    out = {"raw": raw}
    if "landmark_view" in claims:
        out["pixel_baselines"] = pixel_baselines(setup, CLAIMS["landmark_view"].levels, seeds)
    return out


def pixel_baselines(setup: Setup, levels: Sequence[float], seeds: Sequence[int],
                    side: int = 32) -> dict:
    """Logistic regression on grey ``side`` x ``side`` pixels, trained on exactly the labelled
    RAF-DB images of each static run (level, seed) and scored on the test split:
    ``{level: [{"seed", "uar", "war"}]}``. The bar a no-landmark control must clear."""
    from s2d_lib.data.static import RAFDB
    from s2d_lib.splits import train_val_indices

    from .synthetic.calibration import grey_images, pixel_scores

    root = setup.dataset("RAF-DB")
    train, test = RAFDB(root, "train", image_size=64), RAFDB(root, "test", image_size=64)
    x = {"train": grey_images(train, side), "test": grey_images(test, side)}
    y = {"train": np.array(train.labels), "test": np.array(test.labels)}
    out = {}
    for level in levels:
        rows = []
        for seed in seeds:
            cfg = setup.static_config(setup.dose("labels", level), seed)
            idx, _ = train_val_indices(y["train"].tolist(), cfg.val_fraction, cfg.train_fraction,
                                       seed)
            idx = sorted(set(idx))
            rows.append({"seed": seed, **pixel_scores(x["train"][idx], y["train"][idx],
                                                      x["test"], y["test"])})
        out[f"{level:g}"] = rows
    return out


def paired_difference(reference: Sequence[float], other: Sequence[float]) -> dict:
    """``other - reference`` paired by seed: mean, std, the 95 % t-interval of the mean and the
    minimum detectable difference (two-sided 5 % test, :data:`POWER`) at this many seeds and
    this spread: ``(t_0.975 + t_power) * std / sqrt(n)``."""
    d = np.asarray(other, float) - np.asarray(reference, float)
    n = len(d)
    std = float(d.std(ddof=1)) if n > 1 else float("nan")
    half = float(stats.t.ppf(0.975, n - 1) * std / np.sqrt(n)) if n > 1 else float("nan")
    mde = float((stats.t.ppf(0.975, n - 1) + stats.t.ppf(POWER, n - 1)) * std / np.sqrt(n)) \
        if n > 1 else float("nan")
    mean = float(d.mean())
    return {"mean": mean, "std": std, "ci95": [mean - half, mean + half], "mde": mde, "n": n}


def slope(gaps: dict[str, dict[int, float]]) -> dict:
    """The slope of a gap across the dose levels, in the order given (points per level step):
    each seed's least-squares slope over the level index, their mean and 95 % t-interval."""
    levels = list(gaps)
    seeds = sorted(set.intersection(*(set(g) for g in gaps.values())))
    index = np.arange(len(levels), dtype=float)
    per_seed = [float(np.polyfit(index, [gaps[lv][s] for lv in levels], 1)[0]) for s in seeds]
    n = len(per_seed)
    mean = float(np.mean(per_seed))
    half = float(stats.t.ppf(0.975, n - 1) * np.std(per_seed, ddof=1) / np.sqrt(n)) if n > 1 \
        else float("nan")
    return {"levels": levels, "mean": mean, "ci95": [mean - half, mean + half], "n": n,
            "per_seed": per_seed}


def _arm_summary(runs: list[dict]) -> dict:
    out = {"seeds": [r["seed"] for r in runs], "test_size": runs[0]["n"]}
    for metric in ("uar", "war"):
        values = np.array([r[metric] for r in runs])
        out[metric] = {"mean": float(values.mean()), "std": float(values.std(ddof=1))
                       if len(values) > 1 else 0.0, "per_seed": values.tolist()}
    moved = [r.get("moved") for r in runs if r.get("moved")]
    if moved:
        validation = [m["validation"] for m in moved]
        out["best_is_last"] = sum(bool(v["best_is_last"]) for v in validation)
        out["best_epoch"] = [v["best_epoch"] for v in validation]
        out["fovea_sharpness"] = float(np.mean([m["fovea_sharpness"][1] for m in moved]))
        if "tma_change" in moved[0]:
            out["tma_change"] = float(np.mean([m["tma_change"] for m in moved]))
        if "tma_attention" in moved[0]:
            for key in ("row", "logit_std", "output_ratio"):
                out[f"tma_{key}"] = [float(np.mean([m["tma_attention"][when][layer][key]
                                                    for m in moved for layer in
                                                    range(len(m["tma_attention"][when]))]))
                                     for when in ("before", "after")]
    return out


def _trains(arm: dict, chance: float, bar: float | None = None) -> dict:
    """Whether an arm trained: its mean UAR above the class prior's (``chance``) by more than
    its 95 % interval, and above ``bar`` (the pixel baseline's mean UAR) when given."""
    u = arm["uar"]
    n = len(u["per_seed"])
    half = float(stats.t.ppf(0.975, n - 1) * u["std"] / np.sqrt(n)) if n > 1 else 0.0
    out = {"above_prior": u["mean"] - half > chance, "prior_uar": chance}
    if bar is not None:
        out.update(above_pixel_baseline=u["mean"] > bar, pixel_baseline_uar=bar)
    out["valid"] = out["above_prior"] and out.get("above_pixel_baseline", True)
    return out


def summarise(raw: dict, budget: Budget, world: dict) -> dict:
    """Per arm and level: mean ± std and what moved; whether each control trained; per
    comparison and level the paired difference (UAR and WAR), and its slope across levels."""
    claims = {}
    pixels = {level: float(np.mean([r["uar"] for r in rows]))
              for level, rows in raw.get("pixel_baselines", {}).items()}
    for name, arms in raw["raw"].items():
        claim = CLAIMS[name]
        chance = 1 / 7  # UAR of any constant prediction over the seven basic classes
        entry = {"question": claim.question, "stage": claim.stage, "dose": claim.dose,
                 "levels": [f"{lv:g}" for lv in claim.levels], "prediction": claim.prediction,
                 "slope_sign": claim.slope_sign,
                 "labels": claim.labels, "arms": {}, "comparisons": {}}
        for arm, levels in arms.items():
            entry["arms"][arm] = {lv: _arm_summary(runs) for lv, runs in levels.items()}
        for arm_a, control in claim.comparisons:
            for lv, summary in entry["arms"][control].items():
                bar = pixels.get(lv) if name == "landmark_view" else None
                summary["trains"] = _trains(summary, chance, bar)
            levels = [lv for lv in entry["levels"] if lv in arms[arm_a] and lv in arms[control]]
            comparison = {"levels": {}, "gaps": {}}
            for lv in levels:
                ref = {r["seed"]: r for r in arms[control][lv]}
                pairs = [(ref[r["seed"]], r) for r in arms[arm_a][lv] if r["seed"] in ref]
                comparison["levels"][lv] = {
                    metric: paired_difference([a[metric] for a, _ in pairs],
                                              [b[metric] for _, b in pairs])
                    for metric in ("uar", "war")}
                comparison["levels"][lv]["control_trains"] = entry["arms"][control][lv]["trains"]["valid"]
                comparison["gaps"][lv] = {b["seed"]: b["uar"] - a["uar"] for a, b in pairs}
            if len(levels) > 1:
                comparison["slope"] = slope(comparison.pop("gaps"))
            else:
                comparison.pop("gaps")
            entry["comparisons"][f"{arm_a} - {control}"] = comparison
        claims[name] = entry
    return {"claims": claims, "pixel_baselines": raw.get("pixel_baselines"), "raw": raw["raw"],
            "budget": budget.__dict__, "world": world, "machine": float_path.describe()}


def load_claims(path: str | Path = RESULTS) -> dict:
    """The measured claims (``results/claims.json``); a missing file is an error: measuring them
    is ``make claims`` (about 80 minutes on two CPU cores), never a side effect of reading."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no measured claims; run `make claims` (python -m "
                                "s2d_course.claims, about 80 minutes on two CPU cores) first")
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
    world.update(describe_world(setup))
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
