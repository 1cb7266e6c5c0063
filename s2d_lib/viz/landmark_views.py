"""What the landmark view and the prompts look like: predicted landmarks, MobileFaceNet ``conv_4``
feature maps (channel montage, PCA to RGB), each layer's MCP Fovea mask ``softmax(s * z)`` and
prompt magnitude ``|P|``, and how evenly each layer's TMA attention reads the frames (its
entropy relative to uniform, per layer).

:func:`prompt_views` records the prompt-side quantities with forward hooks during one forward
pass; the hooks return nothing (outputs unchanged) and are removed afterwards.
"""
from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from sklearn.decomposition import PCA
from torch import nn

from .attention import AttentionRecorder, evaluating
from .frames import HEAT_CMAP, colour_bar, draw_box, frame_images, save_figure, upsample_maps

__all__ = ["predict_landmarks", "landmark_feature_maps", "feature_pca_rgb", "PromptViews",
           "prompt_views", "plot_landmarks", "plot_feature_channels", "plot_feature_pca",
           "plot_prompts", "plot_temporal_attention", "attention_entropy", "tma_entropy"]


def predict_landmarks(model: nn.Module, video: torch.Tensor) -> torch.Tensor:
    """Landmarks ``(B, T, 68, 2)`` predicted by the model's landmark stream, as (x, y) fractions
    of the frame side (the [0, 1] convention the landmark network is trained with)."""
    if model.landmark_stream is None:
        raise RuntimeError("the model has no landmark stream: call model.attach_landmark_stream()")
    b, t = video.shape[0], video.shape[2]
    pts = model.landmark_stream.landmarks(model.fold_frames(video))
    return pts.view(b, t, *pts.shape[1:])


def landmark_feature_maps(model: nn.Module, video: torch.Tensor) -> torch.Tensor:
    """The landmark view: MobileFaceNet ``conv_4`` maps ``(B, T, 128, g, g)`` of every frame."""
    b, t = video.shape[0], video.shape[2]
    f = model.landmark_features(model.fold_frames(video))
    return f.view(b, t, *f.shape[1:])


def feature_pca_rgb(features: torch.Tensor) -> np.ndarray:
    """Project maps ``(T, C, g, g)`` on their 3 principal components -> RGB ``(T, g, g, 3)`` in
    [0, 1]. One PCA is fitted on all frames' positions, so a colour means the same across frames."""
    t, c, g, _ = features.shape
    x = features.detach().float().cpu().permute(0, 2, 3, 1).reshape(-1, c).numpy()
    rgb = PCA(n_components=3, random_state=0).fit_transform(x)
    rgb = (rgb - rgb.min(0)) / np.maximum(rgb.max(0) - rgb.min(0), 1e-12)
    return rgb.reshape(t, g, g, 3)


@dataclass
class PromptViews:
    """Prompt-side tensors of one forward pass, on the CPU (``L`` layers, frame index fastest in ``B*T``).

    fovea: ``(L, B*T, h, g, g)``, the Fovea mask ``softmax(s * z)`` per prompt channel.
    prompt_magnitude: ``(L, B*T, g, g)``, the L2 norm of the prompt ``P`` at each position.
    temporal_attention: ``(L, B, heads, T, T)``, TMA attention over frames averaged over positions.
    logits: ``(B, K)`` of the same pass.
    temporal_entropy: ``(L, B, heads)``, the mean entropy of the TMA attention's rows (one per
    position and query frame) over ``log T`` (:func:`attention_entropy`); None when not recorded.
    """

    fovea: torch.Tensor
    prompt_magnitude: torch.Tensor
    temporal_attention: torch.Tensor
    logits: torch.Tensor
    temporal_entropy: torch.Tensor | None = None


