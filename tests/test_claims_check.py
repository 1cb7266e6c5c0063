"""The claims check: exact on a float path that wrote its calibration, within the band of every
calibration run elsewhere, blind to which epoch validation selected, and narrow enough that a
broken landmark view or a frozen TMA fails it."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from conftest import CPU_THREADS

from s2d_course import float_path
from s2d_course.claims import check
from s2d_course.claims.setup import Budget, Setup, build_world
from s2d_lib.checkpoints import save_checkpoint
from s2d_lib.landmarks import MobileFaceNet


@pytest.fixture(scope="module")
def mini_setup(tmp_path_factory):
    """A small claims world, a random landmark network and a budget of a few steps."""
    from s2d_course.synthetic import PRESETS, build_suite

    from safetensors.torch import save_file

    from s2d_lib.mae import MaskedAutoencoder

    tmp = tmp_path_factory.mktemp("claims_check")
    world = tmp / "world"
    preset = replace(PRESETS["mini"], name="claims_test", rafdb=(140, 21), dfew=70, frames=(8, 12))
    build_suite(world / "base", preset, datasets=("RAF-DB", "DFEW"), progress=False)
    torch.manual_seed(0)
    landmarks = save_checkpoint(MobileFaceNet(64), tmp / "lm.safetensors")
    save_file(MaskedAutoencoder("s2d_tiny_patch8_64").encoder_state_dict(), str(tmp / "mae.safetensors"))
    budget = Budget(seeds=2, static_epochs=3, static_steps=2, static_batch=8,
                    video_epochs=3, video_steps=2, video_batch=4, warmup_steps=1)
    setup = Setup(world=world, landmarks=landmarks, mae=tmp / "mae.safetensors",
                  runs=tmp / "runs", budget=budget)
    calibration = check.calibrate(setup, seeds=2, path=tmp / "calibration.json")
    return setup, tmp, calibration


@pytest.mark.slow
@pytest.mark.once  # the same float path twice, then a band: true on every path
def test_the_check_repeats_exactly_here_and_within_the_band_elsewhere(mini_setup):
    setup, tmp, calibration = mini_setup
    assert json.loads((tmp / "calibration.json").read_text()) == calibration
    # one process per float path: this machine's own and another CPU type's
    own, other = calibration["float_paths"]
    assert own == float_path.describe() and other["kernels"] != own["kernels"]
    video = calibration["runs"]["video"]
    assert [(r["seed"], r["float_path"]) for r in video] == [(0, 0), (1, 0), (0, 1), (1, 1)]
    assert all(r["tma_change"] > 0 and r["epochs"] == 3 for r in video)
    again = check.with_runs(setup, tmp / "again")
    assert check.check(calibration, again, exact=True) == []  # one float path: the same bits
    changed = json.loads(json.dumps(calibration))
    changed["runs"]["static"][0]["train_loss"] += 1e-7
    assert any("train_loss" in p for p in check.check(changed, again, exact=True))
    assert check.check(changed, again) == []  # (the default: within the band)
    # another float path: within the band of the runs (finished runs are read back)
    elsewhere = json.loads(json.dumps(calibration))
    for path in elsewhere["float_paths"]:
        path["kernels"] = "ANOTHER"
    assert check.check(elsewhere, again) == []
    assert "no exact comparison" in check.check(elsewhere, again, exact=True)[0]
    for run in elsewhere["runs"]["video"]:
        run["tma_change"] = 5.0  # every run the same: the band is that one value
    problems = check.check(elsewhere, again)
    assert len(problems) == 1 and "tma_change" in problems[0]
    # a calibration of another budget is not compared with
    assert "calibrate again" in check.check(calibration, replace(again, budget=Budget()))[0]


@pytest.mark.slow
@pytest.mark.once
def test_the_check_does_not_see_which_epoch_validation_selected(mini_setup, tmp_path, monkeypatch,
                                                               capsys):
    """The same runs with validation forced to keep another epoch than it kept in the calibration
    (the forced epoch scores best, every other one worst): other checkpoints are kept, yet every
    checked statistic comes out bit for bit the same, so the check passes exactly as before."""
    from s2d_lib import trainer
    from s2d_lib.checkpoints import read_state_dict

    setup, tmp, calibration = mini_setup
    natural = {r["best_epoch"] for kind in check.CHECKED for r in calibration["runs"][kind]
               if r["seed"] == 0 and r["float_path"] == 0}
    epochs = calibration["runs"]["video"][0]["epochs"]
    forced_epoch = next(e for e in range(1, epochs + 1) if e not in natural)
    evaluate, seen = trainer.evaluate, {}

    def forced(model, dataset, *args, **kwargs):
        out = evaluate(model, dataset, *args, **kwargs)
        seen[id(dataset)] = seen.get(id(dataset), 0) + 1
        score = 1.0 if seen[id(dataset)] == forced_epoch else -1.0  # (a test set is scored once)
        return {**out, "uar": score, "war": score} if dataset is not trainer_test[0] else out

    trainer_test = [None]
    build_data = trainer.Trainer._build_data

    def remember_test(self):
        build_data(self)
        trainer_test[0] = self.test_set

    monkeypatch.setattr(trainer.Trainer, "_build_data", remember_test)
    monkeypatch.setattr(trainer, "evaluate", forced)
    run = check.with_runs(setup, tmp_path)
    assert check.check(calibration, run, exact=True) == []
    print(f"validation forced to keep epoch {forced_epoch} (the calibration kept {sorted(natural)})")
    print(capsys.readouterr().out)  # the check's lines, for the record
    for kind in check.CHECKED:
        got = check.run_statistics(run, kind, 0)
        want = calibration["runs"][kind][0]
        assert got["best_epoch"] == forced_epoch != want["best_epoch"] and got["epochs"] == epochs
        assert all(got[name] == want[name] for name in check.STATISTICS[kind])
    video = check._config(run, "video", 0).run_dir
    best, last = (read_state_dict(video / f"{n}.safetensors")[0] for n in ("best", "last"))
    if forced_epoch != epochs:
        assert any(not torch.equal(best[k], last[k]) for k in last if ".TMA." in k)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The check as ``make claims`` calibrated it: the claims world, the shipped landmark network,
    the check's budget, the two reference runs of seed 0 re-trained once for the module, and
    their problems."""
    if not check.CALIBRATION.is_file():
        pytest.skip("results/claims_check.json not calibrated yet (python -m s2d_course.claims --calibrate)")
    calibration = json.loads(check.CALIBRATION.read_text())
    setup = check.for_check(Setup(runs=tmp_path_factory.mktemp("reference_runs")))
    build_world(setup, progress=False, folders=("base",))
    torch.set_num_threads(CPU_THREADS)  # as make claims trains (the thread count is in the float path)
    try:
        return setup, calibration, check.check(calibration, setup)
    finally:
        torch.set_num_threads(1)


