"""The training engine on tiny in-memory data: stages, checkpoints, exact resume, NaN stop,
landmark cache, evaluation with test views."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from torch.utils.data import Dataset, TensorDataset

import s2d_course  # noqa: F401  (the tiny presets; spawned DDP workers import this module afresh)

from s2d_lib.checkpoints import checkpoint_metadata, load_checkpoint
from s2d_lib.config import load_config
from s2d_lib.model import FROZEN_IN_DYNAMIC
from s2d_lib.build import build_model
from s2d_lib.data.balanced_sampler import BalancedSampler
from s2d_lib.evaluate import evaluate, frame_average_baseline
from s2d_lib.landmark_cache import landmark_cache, landmark_hash
from s2d_lib.splits import DataSplits
from s2d_lib.trainer import TrainingDiverged, fit

NUM_CLASSES = 3


def toy_clips(n: int, frames: int = 1, size: int = 64, seed: int = 0) -> TensorDataset:
    """Noisy frames with a bright square whose place and colour give the class."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % NUM_CLASSES
    x = torch.randn(n, 3, frames, size, size, generator=g) * 0.5
    for i, c in enumerate(y.tolist()):
        x[i, c, :, 12 * c:12 * c + 24, 12 * c:12 * c + 24] += 2.0
    return TensorDataset(x[:, :, 0] if frames == 1 else x, y)


def toy_splits(n: int = 36, frames: int = 1, name: str = "toy") -> DataSplits:
    """Train (= its deterministic view) and test splits of ``toy_clips``."""
    train = toy_clips(n, frames)
    return DataSplits(train, train, toy_clips(12, frames, seed=1), train.tensors[1].tolist(),
                      ["a", "b", "c"], name=f"{name}-T{frames}")


def tiny_config(tmp_path, preset: str = "static_tiny", **changes):
    base = dict(num_classes=NUM_CLASSES, epochs=2, batch_size=8, out_dir=str(tmp_path / "run"),
                landmark_weights=None,
                cache_dir=str(tmp_path / "cache"), progress=False, val_fraction=0.25)
    return load_config(preset, {**base, **changes})


@pytest.fixture(scope="module")
def static_run(tmp_path_factory):
    """A two-epoch static run (T = 1) with the landmark cache on."""
    tmp = tmp_path_factory.mktemp("static")
    cfg = tiny_config(tmp)
    return cfg, fit(cfg, toy_splits())


def test_static_run_writes_metrics_and_checkpoints(static_run):
    cfg, result = static_run
    run = cfg.run_dir
    for name in ("best.safetensors", "best.json", "last.safetensors", "last.json", "last_state.pt",
                 "metrics.csv", "metrics.json", "results.json", "config.yaml"):
        assert (run / name).is_file(), name
    assert [h["epoch"] for h in result["history"]] == [1, 2]
    assert (run / "metrics.csv").read_text().splitlines()[0].startswith("epoch,train_loss")
    assert set(result["test"]) >= {"war", "uar", "per_class_recall", "confusion"}
    assert json.loads((run / "results.json").read_text())["test"]["war"] == result["test"]["war"]
    model = load_checkpoint(run / "last.safetensors")
    assert model.num_frames == 1 and checkpoint_metadata(run / "last.safetensors")["epoch"] == 2
    assert checkpoint_metadata(run / "last.safetensors")["dataset"] == "RAF-DB"


