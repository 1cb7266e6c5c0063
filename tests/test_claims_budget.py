"""The claims' budget: chosen on validation by ``python -m s2d_course.claims.budget`` and used."""
from __future__ import annotations

import json

import pytest

from s2d_course.claims.budget import BUDGET_FILE, STATIC_GRID, VIDEO_GRID
from s2d_course.claims.setup import Budget


def test_the_budget_is_the_calibrated_choice():
    if not BUDGET_FILE.is_file():
        pytest.skip("results/claims_budget.json not written yet (python -m s2d_course.claims.budget)")
    chosen = json.loads(BUDGET_FILE.read_text())
    b = Budget()
    assert (b.static_epochs, b.static_steps, b.static_lr) == (
        chosen["static"]["epochs"], chosen["static"]["steps"], chosen["static"]["lr"])
    assert (b.video_epochs, b.video_steps) == (chosen["video"]["epochs"], chosen["video"]["steps"])
    # the choice is the first grid cell that met the rules, read on validation numbers only
    static = chosen["static_grid"]
    assert chosen["static_rule_met"] and static[-1]["control_reaches_pixels"] and static[-1]["converged"]
    assert not any(r["control_reaches_pixels"] and r["converged"] for r in static[:-1])
    assert [tuple(r[k] for k in ("epochs", "steps", "lr")) for r in static] == \
        [tuple(c) for c in STATIC_GRID[:len(static)]]
    assert [(r["epochs"], r["steps"]) for r in chosen["video_grid"]] == \
        [tuple(c) for c in VIDEO_GRID[:len(chosen["video_grid"])]]
    assert not any("test" in key for row in static for key in row)


def test_the_longer_control_pairs_its_runs_with_the_measured_ones(tmp_path, monkeypatch):
    """The longer control trains the control only, at twice the video epochs and nothing else
    changed, and pairs each seed's test UAR with the measured control (rise) and arm (gap)."""
    from s2d_course.claims import budget
    from s2d_course.claims.setup import CLAIMS, Setup

    setup = Setup(runs=tmp_path / "runs")
    trained = []

    def fake_run(trial, cfg):  # the longer run's UAR: the measured control's + 0.1 + seed / 100
        reference = setup.config(CLAIMS["static_pretraining"], "from the MAE backbone",
                                 cfg.train_fraction, cfg.seed)
        assert cfg.epochs == 2 * reference.epochs and cfg.out_dir != reference.out_dir
        assert {k: v for k, v in vars(cfg).items() if k not in ("epochs", "easdl_ramp", "out_dir")} \
            == {k: v for k, v in vars(reference).items() if k not in ("epochs", "easdl_ramp", "out_dir")}
        trained.append((cfg.train_fraction, cfg.seed))
        uar = 0.4 + 0.1 + cfg.seed / 100
        return {"uar": uar, "war": uar, "seconds": 1.0, "moved": {"validation": {
            "best_epoch": 8, "curve": [uar] * 8, "best_is_last": cfg.seed < 3}}}

    monkeypatch.setattr(budget, "train_run", fake_run)
    measured = {"raw": {"static_pretraining": {
        "from the MAE backbone": {lv: [{"uar": 0.4} for _ in range(5)] for lv in ("0.25", "1")},
        "from the static checkpoint": {lv: [{"uar": 0.9} for _ in range(5)] for lv in ("0.25", "1")}}}}
    result = budget.longer_control(setup, measured, path=tmp_path / "longer.json")
    assert sorted(trained) == sorted((lv, s) for lv in (0.25, 1.0) for s in range(5))
    assert json.loads((tmp_path / "longer.json").read_text()) == result
    for level in ("0.25", "1"):
        entry = result["levels"][level]
        assert entry["rise"]["mean"] == pytest.approx(0.12) and entry["best_is_last"] == 3
        assert entry["gap"]["mean"] == pytest.approx(0.9 - 0.52)
    assert (result["epochs"], result["measured_epochs"]) == (8, 4)
