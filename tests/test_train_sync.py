"""The trainer reads the logged losses from the device once per logging interval (and at the end
of an epoch), with the same float64 sums as a read every step, and stops on a non-finite loss
at those reads."""
from __future__ import annotations

import math
import sys

import pytest
import torch

from s2d_lib import trainer as trainer_module
from s2d_lib.trainer import Trainer, TrainingDiverged
from test_train import tiny_config, toy_splits

STEPS = 9  # 36 items, batches of 4, no validation split


def _trainer(tmp_path) -> Trainer:
    cfg = tiny_config(tmp_path, epochs=1, batch_size=4, val_fraction=0.0, landmark_cache=False)
    return Trainer(cfg, toy_splits(n=36), None, ())


@pytest.fixture
def host_reads(monkeypatch):
    """Every device -> host read (``item``, ``float``, ``bool``, ``tolist``) made by trainer.py."""
    reads: list[str] = []
    for name in ("item", "__float__", "__bool__", "tolist"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _name=name, _original=original):
            if sys._getframe(1).f_code.co_filename == trainer_module.__file__:
                reads.append(_name)
            return _original(self, *args)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return reads


def test_one_host_read_per_logging_interval_and_the_same_sums(tmp_path, monkeypatch, host_reads):
    monkeypatch.setattr(trainer_module, "LOG_EVERY", 4)
    trainer = _trainer(tmp_path)
    assert trainer.steps == STEPS
    per_step = []
    step = trainer._step
    monkeypatch.setattr(trainer, "_step", lambda *a: per_step.append(step(*a)) or per_step[-1])
    row = trainer._train_epoch()
    assert host_reads == ["tolist"] * math.ceil(STEPS / 4)  # after steps 4, 8 and 9
    # a Python float per step, summed in step order: what a read every step would log
    expected = 0.0
    for losses in per_step:
        expected += float(losses[0])
    assert row["train_loss"] == expected / STEPS


def test_a_nan_inside_an_interval_stops_the_run_at_the_read_naming_its_step(tmp_path,
                                                                             monkeypatch):
    monkeypatch.setattr(trainer_module, "LOG_EVERY", 4)
    trainer = _trainer(tmp_path)
    seen = []
    step = trainer._step

    def poisoned(x, *rest):
        seen.append(len(seen) + 1)
        return step(torch.full_like(x, math.nan) if len(seen) == 6 else x, *rest)

    monkeypatch.setattr(trainer, "_step", poisoned)
    with pytest.raises(TrainingDiverged, match=r"loss is nan at epoch 1, step 6:"):
        trainer._train_epoch()
    assert seen == list(range(1, 9))  # stopped at the read after step 8, not at the epoch's end
