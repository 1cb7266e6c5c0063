"""Grad-CAM family for S2D through the ``grad-cam`` package (``pytorch_grad_cam``).

grad-cam expects a one-input model whose batch of outputs matches its batch of inputs, and it
sizes the maps from the input's last two dimensions (a 5-D input is treated as a volume).
S2D takes a video ``(B, 3, T, H, W)``, folds the frames into the batch (tokens
``(B*T, 1+N, D)``) and returns one logit vector per *clip*. So:

* :class:`CAMModel` takes the clip as its folded frames ``(B*T, 3, H, W)`` (or as a video),
  computes the landmark view inside, and returns the clip logits ``(B, K)``;
* :func:`reshape_transform` turns the target layer's tokens into per-frame maps
  ``(B*T, D, g, g)``;
* the CAM targets score the clip logits, one target per clip, and grad-cam returns one map per
  frame, resized to the frame: :func:`clip_cams` gives ``(B, T, H, W)`` in [0, 1].
"""
from __future__ import annotations

from contextlib import contextmanager
from math import isqrt
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from ..extras import require
from .attention import evaluating
from .frames import plot_frame_maps

_grad_cam = require("pytorch_grad_cam", "notebooks", "s2d_lib.viz.cam (class activation maps)")
EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, XGradCAM = (
    _grad_cam.EigenCAM, _grad_cam.GradCAM, _grad_cam.GradCAMPlusPlus, _grad_cam.HiResCAM,
    _grad_cam.LayerCAM, _grad_cam.XGradCAM)
ClassifierOutputTarget = require("pytorch_grad_cam.utils.model_targets", "notebooks",
                                 "s2d_lib.viz.cam").ClassifierOutputTarget

__all__ = ["CAMModel", "reshape_transform", "target_layer", "gradient_from", "clip_cams", "plot_cams",
           "CAM_METHODS"]

#: Methods that work on per-frame token maps. ScoreCAM / AblationCAM are left out: they re-run the
#: model on batches of masked copies of one frame, which the clip model would read as a clip.
CAM_METHODS = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "xgradcam": XGradCAM,
               "hirescam": HiResCAM, "layercam": LayerCAM, "eigencam": EigenCAM}


class CAMModel(nn.Module):
    """S2D as a one-input model: clip in (frames ``(B*T, 3, H, W)`` or video ``(B, 3, T, H, W)``),
    clip logits ``(B, K)`` out, the landmark view computed inside (or the given one)."""

    def __init__(self, model: nn.Module, landmark_features: torch.Tensor | None = None) -> None:
        super().__init__()
        self.model = model
        self.landmark_features = landmark_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:  # folded frames, frame index fastest (as S2D.fold_frames)
            t = self.model.num_frames
            if x.shape[0] % t:
                raise ValueError(f"{x.shape[0]} frames are not whole clips of T={t}")
            x = x.view(-1, t, *x.shape[1:]).transpose(1, 2)
        return self.model(x, self.landmark_features)


def reshape_transform(tokens: torch.Tensor) -> torch.Tensor:
    """ViT tokens ``(B*T, 1+N, D)`` -> per-frame maps ``(B*T, D, g, g)`` (class token dropped)."""
    n = tokens.shape[1] - 1
    g = isqrt(n)
    if g * g != n:
        raise ValueError(f"{n} patch tokens do not form a square grid (tokens {tuple(tokens.shape)})")
    return tokens[:, 1:].reshape(tokens.shape[0], g, g, tokens.shape[2]).permute(0, 3, 1, 2)


def target_layer(model: nn.Module) -> nn.Module:
    """``model.blocks[-1].norm1``: the input of the last attention.

    The clip logits depend on the tokens after the last block only through their class tokens
    (``ln_post`` -> class token -> mean over frames -> head). The patch tokens of the last
    block's *output* therefore get zero gradient, and a CAM there is empty. The patch tokens
    that enter the last block's attention do reach the class token, through that attention, so
    their gradient says how each position moves the class score: ``norm1`` of the last block is
    the deepest layer where a gradient-weighted map is meaningful.
    """
    return model.blocks[-1].norm1


@contextmanager
def gradient_from(model: nn.Module, layer: nn.Module) -> Iterator[None]:
    """Record autograd only from ``layer`` on: parameters are frozen for the block and the layer's
    output becomes a leaf that requires grad, so the CAM's backward pass stops at the target
    layer instead of running through the whole network (same values, a fraction of the cost)."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.requires_grad_(False)
    handle = layer.register_forward_hook(lambda m, args, out: out.detach().requires_grad_(True))
    try:
        yield
    finally:
        handle.remove()
        for p, flag in flags:
            p.requires_grad_(flag)


def clip_cams(model: nn.Module, video: torch.Tensor, target_class: int | list[int] | None = None,
              method: str = "gradcam", landmark_features: torch.Tensor | None = None,
              layer: nn.Module | None = None) -> np.ndarray:
    """Per-frame class-activation maps ``(B, T, H, W)`` in [0, 1] for the class ``target_class``
    (one per clip, or one for all; the predicted class when None) of ``video[B, 3, T, H, W]``."""
    if method not in CAM_METHODS:
        raise ValueError(f"method must be one of {sorted(CAM_METHODS)}, got {method!r}")
    b, _, t, h, w = video.shape
    targets = None
    if target_class is not None:
        classes = [target_class] * b if isinstance(target_class, int) else list(target_class)
        if len(classes) != b:
            raise ValueError(f"{len(classes)} target classes for {b} clips")
        targets = [ClassifierOutputTarget(c) for c in classes]
    layer = layer if layer is not None else target_layer(model)
    # gradient_from's hook must run before grad-cam's own hooks on the layer: enter it first.
    with evaluating(model), torch.enable_grad(), gradient_from(model, layer), CAM_METHODS[method](
            CAMModel(model, landmark_features), [layer], reshape_transform=reshape_transform) as cam:
        maps = cam(model.fold_frames(video).detach(), targets)
    return maps.reshape(b, t, h, w)


def plot_cams(video: torch.Tensor, cams: np.ndarray, clip: int = 0, class_name: str | None = None,
              method: str = "gradcam", save: str | Path | None = None, boxes: np.ndarray | None = None
              ) -> Figure:
    """Each frame with its class-activation map from :func:`clip_cams` (``boxes`` ``(T, 4)``
    outlines each frame's face box, :func:`face_boxes`)."""
    what = f" for '{class_name}'" if class_name else ""
    return plot_frame_maps(video, cams[clip], clip, suptitle=f"{method}{what}",
                           label=f"{method} (grad-cam scales each frame to 0-1)", save=save, boxes=boxes)
