"""What the engine does between the pieces: a static classifier handed to a video model of
another dataset keeps each emotion's row, ``fold=0`` runs every fold and writes their mean and
spread, and ``class_balanced`` changes what ``fit`` trains on."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import timm
import torch
from torch.utils.data import TensorDataset

from s2d_lib import train as train_module
from s2d_lib.checkpoints import inflate, save_checkpoint
from s2d_lib.config import load_config
from s2d_lib.splits import DataSplits
from s2d_lib.trainer import Trainer
from test_train import tiny_config

# The datasets' published label orders: RAF-DB Surprise, Fear, Disgust, Happiness, Sadness,
# Anger, Neutral; DFEW Happy, Sad, Neutral, Angry, Surprise, Disgust, Fear.
RAFDB_ROW_OF_DFEW_CLASS = [3, 4, 6, 5, 0, 2, 1]


@pytest.mark.parametrize("target, rows", [("DFEW", RAFDB_ROW_OF_DFEW_CLASS),
                                          (None, list(range(7)))])
def test_inflating_a_static_classifier_reorders_it_to_the_video_dataset(tmp_path, target, rows):
    torch.manual_seed(0)
    static = timm.create_model("s2d_tiny_patch8_64", num_classes=7, num_frames=1)
    path = save_checkpoint(static, tmp_path / "static.safetensors", {"dataset": "RAF-DB"})
    video = timm.create_model("s2d_tiny_patch8_64", num_classes=7, num_frames=2)
    report = inflate(video, path, target_dataset=target)
    w, b = static.head.fc_cls.weight.detach(), static.head.fc_cls.bias.detach()
    assert torch.equal(video.head.fc_cls.weight, w[rows])
    assert torch.equal(video.head.fc_cls.bias, b[rows])
    assert any("re-ordered" in c for c in report.conversions) == (target is not None)


def test_fold_zero_trains_every_fold_and_writes_their_mean_and_spread(tmp_path, monkeypatch):
    trained = []

    def fake_fit(cfg, data, callbacks=()):  # one run's test metrics, different per fold
        trained.append((cfg.fold, cfg.run_dir))
        cfg.run_dir.mkdir(parents=True)  # as fit makes its run folder
        return {"test": {"war": 0.5 + 0.1 * cfg.fold, "uar": 0.4 + 0.05 * cfg.fold}}

    monkeypatch.setattr(train_module, "fit", fake_fit)
    monkeypatch.setattr(train_module, "build_data", lambda cfg: None)
    monkeypatch.setattr(train_module, "check_init", lambda cfg: None)
    cfg = load_config("dfer_paper", dict(fold=0, data_root=str(tmp_path), out_dir=str(tmp_path / "run")))
    summary = train_module.train(cfg)
    assert trained == [(k, tmp_path / "run" / f"fold{k}") for k in range(1, 6)]
    war = 0.5 + 0.1 * np.arange(1, 6)
    assert summary["war"]["mean"] == pytest.approx(war.mean())
    assert summary["war"]["std"] == pytest.approx(war.std())
    written = json.loads((tmp_path / "run" / "folds.json").read_text())
    assert written["uar"]["mean"] == pytest.approx(0.4 + 0.05 * 3)
    assert sorted(written["folds"]) == ["1", "2", "3", "4", "5"]


def test_class_balanced_fit_draws_the_rare_class_as_often_as_the_common_one(tmp_path):
    labels = [0] * 40 + [1] * 8  # one class five times rarer
    x = torch.randn(len(labels), 3, 64, 64, generator=torch.Generator().manual_seed(0))
    ds = TensorDataset(x, torch.tensor(labels))
    data = DataSplits(ds, ds, None, labels, ["a", "b"], name="imbalanced")
    drawn = {}
    for balanced in (False, True):
        cfg = tiny_config(tmp_path / str(balanced), num_classes=2, class_balanced=balanced,
                          val_fraction=0.0, landmark_cache=False, batch_size=8)
        trainer = Trainer(cfg, data, None, ())
        counts = Counter()
        for epoch in range(3):
            trainer.sampler.set_epoch(epoch)
            for _, y in trainer.loader:
                counts.update(y.tolist())
        drawn[balanced] = counts[1] / sum(counts.values())
    assert drawn[False] == pytest.approx(8 / 48, abs=0.05)  # the data's own share
    assert 0.35 < drawn[True] < 0.65  # about half