def prompt_views(model: nn.Module, video: torch.Tensor,
                 landmark_features: torch.Tensor | None = None) -> PromptViews:
    """Record every layer's Fovea mask, ``|P|`` and TMA temporal attention for ``video`` (eval mode)."""
    blocks = list(model.prompt_blocks)
    fovea: list[torch.Tensor | None] = [None] * len(blocks)
    magnitude: list[torch.Tensor | None] = [None] * len(blocks)

    def on_fovea(i: int):
        def hook(module, args, output):
            fovea[i] = module.mask(args[0]).detach().float()
        return hook

    def on_prompt(i: int):  # conv1x1 outputs P as a map (B*T, D, g, g)
        def hook(module, args, output):
            magnitude[i] = output.detach().float().norm(dim=1)
        return hook

    with ExitStack() as stack:
        stack.enter_context(evaluating(model))
        stack.enter_context(torch.no_grad())
        temporal = stack.enter_context(AttentionRecorder([p.TMA.T_Adapter.attn for p in blocks]))
        for i, p in enumerate(blocks):
            stack.callback(p.fovea.register_forward_hook(on_fovea(i)).remove)
            stack.callback(p.conv1x1.register_forward_hook(on_prompt(i)).remove)
        logits = model(video, landmark_features)
    b, t = video.shape[0], video.shape[2]
    if t == 1:  # a single frame attends to itself with weight 1 (the adapter skips the call)
        tma = torch.ones(len(blocks), b, blocks[0].TMA.T_Adapter.attn.num_heads, 1, 1)
        entropy = torch.ones(tma.shape[:3])
    else:
        # T-Adapter sequences are (B*N, T, C): average the per-position attention over N positions,
        # and each row's entropy before that average (an average of sharp rows looks uniform).
        tma = temporal.stacked()
        tma = tma.view(len(blocks), b, -1, *tma.shape[2:])
        entropy = attention_entropy(tma).mean(2)
        tma = tma.mean(2)
    return PromptViews(torch.stack(fovea).cpu(), torch.stack(magnitude).cpu(), tma.cpu(), logits.cpu(),
                       entropy.cpu())


def _scatter_landmarks(ax, image: np.ndarray, points: np.ndarray) -> None:
    h, w = image.shape[:2]
    ax.imshow(image)
    ax.scatter(points[:, 0] * w, points[:, 1] * h, s=3, c="lime")
    ax.set_xlim(0, w), ax.set_ylim(h, 0)
    ax.axis("off")


def plot_landmarks(video: torch.Tensor, landmarks: torch.Tensor, clip: int = 0,
                   save: str | Path | None = None, boxes: np.ndarray | None = None) -> Figure:
    """Each frame with its predicted 68 landmarks (from :func:`predict_landmarks`); ``boxes``
    ``(T, 4)`` outlines each frame's face box (:func:`face_boxes`)."""
    frames = frame_images(video, clip)
    pts = landmarks[clip].detach().float().cpu().numpy()
    fig, axes = plt.subplots(1, len(frames), figsize=(1.6 * len(frames), 1.9), squeeze=False)
    for i, ax in enumerate(axes[0]):
        _scatter_landmarks(ax, frames[i], pts[i])
        if boxes is not None:
            draw_box(ax, boxes[i], frames.shape[1:3])
        ax.set_title(f"t={i}", fontsize=7)
    fig.suptitle("predicted 68 landmarks", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, save)


def plot_feature_channels(features: torch.Tensor, channels: int = 16, save: str | Path | None = None
                          ) -> Figure:
    """Montage of the ``channels`` most active maps (largest mean ``|activation|``) of one frame's
    landmark view ``(C, g, g)``, on one colour range with its colour bar, so that channels
    compare."""
    f = features.detach().float().cpu().numpy()
    order = np.abs(f).reshape(len(f), -1).mean(1).argsort()[::-1][:channels]
    cols = int(np.ceil(np.sqrt(len(order))))
    rows = int(np.ceil(len(order) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols + 0.9, 1.2 * rows), squeeze=False,
                             layout="constrained")
    lo, hi = float(f[order].min()), float(f[order].max())
    for ax in axes.flat:
        ax.axis("off")
    for ax, c in zip(axes.flat, order):
        im = ax.imshow(f[c], cmap="viridis", vmin=lo, vmax=hi)
        ax.set_title(f"ch {c}", fontsize=6)
    colour_bar(fig, im, axes, "conv_4 activation")
    fig.suptitle("landmark view (MobileFaceNet conv_4), most active channels", fontsize=8)
    return save_figure(fig, save)


def plot_feature_pca(video: torch.Tensor, features: torch.Tensor, clip: int = 0,
                     save: str | Path | None = None) -> Figure:
    """Each frame above its landmark view shown as RGB of the first three principal components."""
    frames = frame_images(video, clip)
    rgb = feature_pca_rgb(features[clip])
    t = len(frames)
    fig, axes = plt.subplots(2, t, figsize=(1.6 * t, 3.4), squeeze=False)
    for i in range(t):
        axes[0, i].imshow(frames[i])
        axes[1, i].imshow(rgb[i], interpolation="nearest")
        axes[0, i].set_title(f"t={i}", fontsize=7)
        for ax in axes[:, i]:
            ax.axis("off")
    fig.suptitle("landmark view: PCA of the 128 conv_4 channels to RGB", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, save)


