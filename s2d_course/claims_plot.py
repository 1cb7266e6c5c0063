"""The claims figure: one panel per claim, every seed as a point, the arm's mean as a bar with
its standard deviation, and the paired difference from the reference arm with its 95 % interval
written under each arm (UAR, the metric the runs are selected by).

``plot_claims(json.load(open("results/claims.json")), save="figures/claims.png")``; the landmark
claim is drawn as a learning curve over the share of labelled training images.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from s2d_lib.viz.frames import save_figure

__all__ = ["plot_claims"]

_COLOURS = ("#4c72b0", "#dd8452", "#8c8c8c")


def _learning_curve(ax, entry: dict) -> None:
    for colour, (arm, shares) in zip(_COLOURS, entry["arms"].items()):
        x = np.array([float(s) for s in shares]) * 100
        mean = np.array([100 * a["uar"]["mean"] for a in shares.values()])
        std = np.array([100 * a["uar"]["std"] for a in shares.values()])
        for xi, a in zip(x, shares.values()):
            ax.scatter([xi] * len(a["uar"]["per_seed"]), 100 * np.array(a["uar"]["per_seed"]),
                       s=10, color=colour, alpha=0.5)
        ax.errorbar(x, mean, yerr=std, color=colour, marker="o", capsize=3, label=arm)
    ax.set_xscale("log")
    ax.set_xticks(x, [f"{v:g} %" for v in x])
    ax.set_xlabel("labelled training images used")
    ax.legend(fontsize=7, loc="lower right")
    for share in entry["arms"][entry["reference"]]:
        d = next((v["uar"] for k, v in entry["differences"].items()
                  if k.endswith(f"@ {share}")), None)
        if d:
            ax.annotate(f"Δ {100 * d['mean']:+.1f}\n[{100 * d['ci95'][0]:+.1f}, "
                        f"{100 * d['ci95'][1]:+.1f}]", (float(share) * 100, 0.02),
                        xycoords=("data", "axes fraction"), ha="center", fontsize=6.5)


def _arms(ax, entry: dict) -> None:
    arms = list(entry["arms"])
    for i, (colour, arm) in enumerate(zip(_COLOURS * 2, arms)):
        a = next(iter(entry["arms"][arm].values()))
        values = 100 * np.array(a["uar"]["per_seed"])
        ax.bar(i, values.mean(), yerr=values.std(ddof=1) if len(values) > 1 else 0,
               color=colour, alpha=0.35, capsize=4)
        ax.scatter(np.full(len(values), i) + np.linspace(-0.15, 0.15, len(values)), values,
                   s=12, color=colour, zorder=3)
        d = next((v["uar"] for k, v in entry["differences"].items() if k.startswith(f"{arm} @")),
                 None)
        note = ("reference" if arm == entry["reference"] else
                f"Δ {100 * d['mean']:+.1f} [{100 * d['ci95'][0]:+.1f}, {100 * d['ci95'][1]:+.1f}]"
                if d else "reference (no training)")
        ax.annotate(note, (i, 0.02), xycoords=("data", "axes fraction"), ha="center",
                    fontsize=6.5)
    ax.set_xticks(range(len(arms)), [a.replace(" ", "\n", 2) for a in arms], fontsize=7)


def plot_claims(result: dict, only: Sequence[str] | None = None,
                save: str | Path | None = None) -> Figure:
    """One panel per claim of ``result`` (``results/claims.json``; ``only`` these), UAR in percent."""
    claims = {k: v for k, v in result["claims"].items() if only is None or k in only}
    fig, axes = plt.subplots(1, len(claims), figsize=(4.2 * len(claims), 3.8), squeeze=False)
    for ax, (name, entry) in zip(axes[0], claims.items()):
        (_learning_curve if len(entry["arms"][entry["reference"]]) > 1 else _arms)(ax, entry)
        n = next(iter(next(iter(entry["arms"].values())).values()))["test_size"]
        seeds = len(next(iter(next(iter(entry["arms"].values())).values()))["seeds"])
        ax.set_title(f"{name.replace('_', ' ')}\n{seeds} seeds, n = {n} test items", fontsize=9)
        ax.set_ylabel("test UAR (%)")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Claims in miniature: points = seeds, bars = mean ± std; "
                 "Δ = paired difference from the reference arm [95 % CI]", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, save)
