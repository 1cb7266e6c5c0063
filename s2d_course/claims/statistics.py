"""The claims' statistics: a paired difference with its 95 % t-interval and minimum detectable
difference (:func:`paired_difference`), the slope of a gap across dose levels with its interval
(:func:`slope`), and the test that a control trained at all (:func:`trains`)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats

#: Power of the minimum detectable difference (two-sided test at 5 %).
POWER = 0.8


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


def trains(arm: dict, chance: float, bar: float | None = None) -> dict:
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
