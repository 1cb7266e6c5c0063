"""The claims measured: every arm of every claim trained at each dose level for every seed
(:func:`run_claims`, with the pixel baselines a no-landmark control must beat and the world's own
calibration), summarised per arm and per comparison (:func:`summarise`, with the statistics of
:mod:`.statistics`) into ``results/claims.json``, and read back (:func:`load_claims`).

Every arm trains for the same seeds, paired by seed, each run selected on its validation split
and tested once. A control counts only if it trains: above the class prior (chance UAR), and the
no-landmark control above a pixel logistic regression trained on the same labelled images
(:func:`pixel_baselines`).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from s2d_lib.data.labels import label_map
from s2d_lib.evaluate import frame_average_baseline

from .. import float_path, paths
from .setup import CLAIMS, FRAME_AVERAGE, Budget, Setup, train_run
from .statistics import paired_difference, slope, trains

log = logging.getLogger(__name__)

RESULTS = paths.RESULTS / "claims.json"
FIGURE = paths.FIGURES / "claims.png"


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
    from ..synthetic.calibration import calibrate_world, landmark_error

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

    from ..synthetic.calibration import grey_images, pixel_scores

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
                summary["trains"] = trains(summary, chance, bar)
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
