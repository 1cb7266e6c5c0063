"""What the landmark view and the prompts look like: predicted landmarks, MobileFaceNet ``conv_4``
feature maps (channel montage, PCA to RGB), each layer's MCP Fovea mask ``softmax(s * z)`` and
prompt magnitude ``|P|``, and each layer's TMA temporal attention (frame x frame, as its
deviation from uniform, with its entropy).

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
from .frames import HEAT_CMAP, colour_bar, frame_images, save_figure, upsample_maps

__all__ = ["predict_landmarks", "landmark_feature_maps", "feature_pca_rgb", "PromptViews",
           "prompt_views", "plot_landmarks", "plot_feature_channels", "plot_feature_pca",
           "plot_prompts", "plot_temporal_attention", "attention_entropy"]


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
    """

    fovea: torch.Tensor
    prompt_magnitude: torch.Tensor
    temporal_attention: torch.Tensor
    logits: torch.Tensor


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
    else:
        # T-Adapter sequences are (B*N, T, C): average the per-position attention over N positions.
        tma = temporal.stacked()
        tma = tma.view(len(blocks), b, -1, *tma.shape[2:]).mean(2)
    return PromptViews(torch.stack(fovea).cpu(), torch.stack(magnitude).cpu(), tma.cpu(), logits.cpu())


def _scatter_landmarks(ax, image: np.ndarray, points: np.ndarray) -> None:
    h, w = image.shape[:2]
    ax.imshow(image)
    ax.scatter(points[:, 0] * w, points[:, 1] * h, s=3, c="lime")
    ax.set_xlim(0, w), ax.set_ylim(h, 0)
    ax.axis("off")


def plot_landmarks(video: torch.Tensor, landmarks: torch.Tensor, clip: int = 0,
                   save: str | Path | None = None) -> Figure:
    """Each frame with its predicted 68 landmarks (from :func:`predict_landmarks`)."""
    frames = frame_images(video, clip)
    pts = landmarks[clip].detach().float().cpu().numpy()
    fig, axes = plt.subplots(1, len(frames), figsize=(1.6 * len(frames), 1.9), squeeze=False)
    for i, ax in enumerate(axes[0]):
        _scatter_landmarks(ax, frames[i], pts[i])
        ax.set_title(f"t={i}", fontsize=7)
    fig.suptitle("predicted 68 landmarks", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, save)


def plot_feature_channels(features: torch.Tensor, channels: int = 16, save: str | Path | None = None
                          ) -> Figure:
    """Montage of the ``channels`` most active maps of one frame's landmark view ``(C, g, g)``."""
    f = features.detach().float().cpu().numpy()
    order = np.abs(f).reshape(len(f), -1).mean(1).argsort()[::-1][:channels]
    cols = int(np.ceil(np.sqrt(len(order))))
    rows = int(np.ceil(len(order) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, c in zip(axes.flat, order):
        ax.imshow(f[c], cmap="viridis")
        ax.set_title(f"ch {c}", fontsize=6)
    fig.suptitle("landmark view (MobileFaceNet conv_4), most active channels", fontsize=8)
    fig.tight_layout()
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


def plot_temporal_attention(views: PromptViews, clip: int = 0, head: int | None = None,
                            save: str | Path | None = None, limit: float | None = None,
                            columns: int = 6) -> Figure:
    """Each layer's TMA attention between frames (rows: query frame, columns: key frame), drawn as
    its deviation from uniform attention, ``a - 1/T``, on a diverging scale centred at 0 (white:
    uniform; red: more weight than uniform; blue: less); each title gives the layer's mean row
    entropy relative to uniform (1.000 = uniform).

    One colour range serves all layers: ``±limit``, by default the largest deviation but at least
    ``1/(2T)``, so that a nearly uniform layer stays pale instead of having its noise stretched
    to full colour. Layers wrap after ``columns`` panels.
    """
    tma = views.temporal_attention[:, clip].float()  # (L, heads, T, T)
    tma = tma.mean(1) if head is None else tma[:, head]
    layers, t = len(tma), tma.shape[-1]
    deviation = (tma - 1.0 / t).numpy()
    limit = limit if limit is not None else max(float(np.abs(deviation).max()), 0.5 / t)
    entropy = attention_entropy(tma)
    cols = min(layers, columns)
    rows = -(-layers // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols + 1.0, 2.1 * rows + 0.5), squeeze=False,
                             layout="constrained")
    ticks = range(0, t, max(1, t // 4))
    for i, ax in enumerate(axes.flat):
        if i >= layers:
            ax.axis("off")
            continue
        im = ax.imshow(deviation[i], cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"layer {i}: H/H_unif {float(entropy[i]):.3f}", fontsize=7)
        ax.set_xticks(ticks), ax.set_yticks(ticks)
        ax.tick_params(labelsize=6)
        if i % cols == 0:
            ax.set_ylabel("query frame", fontsize=6)
        if i >= layers - cols:
            ax.set_xlabel("key frame", fontsize=6)
    colour_bar(fig, im, axes, f"attention - 1/T (uniform = {1 / t:.3f})")
    which = "mean of heads" if head is None else f"head {head}"
    fig.suptitle(f"TMA temporal attention minus uniform, T={t} frames ({which})", fontsize=8)
    return save_figure(fig, save)
