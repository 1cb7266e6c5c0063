"""Load-or-compute artifacts: paths resolve from the repository root, and what exists is reused."""
from __future__ import annotations

from pathlib import Path

import pytest

from s2d_course import artifacts, paths
from s2d_course.artifacts import run_cache
from s2d_lib.checkpoints import save_checkpoint
from s2d_lib.landmarks import MobileFaceNet


def test_paths_are_taken_from_the_repository_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # notebooks run from notebooks/, scripts from anywhere
    assert paths.repo_path("runs/x") == paths.REPO / "runs" / "x"
    assert paths.repo_path(tmp_path) == tmp_path
    assert paths.relative(paths.REPO / "figures" / "a.png") == "figures/a.png"
    assert paths.relative(tmp_path) == str(tmp_path.resolve())
    assert (paths.REPO / "s2d_course" / "artifacts" / "__init__.py").is_file()


def test_existing_landmark_weights_are_reused_not_retrained(tmp_path, monkeypatch):
    net = MobileFaceNet(input_size=64)
    save_checkpoint(net, tmp_path / "mobilefacenet.safetensors")
    data = tmp_path / "missing"  # a data root that does not exist proves nothing is trained
    run_cache.write_key(tmp_path, {"input_size": 64, "train": {}, "data": run_cache.data_digest(data)})
    path = artifacts.landmark_weights(run_dir=tmp_path, data_root=data, train=True)
    assert path == tmp_path / "mobilefacenet.safetensors"
    loaded = artifacts.landmark_net(run_dir=tmp_path, data_root=data, train=True)
    assert not loaded.training and loaded.input_size == 64
    trained = []
    monkeypatch.setattr("s2d_lib.train_landmarks.train_and_save",
                        lambda *args, **kw: trained.append(kw) or path)
    artifacts.landmark_weights(run_dir=tmp_path, data_root=data, train=True, epochs=5)
    assert trained == [{"epochs": 5}]  # another recipe: trained again


def _finish(called):
    """A stand-in for training: records the config and leaves a finished run folder."""
    def train(cfg):
        called.append(cfg)
        cfg.run_dir.mkdir(parents=True, exist_ok=True)
        cfg.save(cfg.run_dir / "config.yaml")
        (cfg.run_dir / "results.json").write_text("{}")
    return train


def test_finished_runs_are_reused(tmp_path, monkeypatch):
    run = tmp_path / "run"
    called = []
    monkeypatch.setattr("s2d_lib.train.train", _finish(called))
    assert artifacts.trained_run("static_tiny", [f"out_dir={run}"]) == run
    assert len(called) == 1 and (run / run_cache.KEY_FILE).is_file()
    assert artifacts.trained_run("static_tiny", [f"out_dir={run}", "progress=false"]) == run
    assert len(called) == 1  # same config and data (progress only changes the report)
    assert artifacts.trained_run("static_tiny", [f"out_dir={run}"], retrain=True) == run
    assert called[1].resume is False and Path(called[1].data_root).is_absolute()


def test_a_run_of_another_config_is_trained_afresh(tmp_path, monkeypatch, caplog):
    run = tmp_path / "run"
    called = []
    monkeypatch.setattr("s2d_lib.train.train", _finish(called))
    artifacts.trained_run("static_tiny", [f"out_dir={run}"])
    (run / run_cache.KEY_FILE).unlink()  # as a run finished before keys were recorded
    with caplog.at_level("WARNING", logger="s2d_course.artifacts.run_cache"):
        artifacts.trained_run("static_tiny", [f"out_dir={run}", "epochs=3"])
    assert len(called) == 2 and called[1].epochs == 3 and called[1].resume is False
    assert "another config" in caplog.text and "epochs" in caplog.text


def test_a_run_older_than_a_config_field_is_trained_afresh(tmp_path, monkeypatch, caplog):
    """A run whose config.yaml predates a field (no key file) did not train with today's default
    of it: it is not reused for a config that names one."""
    run = tmp_path / "run"
    called = []
    monkeypatch.setattr("s2d_lib.train.train", _finish(called))
    artifacts.trained_run("static_tiny", [f"out_dir={run}"])
    (run / run_cache.KEY_FILE).unlink()
    assert artifacts.trained_run("static_tiny", [f"out_dir={run}"]) and len(called) == 1  # same yaml
    config = run / "config.yaml"
    config.write_text("".join(line for line in config.read_text().splitlines(keepends=True)
                              if not line.startswith("precision:")))
    with caplog.at_level("WARNING", logger="s2d_course.artifacts.run_cache"):
        artifacts.trained_run("static_tiny", [f"out_dir={run}"])
    assert len(called) == 2 and "precision" in caplog.text


def test_a_retrain_cut_short_does_not_leave_the_old_results_reusable(tmp_path, monkeypatch):
    """Retraining writes the new config.yaml first; if it is killed then, the old results.json
    must not pass for the new run's."""
    run = tmp_path / "run"
    called = []
    monkeypatch.setattr("s2d_lib.train.train", _finish(called))
    artifacts.trained_run("static_tiny", [f"out_dir={run}"])

    def killed(cfg):
        cfg.save(cfg.run_dir / "config.yaml")
        raise KeyboardInterrupt

    monkeypatch.setattr("s2d_lib.train.train", killed)
    with pytest.raises(KeyboardInterrupt):
        artifacts.trained_run("static_tiny", [f"out_dir={run}", "epochs=3"])
    monkeypatch.setattr("s2d_lib.train.train", _finish(called))
    artifacts.trained_run("static_tiny", [f"out_dir={run}", "epochs=3"])
    assert len(called) == 2 and called[1].epochs == 3


def test_a_run_on_other_data_is_trained_afresh(tmp_path, monkeypatch):
    data, run = tmp_path / "data", tmp_path / "run"
    data.mkdir()
    (data / "labels.csv").write_text("a,0\n")
    called = []
    monkeypatch.setattr("s2d_lib.train.train", _finish(called))
    artifacts.trained_run("static_tiny", [f"out_dir={run}", f"data_root={data}"])
    artifacts.trained_run("static_tiny", [f"out_dir={run}", f"data_root={data}"])
    assert len(called) == 1
    (data / "labels.csv").write_text("a,1\n")  # the same folder, other labels
    artifacts.trained_run("static_tiny", [f"out_dir={run}", f"data_root={data}"])
    assert len(called) == 2 and called[1].resume is False


def test_a_run_is_keyed_by_what_its_starting_files_hold_not_where_they_are(tmp_path, monkeypatch):
    data, run = tmp_path / "data", tmp_path / "run"
    data.mkdir()
    (data / "labels.csv").write_text("a,0\n")
    first, moved = tmp_path / "first.safetensors", tmp_path / "moved" / "first.safetensors"
    first.write_bytes(b"static weights")
    called = []
    monkeypatch.setattr("s2d_lib.train.train", _finish(called))
    common = [f"out_dir={run}", f"data_root={data}"]
    artifacts.trained_run("temporal_tiny", common + [f"init={first}"])
    moved.parent.mkdir()
    moved.write_bytes(first.read_bytes())  # the same file in a moved checkout
    artifacts.trained_run("temporal_tiny", common + [f"init={moved}"])
    assert len(called) == 1
    moved.write_bytes(b"other static weights")
    artifacts.trained_run("temporal_tiny", common + [f"init={moved}"])
    assert len(called) == 2
