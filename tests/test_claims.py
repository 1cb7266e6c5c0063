"""The claims engine: the ablation switches do exactly one thing, the statistics are right, and a
miniature run of every claim writes the results the course reads."""
from __future__ import annotations

import json

import numpy as np
import pytest
import timm
import torch
from scipy import stats

import s2d_lib.model  # noqa: F401  (registers the models)
from s2d_lib import claims
from s2d_lib.config import load_config
from s2d_lib.model import set_trainable


def _model(**kwargs):
    torch.manual_seed(0)
    return timm.create_model("s2d_tiny_patch8_64", num_frames=4, **kwargs).eval()


def test_no_landmark_branch_ignores_the_landmark_view_and_freezes_it():
    model = _model(landmark_view=False)
    x = torch.randn(2, 3, 4, 64, 64)
    lf = torch.randn(8, 128, 8, 8)
    with torch.no_grad():
        a, b = model(x, lf)[0], model(x, 5 * lf)[0]
    assert torch.equal(a, b)
    with_view = _model()
    with_view.load_state_dict(model.state_dict())
    with torch.no_grad():  # the same weights with the branch in use: the view matters
        assert not torch.allclose(with_view(x, lf)[0], with_view(x, 5 * lf)[0])
    set_trainable(model, "static")
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert {"patch_embed_prompt.proj.weight", "prompt_blocks.0.conv0_1.weight"} <= frozen
    assert model.config["landmark_view"] is False  # saved with the checkpoint's config


def test_without_temporal_attention_frames_stay_apart():
    x = torch.randn(1, 3, 4, 64, 64)
    y = x.clone()
    y[:, :, 3] = torch.randn(3, 64, 64)  # change the last frame only
    for temporal, crosses in ((False, False), (True, True)):
        model = _model(temporal_attention=temporal)
        with torch.no_grad():
            first = [model.forward_tokens(v)[0] for v in (x, y)]  # frame 0's tokens
        assert torch.equal(first[0], first[1]) is not crosses


def test_default_model_config_is_unchanged_by_the_switches():
    assert "landmark_view" not in _model().config  # files written before the switches still load


def test_train_fraction_is_checked():
    with pytest.raises(ValueError, match="train_fraction"):
        load_config("static_tiny", ["train_fraction=0"])


def test_paired_difference_matches_a_paired_t_test():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 0.7, 5)
    b = a + rng.normal(0.03, 0.02, 5)
    d = claims.paired_difference(a, b)
    res = stats.ttest_rel(b, a)
    ci = res.confidence_interval(0.95)
    assert d["mean"] == pytest.approx((b - a).mean())
    assert d["ci95"] == pytest.approx([ci.low, ci.high])


def test_static_budget_gives_every_label_share_the_same_steps():
    budget = claims.Budget(static_steps=120, static_batch=32)
    for fraction in (0.1, 0.3, 1.0):
        o = budget.static_overrides(fraction, 1500, 0.15)
        steps = o["epochs"] * o["steps_per_epoch"]
        assert 120 <= steps < 120 + o["steps_per_epoch"]


@pytest.mark.slow
def test_every_claim_runs_in_miniature_and_the_check_repeats_it(tmp_path, monkeypatch):
    """Two seeds of every arm on a small world (a random landmark network), then ``--check``
    logic on the same machine: the re-trained runs equal the results exactly."""
    from dataclasses import replace

    from s2d_lib.checkpoints import save_checkpoint
    from s2d_lib.data.synthetic import PRESETS, build_suite
    from s2d_lib.landmarks import MobileFaceNet

    world = tmp_path / "world"
    preset = replace(PRESETS["mini"], name="claims_test", rafdb=(140, 21), dfew=70,
                     frames=(8, 12))
    build_suite(world, preset, datasets=("RAF-DB", "DFEW"), progress=False)
    torch.manual_seed(0)
    landmarks = save_checkpoint(MobileFaceNet(64), tmp_path / "lm.safetensors")
    monkeypatch.setitem(claims.CLAIMS, "landmark_view",
                        replace(claims.CLAIMS["landmark_view"], fractions=(0.5, 1.0)))
    budget = claims.Budget(seeds=2, static_steps=2, static_batch=8, video_epochs=1,
                           video_batch=4, warmup_steps=1)
    setup = claims.Setup(world=world, landmarks=landmarks, runs=tmp_path / "runs", budget=budget)
    result = claims.summarise(claims.run_claims(setup), budget, {"path": str(world)})
    assert set(result["claims"]) == set(claims.CLAIMS)
    for entry in result["claims"].values():
        for shares in entry["arms"].values():
            for arm in shares.values():
                assert arm["seeds"] == [0, 1] and arm["test_size"] > 0
                assert 0 <= arm["uar"]["mean"] <= 1
    assert "frame average of the static model" in result["claims"]["temporal_attention"]["arms"]
    layers = result["tma_attention"][0]["after"]
    assert len(layers) == 4 and all(0 < layer["row"] <= 1 + 1e-6 for layer in layers)
    table = claims.claims_table(result)
    assert table.count("\n") == 2 + sum(len(s) for e in result["claims"].values()
                                        for s in e["arms"].values())
    # the check on this machine: the same runs again, exactly the same metrics
    monkeypatch.setattr(claims, "CHECKED", (("easdl", "cross-entropy + EASDL", "1"),))
    again = replace(setup, runs=tmp_path / "again", _data={})
    assert claims.check(json.loads(json.dumps(result)), again) == []
    result["raw"]["easdl"]["cross-entropy + EASDL"]["1"][0]["uar"] += 0.01
    assert claims.check(result, replace(again, _data={})) != []
