"""Self-attention of S2D's ViT blocks: per-layer, per-head class-token -> patch maps for each
frame, and attention rollout across layers.

The model keeps timm's fused ``scaled_dot_product_attention``, which never materialises the
attention matrix. :class:`AttentionRecorder` hooks the ``Attention`` modules and recomputes
``softmax(q k^T / sqrt(d))`` from each module's input, only while it is active and only for
the modules asked for; the forward pass itself is untouched.
"""
from __future__ import annotations

from contextlib import contextmanager
from math import isqrt
from pathlib import Path
from typing import Iterator, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from timm.layers import Attention
from torch import nn

from .frames import HEAT_CMAP, colour_bar, draw_box, frame_images, plot_frame_maps, save_figure, upsample_maps

__all__ = ["AttentionRecorder", "attention_probabilities", "attention_maps", "cls_attention",
           "attention_rollout", "plot_attention", "plot_attention_heads", "plot_rollout",
           "evaluating", "clip_rows"]


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for the block, then restore its previous mode."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def attention_probabilities(attn: Attention, x: torch.Tensor) -> torch.Tensor:
    """``softmax(q k^T * scale)`` ``(B, heads, N, N)`` that ``attn`` computes for input ``x[B, N, C]``."""
    b, n, _ = x.shape
    qkv = attn.qkv(x).reshape(b, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    q, k = attn.q_norm(qkv[0]), attn.k_norm(qkv[1])
    # float32 softmax: maps recorded under autocast must still have rows summing to 1.
    return ((q * attn.scale) @ k.transpose(-2, -1)).float().softmax(-1)


class AttentionRecorder:
    """Context manager recording the attention probabilities of timm ``Attention`` modules.

    ``with AttentionRecorder(modules) as rec: model(video)`` leaves ``rec.maps[i]`` =
    ``(B, heads, N, N)`` of ``modules[i]`` in the last forward pass (detached, float32). The hooks
    return nothing, so outputs are unchanged, and are removed on exit.
    """

    def __init__(self, modules: Sequence[nn.Module]) -> None:
        bad = [type(m).__name__ for m in modules if not isinstance(m, Attention)]
        if bad:
            raise TypeError(f"AttentionRecorder needs timm.layers.Attention modules, got {bad}")
        self.modules = list(modules)
        self.maps: list[torch.Tensor | None] = [None] * len(self.modules)
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def _hook(self, index: int):
        def record(module: Attention, args: tuple, output: torch.Tensor) -> None:
            with torch.no_grad():
                self.maps[index] = attention_probabilities(module, args[0].detach())
        return record

    def __enter__(self) -> "AttentionRecorder":
        self._handles = [m.register_forward_hook(self._hook(i)) for i, m in enumerate(self.modules)]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def stacked(self) -> torch.Tensor:
        """All recorded maps stacked: ``(len(modules), B, heads, N, N)``."""
        missing = [i for i, m in enumerate(self.maps) if m is None]
        if missing:
            raise RuntimeError(f"no forward pass went through attention modules {missing}")
        return torch.stack(self.maps)


def attention_maps(model: nn.Module, video: torch.Tensor,
                   landmark_features: torch.Tensor | None = None) -> torch.Tensor:
    """Every ViT block's attention ``(L, B*T, heads, 1+N, 1+N)`` for ``video[B, 3, T, H, W]``
    (eval mode, no gradient; frame index fastest in ``B*T``), on the CPU."""
    with evaluating(model), torch.no_grad(), AttentionRecorder([b.attn for b in model.blocks]) as rec:
        model(video, landmark_features)
    return rec.stacked().cpu()


def cls_attention(maps: torch.Tensor) -> torch.Tensor:
    """Class-token -> patch rows of attention ``(..., 1+N, 1+N)`` as maps ``(..., g, g)``."""
    n = maps.shape[-1] - 1
    g = isqrt(n)
    if g * g != n:
        raise ValueError(f"{n} patch tokens do not form a square grid (maps {tuple(maps.shape)})")
    return maps[..., 0, 1:].reshape(*maps.shape[:-2], g, g)


def attention_rollout(maps: torch.Tensor, head_fusion: str = "mean") -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema, 2020) ``(B*T, 1+N, 1+N)`` of ``maps[L, B*T, heads, N, N]``.

    Heads are fused (``"mean"``, ``"max"`` or ``"min"``), the residual path is modelled as
    ``0.5 A + 0.5 I`` with rows renormalised, and layers are multiplied from the first up, so
    every row of the result is a distribution over input tokens. S2D's per-layer prompt and
    adapter updates are additive like the residual and are not modelled.
    """
    fusions = {"mean": lambda a: a.mean(2), "max": lambda a: a.amax(2), "min": lambda a: a.amin(2)}
    if head_fusion not in fusions:
        raise ValueError(f"head_fusion must be one of {sorted(fusions)}, got {head_fusion!r}")
    fused = fusions[head_fusion](maps.float())
    eye = torch.eye(fused.shape[-1])
    result = eye.expand_as(fused[0])
    for a in fused:
        a = 0.5 * a + 0.5 * eye
        result = (a / a.sum(-1, keepdim=True)) @ result
    return result


def clip_rows(x: torch.Tensor, num_frames: int, clip: int) -> torch.Tensor:
    """The ``num_frames`` rows of clip ``clip`` from a tensor whose first dimension is ``B*T``."""
    return x[clip * num_frames:(clip + 1) * num_frames]


def _pick_head(m: torch.Tensor, head: int | None) -> tuple[torch.Tensor, str]:
    return (m.mean(-3), "mean of heads") if head is None else (m[..., head, :, :], f"head {head}")


def plot_attention(video: torch.Tensor, maps: torch.Tensor, layer: int = -1, head: int | None = None,
                   clip: int = 0, save: str | Path | None = None, boxes: np.ndarray | None = None
                   ) -> Figure:
    """Each frame with its class-token attention in ``layer`` (one head, or the mean of heads);
    ``boxes`` ``(T, 4)`` outlines each frame's face box (:func:`face_boxes`)."""
    t = video.shape[2]
    m, which = _pick_head(cls_attention(clip_rows(maps[layer], t, clip)), head)
    layer_no = range(len(maps))[layer]
    return plot_frame_maps(video, m, clip, suptitle=f"class-token attention, layer {layer_no}, {which}",
                           label="attention weight", save=save, boxes=boxes)


