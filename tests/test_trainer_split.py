"""The trainer's train / validation items are those of ``splits.train_val_indices``, the
function the claims use, and the same items as the stratified split it always drew."""
from __future__ import annotations

import pytest
from sklearn.model_selection import train_test_split

from s2d_lib.splits import train_val_indices
from s2d_lib.trainer import Trainer
from test_train import tiny_config, toy_splits


@pytest.mark.parametrize("val_fraction, train_fraction, seed", [(0.25, 1.0, 0), (0.25, 0.5, 3),
                                                                (0.0, 1.0, 1)])
def test_the_trainer_uses_the_one_split(tmp_path, val_fraction, train_fraction, seed):
    data = toy_splits(n=36)
    cfg = tiny_config(tmp_path, val_fraction=val_fraction, train_fraction=train_fraction,
                      seed=seed, landmark_cache=False)
    trainer = Trainer(cfg, data, None, ())
    train_idx, val_idx = train_val_indices(data.labels, val_fraction, train_fraction, seed)
    assert trainer.train_set.indices == train_idx
    assert (trainer.val_set.indices if val_fraction else trainer.val_set) == (val_idx or None)
    if val_fraction:  # the stratified split sklearn draws for the seed, as before
        expected_train, expected_val = train_test_split(list(range(36)), test_size=val_fraction,
                                                        stratify=data.labels, random_state=seed)
        assert val_idx == expected_val
        assert set(train_idx) <= set(expected_train) and len(train_idx) == len(expected_train)


def test_a_given_validation_split_is_kept_and_train_is_whole(tmp_path):
    data = toy_splits(n=36)
    data.val = data.test
    trainer = Trainer(tiny_config(tmp_path, landmark_cache=False), data, None, ())
    assert trainer.val_set is data.test and trainer.train_set.indices == list(range(36))
