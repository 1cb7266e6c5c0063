"""The training augmentation: timm's RandAugment and random erasing, one draw per clip."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from timm.data.auto_augment import _RAND_INCREASING_TRANSFORMS, rand_augment_transform
from timm.data.transforms import str_to_pil_interp
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from s2d_lib.data.transforms import (RELEASE_AUTO_AUGMENT, ClipRandAugment, ClipRandomErasing,
                                     eval_transform, normalize, train_transform)


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _frames(n: int, size: int = 40, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    # smooth random content: RandAugment's operations all visibly change it
    small = torch.randint(0, 256, (n, 3, 5, 5), generator=g, dtype=torch.uint8)
    return TF.resize(small, [size, size], antialias=True)


def test_same_operations_on_every_frame():
    transform = train_transform(24, reprob=0.0)
    frame = _frames(1)
    changed = 0
    for seed in range(25):
        _seed(seed)
        clip = transform(tv_tensors.Video(frame.expand(6, -1, -1, -1).clone()))
        assert isinstance(clip, tv_tensors.Video) and clip.shape == (6, 3, 24, 24)
        assert all(torch.equal(clip[0], clip[t]) for t in range(1, 6)), f"seed {seed}"
        _seed(seed)
        plain = train_transform(24, auto_augment=None, reprob=0.0)(tv_tensors.Video(frame.clone()))
        changed += not torch.allclose(clip[:1], plain)
    assert changed >= 15  # RandAugment did act on most clips


def test_randaugment_is_timms_policy_m7_of_10():
    step = train_transform(32).transforms[0]
    assert isinstance(step, ClipRandAugment) and step.config == RELEASE_AUTO_AUGMENT
    policy = step.policy(40)
    assert policy.num_layers == 4
    assert sorted(op.name for op in policy.ops) == sorted(_RAND_INCREASING_TRANSFORMS)
    for op in policy.ops:
        assert op.magnitude == 7 and op.prob == 0.5 and op.magnitude_std == 0.5
        assert op.hparams["translate_const"] == 18  # 45 % of the 40-px short side
        assert op.kwargs["resample"] == str_to_pil_interp("bicubic")


def test_each_frame_is_timms_transform_under_the_same_seed():
    frames = _frames(3, seed=1)
    timm_ra = rand_augment_transform(RELEASE_AUTO_AUGMENT, dict(
        translate_const=18, interpolation=str_to_pil_interp("bicubic")))
    for seed in range(8):
        _seed(seed)
        ours = ClipRandAugment()(tv_tensors.Video(frames))
        state_after = random.getstate()
        for t in range(3):
            _seed(seed)
            expected = TF.pil_to_tensor(timm_ra(TF.to_pil_image(frames[t])))
            assert torch.equal(ours[t], expected), f"seed {seed}, frame {t}"
        assert random.getstate() == state_after  # the generators advance as for one frame


def test_erased_box_is_the_same_on_every_frame_with_pixel_noise():
    eraser = ClipRandomErasing(p=1.0)
    assert eraser.mode == "pixel" and eraser.max_count == 1
    for seed in range(20):
        _seed(seed)
        clip = eraser(tv_tensors.Video(torch.zeros(4, 3, 30, 30)))
        erased = clip != 0
        assert torch.equal(erased, erased[:1].expand_as(erased)), f"seed {seed}"
        rows, cols = erased[0, 0].any(1).nonzero(), erased[0, 0].any(0).nonzero()
        box = erased[0, 0, rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        assert box.all()  # one rectangle
        area = box.numel() / 900
        assert 0.02 * 0.9 <= area <= 1 / 3 * 1.1
        noise = clip[erased]
        assert 0.5 < noise.std() < 1.5  # standard normal, drawn per pixel
        assert not torch.equal(clip[0], clip[1])  # and per frame


def test_erasing_probability_and_images():
    _seed(0)
    hits = sum(bool((ClipRandomErasing(0.25)(torch.zeros(3, 16, 16)) != 0).any())
               for _ in range(400))
    assert 70 < hits < 130
    with pytest.raises(TypeError, match="float"):
        ClipRandomErasing(1.0)(torch.zeros(3, 16, 16, dtype=torch.uint8))


def _crop_fractions(transform: v2.Compose, n: int = 300) -> np.ndarray:
    """Area fraction of each random crop, read from where two corner landmarks land."""
    image = tv_tensors.Image(torch.zeros(3, 100, 100, dtype=torch.uint8))
    corners = tv_tensors.KeyPoints(torch.tensor([[0.0, 0.0], [100.0, 100.0]]), canvas_size=(100, 100))
    out = []
    for _ in range(n):
        _, points = transform(image, corners)
        dx, dy = (points[1] - points[0]).abs().tolist()
        out.append((32 / dx) * (32 / dy))
    return np.array(out)


def test_crop_scale_range():
    _seed(0)
    paper = _crop_fractions(train_transform(32, auto_augment=None))
    assert paper.min() >= 0.08 * 0.9 and paper.max() <= 1.0 + 1e-6 and paper.min() < 0.2
    tiny = _crop_fractions(train_transform(32, auto_augment=None, scale=(0.6, 1.0)))
    assert tiny.min() >= 0.6 * 0.97 and tiny.max() <= 1.0 + 1e-6
    crop = train_transform(32).transforms[1]
    assert crop.scale == (0.08, 1.0) and crop.ratio == pytest.approx((3 / 4, 4 / 3))


def test_randaugment_refuses_landmarks():
    image = tv_tensors.Image(torch.zeros(3, 20, 20, dtype=torch.uint8))
    points = tv_tensors.KeyPoints(torch.zeros(68, 2), canvas_size=(20, 20))
    with pytest.raises(ValueError, match="auto_augment=None"):
        train_transform(16)(image, points)
    _, moved = train_transform(16, auto_augment=None)(image, points)
    assert moved.shape == (68, 2)


@pytest.mark.parametrize("video", [False, True])
def test_tiny_settings_keep_the_earlier_random_stream(video: bool):
    """auto_augment=None, reprob=0, scale (0.6, 1): the draws and results of the stack the tiny
    presets were trained with (crop, flip, normalise, torchvision erasing with p=0)."""
    earlier = v2.Compose([v2.RandomResizedCrop(20, scale=(0.6, 1.0), antialias=True),
                          v2.RandomHorizontalFlip(), normalize(), v2.RandomErasing(p=0.0, value=0)])
    ours = train_transform(20, auto_augment=None, reprob=0.0, scale=(0.6, 1.0))
    frames = _frames(5 if video else 1, size=36, seed=2)
    make = (lambda: tv_tensors.Video(frames.clone())) if video else \
        (lambda: tv_tensors.Image(frames[0].clone()))
    for seed in range(10):
        torch.manual_seed(seed)
        a = [earlier(make()) for _ in range(3)]
        state_a = torch.get_rng_state()
        torch.manual_seed(seed)
        b = [ours(make()) for _ in range(3)]
        assert all(torch.equal(x, y) for x, y in zip(a, b))
        assert torch.equal(state_a, torch.get_rng_state())


def test_eval_transform_squashes_to_a_square():
    image = _frames(1, size=40, seed=3)[0][:, :, :30]  # 40 x 30, not square
    out = eval_transform(16)(tv_tensors.Image(image))
    assert out.shape == (3, 16, 16)
    expected = normalize()(TF.resize(image, [16, 16], antialias=True))
    assert torch.allclose(out, expected)


def test_clip_views_can_be_squashed(tmp_path):
    from PIL import Image

    from s2d_lib.data import DFEW

    clip = tmp_path / "00001"
    clip.mkdir()
    frames = _frames(6, size=48, seed=4)[..., :32]  # 48 x 32 frames, not square
    for t, frame in enumerate(frames):  # lossless, so the expected views are exact
        Image.fromarray(frame.permute(1, 2, 0).numpy()).save(clip / f"{t + 1:05d}.png")
    (tmp_path / "split.csv").write_text("video_name,label\n00001,0\n")
    kwargs = dict(data_root=tmp_path, annotation_file=tmp_path / "split.csv", num_frames=4,
                  mode="test", image_size=16, num_temporal_views=1, num_spatial_views=2)
    squashed, _ = DFEW(**kwargs, test_resize="square")[0]
    window = frames[:4]  # the first window of a 6-frame clip
    expected = normalize()(TF.resize(window, [16, 16], antialias=True)).permute(1, 0, 2, 3)
    assert squashed.shape == (2, 3, 4, 16, 16)
    assert torch.allclose(squashed[0], expected) and torch.equal(squashed[0], squashed[1])
    cropped, _ = DFEW(**kwargs)[0]  # short side to 16, two crops along the long side
    assert not torch.allclose(cropped[0], cropped[1])
    with pytest.raises(ValueError, match="test_resize"):
        DFEW(**kwargs, test_resize="crop")
