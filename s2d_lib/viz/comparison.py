"""Comparison bar charts that say how sure they are: every bar carries its error bar, the test size
``n`` stands under each arm, and the title says what the error bars are.

``plot_comparison(["frame average", "S2D with TMA"], {"UAR": [70.0, 71.4], "WAR": [70.0, 71.4]},
errors={"UAR": [...], "WAR": [...]}, n=70, chance=14.3)`` draws grouped bars (one group per arm,
one bar per metric). :func:`proportion_interval` gives the Wilson interval of an accuracy
measured on ``n`` items, the usual error bar when there is one run and no seeds to average.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from scipy.stats import binomtest

from .frames import save_figure

__all__ = ["plot_comparison", "proportion_interval"]

Error = float | tuple[float, float] | None


def proportion_interval(fraction: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson interval ``(low, high)`` of a proportion (an accuracy) ``fraction`` measured on ``n``
    items, as fractions."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    ci = binomtest(round(fraction * n), n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def _as_table(values, names: Sequence[str], what: str) -> dict[str, list]:
    """``{metric: one entry per arm}`` from a mapping, or from one sequence (a single metric)."""
    table = dict(values) if isinstance(values, Mapping) else {"": list(values)}
    for metric, row in table.items():
        if len(row) != len(names):
            raise ValueError(f"{what}{f' of {metric}' if metric else ''}: {len(row)} entries "
                             f"for {len(names)} names")
    return {k: list(v) for k, v in table.items()}


def _yerr(values: list[float], errors: list[Error]) -> np.ndarray:
    """Matplotlib's ``(2, n)`` error offsets from half-widths or ``(low, high)`` bounds."""
    out = np.zeros((2, len(values)))
    for i, (v, e) in enumerate(zip(values, errors)):
        if e is None:
            continue
        if isinstance(e, (tuple, list)):
            low, high = e
            if not low <= v <= high:
                raise ValueError(f"interval ({low}, {high}) does not contain its value {v}")
            out[:, i] = v - low, high - v
        else:
            out[:, i] = abs(e), abs(e)
    return out


def plot_comparison(names: Sequence[str], values: Mapping[str, Sequence[float]] | Sequence[float],
                    errors: Mapping[str, Sequence[Error]] | Sequence[Error] | None,
                    n: int | Sequence[int], error_label: str = "95% interval",
                    chance: float | None = None, ylabel: str = "%", title: str = "",
                    ylim: tuple[float, float] | None = (0, 100), save: str | Path | None = None) -> Figure:
    """Bars of ``values`` per arm ``names`` (a mapping metric -> values draws grouped bars), each
    with its error bar: ``errors`` mirrors ``values`` with a half-width (e.g. a std over seeds) or
    ``(low, high)`` bounds (e.g. :func:`proportion_interval`) per bar. ``n`` (one test size, or
    one per arm) is printed under each arm, ``error_label`` says what the error bars are, and
    ``chance`` draws a dashed line."""
    names = list(names)
    table = _as_table(values, names, "values")
    if errors is None:
        raise ValueError("a comparison needs its error bars; pass errors (half-widths or intervals)")
    err = _as_table(errors, names, "errors")
    if set(err) != set(table):
        raise ValueError(f"errors name the metrics {sorted(err)}, values {sorted(table)}")
    sizes = [n] * len(names) if isinstance(n, int) else list(n)
    if len(sizes) != len(names):
        raise ValueError(f"{len(sizes)} test sizes for {len(names)} names")
    width = 0.8 / len(table)
    fig, ax = plt.subplots(figsize=(max(4.5, 1.6 * len(names) * max(1, len(table) / 2) + 1.5), 3.4))
    x = np.arange(len(names))
    for j, (metric, row) in enumerate(table.items()):
        offset = (j - (len(table) - 1) / 2) * width
        bars = ax.bar(x + offset, row, width * 0.95, yerr=_yerr(row, err[metric]), capsize=3,
                      label=metric or None, error_kw={"lw": 1})
        ax.bar_label(bars, fmt="%.1f", fontsize=7, label_type="center", color="white")
    if chance is not None:
        ax.axhline(chance, color="gray", ls="--", lw=1, label=f"chance ({chance:.1f})")
    ax.set_xticks(x, [f"{name}\n(n={size})" for name, size in zip(names, sizes)], fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper left", ncol=len(table) + 1, frameon=False)
    heading = f"{title}\n" if title else ""
    ax.set_title(f"{heading}error bars: {error_label}", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, save)
