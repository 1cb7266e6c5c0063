"""The trained weights that ship: intact, small, loaded by default, and scoring on this machine
what their manifest says they score (the same numbers on every CPU type, within a stated
tolerance); a run trained here is judged against the seeds' spread."""
from __future__ import annotations

import json
import re
import shutil

import pytest
import torch
from safetensors.torch import load_file

from s2d_course import artifacts, paths
from s2d_course.artifacts import regenerate, shipped
from s2d_lib.checkpoints import read_state_dict, split_landmark_stream

pytestmark = pytest.mark.skipif(not (shipped.TRAINED / shipped.MANIFEST).is_file(),
                                reason="trained/manifest.json not made yet (make weights)")


def test_every_shipped_file_is_the_one_the_manifest_records():
    info = shipped.manifest()
    assert set(info["runs"]) == set(shipped.RUNS) | {"mae"}
    folder, files = shipped.MAE_RUN
    assert shipped.shipped_run("mae") == shipped.TRAINED / folder
    assert set(info["runs"]["mae"]["files"]) == set(files)
    for stage, (folder, files) in shipped.RUNS.items():
        assert shipped.shipped_run(stage) == shipped.TRAINED / folder
        assert set(info["runs"][stage]["files"]) == set(files)
        assert len(info["runs"][stage]["seeds"]) >= 5, "the spread needs five seeds"


def test_shipped_weights_are_float16_and_small():
    """The course's shipped runs in float16; the claims' MAE backbone (the exact start of every
    claims run, so not rounded) in float32, its encoder alone (the decoder is not committed).
    All of them together stay under 30 MiB: the three S2D checkpoints name the shipped landmark
    network instead of holding a copy each."""
    total = 0
    claims_mae = shipped.TRAINED / "mae_claims2"
    for path in shipped.TRAINED.rglob("*.safetensors"):
        if path == claims_mae / "decoder.safetensors":
            continue  # written by a claims run that re-trains the MAE; git ignores it
        size = path.stat().st_size
        total += size
        assert size < 10 * 2**20, path
        if path.parent != claims_mae:
            assert {t.dtype for t in load_file(str(path)).values() if t.is_floating_point()} == {torch.float16}
    assert 0 < total < 30 * 2**20, f"{total / 2**10:.0f} KiB"
    encoder = claims_mae / "mae.safetensors"
    assert encoder.stat().st_size < 8 * 2**20
    assert {t.dtype for t in load_file(str(encoder)).values()} == {torch.float32}
    landmarks = shipped.shipped_run("landmarks") / "mobilefacenet.safetensors"
    for stage in ("static", "temporal", "dfer"):
        path = shipped.shipped_run(stage) / "best.safetensors"
        assert not split_landmark_stream(load_file(str(path)))[1], path  # no copy inside
        stream = split_landmark_stream(read_state_dict(path)[0])[1]
        assert stream.keys() == load_file(str(landmarks)).keys()  # joined back when read


def test_shipped_files_name_no_machine_folder():
    for path in shipped.TRAINED.rglob("*"):
        if path.suffix in (".json", ".yaml", ".csv"):
            text = path.read_text()
            assert not re.search(r"(^|[\s\"'])/(home|root|work|tmp|Users)/", text), path


def test_a_changed_file_is_refused_with_its_name(tmp_path):
    folder = tmp_path / "trained"
    shutil.copytree(shipped.TRAINED, folder)
    report = folder / shipped.RUNS["static"][0] / "results.json"
    report.write_text(report.read_text() + " ")
    with pytest.raises(shipped.ShippedError, match="results.json: its SHA-256"):
        shipped.shipped_run("static", folder)
    (folder / shipped.RUNS["dfer"][0] / "best.safetensors").unlink()
    with pytest.raises(shipped.ShippedError, match="best.safetensors is missing"):
        shipped.shipped_run("dfer", folder)