def plot_prompts(video: torch.Tensor, views: PromptViews, frame: int = 0, clip: int = 0,
                 save: str | Path | None = None) -> Figure:
    """One frame's Fovea mask (mean over prompt channels, top) and prompt magnitude ``|P|``
    (bottom), one column per layer; each row has one colour range and its colour bar."""
    t = video.shape[2]
    image = frame_images(video, clip)[frame]
    row = clip * t + frame
    fovea = upsample_maps(views.fovea[:, row].mean(1), image.shape[:2])
    magnitude = upsample_maps(views.prompt_magnitude[:, row], image.shape[:2])
    layers = len(fovea)
    fig, axes = plt.subplots(2, layers, figsize=(1.6 * layers + 1.2, 3.6), squeeze=False,
                             layout="constrained")
    for r, (maps, name, unit) in enumerate(((fovea, "Fovea mask", "mask weight (mean of channels)"),
                                            (magnitude, "|P|", "prompt norm |P|"))):
        lo, hi = float(maps.min()), float(maps.max())
        for i in range(layers):
            ax = axes[r, i]
            ax.imshow(image)
            im = ax.imshow(maps[i], cmap=HEAT_CMAP, alpha=0.5, vmin=lo, vmax=hi)
            ax.set_title(f"layer {i} {name}", fontsize=7)
            ax.axis("off")
        colour_bar(fig, im, axes[r, :], unit)
    fig.suptitle(f"MCP prompts on frame {frame}: Fovea softmax(s*z) and prompt magnitude", fontsize=8)
    return save_figure(fig, save)


def attention_entropy(attention: torch.Tensor) -> torch.Tensor:
    """Mean row entropy of attention maps ``(..., T, T)`` divided by ``log T``: 1 for uniform
    attention (every frame reads all frames alike), 0 when each row puts all weight on one frame."""
    t = attention.shape[-1]
    if t < 2:
        return torch.ones(attention.shape[:-2])
    a = attention.double()
    entropy = -(a * a.clamp_min(1e-12).log()).sum(-1).mean(-1)
    return (entropy / np.log(t)).float()


def tma_entropy(views: PromptViews, clip: int = 0, head: int | None = None) -> torch.Tensor:
    """Per layer ``(L,)``: the TMA attention's mean row entropy over ``log T`` for clip ``clip``
    (mean of heads, or one ``head``), 1 = uniform. Without recorded row entropies, the entropy of
    the position-averaged map (an upper bound: averaging rows makes them more even)."""
    if views.temporal_entropy is None:
        tma = views.temporal_attention[:, clip].float()
        return attention_entropy(tma.mean(1) if head is None else tma[:, head])
    entropy = views.temporal_entropy[:, clip].float()
    return entropy.mean(1) if head is None else entropy[:, head]


def plot_temporal_attention(views: PromptViews, clip: int = 0, head: int | None = None,
                            save: str | Path | None = None) -> Figure:
    """How evenly each layer's TMA attention reads the frames: one bar per layer, the attention
    rows' mean entropy over ``log T`` (:func:`tma_entropy`; 1 = uniform, every frame read alike,
    so the T-Adapter averages its values over time; 0 = each frame reads one frame), each bar
    labelled with its value, one dot per head (with ``head=None``) and a dashed line at the
    uniform level."""
    entropy = tma_entropy(views, clip, head).numpy()
    layers, t = len(entropy), views.temporal_attention.shape[-1]
    fig, ax = plt.subplots(figsize=(0.7 * layers + 2.6, 2.8), layout="constrained")
    bars = ax.bar(range(layers), entropy, color="tab:blue", width=0.6,
                  label="mean of heads" if head is None else f"head {head}")
    ax.bar_label(bars, [f"{v:.4f}" for v in entropy], fontsize=6, padding=2)
    if head is None and views.temporal_entropy is not None:
        per_head = views.temporal_entropy[:, clip].float().numpy()  # (L, heads)
        for i, values in enumerate(per_head):
            ax.scatter(np.full(len(values), i), values, s=6, color="black", zorder=3,
                       label="one head" if i == 0 else None)
    ax.axhline(1.0, color="tab:red", ls="--", lw=1, label="uniform (1/T each)")
    ax.set_ylim(0, 1.15)
    ax.set_xticks(range(layers), [f"layer {i}" for i in range(layers)], fontsize=7)
    ax.set_ylabel("entropy / log T", fontsize=7)
    ax.tick_params(axis="y", labelsize=6)
    ax.legend(fontsize=6, loc="lower right")
    ax.set_title(f"TMA attention over T={t} frames: row entropy per layer (1 = uniform)", fontsize=8)
    return save_figure(fig, save)