def test_temporal_stage_inflates_the_static_checkpoint_and_trains_only_dynamic_groups(
        static_run, tmp_path):
    static_cfg, _ = static_run
    init = static_cfg.run_dir / "best.safetensors"
    cfg = tiny_config(tmp_path, "temporal_tiny", num_frames=2, init=str(init), epochs=1,
                      dataset="DFEW", landmark_cache=False)
    static = load_file(str(init))
    start = build_model(cfg).state_dict()
    # temporal embedding repeated over T; the ViT and the landmark stream carried over; TMAs fresh
    torch.testing.assert_close(start["temporal_embedding"],
                               static["temporal_embedding"].expand(-1, 2, -1))
    torch.testing.assert_close(start["blocks.0.attn.qkv.weight"], static["blocks.0.attn.qkv.weight"])
    tma = "prompt_blocks.1.TMA.T_Adapter.D_fc1.weight"
    assert not torch.equal(start[tma], static[tma])
    fit(cfg, toy_splits(frames=2))
    trained = load_file(str(cfg.run_dir / "last.safetensors"))
    for key, value in start.items():
        if key.startswith(FROZEN_IN_DYNAMIC):
            assert torch.equal(trained[key], value), f"{key} must stay frozen"
    assert not torch.equal(trained[tma], start[tma])
    assert not torch.equal(trained["temporal_embedding"], start["temporal_embedding"])
    assert torch.equal(trained["landmark_stream.conv1.conv.weight"],
                       static["landmark_stream.conv1.conv.weight"])


