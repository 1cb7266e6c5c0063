"""Clip Mixup / CutMix: one H x W box on every frame, lam from its area, caller's batch kept."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from timm.data import Mixup

from s2d_lib.mixup import ClipMixup, release_mixup

NUM_CLASSES = 7
SMOOTHING = 0.1


def _lam_from_targets(targets: torch.Tensor, y: torch.Tensor) -> float:
    """Item 0's weight of its own label in timm's smoothed, mixed targets."""
    off = SMOOTHING / NUM_CLASSES
    on = 1 - SMOOTHING + off
    return float((targets[0, y[0]] - off) / (on - off))


def test_cutmix_pastes_one_box_on_every_frame_and_mixup_blends_all():
    mix = release_mixup(NUM_CLASSES)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 5, 16, 20, generator=g)
    y = torch.tensor([0, 1, 2, 3])
    kept, partner = x.clone(), x.flip(0)
    seen = {"cutmix": 0, "mixup": 0}
    for seed in range(40):
        np.random.seed(seed)
        mixed, targets = mix(x, y)
        assert torch.equal(x, kept)  # the caller's clips are not mixed in place
        lam = _lam_from_targets(targets, y)
        assert lam == pytest.approx(mix.lam, abs=1e-6)
        changed = mixed != x
        if torch.allclose(mixed, lam * x + (1 - lam) * partner, atol=1e-6) and changed.all():
            seen["mixup"] += 1
            continue
        # CutMix: the same H x W box in every item, channel and frame, taken from the partner
        box = changed[0, 0, 0]
        assert torch.equal(changed, box.expand_as(changed)), f"seed {seed}"
        assert torch.equal(mixed[changed], partner[changed])
        rows, cols = box.any(1).nonzero(), box.any(0).nonzero()
        if box.any():
            assert box[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()
        assert box.sum().item() / box.numel() == pytest.approx(1 - lam, abs=1e-6)
        seen["cutmix"] += 1
    assert seen["cutmix"] >= 10 and seen["mixup"] >= 10


def test_images_are_timms_mixup():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(6, 3, 12, 12, generator=g)
    y = torch.tensor([0, 1, 2, 3, 4, 5])
    kwargs = dict(mixup_alpha=0.8, cutmix_alpha=1.0, prob=1.0, switch_prob=0.5, mode="batch",
                  label_smoothing=SMOOTHING, num_classes=NUM_CLASSES)
    ours, timms = ClipMixup(**kwargs), Mixup(**kwargs)
    for seed in range(12):
        np.random.seed(seed)
        a, ta = ours(x, y)
        np.random.seed(seed)
        b, tb = timms(x.clone(), y)
        assert torch.equal(a, b) and torch.allclose(ta, tb)


def test_odd_batches_and_other_modes():
    np.random.seed(0)
    mixed, targets = release_mixup(NUM_CLASSES)(torch.rand(1, 3, 2, 8, 8), torch.tensor([3]))
    assert mixed.shape == (1, 3, 2, 8, 8)
    assert targets.argmax(1).item() == 3 and targets.sum().item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="batch"):
        ClipMixup(mode="elem")
    with pytest.raises(ValueError, match="shape"):
        release_mixup(NUM_CLASSES)(torch.rand(2, 8, 8), torch.tensor([0, 1]))
