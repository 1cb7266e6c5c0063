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
from s2d_course.claims import measure, report, statistics
from s2d_course.claims.setup import CLAIMS, WIDE_QK_STD, Budget, Setup
from s2d_course.paths import REPO, file_sha256
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
    d = statistics.paired_difference(a, b)
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


def test_every_dose_level_gets_the_same_epochs_and_steps(tmp_path):
    setup = Setup(world=tmp_path, runs=tmp_path / "runs")
    claim = CLAIMS["landmark_view"]
    configs = [setup.config(claim, arm, level, 0) for arm in ("landmark view", "no landmark branch")
               for level in claim.levels]
    b = setup.budget
    assert {(c.epochs, c.steps_per_epoch, c.batch_size, c.lr, c.layer_decay) for c in configs} == {
        (b.static_epochs, b.static_steps, b.static_batch, b.static_lr, b.layer_decay)}
    assert {c.vit_weights for c in configs} == {str(setup.mae)}  # every arm from the MAE start
    assert len({c.out_dir for c in configs}) == 6
    random_vit = setup.static_config({"vit_weights": None}, 0)  # a random ViT: nothing to decay
    assert random_vit.vit_weights is None and random_vit.layer_decay is None


def test_video_doses_pick_their_world_and_share_the_reference_run(tmp_path):
    setup = Setup(world=tmp_path, runs=tmp_path / "runs")
    tma, easdl, pre = (CLAIMS[n] for n in ("temporal_attention", "easdl", "static_pretraining"))
    reference = setup.config(tma, "TMA attention over frames", 1.0, 3)
    assert setup.config(easdl, "cross-entropy", 0.0, 3).out_dir == reference.out_dir
    assert setup.config(pre, "from the static checkpoint", 1.0, 3).out_dir == reference.out_dir
    brief = setup.config(tma, "each frame alone", 0.25, 3)
    assert brief.data_root == str(tmp_path / "apex25" / "DFEW") and not brief.temporal_attention
    assert setup.config(easdl, "cross-entropy", 0.5, 3).data_root == str(tmp_path / "ambiguity50" / "DFEW")
    clips = setup.config(pre, "from the MAE backbone", 0.25, 3)
    assert (clips.train_fraction, clips.init, clips.vit_weights) == (0.25, "scratch", str(setup.mae))
    assert setup.config(tma, "TMA, wider q/k start", 0.25, 3).tma_qk_std == WIDE_QK_STD
    assert reference.init == str(setup.static_checkpoint(3))
    assert tma.levels_of("TMA, wider q/k start") == (0.25,)


def test_mde_and_slope():
    d = statistics.paired_difference([0.5] * 5, [0.52, 0.55, 0.51, 0.53, 0.54])
    sd = np.std([0.02, 0.05, 0.01, 0.03, 0.04], ddof=1)
    assert d["mde"] == pytest.approx((stats.t.ppf(0.975, 4) + stats.t.ppf(0.8, 4)) * sd / np.sqrt(5))
    gaps = {"0.1": {0: 0.10, 1: 0.12}, "0.3": {0: 0.05, 1: 0.08}, "1": {0: 0.0, 1: 0.04}}
    s = statistics.slope(gaps)
    assert s["per_seed"] == pytest.approx([-0.05, -0.04]) and s["mean"] == pytest.approx(-0.045)
    assert s["ci95"][0] < s["mean"] < s["ci95"][1]


def test_a_control_that_did_not_train_is_not_a_comparison():
    from s2d_course.claims.report import verdict

    at_prior = {"uar": {"mean": 1 / 7, "std": 0.0, "per_seed": [1 / 7] * 5}}
    assert not statistics.trains(at_prior, 1 / 7)["valid"]
    learns = {"uar": {"mean": 0.4, "std": 0.02, "per_seed": [0.4] * 5}}
    assert statistics.trains(learns, 1 / 7)["valid"]
    assert not statistics.trains(learns, 1 / 7, bar=0.45)["valid"]  # below the pixel baseline
    d = {"mean": 0.01, "ci95": [-0.01, 0.03], "mde": 0.025}
    assert verdict(d) == "not detectable at this power (MDE 2.5 points)"
    assert verdict(d, control_trains=False).startswith("no comparison")
    assert verdict({"mean": 0.05, "ci95": [0.01, 0.09], "mde": 0.03}) == "better"


