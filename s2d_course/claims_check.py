"""The claims check (``python -m s2d_course.claims --check``, part of ``make test``): re-train the
two reference runs of the claims and ask whether they still train as they did.

A short run's test accuracy is a poor check on another CPU type: the rounding sends it anywhere
among its seeds (the landmark arm's UAR spans 20 points over five seeds). So the check reads
what a run does *while* it trains, which varies little from seed to seed and which a broken
part moves far:

* ``train_loss``: the mean training loss of the last epoch (a landmark view that carries
  nothing leaves the static model near the class prior's loss);
* ``val_loss``: the validation loss of the selected epoch;
* ``tma_change`` (video run): how far the TMAs' weights moved from where they started, relative
  to their size (a frozen TMA does not move at all). A ratio varies by factors, not by steps,
  so its band is taken on the log scale (over five seeds a band on the plain scale would reach
  below zero and let a frozen TMA pass).

Each must fall within the 99 % prediction interval of the same quantity over the calibration
seeds (``results/claims_check.json``, made by ``--calibrate``). On the float path, landmark
network and MAE backbone that wrote that file, runs repeat exactly, so seed 0 must also equal it
to the bit.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from s2d_lib.config import TrainConfig
from s2d_lib.metrics import selected_epoch, selection_metric

from . import float_path, paths
from .claims_setup import CLAIMS, train_run
from .paths import file_sha256
from .shipped import band

__all__ = ["CHECKED", "CALIBRATION", "STATISTICS", "run_statistics", "calibrate", "check"]

CALIBRATION = paths.RESULTS / "claims_check.json"

#: The runs the check repeats: the static reference (an arm of the landmark claim, where every
#: video run starts) and the video reference (an arm of the three video claims).
CHECKED = {"static": ("landmark_view", "landmark view"),
           "video": ("temporal_attention", "TMA attention over frames")}
#: The statistics checked per run, and those only reported.
STATISTICS = {"static": ("train_loss", "val_loss"), "video": ("train_loss", "val_loss", "tma_change")}
REPORTED = ("uar", "war")


def _config(setup, kind: str, seed: int) -> TrainConfig:
    name, arm = CHECKED[kind]
    claim = CLAIMS[name]
    reference = 1.0 if claim.dose in ("labels", "apex") else 0.0  # the level the claims share
    return setup.config(claim, arm, reference, seed)


def run_statistics(setup, kind: str, seed: int) -> dict:
    """Train (or read back) the ``kind`` reference run of ``seed``; its checked and reported
    statistics."""
    if kind == "video":
        train_run(setup, _config(setup, "static", seed))  # where the video run starts
    cfg = _config(setup, kind, seed)
    result = train_run(setup, cfg)
    history = json.loads((cfg.run_dir / "metrics.json").read_text())
    best = selected_epoch(history, selection_metric(cfg.dataset))
    out = {"seed": seed, "train_loss": history[-1]["train_loss"], "val_loss": best["val_loss"],
           "uar": result["uar"], "war": result["war"], "n": result["n"]}
    if kind == "video":
        out["tma_change"] = result["moved"]["tma_change"]
    return out


def calibrate(setup, seeds: int = 5, path: Path = CALIBRATION) -> dict:
    """The reference runs of ``seeds`` seeds (in ``setup.runs``, reused when finished): the
    statistics the check compares with, written to ``path``."""
    result = {"machine": float_path.describe(), "landmarks_sha256": file_sha256(setup.landmarks),
              "mae_sha256": file_sha256(setup.mae),
              "budget": setup.budget.__dict__,
              "runs": {kind: [run_statistics(setup, kind, s) for s in range(seeds)] for kind in CHECKED}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    return result


#: Statistics whose band is taken on the log scale (positive ratios).
LOG_SCALE = ("tma_change",)


def _band(name: str, values: Sequence[float]) -> tuple[float, float]:
    """The 99 % band of ``values`` (:func:`~s2d_course.shipped.band`), on the log scale for the
    statistics of :data:`LOG_SCALE`."""
    if name in LOG_SCALE:
        low, high = band(np.log(values))
        return float(np.exp(low)), float(np.exp(high))
    return band(values)


def check(calibration: dict, setup, kinds: Sequence[str] = tuple(CHECKED),
          exact: bool | None = None) -> list[str]:
    """Re-train seed 0 of the ``kinds`` reference runs in ``setup.runs`` and compare with
    ``calibration``; returns the problems (empty: the check passed).

    ``exact`` (default: whether the float path, landmark network and MAE backbone are the
    calibration's) asks for seed 0's bits; ``exact=False`` asks for the seeds' band wherever it
    runs, as on another CPU type."""
    same = (calibration["machine"] == float_path.describe()
            and calibration["landmarks_sha256"] == file_sha256(setup.landmarks)
            and calibration.get("mae_sha256") == file_sha256(setup.mae))
    exact = same if exact is None else exact
    where = ("the float path and landmark network that wrote the calibration" if same else
             f"another float path or landmark network than the calibration's "
             f"({calibration['machine']['cpu']}, {calibration['machine']['kernels']})")
    print(f"claims check: {where}: " + ("seed 0 must repeat exactly" if exact else "each statistic "
                                        "must fall within the 99 % band of the calibration seeds"),
          flush=True)
    problems = []
    for kind in kinds:
        runs = calibration["runs"][kind]
        got = run_statistics(setup, kind, 0)
        want = next(r for r in runs if r["seed"] == 0)
        for name in STATISTICS[kind] + REPORTED:
            low, high = _band(name, [r[name] for r in runs])
            ok = (got[name] == want[name]) if exact else low <= got[name] <= high
            checked = name in STATISTICS[kind] or exact
            line = (f"{kind} reference, seed 0: {name} {got[name]:.4f} (calibration seed 0 "
                    f"{want[name]:.4f}; 99 % band of {len(runs)} seeds {low:.4f} to {high:.4f})")
            print(("ok   " if ok else "FAIL " if checked else "info ") + line, flush=True)
            if checked and not ok:
                problems.append(line)
        if got["n"] != want["n"]:
            problems.append(f"{kind} reference: test size {got['n']} vs calibration {want['n']}")
    return problems


def with_runs(setup, runs: Path):
    """``setup`` writing its runs to ``runs`` (sharing the datasets already in memory)."""
    return replace(setup, runs=runs, _data=setup._data)
