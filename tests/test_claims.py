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
from s2d_course import claims
from s2d_course.paths import file_sha256
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
        a, b = model(x, lf), model(x, 5 * lf)
    assert torch.equal(a, b)
    with_view = _model()
    with_view.load_state_dict(model.state_dict())
    with torch.no_grad():  # the same weights with the branch in use: the view matters
        assert not torch.allclose(with_view(x, lf), with_view(x, 5 * lf))
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
            first = [model.forward_features(v)[0] for v in (x, y)]  # frame 0's tokens
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


def test_a_label_share_is_stratified_and_repeated_to_the_splits_length():
    from s2d_lib.splits import labelled_share as _labelled_share

    labels = [0] * 60 + [1] * 30 + [2] * 10
    idx = list(range(100))
    for fraction in (0.1, 0.3, 1 / 3):
        share = _labelled_share(idx, labels, fraction, seed=0)
        assert len(share) == 100  # the same steps per epoch whatever the share
        unique = sorted(set(share))
        assert len(unique) == round(fraction * 100)
        counts = np.bincount([labels[i] for i in unique], minlength=3) / len(unique)
        assert counts == pytest.approx([0.6, 0.3, 0.1], abs=0.05)
    assert _labelled_share(idx, labels, 0.3, 0) == _labelled_share(idx, labels, 0.3, 0)


def test_every_label_share_gets_the_same_epochs_and_steps(tmp_path):
    setup = claims.Setup(world=tmp_path, runs=tmp_path / "runs")
    configs = [setup.static_config(arm, f, 0) for arm in ({}, {"landmark_view": False})
               for f in (0.1, 0.3, 1.0)]
    assert {(c.epochs, c.steps_per_epoch, c.batch_size, c.lr) for c in configs} == {
        (setup.budget.static_epochs, setup.budget.static_steps, setup.budget.static_batch, 1e-3)}
    assert len({c.out_dir for c in configs}) == 6


@pytest.mark.slow
def test_every_claim_runs_in_miniature(tmp_path, monkeypatch):
    """Two seeds of every arm of a static and a video claim on a small world (a random landmark
    network): the results the course reads."""
    from dataclasses import replace

    from s2d_lib.checkpoints import save_checkpoint
    from s2d_course.synthetic import PRESETS, build_suite
    from s2d_lib.landmarks import MobileFaceNet

    world = tmp_path / "world"
    preset = replace(PRESETS["mini"], name="claims_test", rafdb=(140, 21), dfew=70,
                     frames=(8, 12))
    build_suite(world, preset, datasets=("RAF-DB", "DFEW"), progress=False)
    torch.manual_seed(0)
    landmarks = save_checkpoint(MobileFaceNet(64), tmp_path / "lm.safetensors")
    monkeypatch.setitem(claims.CLAIMS, "landmark_view",
                        replace(claims.CLAIMS["landmark_view"], fractions=(0.5, 1.0)))
    budget = claims.Budget(seeds=2, static_epochs=1, static_steps=2, static_batch=8,
                           video_epochs=1, video_steps=2, video_batch=4, warmup_steps=1)
    setup = claims.Setup(world=world, landmarks=landmarks, runs=tmp_path / "runs", budget=budget)
    names = ("landmark_view", "temporal_attention")  # a static and a video claim
    result = claims.summarise(claims.run_claims(setup, names), budget,
                              {"path": str(world), "landmarks_sha256": file_sha256(landmarks)})
    assert set(result["claims"]) == set(names)
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


def _committed():
    if not claims.RESULTS.is_file():
        pytest.skip("results/claims.json not measured yet (make claims)")
    return json.loads(claims.RESULTS.read_text())


def test_committed_claims_have_the_seeds_and_test_sizes_a_claim_needs():
    result = _committed()
    assert set(result["claims"]) == set(claims.CLAIMS)
    for name, entry in result["claims"].items():
        for arm, shares in entry["arms"].items():
            for share, a in shares.items():
                assert len(a["seeds"]) >= 5, (name, arm, share)
                assert a["test_size"] >= 200, (name, arm, share)
                if entry["stage"] == "video":  # imbalanced like real DFEW: the two metrics differ
                    assert a["uar"]["per_seed"] != a["war"]["per_seed"], (name, arm)
        for key, diff in entry["differences"].items():
            assert diff["uar"]["n"] >= 5 and diff["uar"]["ci95"][0] <= diff["uar"]["mean"]


def test_readme_claims_table_is_the_committed_results(tmp_path):
    result = _committed()
    readme = (claims.paths.REPO / "README.md").read_text()
    assert claims.claims_table(result) in readme, "run python -m s2d_course.claims --readme README.md"


def test_load_claims_never_starts_a_run(tmp_path, monkeypatch):
    monkeypatch.setattr(claims, "main", lambda *a, **k: pytest.fail("load_claims started a run"))
    with pytest.raises(FileNotFoundError, match="make claims"):
        claims.load_claims(tmp_path / "claims.json")
