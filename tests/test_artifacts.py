"""Load-or-compute artifacts: paths resolve from the repository root, and what exists is reused."""
from __future__ import annotations

from pathlib import Path

from s2d_course import artifacts
from s2d_lib.checkpoints import save_checkpoint
from s2d_lib.landmarks import MobileFaceNet


def test_paths_are_taken_from_the_repository_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # notebooks run from notebooks/, scripts from anywhere
    assert artifacts.repo_path("runs/x") == artifacts.REPO / "runs" / "x"
    assert artifacts.repo_path(tmp_path) == tmp_path
    assert artifacts.relative(artifacts.REPO / "figures" / "a.png") == "figures/a.png"
    assert artifacts.relative(tmp_path) == str(tmp_path.resolve())
    assert (artifacts.REPO / "s2d_course" / "artifacts.py").is_file()


def test_existing_landmark_weights_are_reused_not_retrained(tmp_path):
    net = MobileFaceNet(input_size=64)
    save_checkpoint(net, tmp_path / "mobilefacenet.safetensors")
    # A data root that does not exist proves nothing is trained.
    path = artifacts.landmark_weights(run_dir=tmp_path, data_root=tmp_path / "missing", train=True)
    assert path == tmp_path / "mobilefacenet.safetensors"
    loaded = artifacts.landmark_net(run_dir=tmp_path, data_root=tmp_path / "missing", train=True)
    assert not loaded.training and loaded.input_size == 64


def test_finished_runs_are_reused(tmp_path, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text("{}")
    called = []
    monkeypatch.setattr("s2d_lib.train.train", lambda cfg: called.append(cfg))
    assert artifacts.trained_run("static_tiny", [f"out_dir={run}"]) == run
    assert not called
    assert artifacts.trained_run("static_tiny", [f"out_dir={run}"], retrain=True) == run
    assert called and called[0].resume is False and Path(called[0].data_root).is_absolute()
