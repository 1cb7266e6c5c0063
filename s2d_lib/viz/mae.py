"""The MAE stage seen: masked inputs, reconstructions and the loss curve (:mod:`s2d_lib.mae`).

``plot_mae(mae, images, record)``: one row per image (the input with 75 % of its patches hidden,
the autoencoder's reconstruction with the visible patches pasted back, the original), and the
pretraining loss over the steps with its warm-up shaded. A reconstruction is a blurry guess of
the hidden patches from the visible ones: what the ViT learnt about faces without a label.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from .frames import save_figure

__all__ = ["plot_mae", "reconstruction_error"]


@torch.no_grad()
def reconstruction_error(mae, images: torch.Tensor, seed: int = 0) -> dict[str, float]:
    """Mean absolute pixel error (0-1 scale) of the reconstruction on the hidden patches, and of
    the blunt guess that fills each hidden patch with the image's mean colour, over ``images``
    (normalised, ``(B, 3, H, W)``): how much better than a flat fill the autoencoder guesses."""
    masked, recon, original = mae.reconstruct(images, generator=torch.Generator().manual_seed(seed))
    hidden = (masked == 0.5).all(1, keepdim=True).expand_as(original)
    flat = original.mean((2, 3), keepdim=True).expand_as(original)
    return {"mae_error": float((recon - original).abs()[hidden].mean()),
            "flat_fill_error": float((flat - original).abs()[hidden].mean())}


@torch.no_grad()
def plot_mae(mae, images: torch.Tensor, record: dict | None = None, seed: int = 0,
             save: str | Path | None = None) -> Figure:
    """Masked input, reconstruction and original for each of ``images`` (normalised,
    ``(B, 3, H, W)``), and, with ``record`` (``mae.json``), the loss curve with its warm-up."""
    masked, recon, original = mae.reconstruct(images, generator=torch.Generator().manual_seed(seed))
    rows = len(images)
    cols = 4 if record else 3
    fig = plt.figure(figsize=(2.0 * cols + (1.5 if record else 0), 1.9 * rows))
    grid = fig.add_gridspec(rows, cols, width_ratios=[1, 1, 1, 2.2][:cols])
    for r in range(rows):
        for c, (title, img) in enumerate((("masked input (75 % hidden)", masked),
                                          ("reconstruction", recon), ("original", original))):
            ax = fig.add_subplot(grid[r, c])
            ax.imshow(img[r].permute(1, 2, 0).clamp(0, 1).numpy())
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=8)
    if record:
        ax = fig.add_subplot(grid[:, 3])
        steps, loss = np.array(record["loss_curve"]).T
        ax.plot(steps, loss, lw=1.2)
        warmup = record["config"]["warmup_steps"]
        ax.axvspan(0, warmup, color="0.85", label=f"warm-up ({warmup} steps)")
        ax.set_xlabel("optimiser step")
        ax.set_ylabel("loss (MSE on the hidden patches,\nper-patch normalised pixels)")
        ax.set_title(f"MAE pretraining: {record['images']} unlabelled images", fontsize=8)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, save)
