"""Mixup / CutMix of clips: timm's ``Mixup`` in batch mode, with the CutMix box pasted over
height x width on every frame.

timm's ``Mixup`` assumes images ``(B, C, H, W)``: given clips ``(B, C, T, H, W)`` it samples
the box from the last two dimensions but pastes it over ``T x H``. :class:`ClipMixup` pastes
one ``H x W`` box on every frame and corrects ``lam`` with its area. It also leaves the
caller's batch untouched (timm mixes in place), so the clean clips stay available, e.g. for
EASDL's anchors.
"""
from __future__ import annotations

import torch
from timm.data import Mixup
from timm.data.mixup import cutmix_bbox_and_lam, mixup_target

__all__ = ["ClipMixup", "release_mixup"]


class ClipMixup(Mixup):
    """timm's batch-mode ``Mixup`` for images ``(B, C, H, W)`` and clips ``(B, C, T, H, W)``.

    Calling it returns ``(mixed copy of x, soft targets)``; ``lam`` of the last call is kept in
    ``self.lam``. An odd batch size is allowed: batch mode mixes each item with its mirror in the
    batch, which for the middle item is itself.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.mode != "batch":
            raise ValueError(f"ClipMixup supports mode='batch' only, not {self.mode!r}")
        self.lam = 1.0

    def _mix_batch(self, x: torch.Tensor) -> float:
        lam, use_cutmix = self._params_per_batch()
        if lam == 1.0:
            return 1.0
        if use_cutmix:
            (yl, yh, xl, xh), lam = cutmix_bbox_and_lam(
                x.shape[-2:], lam, ratio_minmax=self.cutmix_minmax, correct_lam=self.correct_lam)
            x[..., yl:yh, xl:xh] = x.flip(0)[..., yl:yh, xl:xh]
        else:
            flipped = x.flip(0).mul_(1.0 - lam)  # a copy, taken before x is scaled
            x.mul_(lam).add_(flipped)
        return lam

    def __call__(self, x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.ndim not in (4, 5):
            raise ValueError(f"expected images (B, C, H, W) or clips (B, C, T, H, W), got shape "
                             f"{tuple(x.shape)}")
        mixed = x.clone()
        self.lam = self._mix_batch(mixed)
        return mixed, mixup_target(target, self.num_classes, self.lam, self.label_smoothing)


def release_mixup(num_classes: int, mixup_alpha: float = 0.8, cutmix_alpha: float = 1.0,
                  label_smoothing: float = 0.1) -> ClipMixup:
    """The release's setting: batch mode, switch probability 0.5, applied to every batch."""
    return ClipMixup(mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha, prob=1.0,
                     switch_prob=0.5, mode="batch", label_smoothing=label_smoothing,
                     num_classes=num_classes)