@pytest.mark.slow
def test_the_reference_runs_train_as_calibrated(reference):
    """``make claims --check``: seed 0 of both reference runs, re-trained here, within the band of
    the calibration runs (every seed on two float paths)."""
    assert reference[2] == []


@pytest.mark.slow
@pytest.mark.once
def test_a_broken_landmark_view_fails_the_check(reference, tmp_path, all_threads):
    """An untrained landmark network (its view carries no landmarks) leaves the static reference
    run's last-epoch losses far outside the calibration band."""
    setup, calibration, _ = reference
    torch.manual_seed(1)
    broken = save_checkpoint(MobileFaceNet(64), tmp_path / "untrained.safetensors")
    problems = check.check(calibration, replace(setup, landmarks=broken, runs=tmp_path / "runs"),
                           kinds=("static",))
    assert any("train_loss" in p for p in problems) and any("val_loss" in p for p in problems)


@pytest.mark.slow
@pytest.mark.once
def test_a_frozen_tma_fails_the_check(reference, tmp_path, monkeypatch, all_threads):
    """TMAs that never train (their weights left out of the optimiser) are caught by how far the
    TMA weights moved, outside the calibration band; the video run starts from the reference
    static run's last epoch."""
    import shutil

    from s2d_lib import trainer

    setup, calibration, _ = reference
    static = check._config(setup, "static", 0).run_dir  # trained by the reference fixture
    shutil.copytree(static, tmp_path / static.name)
    build = trainer.build_model

    def frozen_tma(cfg):
        model = build(cfg)
        if cfg.stage != "static":
            for name, p in model.named_parameters():
                if ".TMA." in name:
                    p.requires_grad_(False)
        return model

    monkeypatch.setattr(trainer, "build_model", frozen_tma)
    problems = check.check(calibration, replace(setup, runs=tmp_path), kinds=("video",))
    assert any("tma_change" in p for p in problems)


def test_the_tma_band_is_taken_on_the_log_scale():
    """Five seeds of a ratio as spread as the TMA's movement: on the plain scale the band reaches
    below zero (a frozen TMA would pass), on the log scale it stays above zero."""
    values = [0.077, 0.052, 0.032, 0.052, 0.075]
    from s2d_course.artifacts.shipped import band

    assert band(values)[0] < 0
    low, high = check._band("tma_change", values)
    assert 0 < low < min(values) and max(values) < high
    assert check._band("train_loss", values) == band(values)
