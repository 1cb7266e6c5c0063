"""The claims' budget: chosen on validation by ``python -m s2d_course.claims_budget`` and used."""
from __future__ import annotations

import json

import pytest

from s2d_course.claims_budget import BUDGET_FILE, STATIC_GRID, VIDEO_GRID
from s2d_course.claims_setup import Budget


def test_the_budget_is_the_calibrated_choice():
    if not BUDGET_FILE.is_file():
        pytest.skip("results/claims_budget.json not written yet (python -m s2d_course.claims_budget)")
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