@pytest.mark.slow
@pytest.mark.once  # what the engine writes, not what it measures
def test_every_claim_runs_in_miniature(tmp_path, monkeypatch):
    """Two seeds of every arm of a static and a video claim on a small world (random landmark
    network and MAE backbone): the results the course reads, the table and the figure."""
    from dataclasses import replace

    from s2d_lib.checkpoints import save_checkpoint
    from s2d_lib.landmarks import MobileFaceNet
    from s2d_lib.mae import MaskedAutoencoder
    from s2d_course.claims.plot import plot_claims
    from s2d_course.synthetic import PRESETS, build_suite

    world = tmp_path / "world"
    preset = replace(PRESETS["mini"], name="claims_test", rafdb=(140, 21), dfew=70,
                     frames=(8, 12), apex_share=1.0)
    build_suite(world / "base", preset, datasets=("RAF-DB", "DFEW"), progress=False)
    build_suite(world / "apex50", replace(preset, apex_share=0.5), datasets=("DFEW",),
                progress=False)
    torch.manual_seed(0)
    landmarks = save_checkpoint(MobileFaceNet(64), tmp_path / "lm.safetensors")
    mae = tmp_path / "mae.safetensors"
    from safetensors.torch import save_file
    save_file(MaskedAutoencoder("s2d_tiny_patch8_64").encoder_state_dict(), str(mae))
    monkeypatch.setitem(CLAIMS, "landmark_view", replace(CLAIMS["landmark_view"], levels=(0.5, 1.0)))
    monkeypatch.setitem(CLAIMS, "temporal_attention",
                        replace(CLAIMS["temporal_attention"], levels=(1.0, 0.5),
                                only={"TMA, wider q/k start": (0.5,)}))
    budget = Budget(seeds=2, static_epochs=2, static_steps=2, static_batch=8,
                    video_epochs=1, video_steps=2, video_batch=4, warmup_steps=1)
    setup = Setup(world=world, landmarks=landmarks, mae=mae, runs=tmp_path / "runs", budget=budget)
    names = ("landmark_view", "temporal_attention")  # a static and a video claim
    result = measure.summarise(measure.run_claims(setup, names), budget,
                               {"path": str(world), "landmarks_sha256": file_sha256(landmarks)})
    assert set(result["claims"]) == set(names)
    for entry in result["claims"].values():
        for levels in entry["arms"].values():
            for arm in levels.values():
                assert arm["seeds"] == [0, 1] and arm["test_size"] > 0
                assert 0 <= arm["uar"]["mean"] <= 1
    tma = result["claims"]["temporal_attention"]
    assert set(tma["arms"]["TMA, wider q/k start"]) == {"0.5"}
    assert set(tma["arms"]["each frame alone"]) == {"1", "0.5"}
    reference = tma["arms"]["TMA attention over frames"]["1"]
    assert 0 < reference["tma_row"][1] <= 1 + 1e-6 and reference["fovea_sharpness"] > 0
    assert "slope" in tma["comparisons"]["TMA attention over frames - each frame alone"]
    static = result["claims"]["landmark_view"]
    assert set(result["pixel_baselines"]) == {"0.5", "1"}
    assert "above_pixel_baseline" in static["arms"]["no landmark branch"]["1"]["trains"]
    table = report.claims_table(result)
    rows = sum(len(c["levels"]) for e in result["claims"].values() for c in e["comparisons"].values())
    assert table.count("\n") == 2 + rows
    assert "not detectable" in report.describe_claim(result, "temporal_attention") or \
        "better" in report.describe_claim(result, "temporal_attention") or \
        "worse" in report.describe_claim(result, "temporal_attention") or \
        "no comparison" in report.describe_claim(result, "temporal_attention")
    assert "entropy" in report.describe_attention(result)
    from s2d_course.claims.report import claim_reading, predictions_table

    reading = claim_reading(result, "landmark_view")
    assert reading.startswith("Landmark view against no landmark branch: at ")
    # a few steps do not train the control: the reading says so instead of comparing
    trains = all(a["trains"]["valid"] for a in
                 result["claims"]["landmark_view"]["arms"]["no landmark branch"].values())
    assert ("pixel baseline" in reading) if trains else ("did not train" in reading)
    assert predictions_table(result).count("\n") == 2 + sum(
        len(e["comparisons"]) for e in result["claims"].values())
    plot_claims(result, save=tmp_path / "claims.png")
    assert (tmp_path / "claims.png").stat().st_size > 10_000


def _committed():
    if not measure.RESULTS.is_file():
        pytest.skip("results/claims.json not measured yet (make claims)")
    return json.loads(measure.RESULTS.read_text())


