"""The claims check (``python -m s2d_course.claims --check``, part of ``make test``): re-train the
two reference runs of the claims, shortened (:data:`CHECK_BUDGET`), and ask whether they still
train as they did.

A short run's test accuracy is a poor check on another CPU type: the rounding sends it anywhere
among its seeds. Nor may the check read anything that validation *selected*: which epoch wins
is a near-tie on a small validation fold, and another CPU type's rounding flips it. So the check
reads what a run does *while* it trains, at its last epoch, where no selection can move it:

* ``train_loss``: the mean training loss of the last epoch (a landmark view that carries
  nothing leaves the static model near the class prior's loss);
* ``val_loss``: the validation loss of the last epoch;
* ``tma_change`` (video run): how far the TMAs' weights moved from where they started to the last
  epoch's weights, relative to their size (a frozen TMA does not move at all). A ratio varies by
  factors, not by steps, so its band is taken on the log scale.

The video reference of the check starts from the static reference's *last* epoch too (the claims'
video runs start from the selected one), so no selection feeds into it either. The selected epoch
and the test UAR / WAR are reported, never checked. Both runs train in float32 on every CPU
(:data:`PINNED`).

Each statistic must fall within the 99 % prediction interval of the same quantity over the
calibration runs (``results/claims_check.json``, made by ``--calibrate``): every seed on *every
float path* the machine can compute on (its own and :mod:`~s2d_course.float_path`'s other CPU
type), so the band holds the spread a CPU type adds as well as a seed's. (On one float path runs
repeat to the bit, and ``check(exact=True)`` asks for that; it is not the default, because two CPUs
that describe themselves alike can still round differently, e.g. with and without AMX.)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from s2d_lib.config import TrainConfig
from s2d_lib.metrics import selected_epoch, selection_metric

from .. import float_path, paths
from ..artifacts.shipped import band
from ..paths import file_sha256
from .moved import start_of, tma_change
from .setup import CLAIMS, Budget, Setup, train_run

__all__ = ["CHECKED", "CALIBRATION", "CHECK_BUDGET", "STATISTICS", "FLOAT_PATHS", "for_check",
           "run_statistics", "calibrate", "check"]

CALIBRATION = paths.RESULTS / "claims_check.json"

#: The runs the check repeats: the static reference (an arm of the landmark claim, where every
#: video run starts) and the video reference (an arm of the three video claims).
CHECKED = {"static": ("landmark_view", "landmark view"),
           "video": ("temporal_attention", "TMA attention over frames")}
#: The statistics checked per run (all read at the last epoch), and those only reported.
STATISTICS = {"static": ("train_loss", "val_loss"), "video": ("train_loss", "val_loss", "tma_change")}
REPORTED = ("uar", "war", "best_epoch")
#: The check's budget: the claims' reference runs, shortened (static: 3 epochs of 20 steps, video:
#: 2 epochs of 10) to about a minute each on two cores, so every ``make test`` affords them. A
#: broken landmark view or a frozen TMA still lands far outside the bands at this length
#: (``tests/test_claims_check.py``).
CHECK_BUDGET = dict(static_epochs=3, static_steps=20, video_epochs=2, video_steps=10)
#: The float paths a calibration trains on: this machine's own, and another CPU type's.
FLOAT_PATHS = ("own", "other")


#: What the check's runs change from the claims' reference runs: float32 on every CPU
#: (``precision=auto`` trains in bfloat16 on a CPU that computes it natively and in float32
#: elsewhere: two arithmetics, whose statistics one band of seeds need not hold).
PINNED = {"precision": "fp32"}


def _config(setup: Setup, kind: str, seed: int) -> TrainConfig:
    name, arm = CHECKED[kind]
    claim = CLAIMS[name]
    reference = 1.0 if claim.dose in ("labels", "apex") else 0.0  # the level the claims share
    overrides = {**claim.arms[arm], **setup.dose(claim.dose, reference), **PINNED}
    if kind == "static":
        return setup.static_config(overrides, seed)
    # from the static reference's last epoch, not the selected one
    static = _config(setup, "static", seed).run_dir / "last.safetensors"
    return setup.video_config({**overrides, "init": str(static)}, seed)


def _last_tma_change(cfg: TrainConfig) -> float:
    """How far the TMA weights moved from their start (rebuilt as the trainer builds it: same
    seed, same initialisation) to the last epoch's weights."""
    from s2d_lib.checkpoints import load_any_checkpoint

    start = start_of(cfg).state_dict()
    end = load_any_checkpoint(cfg.run_dir / "last.safetensors").state_dict()
    return tma_change(start, end)


