"""The claims figure: each claim as a dose-response curve (``results/claims.json``).

Top row, per claim: each arm's test UAR at each dose level (every seed a dot, the mean ± std a
line), with the class prior (chance UAR) and, for the landmark claim, the pixel logistic
regression a control must beat. Bottom row: the paired gap of each comparison (S2D arm minus
control) with its 95 % interval, and the minimum detectable difference as a band around 0: a
gap inside the band is not detectable at this power.

``plot_claims(json.load(open("results/claims.json")), save="figures/claims.png")``.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from s2d_lib.viz.frames import save_figure

__all__ = ["plot_claims", "DOSE_AXES"]

_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#8172b3", "#8c8c8c")
#: The x axis of each dose: its label and how a level reads.
DOSE_AXES = {"labels": ("labelled training share", lambda v: f"{100 * v:g} %"),
             "apex": ("frames showing the expression", lambda v: f"{100 * v:g} %"),
             "ambiguity": ("blended clips (1/5 of them mislabelled)", lambda v: f"{100 * v:g} %")}


def _x(entry: dict) -> dict[str, int]:
    return {lv: i for i, lv in enumerate(entry["levels"])}


def _arms_panel(ax, entry: dict, pixels: dict | None) -> None:
    x = _x(entry)
    for k, (colour, (arm, levels)) in enumerate(zip(_COLOURS, entry["arms"].items())):
        xs = np.array([x[lv] for lv in levels]) + (k - 1.5) * 0.06
        mean = [100 * a["uar"]["mean"] for a in levels.values()]
        std = [100 * a["uar"]["std"] for a in levels.values()]
        for xi, a in zip(xs, levels.values()):
            ax.scatter([xi] * len(a["uar"]["per_seed"]), 100 * np.array(a["uar"]["per_seed"]),
                       s=8, color=colour, alpha=0.45, linewidths=0)
        tag = entry["labels"].get(arm)
        ax.errorbar(xs, mean, yerr=std, color=colour, marker="o", ms=4, capsize=3, lw=1.2,
                    label=f"{arm} ({tag})" if tag else arm)
    ax.axhline(100 / 7, color="k", lw=0.8, ls=":", label="class prior (chance UAR)")
    if pixels:
        levels = [lv for lv in entry["levels"] if lv in pixels]
        ax.plot([x[lv] for lv in levels], [100 * np.mean([r["uar"] for r in pixels[lv]])
                                           for lv in levels],
                color="k", lw=1, ls="--", label="pixel logistic regression")
    ax.set_ylabel("test UAR (%)")
    ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(0, -0.16), frameon=False)


def _gaps_panel(ax, entry: dict) -> None:
    x = _x(entry)
    for k, (colour, (name, comp)) in enumerate(zip(_COLOURS, entry["comparisons"].items())):
        levels = list(comp["levels"])
        xs = np.array([x[lv] for lv in levels]) + (k - 1) * 0.08
        d = [comp["levels"][lv]["uar"] for lv in levels]
        mean = np.array([100 * v["mean"] for v in d])
        low = mean - [100 * v["ci95"][0] for v in d]
        high = [100 * v["ci95"][1] for v in d] - mean
        valid = [comp["levels"][lv]["control_trains"] for lv in levels]
        ax.errorbar(xs, mean, yerr=[low, high], color=colour, marker="o", ms=4, capsize=3,
                    lw=1.2, label=name)
        for xi, m, ok in zip(xs, mean, valid):
            if not ok:  # a control that did not train: the gap is not a comparison
                ax.scatter([xi], [m], s=80, facecolors="none", edgecolors="red", lw=1.2)
        mde = np.array([100 * v["mde"] for v in d])
        ax.fill_between(xs, -mde, mde, color=colour, alpha=0.08, lw=0)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel("paired gap in UAR (points)")
    ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(0, -0.16), frameon=False)


def plot_claims(result: dict, only: Sequence[str] | None = None,
                save: str | Path | None = None) -> Figure:
    """The dose-response figure of ``result`` (``results/claims.json``; ``only`` these claims)."""
    claims = {k: v for k, v in result["claims"].items() if only is None or k in only}
    fig, axes = plt.subplots(2, len(claims), figsize=(3.6 * len(claims), 8.2), squeeze=False)
    for col, (name, entry) in enumerate(claims.items()):
        top, bottom = axes[0, col], axes[1, col]
        pixels = result.get("pixel_baselines") if name == "landmark_view" else None
        _arms_panel(top, entry, pixels)
        _gaps_panel(bottom, entry)
        label, fmt = DOSE_AXES[entry["dose"]]
        for ax in (top, bottom):
            ax.set_xticks(range(len(entry["levels"])), [fmt(float(v)) for v in entry["levels"]])
            ax.set_xlabel(label, fontsize=8)
            ax.grid(axis="y", alpha=0.3)
            ax.tick_params(labelsize=7)
        first = next(iter(next(iter(entry["arms"].values())).values()))
        top.set_title(f"{name.replace('_', ' ')}\n{len(first['seeds'])} seeds, "
                      f"{first['test_size']} test items", fontsize=9)
    fig.suptitle("Claims as dose-response curves. Top: test UAR per arm (dots = seeds, "
                 "bars = std). Bottom: paired gap [95 % CI]; shaded = minimum detectable "
                 "difference; red ring = the control did not train", fontsize=8.5)
    fig.tight_layout()
    return save_figure(fig, save)