def test_committed_claims_have_the_seeds_and_test_sizes_a_claim_needs():
    result = _committed()
    assert set(result["claims"]) == set(CLAIMS)
    for name, entry in result["claims"].items():
        for arm, levels in entry["arms"].items():
            assert set(levels) == {f"{v:g}" for v in CLAIMS[name].levels_of(arm)}, (name, arm)
            for level, a in levels.items():
                assert len(a["seeds"]) >= 5, (name, arm, level)
                assert a["test_size"] >= 200, (name, arm, level)
        for comp in entry["comparisons"].values():
            assert len(comp["levels"]) == len(entry["levels"]) or not comp.get("slope")
            for d in comp["levels"].values():
                assert d["uar"]["n"] >= 5 and d["uar"]["ci95"][0] <= d["uar"]["mean"]
                assert d["uar"]["mde"] > 0


def test_readme_claims_table_is_the_committed_results(tmp_path):
    result = _committed()
    from s2d_course.claims.report import readme_is_current

    stale = readme_is_current(result, REPO / "README.md")
    assert not stale, f"{stale}: run python -m s2d_course.claims --readme README.md"


def test_the_reading_says_where_a_control_was_still_at_its_best_on_its_last_epoch():
    """A control whose runs mostly select their last epoch is flagged at that level (the gap is
    at equal training there); a minority is not."""
    import copy

    from s2d_course.claims.report import claim_reading

    result = _committed()
    arms = result["claims"]["static_pretraining"]["arms"]["from the MAE backbone"]
    for a in arms.values():
        a["best_is_last"] = 2  # of 5
    assert "selected its last epoch" not in claim_reading(result, "static_pretraining")
    changed = copy.deepcopy(result)
    changed["claims"]["static_pretraining"]["arms"]["from the MAE backbone"]["0.25"]["best_is_last"] = 3
    reading = " ".join(claim_reading(changed, "static_pretraining").split())
    assert "selected its last epoch (its validation best came as its budget ended) in 3 of 5 runs " \
           "at 25 %: the gap there is measured at equal training" in reading
    assert "runs at 100 %" not in reading


def test_the_longer_control_is_read_with_its_written_predictions():
    """The README's longer-control block is what the committed results write, and the verdicts
    follow the predictions of the plan's deviation 11 (rise >= 5 points, gap CI above +20)."""
    from s2d_course.claims.budget import LONGER_FILE, load_longer_control
    from s2d_course.claims.report import longer_control_reading, readme_is_current

    if LONGER_FILE.is_file():
        assert not readme_is_current(_committed(), REPO / "README.md",
                                     load_longer_control()), \
            "run python -m s2d_course.claims.budget --longer-control --readme README.md"
    diff = lambda mean, low: {"mean": mean, "ci95": [low, mean + 0.05]}  # noqa: E731
    runs = [{"uar": 0.6, "best_is_last": False}] * 5
    longer = {"claim": "static_pretraining", "control": "from the MAE backbone", "epochs": 8,
              "measured_epochs": 4, "arm": "from the static checkpoint",
              "levels": {"0.25": {"runs": runs, "rise": diff(0.12, 0.08), "gap": diff(0.3, 0.25),
                                  "best_is_last": 0},
                         "1": {"runs": runs, "rise": diff(0.06, 0.01), "gap": diff(0.3, 0.22),
                               "best_is_last": 1}}}
    text = " ".join(longer_control_reading(longer).split())
    assert "at 25 % UAR 60.0 ± 0.0 %, +12.0 points [+8.0, +17.0]" in text
    assert "(held) and a gap whose 95 % interval stays above +20 points (held)" in text
    longer["levels"]["1"]["gap"] = diff(0.25, 0.15)
    longer["levels"]["1"]["rise"] = diff(0.04, 0.0)
    text = " ".join(longer_control_reading(longer).split())
    assert "(did not hold) and a gap whose 95 % interval stays above +20 points (did not hold)" in text


def test_the_run_time_names_the_machine_and_what_was_built():
    from s2d_course.claims.report import run_time

    result = {"seconds": 4905.0, "machine": {"cpu": "Some CPU", "threads": 2, "kernels": "AVX2"},
              "world": {"status": {"base": {"RAF-DB": "built", "DFEW": "built"},
                                   "apex50": {"DFEW": "built"}}, "mae": {"seconds": 852.0}}}
    text = run_time(result)
    assert "Some CPU (2 threads, AVX2 kernels)" in text and "81.8 min, building every world" in text
    assert "training it took 14.2 min" in text
    result["world"]["status"]["apex50"]["DFEW"] = "reused"
    assert "building some worlds" in run_time(result)


def test_load_claims_never_starts_a_run(tmp_path, monkeypatch):
    monkeypatch.setattr("s2d_course.claims.__main__.main", lambda *a, **k: pytest.fail("load_claims started a run"))
    with pytest.raises(FileNotFoundError, match="make claims"):
        measure.load_claims(tmp_path / "claims.json")
