"""WAR / UAR / per-class recall / confusion against hand-computed cases; view averaging."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score

from s2d_lib.metrics import (average_views, classification_metrics, format_metrics,
                             selected_epoch, selection_metric)


def test_hand_computed_case():
    # class 0: 3 of 4 right; class 1: 1 of 2 right; class 2: 0 of 1 right (predicted as 0).
    y_true = [0, 0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 0, 1, 1, 0, 0]
    m = classification_metrics(y_true, y_pred, 3, ["a", "b", "c"])
    assert m["war"] == pytest.approx(4 / 7)
    assert m["per_class_recall"] == pytest.approx({"a": 0.75, "b": 0.5, "c": 0.0})
    assert m["uar"] == pytest.approx((0.75 + 0.5 + 0.0) / 3)
    assert m["confusion"] == [[3, 1, 0], [1, 1, 0], [1, 0, 0]]
    assert m["support"] == [4, 2, 1]
    assert format_metrics(m) == "WAR 57.14  UAR 41.67"


def test_uar_ignores_classes_absent_from_the_split():
    y_true, y_pred = [0, 0, 1, 1], [0, 0, 1, 2]
    m = classification_metrics(y_true, y_pred, 4)
    assert m["uar"] == pytest.approx(0.75)  # (1 + 0.5) / 2, not divided by 4 classes
    assert m["uar"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert m["per_class_recall"]["3"] == 0.0


def test_imbalanced_war_differs_from_uar():
    y_true = np.array([0] * 9 + [1])
    m = classification_metrics(y_true, np.zeros(10, int), 2)
    assert (m["war"], m["uar"]) == (pytest.approx(0.9), pytest.approx(0.5))


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="label arrays"):
        classification_metrics([0, 1], [0], 2)


def test_average_views_averages_softmax_not_logits():
    logits = torch.tensor([[[10.0, 0.0], [0.0, 1.0]]])  # one clip, two views
    probs = average_views(logits)
    expected = (torch.tensor([10.0, 0.0]).softmax(0) + torch.tensor([0.0, 1.0]).softmax(0)) / 2
    torch.testing.assert_close(probs[0], expected)
    assert average_views(logits[:, 0]).shape == (1, 2)


def test_the_kept_epoch_is_the_first_best_on_the_dataset_s_metric():
    assert selection_metric("DFEW") == selection_metric("MAFW") == "uar"
    assert selection_metric("RAF-DB") == selection_metric("AffectNet") == "war"
    history = [{"epoch": 1, "train_loss": 2.0},  # not validated
               {"epoch": 2, "val_uar": 0.4, "val_war": 0.9},
               {"epoch": 3, "val_uar": 0.6, "val_war": 0.5},
               {"epoch": 4, "val_uar": 0.6, "val_war": 0.95}]  # ties on UAR: the earlier stays
    assert selected_epoch(history, "uar")["epoch"] == 3
    assert selected_epoch(history, "war")["epoch"] == 4
    assert selected_epoch(history[:1], "uar") is None
