"""The claims' training budget, chosen on validation before any test number is read
(``results/claims_plan.md``, section 1): ``python -m s2d_course.claims.budget`` writes
``results/claims_budget.json``, and :class:`~s2d_course.claims.setup.Budget`'s defaults are its
choice (a test holds them together).

* **Static**: for seed 0, the landmark-view arm and the no-landmark control (all labels) are
  trained at each budget of :data:`STATIC_GRID` (epochs x steps, base rate), smallest first. The
  chosen budget is the smallest at which (a) the control's best validation UAR reaches the pixel
  logistic regression's validation UAR (trained on the same images) and (b) the landmark arm's
  best validation epoch is not its last one (it has converged).
* **Video**: from the chosen static checkpoint, the TMA arm at each budget of :data:`VIDEO_GRID`;
  the smallest whose best validation epoch is not the last.

A budget that meets no rule is reported as such and the largest is taken.

:func:`longer_control` (``--longer-control``, the plan's deviation 11) asks afterwards how much of
a gap is budget: the static-pretraining control trained for twice the video epochs, its test
UAR paired by seed with the measured runs.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from s2d_lib.logs import show_logs

from .. import paths
from .report import write_readme_table
from .setup import CLAIMS, Budget, Setup, build_world, train_run
from .statistics import paired_difference

__all__ = ["STATIC_GRID", "VIDEO_GRID", "BUDGET_FILE", "LONGER_FILE", "calibrate_budget",
           "pixel_validation", "longer_control", "load_longer_control"]

BUDGET_FILE = paths.RESULTS / "claims_budget.json"
LONGER_FILE = paths.RESULTS / "claims_longer_control.json"
#: (epochs, steps per epoch, base rate) of the static stage, by total steps.
STATIC_GRID = ((6, 40, 1e-3), (6, 40, 5e-4), (8, 50, 1e-3), (8, 50, 5e-4), (10, 60, 5e-4))
#: (epochs, steps per epoch) of the video stage.
VIDEO_GRID = ((4, 14), (6, 14), (8, 14))


def pixel_validation(setup: Setup, seed: int = 0, side: int = 32) -> dict:
    """The pixel logistic regression (grey ``side`` x ``side``, the control's bar of
    :func:`s2d_course.claims.measure.pixel_baselines`) trained on the training images of ``seed``'s
    static run and scored on its validation images (UAR, WAR)."""
    from s2d_lib.data.static import RAFDB
    from s2d_lib.splits import train_val_indices

    from ..synthetic.calibration import grey_images, pixel_scores

    train = RAFDB(setup.dataset("RAF-DB"), "train", image_size=64)
    cfg = setup.static_config({}, seed)
    x, y = grey_images(train, side), np.array(train.labels)
    idx, val = train_val_indices(y.tolist(), cfg.val_fraction, 1.0, seed)
    return pixel_scores(x[idx], y[idx], x[val], y[val])


def _trial(setup: Setup, folder: str, **budget) -> Setup:
    """``setup`` with ``budget`` changed, writing its runs to ``runs/budget/folder`` (sharing the
    datasets already in memory)."""
    return replace(setup, budget=replace(setup.budget, **budget),
                   runs=setup.runs / "budget" / folder, _data=setup._data)


def _static_trial(setup: Setup, epochs: int, steps: int, lr: float) -> Setup:
    return _trial(setup, f"static-{epochs}x{steps}-lr{lr:g}", static_epochs=epochs,
                  static_steps=steps, static_lr=lr)


def _static(setup: Setup, epochs: int, steps: int, lr: float) -> dict:
    trial = _static_trial(setup, epochs, steps, lr)
    claim, out = CLAIMS["landmark_view"], {}
    for arm in ("landmark view", "no landmark branch"):
        cfg = trial.config(claim, arm, 1.0, 0)
        run = train_run(trial, cfg)
        validation = run["moved"]["validation"]
        out[arm] = {"best_val_uar": max(_history(cfg)), "best_is_last": validation["best_is_last"],
                    "best_epoch": validation["best_epoch"], "seconds": run["seconds"]}
    return out


def _history(cfg) -> list[float]:
    return [row["val_uar"] for row in json.loads((cfg.run_dir / "metrics.json").read_text())]


def _video(setup: Setup, static: Setup, epochs: int, steps: int) -> dict:
    trial = _trial(setup, f"video-{epochs}x{steps}", video_epochs=epochs, video_steps=steps)
    cfg = trial.config(CLAIMS["temporal_attention"], "TMA attention over frames", 1.0, 0)
    cfg = replace(cfg, init=str(static.static_checkpoint(0)))
    run = train_run(trial, cfg)
    validation = run["moved"]["validation"]
    return {"best_val_uar": max(validation["curve"]), "best_is_last": validation["best_is_last"],
            "best_epoch": validation["best_epoch"], "seconds": run["seconds"]}


def calibrate_budget(setup: Setup, path: Path = BUDGET_FILE) -> dict:
    """Run the grids (module docstring), choose, and write ``path``."""
    pixels = pixel_validation(setup)
    static, chosen = [], None
    for epochs, steps, lr in STATIC_GRID:
        row = {"epochs": epochs, "steps": steps, "lr": lr, **_static(setup, epochs, steps, lr)}
        row["control_reaches_pixels"] = row["no landmark branch"]["best_val_uar"] >= pixels["uar"]
        row["converged"] = not row["landmark view"]["best_is_last"]
        static.append(row)
        print(json.dumps(row), flush=True)
        if row["control_reaches_pixels"] and row["converged"]:
            chosen = row
            break
    met = chosen is not None
    chosen = chosen or static[-1]
    static_setup = _static_trial(setup, chosen["epochs"], chosen["steps"], chosen["lr"])
    video, video_choice = [], None
    for epochs, steps in VIDEO_GRID:
        row = {"epochs": epochs, "steps": steps, **_video(setup, static_setup, epochs, steps)}
        video.append(row)
        print(json.dumps(row), flush=True)
        if not row["best_is_last"]:
            video_choice = row
            break
    video_met = video_choice is not None
    video_choice = video_choice or video[-1]
    result = {"pixel_validation": pixels, "static_grid": static, "video_grid": video,
              "static": {k: chosen[k] for k in ("epochs", "steps", "lr")}, "static_rule_met": met,
              "video": {k: video_choice[k] for k in ("epochs", "steps")}, "video_rule_met": video_met}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    return result


def longer_control(setup: Setup, measured: dict, factor: int = 2, path: Path | None = LONGER_FILE,
                   claim: str = "static_pretraining", control: str = "from the MAE backbone",
                   arm: str = "from the static checkpoint") -> dict:
    """``claim``'s ``control`` trained for ``factor`` times the video epochs (same seeds, levels
    and everything else) and scored once on test; per level, how far its test UAR rose over the
    ``measured`` claims' runs (``results/claims.json``) and the gap ``arm`` - longer control,
    each paired by seed (:func:`s2d_course.claims.statistics.paired_difference`). Written to ``path``."""
    epochs, steps = factor * setup.budget.video_epochs, setup.budget.video_steps
    trial = _trial(setup, f"video-{epochs}x{steps}-{control.replace(' ', '_')}", video_epochs=epochs)
    raw, levels = measured["raw"][claim], {}
    for level in CLAIMS[claim].levels_of(control):
        runs = []
        for seed in range(setup.budget.seeds):
            run = train_run(trial, trial.config(CLAIMS[claim], control, level, seed))
            validation = run["moved"]["validation"]
            runs.append({"seed": seed, "uar": run["uar"], "war": run["war"],
                         "best_epoch": validation["best_epoch"], "curve": validation["curve"],
                         "best_is_last": validation["best_is_last"], "seconds": run["seconds"]})
        key = f"{level:g}"
        before, s2d = ([r["uar"] for r in raw[name][key]] for name in (control, arm))
        longer = [r["uar"] for r in runs]
        levels[key] = {"runs": runs, "rise": paired_difference(before, longer),
                       "gap": paired_difference(longer, s2d),
                       "best_is_last": sum(r["best_is_last"] for r in runs)}
    result = {"claim": claim, "control": control, "arm": arm, "epochs": epochs, "steps": steps,
              "measured_epochs": setup.budget.video_epochs, "levels": levels}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1))
    return result


def load_longer_control(path: str | Path = LONGER_FILE) -> dict:
    """The longer control's results (:func:`longer_control`); a missing file is an error that
    says how to make it, never a side effect of reading."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no longer-control results; run `python -m "
                                "s2d_course.claims.budget --longer-control` after `make claims`")
    return json.loads(path.read_text())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m s2d_course.claims.budget",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help=f"default {BUDGET_FILE}, or "
                        f"{LONGER_FILE} with --longer-control")
    parser.add_argument("--longer-control", action="store_true", help="the static-pretraining "
                        "control at twice the video budget, against results/claims.json "
                        "(the plan's deviation 11)")
    parser.add_argument("--readme", type=Path, help="with --longer-control: also write its "
                        "reading into this README's <!-- claims-longer --> block")
    args = parser.parse_args(argv)
    show_logs(stream=sys.stderr)
    setup = Setup(budget=Budget())
    build_world(setup)
    if args.longer_control:
        from .measure import load_claims

        measured = load_claims()
        result = longer_control(setup, measured, path=args.out or LONGER_FILE)
        if args.readme:
            write_readme_table(measured, args.readme, longer=result)
        return result
    return calibrate_budget(setup, args.out or BUDGET_FILE)


if __name__ == "__main__":
    main()