def test_the_notebooks_get_the_shipped_runs_unless_they_train(monkeypatch):
    monkeypatch.setattr("s2d_lib.train.train", lambda cfg: pytest.fail("nothing may train"))
    data = f"data_root={paths.repo_path('data/synthetic/RAF-DB')}"
    assert artifacts.static_run() == artifacts.static_run("tiny", [data]) == shipped.TRAINED / "static_tiny_RAF-DB"
    assert artifacts.video_run("temporal", "tiny", ["fold=1"]) == shipped.TRAINED / "temporal_tiny_DFEW"
    assert artifacts.video_run() == shipped.TRAINED / "dfer_tiny_DFEW"
    assert artifacts.landmark_weights().parent == shipped.TRAINED / "landmarks_tiny"
    # another recipe or other data is not what ships: it is trained (or read back from runs/)
    assert artifacts._shipped_or_none("static_tiny", ["epochs=1"]) is None
    assert artifacts._shipped_or_none("dfer_tiny", ["fold=2"]) is None
    assert artifacts._shipped_or_none("static_tiny", ["data_root=elsewhere"]) is None
    with pytest.raises(ValueError, match="train=True"):
        artifacts.landmark_weights(epochs=3)


def test_the_train_switch_reads_the_environment(monkeypatch):
    monkeypatch.delenv("S2D_TRAIN", raising=False)
    assert artifacts.train_switch() is False
    monkeypatch.setenv("S2D_TRAIN", "1")
    assert artifacts.train_switch() is True


def _fake_manifest(tmp_path, values):
    (tmp_path / shipped.MANIFEST).write_text(json.dumps({
        "machine": {"cpu": "a CPU", "kernels": "AVX2"},
        "runs": {"static": {"folder": "static", "files": {}, "shipped": {"uar": values[0], "war": values[0]},
                            "seeds": [{"seed": i, "uar": v, "war": v} for i, v in enumerate(values)]}}}))
    return tmp_path


def test_a_run_trained_here_is_judged_by_the_seed_spread(tmp_path):
    folder = _fake_manifest(tmp_path, [0.90, 0.92, 0.91, 0.89, 0.93])
    low, high = shipped.band([0.90, 0.92, 0.91, 0.89, 0.93])
    assert low < 0.89 and high > 0.93 and high - low < 0.2  # 5 seeds: t(0.995, 4) = 4.6
    text = shipped.compare("static", {"uar": 0.88, "war": 0.95}, folder)
    assert "your run 88.0 %" in text and "shipped (seed 0) 90.0 %" in text and "5 seeds 91.0" in text
    with pytest.raises(AssertionError, match="uar, war outside"):
        shipped.compare("static", {"uar": 0.5, "war": 0.99}, folder)
    assert "range 89.0-93.0" in shipped.summary("static", folder)
    with pytest.raises(ValueError):
        shipped.band([0.9])


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["landmarks", "static", "dfer"])
def test_the_shipped_weights_score_here_what_the_manifest_says(stage):
    """What the notebooks show from the shipped weights is the same on every CPU type: rounding
    moves a logit by about 1e-6, so at most one test item near a tie may flip (the tolerance:
    one item's share of the metric; NME within 1e-4)."""
    artifacts.synthetic_data()
    entry = shipped.manifest()["runs"][stage]
    got = regenerate.score_shipped(stage, shipped.shipped_run(stage))
    if stage == "landmarks":
        assert got["nme"] == pytest.approx(entry["shipped"]["nme"], abs=1e-4)
        return
    assert got["n"] == entry["shipped"]["n"]
    # one flipped item moves WAR by 1/n and UAR by at most 1/(classes x smallest class)
    assert got["war"] == pytest.approx(entry["shipped"]["war"], abs=1 / got["n"] + 1e-9)
    assert got["uar"] == pytest.approx(entry["shipped"]["uar"],
                                       abs=1 / (got["classes"] * got["smallest_class"]) + 1e-9)


def test_readme_table_is_the_manifest():
    readme = (shipped.TRAINED.parent / "README.md").read_text()
    assert shipped.readme_table() in readme, \
        "run python -m s2d_course.artifacts.regenerate --readme README.md"


def test_the_shipped_static_run_starts_from_the_shipped_mae_encoder():
    """The MAE stage comes first, as in the paper: the static run's config names the shipped
    encoder, whose record carries the SHA-256 of exactly that file."""
    import yaml

    config = yaml.safe_load((shipped.shipped_run("static") / "config.yaml").read_text())
    assert config["vit_weights"] == "trained/mae_tiny/mae.safetensors"
    assert config["layer_decay"] == 0.75
    mae = artifacts.mae_weights()
    record = json.loads((mae.parent / "mae.json").read_text())
    assert record["mae_sha256"] == shipped.manifest()["runs"]["mae"]["files"]["mae.safetensors"]
    assert record["images"] > 1000 and record["loss_curve"][-1][1] < record["loss_curve"][0][1]