def run_statistics(setup: Setup, kind: str, seed: int) -> dict:
    """Train (or read back) the ``kind`` reference run of ``seed``; its checked statistics (at the
    last epoch) and its reported ones."""
    if kind == "video":
        train_run(setup, _config(setup, "static", seed))  # where the video run starts
    cfg = _config(setup, kind, seed)
    result = train_run(setup, cfg)
    history = json.loads((cfg.run_dir / "metrics.json").read_text())
    last = history[-1]
    best = selected_epoch(history, selection_metric(cfg.dataset))
    out = {"seed": seed, "train_loss": last["train_loss"], "val_loss": last["val_loss"],
           "uar": result["uar"], "war": result["war"], "n": result["n"],
           "best_epoch": best["epoch"], "epochs": last["epoch"]}
    if kind == "video":
        out["tma_change"] = _last_tma_change(cfg)
    return out


def _path_env(which: str) -> dict:
    """The environment of a process computing on float path ``which`` of :data:`FLOAT_PATHS`."""
    env = {k: v for k, v in os.environ.items() if k not in float_path.OTHER_CPU_VARIABLES}
    if which == "other":
        env.update(float_path.other_cpu_env(float_path.cpu_flags()))
    return env


def _spec(setup: Setup, seeds: int, runs: Path) -> dict:
    return {"world": str(setup.world), "landmarks": str(setup.landmarks), "mae": str(setup.mae),
            "runs": str(runs), "cache": str(runs / "cache"), "budget": asdict(setup.budget),
            "seeds": seeds}


def calibrate(setup: Setup, seeds: int = 5, path: Path = CALIBRATION,
              float_paths: Sequence[str] = FLOAT_PATHS) -> dict:
    """The reference runs of ``seeds`` seeds on each of ``float_paths`` (one process per path, side
    by side, one thread each; runs and their landmark-view cache in ``setup.runs/<path>``, reused
    when finished): the statistics the check compares with, written to ``path``."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        jobs = []
        for which in float_paths:
            spec, out = Path(tmp) / f"{which}.json", Path(tmp) / f"{which}-runs.json"
            spec.write_text(json.dumps(_spec(setup, seeds, setup.runs / which)))
            jobs.append((which, out, subprocess.Popen(
                [sys.executable, "-m", "s2d_course.claims.check", str(spec), str(out)],
                env=_path_env(which), cwd=paths.REPO)))
        parts = []
        for which, out, job in jobs:
            if job.wait() != 0:
                raise RuntimeError(f"the calibration runs on the {which!r} float path failed "
                                   f"(exit {job.returncode}; its output is above)")
            parts.append(json.loads(out.read_text()))
    result = {"float_paths": [p["float_path"] for p in parts], "seeds": seeds,
              "landmarks_sha256": file_sha256(setup.landmarks), "mae_sha256": file_sha256(setup.mae),
              "budget": asdict(setup.budget),
              "runs": {kind: [{**run, "float_path": i} for i, p in enumerate(parts)
                              for run in p["runs"][kind]] for kind in CHECKED}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    return result


def _worker(spec_file: Path, out: Path) -> None:
    """One float path's calibration runs (a process of :func:`calibrate`)."""
    import torch

    torch.set_num_threads(1)
    spec = json.loads(spec_file.read_text())
    setup = Setup(world=Path(spec["world"]), landmarks=Path(spec["landmarks"]), mae=Path(spec["mae"]),
                  runs=Path(spec["runs"]), cache=Path(spec["cache"]), budget=Budget(**spec["budget"]))
    runs = {kind: [] for kind in CHECKED}
    for seed in range(spec["seeds"]):
        for kind in CHECKED:
            runs[kind].append(run_statistics(setup, kind, seed))
            print(f"calibration, {float_path.describe()['kernels']} path: {kind} seed {seed} done",
                  flush=True)
    out.write_text(json.dumps({"float_path": float_path.describe(), "runs": runs}))


