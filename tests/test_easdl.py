"""EASDL: per-class FIFO anchor queues, soft labels, loss and weight ramp (design section 7)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from s2d_lib.easdl import (RELEASE_RAMP, EmotionAnchors, easdl_loss, easdl_weight, parse_ramp)


def _fill(anchors: EmotionAnchors, per_class: int, dim: int, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    c = anchors.num_classes
    labels = torch.arange(c).repeat(per_class)
    feats = torch.randn(len(labels), dim, generator=g)
    probs = torch.randn(len(labels), c, generator=g).softmax(-1)
    anchors.update(feats, probs, labels)


def test_queues_start_empty_and_refuse_soft_labels():
    anchors = EmotionAnchors(num_classes=3, dim=4, queue_size=2, top_k=1)
    assert anchors.count.tolist() == [0, 0, 0] and not anchors.ready
    with pytest.raises(RuntimeError, match="not full"):
        anchors.soft_labels(torch.randn(2, 4))
    # One class still short of a full queue: the loss must stay off.
    anchors.update(torch.randn(5, 4), torch.full((5, 3), 1 / 3), torch.tensor([0, 0, 1, 1, 2]))
    assert anchors.count.tolist() == [2, 2, 1] and not anchors.ready
    anchors.update(torch.randn(1, 4), torch.full((1, 3), 1 / 3), torch.tensor([2]))
    assert anchors.ready


def test_fifo_replaces_the_oldest_anchor_of_the_class():
    anchors = EmotionAnchors(num_classes=2, dim=1, queue_size=3, top_k=1)
    probs = torch.tensor([[1.0, 0.0]])
    for v in range(5):  # five pushes into a queue of three: 0 and 1 must be gone
        anchors.update(torch.tensor([[float(v)]]), probs, torch.tensor([0]))
    assert sorted(anchors.features[0, :, 0].tolist()) == [2.0, 3.0, 4.0]
    anchors.update(torch.tensor([[5.0]]), probs, torch.tensor([0]))
    assert sorted(anchors.features[0, :, 0].tolist()) == [3.0, 4.0, 5.0]  # 2 was the oldest
    assert anchors.count.tolist() == [3, 0]
    assert anchors.features[1].abs().sum() == 0  # class 1 untouched


def test_anchors_come_only_from_their_own_class():
    anchors = EmotionAnchors(num_classes=3, dim=3, queue_size=4, top_k=2)
    labels = torch.tensor([2, 0, 2, 1, 0, 2])
    feats = F.one_hot(labels, 3).float() * (1 + torch.arange(6)[:, None])  # feature marks its class
    anchors.update(feats, F.one_hot(labels, 3).float(), labels)
    for c in range(3):
        stored = anchors.features[c, : anchors.count[c]]
        assert (stored.argmax(1) == c).all()
        assert (anchors.probs[c, : anchors.count[c]].argmax(1) == c).all()
    assert anchors.count.tolist() == [2, 1, 3]


def test_soft_label_is_a_similarity_weighted_distribution():
    anchors = EmotionAnchors(num_classes=4, dim=8, queue_size=5, top_k=2)
    _fill(anchors, per_class=7, dim=8)
    soft = anchors.soft_labels(torch.randn(6, 8))
    assert soft.shape == (6, 4)
    assert torch.all(soft >= 0)
    torch.testing.assert_close(soft.sum(1), torch.ones(6))


def test_soft_label_hand_computed():
    # Two classes, queue 2, K = 1: the nearest anchor of each class, weighted by cosine similarity.
    anchors = EmotionAnchors(num_classes=2, dim=2, queue_size=2, top_k=1)
    anchors.update(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]]),
                   torch.tensor([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8], [0.4, 0.6]]),
                   torch.tensor([0, 0, 1, 1]))
    soft = anchors.soft_labels(torch.tensor([[1.0, 0.0]]))
    # class 0: best is [1,0] (sim 1); class 1: best is [1,1] (sim 1/sqrt 2)
    w0, w1 = 1.0, 2 ** -0.5
    expected = (w0 * torch.tensor([0.9, 0.1]) + w1 * torch.tensor([0.2, 0.8])) / (w0 + w1)
    torch.testing.assert_close(soft[0], expected)


def test_easdl_loss_is_bce_with_logits():
    logits, soft = torch.randn(3, 4), torch.rand(3, 4).softmax(-1)
    expected = -(soft * F.logsigmoid(logits) + (1 - soft) * F.logsigmoid(-logits)).mean()
    torch.testing.assert_close(easdl_loss(logits, soft), expected)


def test_release_ramp_and_parsing():
    assert [easdl_weight(e) for e in (0, 20, 29, 30, 49, 50, 59, 60, 79, 80, 99)] == \
        [0, 0, 0, 0.01, 0.01, 0.1, 0.1, 0.5, 0.5, 1.0, 1.0]
    assert parse_ramp("30:0.01, 50:0.1,60:0.5,80:1.0") == parse_ramp(RELEASE_RAMP) == \
        ((30, 0.01), (50, 0.1), (60, 0.5), (80, 1.0))
    assert easdl_weight(3, parse_ramp("2:0.25")) == 0.25
    with pytest.raises(ValueError, match="epoch:weight"):
        parse_ramp("30=0.1")


def test_queue_state_travels_with_state_dict():
    a = EmotionAnchors(num_classes=2, dim=3, queue_size=2)
    _fill(a, per_class=3, dim=3)
    b = EmotionAnchors(num_classes=2, dim=3, queue_size=2)
    b.load_state_dict(a.state_dict())
    assert b.ready
    x = torch.randn(4, 3)
    torch.testing.assert_close(a.soft_labels(x), b.soft_labels(x))