def plot_attention_heads(video: torch.Tensor, maps: torch.Tensor, frame: int = 0, clip: int = 0,
                         save: str | Path | None = None, box: np.ndarray | None = None) -> Figure:
    """Grid of one frame's class-token attention: one row per layer, one column per head, one
    colour range and its colour bar; ``box`` ``(4,)`` outlines the frame's face box."""
    t = video.shape[2]
    image = frame_images(video, clip)[frame]
    m = cls_attention(maps[:, clip * t + frame])  # (L, heads, g, g)
    up = upsample_maps(m, image.shape[:2])
    layers, heads = up.shape[:2]
    fig, axes = plt.subplots(layers, heads, figsize=(1.2 * heads + 1.0, 1.2 * layers), squeeze=False,
                             layout="constrained")
    # one range for the whole grid: a head that attends sharply stands out from a diffuse one
    lo, hi = float(up.min()), float(up.max())
    for i in range(layers):
        for h in range(heads):
            ax = axes[i, h]
            ax.imshow(image)
            im = ax.imshow(up[i, h], cmap=HEAT_CMAP, alpha=0.5, vmin=lo, vmax=hi)
            if box is not None:
                draw_box(ax, box, image.shape[:2])
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(f"head {h}", fontsize=7)
            if h == 0:
                ax.set_ylabel(f"layer {i}", fontsize=7)
    colour_bar(fig, im, axes, "attention weight")
    fig.suptitle(f"class-token attention per layer and head, frame {frame}", fontsize=8)
    return save_figure(fig, save)


def plot_rollout(video: torch.Tensor, rollout: torch.Tensor, clip: int = 0,
                 save: str | Path | None = None, boxes: np.ndarray | None = None) -> Figure:
    """Each frame with the class token's attention rollout over all layers (``boxes`` as in
    :func:`plot_attention`)."""
    m = cls_attention(clip_rows(rollout, video.shape[2], clip))
    return plot_frame_maps(video, m, clip, suptitle="attention rollout (class token)",
                           label="rollout weight", save=save, boxes=boxes)