#: Statistics whose band is taken on the log scale (positive ratios).
LOG_SCALE = ("tma_change",)


def _band(name: str, values: Sequence[float], seeds: int | None = None) -> tuple[float, float]:
    """The 99 % band of ``values`` (:func:`~s2d_course.artifacts.shipped.band`; ``seeds``
    independent draws among them), on the log scale for the statistics of :data:`LOG_SCALE`."""
    if name in LOG_SCALE:
        low, high = band(np.log(values), n=seeds)
        return float(np.exp(low)), float(np.exp(high))
    return band(values, n=seeds)


def check(calibration: dict, setup: Setup, kinds: Sequence[str] = tuple(CHECKED),
          exact: bool = False) -> list[str]:
    """Re-train seed 0 of the ``kinds`` reference runs in ``setup.runs`` and compare with
    ``calibration``; returns the problems (empty: the check passed).

    By default each checked statistic must fall within the band of every calibration run;
    ``exact=True`` asks instead for seed 0 of the calibration's float path that this process
    computes on, to the bit (a problem when it computes on none of them, or with another landmark
    network or MAE backbone)."""
    if calibration["budget"] != asdict(setup.budget):
        return [f"the check's budget {asdict(setup.budget)} is not the calibration's "
                f"{calibration['budget']}: calibrate again (--calibrate)"]
    here = float_path.describe()
    same_inputs = (calibration["landmarks_sha256"] == file_sha256(setup.landmarks)
                   and calibration.get("mae_sha256") == file_sha256(setup.mae))
    on = next((i for i, p in enumerate(calibration["float_paths"]) if p == here), None)
    if exact and (on is None or not same_inputs):
        return [f"no exact comparison: this process computes on {here}, the calibration on "
                f"{calibration['float_paths']}" + ("" if same_inputs else
                                                   ", with another landmark network or MAE backbone")]
    n_paths = len(calibration["float_paths"])
    print(f"claims check on {here['cpu']} ({here['kernels']} kernels): "
          + (f"the calibration's float path {on}: seed 0 must repeat exactly" if exact else
             f"each statistic must fall within the 99 % band of the calibration's "
             f"{calibration['seeds']} seeds on {n_paths} float paths"), flush=True)
    problems = []
    for kind in kinds:
        runs = calibration["runs"][kind]
        got = run_statistics(setup, kind, 0)
        want = next(r for r in runs if r["seed"] == 0 and r["float_path"] == (on or 0))
        for name in STATISTICS[kind] + REPORTED:
            # the seeds are the independent draws: a seed's runs on two float paths are close
            low, high = _band(name, [r[name] for r in runs], calibration["seeds"])
            ok = (got[name] == want[name]) if exact else low <= got[name] <= high
            checked = name in STATISTICS[kind]
            line = (f"{kind} reference, seed 0: {name} {got[name]:.4f} (calibration seed 0 "
                    f"{want[name]:.4f}; 99 % band of {len(runs)} runs, {calibration['seeds']} seeds: "
                    f"{low:.4f} to {high:.4f})")
            print(("info " if not checked else "ok   " if ok else "FAIL ") + line, flush=True)
            if checked and not ok:
                problems.append(line)
        if got["n"] != want["n"]:
            problems.append(f"{kind} reference: test size {got['n']} vs calibration {want['n']}")
    return problems


def for_check(setup: Setup) -> Setup:
    """``setup`` with the check's shorter budget (:data:`CHECK_BUDGET`), sharing its datasets."""
    return replace(setup, budget=replace(setup.budget, **CHECK_BUDGET), _data=setup._data)


def with_runs(setup: Setup, runs: Path) -> Setup:
    """``setup`` writing its runs to ``runs`` (sharing the datasets already in memory)."""
    return replace(setup, runs=runs, _data=setup._data)


if __name__ == "__main__":
    _worker(Path(sys.argv[1]), Path(sys.argv[2]))