def test_resume_continues_exactly(static_run, tmp_path):
    """Kill a DFER run (mixup + EASDL) after epoch 1, resume it: same losses, same weights.
    Two steps of four clips per epoch are enough to carry every kind of state across the kill."""
    init = str(static_run[0].run_dir / "best.safetensors")
    common = dict(num_frames=2, init=init, epochs=3, landmark_cache=False, mixup=0.8, cutmix=1.0,
                  easdl_queue=2, easdl_start_epoch=0, easdl_ramp="1:0.5", val_fraction=0.25,
                  batch_size=4)
    data = dict(n=12, frames=2)
    full = fit(tiny_config(tmp_path / "a", "dfer_tiny", **common), toy_splits(**data))

    def kill_after_first_epoch(row):
        if row["epoch"] == 1:
            raise KeyboardInterrupt

    cfg = tiny_config(tmp_path / "b", "dfer_tiny", **common)
    with pytest.raises(KeyboardInterrupt):
        fit(cfg, toy_splits(**data), callbacks=[kill_after_first_epoch])
    resumed = fit(cfg, toy_splits(**data))
    keys = ("train_loss", "train_ce", "train_easdl", "lr", "val_uar", "val_loss")
    assert [[h[k] for k in keys] for h in resumed["history"]] == \
        [[h[k] for k in keys] for h in full["history"]]
    # EASDL was off while the queues filled (epoch 1) and on afterwards
    assert full["history"][0]["easdl_weight"] == 0 and full["history"][2]["easdl_weight"] == 0.5
    a = load_file(str(tmp_path / "a" / "run" / "last.safetensors"))
    b = load_file(str(tmp_path / "b" / "run" / "last.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


class Poisonable(Dataset):
    """Wraps a dataset; once ``poison`` is set every item is NaN (a corrupt shard, a bad lr)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset, self.poison = dataset, False

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        x, y = self.dataset[i]
        return (torch.full_like(x, float("nan")) if self.poison else x), y


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = tiny_config(tmp_path, epochs=3, landmark_cache=False, val_fraction=0.0)
    data = toy_splits()
    data.train = Poisonable(data.train)

    def poison(row):
        data.train.poison = True

    with pytest.raises(TrainingDiverged, match=r"loss is nan at epoch 2, step 1.*last good "
                                               r"checkpoint is .*last.safetensors \(epoch 1\)"):
        fit(cfg, data, callbacks=[poison])
    last = load_checkpoint(cfg.run_dir / "last.safetensors")
    assert checkpoint_metadata(cfg.run_dir / "last.safetensors")["epoch"] == 1
    assert all(torch.isfinite(p).all() for p in last.parameters())
    assert len(json.loads((cfg.run_dir / "metrics.json").read_text())) == 1


def test_landmark_cache_is_reused_and_invalidated_when_the_weights_change(tmp_path):
    cfg = tiny_config(tmp_path)
    model = build_model(cfg)
    data = toy_clips(5, frames=2)
    calls = []
    stream = model.landmark_stream
    original = stream.forward
    stream.forward = lambda frames: calls.append(len(frames)) or original(frames)
    first = landmark_cache(model, data, "toy", tmp_path / "cache", batch_size=2)
    assert first.shape == (5, 2, 128, 8, 8) and first.dtype == torch.float16
    assert calls == [4, 4, 2]  # frames of 2 + 2 + 1 clips
    expected = original(data.tensors[0].transpose(1, 2).flatten(0, 1)).view(5, 2, 128, 8, 8)
    torch.testing.assert_close(first.float(), expected, atol=2e-3, rtol=2e-3)
    calls.clear()
    again = landmark_cache(model, data, "toy", tmp_path / "cache", batch_size=2)
    assert calls == [] and torch.equal(again, first)  # reused from disk
    old_hash = landmark_hash(model)
    with torch.no_grad():
        stream.net.conv1.conv.weight.mul_(1.5)
    assert landmark_hash(model) != old_hash
    fresh = landmark_cache(model, data, "toy", tmp_path / "cache", batch_size=2)
    assert calls and not torch.equal(fresh, first)  # recomputed with the new weights
    assert len(list((tmp_path / "cache").glob("toy-*.pt"))) == 2


def test_a_run_is_the_same_with_a_cold_or_a_warm_landmark_cache(tmp_path):
    settings = dict(epochs=1, cache_dir=str(tmp_path / "cache"))
    cold = fit(tiny_config(tmp_path / "cold", out_dir=str(tmp_path / "cold"), **settings),
               toy_splits(n=12))
    assert list((tmp_path / "cache").glob("*.pt"))  # the first run wrote the cache ...
    warm = fit(tiny_config(tmp_path / "warm", out_dir=str(tmp_path / "warm"), **settings),
               toy_splits(n=12))  # ... the second one reads it
    assert cold["history"][0]["train_loss"] == warm["history"][0]["train_loss"]
    assert cold["test"]["war"] == warm["test"]["war"]


def test_evaluate_averages_softmax_over_test_views():
    torch.manual_seed(0)
    model = build_model(load_config("static_tiny", {"num_classes": NUM_CLASSES, "landmark_weights": None})).eval()
    views = torch.randn(4, 2, 3, 1, 64, 64)  # 4 items x 2 views
    labels = torch.tensor([0, 1, 2, 0])
    result = evaluate(model, TensorDataset(views, labels), NUM_CLASSES, batch_size=3)
    with torch.no_grad():
        probs = model(views.flatten(0, 1)).softmax(-1).view(4, 2, -1).mean(1)
    torch.testing.assert_close(torch.as_tensor(result["probs"]), probs)
    assert result["war"] == pytest.approx((probs.argmax(1) == labels).float().mean().item())


def test_frame_average_baseline_scores_each_frame_with_the_static_model():
    torch.manual_seed(0)
    model = build_model(load_config("static_tiny", {"num_classes": NUM_CLASSES, "landmark_weights": None})).eval()
    clips = torch.randn(3, 3, 2, 64, 64)
    labels = torch.tensor([2, 1, 0])
    order = [2, 0, 1]  # dataset class i is the static model's class order[i]
    result = frame_average_baseline(model, TensorDataset(clips, labels), NUM_CLASSES, order)
    with torch.no_grad():
        per_frame = model(clips.transpose(1, 2).flatten(0, 1).unsqueeze(2)).softmax(-1)
    probs = per_frame.view(3, 2, -1).mean(1)[:, order]
    torch.testing.assert_close(torch.as_tensor(result["probs"]), probs)
    assert result["war"] == pytest.approx((probs.argmax(1) == labels).float().mean().item())


def test_balanced_sampler_evens_out_classes_and_shards_disjointly():
    labels = [0] * 90 + [1] * 10
    sampler = BalancedSampler(labels, seed=0)
    sampler.set_epoch(3)
    drawn = torch.tensor([labels[i] for i in sampler])
    assert 0.35 < drawn.float().mean() < 0.65  # class 1 is 10 % of the data, ~50 % of the draws
    ranks = [list(BalancedSampler(labels, r, 2, seed=0)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 50
    assert sorted(ranks[0] + ranks[1]) == sorted(BalancedSampler(labels, 0, 1, seed=0))
