"""Frames as pictures: undo the ImageNet normalisation, overlay per-frame maps, save figures.

Every plot in ``s2d_lib.viz`` shows frames through :func:`frame_images`, so what a reader sees
is the face the model saw, not its normalised tensor.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from timm.data import IMAGENET_DEFAULT_MEAN as MEAN, IMAGENET_DEFAULT_STD as STD

__all__ = ["frame_images", "upsample_maps", "save_figure", "plot_frame_maps", "colour_bar", "draw_box",
           "SAVE_DPI", "HEAT_CMAP"]

#: Resolution of every PNG the toolkit writes.
SAVE_DPI = 120
#: Colour map of every heat map over a face: perceptually uniform, readable in grey scale.
HEAT_CMAP = "magma"


def frame_images(video: torch.Tensor, clip: int = 0) -> np.ndarray:
    """De-normalised frames ``(T, H, W, 3)`` in [0, 1] of clip ``clip`` of ``video[B, 3, T, H, W]``
    (a single clip ``(3, T, H, W)`` is accepted too)."""
    if video.dim() == 4:
        video = video[None]
    if video.dim() != 5 or video.shape[1] != 3:
        raise ValueError(f"expected video (B, 3, T, H, W) or (3, T, H, W), got {tuple(video.shape)}")
    x = video[clip].detach().float().cpu()
    mean = torch.tensor(MEAN).view(3, 1, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1, 1)
    return (x * std + mean).clamp(0, 1).permute(1, 2, 3, 0).numpy()


def upsample_maps(maps: torch.Tensor | np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinearly resize maps ``(..., g, g)`` to ``size = (H, W)``; returns float32 numpy."""
    m = maps.detach().float().cpu() if torch.is_tensor(maps) else torch.from_numpy(
        np.asarray(maps, np.float32))
    lead = m.shape[:-2]
    m = F.interpolate(m.reshape(-1, 1, *m.shape[-2:]), size=size, mode="bilinear", align_corners=False)
    return m.reshape(*lead, *size).numpy()


def save_figure(fig: Figure, save: str | Path | None) -> Figure:
    """Write ``fig`` as a PNG to ``save`` (parent folders created) when a path is given."""
    if save is not None:
        path = Path(save)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=SAVE_DPI, bbox_inches="tight")
    return fig


def _scaled(m: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1] so that faint maps stay visible in an overlay."""
    lo, hi = float(m.min()), float(m.max())
    return (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)


def plot_frame_maps(video: torch.Tensor, maps: torch.Tensor | np.ndarray, clip: int = 0,
                    titles: Sequence[str] | None = None, suptitle: str | None = None,
                    alpha: float = 0.5, cmap: str = HEAT_CMAP, save: str | Path | None = None,
                    label: str = "map value", shared: bool = True, boxes: np.ndarray | None = None
                    ) -> Figure:
    """Filmstrip of clip ``clip`` (top) and each frame with its map ``maps[t]`` overlaid (bottom),
    with a colour bar labelled ``label``; ``boxes`` ``(T, 4)`` (from :func:`face_boxes`) outlines
    a box on each overlay.

    ``maps`` is ``(T, h, w)`` at any resolution; each is resized to the frame. With ``shared``
    (default) every frame uses the clip's common value range, so colours compare across frames
    and the colour bar reads in the maps' own units; otherwise each map is min-max scaled on its
    own and the bar runs from each frame's minimum (0) to its maximum (1).
    """
    frames = frame_images(video, clip)
    maps = maps.detach().float().cpu().numpy() if torch.is_tensor(maps) else np.asarray(maps, np.float32)
    if maps.ndim != 3 or maps.shape[0] != len(frames):
        raise ValueError(f"expected one map per frame ({len(frames)}, h, w), got {maps.shape}")
    up = upsample_maps(maps, frames.shape[1:3])
    if shared:
        lo, hi = float(up.min()), float(up.max())
        hi = hi if hi > lo else lo + 1.0
    else:
        up, lo, hi = np.stack([_scaled(m) for m in up]), 0.0, 1.0
        label = f"{label} (each frame: min 0 to max 1)"
    t = len(frames)
    fig, axes = plt.subplots(2, t, figsize=(1.6 * t + 1.0, 3.6), squeeze=False, layout="constrained")
    for i in range(t):
        axes[0, i].imshow(frames[i])
        axes[1, i].imshow(frames[i])
        im = axes[1, i].imshow(up[i], cmap=cmap, alpha=alpha, vmin=lo, vmax=hi)
        axes[0, i].set_title(titles[i] if titles else f"t={i}", fontsize=7)
        if boxes is not None:
            draw_box(axes[1, i], boxes[i], frames.shape[1:3])
        for ax in axes[:, i]:
            ax.axis("off")
    colour_bar(fig, im, axes[1, :], label)
    if suptitle:
        fig.suptitle(suptitle, fontsize=8)
    return save_figure(fig, save)


def colour_bar(fig: Figure, mappable, axes, label: str):
    """A slim colour bar beside ``axes`` (one axes or several) with a small ``label``."""
    bar = fig.colorbar(mappable, ax=axes, shrink=0.9, aspect=15, pad=0.02)
    bar.set_label(label, fontsize=7)
    bar.ax.tick_params(labelsize=6)
    # an overlay's alpha would make the bar paler than the colours it explains on a white page
    bar.solids.set_alpha(1.0)
    return bar


def draw_box(ax, box, shape: tuple[int, int], colour: str = "cyan") -> None:
    """Outline ``box`` ``(x0, y0, x1, y1)``, fractions of the frame side, on an image of ``shape`` (H, W)."""
    h, w = shape
    x0, y0, x1, y1 = (float(v) for v in box)
    ax.add_patch(plt.Rectangle((x0 * w - 0.5, y0 * h - 0.5), (x1 - x0) * w, (y1 - y0) * h,
                               fill=False, lw=0.8, ls="--", color=colour))
