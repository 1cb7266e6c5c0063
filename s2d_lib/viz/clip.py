"""Clip-level pictures: per-frame class probabilities under a filmstrip, confusion matrix with
counts and fractions, t-SNE of clip features by class, and training curves from a run's metrics log."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
import yaml
from matplotlib.figure import Figure
from sklearn.manifold import TSNE
from sklearn.metrics import confusion_matrix
from torch import nn

from ..metrics import average_views, selected_epoch
from ..progress import progress_bar
from .attention import evaluating
from .frames import frame_images, save_figure

__all__ = ["frame_logits", "ClipOutputs", "clip_features", "tsne_embedding", "load_metrics",
           "plot_timeline", "plot_confusion", "plot_tsne", "plot_training_curves"]


def frame_logits(model: nn.Module, video: torch.Tensor,
                 landmark_features: torch.Tensor | None = None) -> torch.Tensor:
    """Per-frame logits ``(B, T, K)`` (on the CPU): the head applied to each frame's class token
    (eval mode).

    The head is linear, so their mean over frames is exactly the clip logits.
    """
    b, t = video.shape[0], video.shape[2]
    with evaluating(model), torch.no_grad():
        cls = model.forward_features(video, landmark_features)[:, 0]
        return model.head(cls).view(b, t, -1).float().cpu()


class ClipOutputs(NamedTuple):
    """Clip features ``(M, D)``, labels ``(M,)`` and predicted classes ``(M,)`` as numpy arrays."""

    features: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray


def clip_features(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                  device: str | torch.device = "cpu") -> ClipOutputs:
    """Run ``model`` over ``(video, label)`` batches (a DataLoader); test-mode views
    ``(B, V, 3, T, H, W)`` are averaged per clip, as the evaluation does."""
    feats, labels, preds = [], [], []
    with evaluating(model), torch.no_grad():
        for video, label in progress_bar(batches, desc="clip features", leave=False):
            video = video.to(device)
            views = video.shape[1] if video.dim() == 6 else 1
            logits, feature = model.forward_release(video.flatten(0, 1) if video.dim() == 6 else video)
            feature = feature.view(-1, views, feature.shape[-1]).mean(1)
            probs = average_views(logits.view(-1, views, logits.shape[-1]))
            feats.append(feature.float().cpu())
            preds.append(probs.argmax(-1).cpu())
            labels.append(torch.as_tensor(label).view(-1))
    return ClipOutputs(torch.cat(feats).numpy(), torch.cat(labels).numpy(), torch.cat(preds).numpy())


def tsne_embedding(features: np.ndarray, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """2-D t-SNE ``(M, 2)`` of ``features (M, D)``; perplexity is capped for small M (it must be < M)."""
    m = len(features)
    if m < 4:
        raise ValueError(f"t-SNE needs at least 4 points, got {m}")
    perplexity = min(perplexity, (m - 1) / 3)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        np.asarray(features, dtype=np.float32))


def load_metrics(run: str | Path) -> list[dict]:
    """The per-epoch rows of a training run (``metrics.json``, else ``metrics.csv``, in a run folder
    written by ``s2d_lib.train``, or that file itself)."""
    path = Path(run)
    if path.is_dir():
        path = next((path / n for n in ("metrics.json", "metrics.csv") if (path / n).is_file()),
                    path / "metrics.json")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no metrics log (metrics.json / metrics.csv) of a training run")
    if path.suffix == ".json":
        rows = json.loads(path.read_text())
    else:
        with open(path, newline="") as f:
            rows = [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]
    if not rows:
        raise ValueError(f"{path}: the metrics log has no epochs")
    return rows


def plot_timeline(video: torch.Tensor, probs: torch.Tensor, class_names: Sequence[str] | None = None,
                  clip: int = 0, save: str | Path | None = None) -> Figure:
    """Filmstrip of the clip above each class's probability per frame (``probs (B, T, K)``)."""
    frames = frame_images(video, clip)
    p = torch.as_tensor(probs)[clip].detach().float().cpu().numpy()
    t, k = p.shape
    names = list(class_names) if class_names is not None else [f"class {i}" for i in range(k)]
    fig = plt.figure(figsize=(max(1.3 * t, 6), 4.2))
    grid = fig.add_gridspec(2, t, height_ratios=[1, 1.6])
    for i in range(t):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(frames[i])
        ax.set_title(f"t={i}", fontsize=7)
        ax.axis("off")
    ax = fig.add_subplot(grid[1, :])
    for c in range(k):
        ax.plot(range(t), p[:, c], marker="o", ms=3, label=names[c])
    ax.set_xlim(-0.5, t - 0.5)
    ax.set_ylim(0, 1)
    ax.set_xticks(range(t))
    ax.set_xlabel("frame", fontsize=8)
    ax.set_ylabel("probability", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, ncol=min(k, 4), loc="upper right")
    fig.suptitle("per-frame class probabilities (head on each frame's class token)", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, save)


def plot_confusion(y_true: Sequence[int], y_pred: Sequence[int], class_names: Sequence[str],
                   title: str = "", save: str | Path | None = None) -> Figure:
    """Confusion matrix: each cell shows its count and its fraction of the true class (rows sum
    to 1, the diagonal is each class's recall); colours follow the fractions, the row labels give
    each class's number of items."""
    k = len(class_names)
    counts = confusion_matrix(y_true, y_pred, labels=list(range(k)))
    totals = counts.sum(1, keepdims=True)
    fractions = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    text = np.array([[f"{c}\n{f:.2f}" if c else "0" for c, f in zip(rc, rf)]
                     for rc, rf in zip(counts, fractions)])
    fig, ax = plt.subplots(figsize=(0.8 * k + 2.6, 0.65 * k + 1.6))
    sns.heatmap(fractions, annot=text, fmt="", cmap="Blues", vmin=0, vmax=1, square=True, ax=ax,
                xticklabels=class_names, annot_kws={"fontsize": 6.5},
                yticklabels=[f"{name} (n={n})" for name, n in zip(class_names, totals[:, 0])],
                cbar_kws={"label": "fraction of the true class"})
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.tick_params(labelsize=7)
    ax.set_title(f"{title or 'confusion matrix'} ({int(totals.sum())} items; count, fraction of row)",
                 fontsize=9)
    fig.tight_layout()
    return save_figure(fig, save)


def plot_tsne(features: np.ndarray, labels: Sequence[int], class_names: Sequence[str],
              perplexity: float = 30.0, seed: int = 0, title: str = "",
              save: str | Path | None = None) -> Figure:
    """t-SNE of clip features coloured by class."""
    xy = tsne_embedding(features, perplexity, seed)
    labels = np.asarray(labels)
    fig, ax = plt.subplots(figsize=(5, 4.2))
    palette = sns.color_palette("tab10", len(class_names))
    for c, name in enumerate(class_names):
        sel = labels == c
        if sel.any():
            ax.scatter(xy[sel, 0], xy[sel, 1], s=12, color=palette[c], label=name)
    ax.set_xticks([]), ax.set_yticks([])
    ax.legend(fontsize=7, markerscale=1.5, loc="best")
    ax.set_title(title or "t-SNE of clip features", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, save)


def _weighted_easdl(loss: list[float] | None, weight: list[float] | None
                    ) -> tuple[list[float], str] | None:
    """The EASDL term as it enters the total loss, ``easdl_weight * train_easdl``, and its label
    (the bare loss for logs without the weight)."""
    if loss is None:
        return None
    if weight is None:
        return loss, "train_easdl (unweighted)"
    return [w * v for w, v in zip(weight, loss)], "easdl_weight x train_easdl"


def _warmup_epochs(run: Path) -> float | None:
    """``warmup_epochs`` of the config saved beside a run's metrics (None without one)."""
    config = (run if run.is_dir() else run.parent) / "config.yaml"
    if not config.is_file():
        return None
    return yaml.safe_load(config.read_text()).get("warmup_epochs")


def selected_metric(run: str | Path) -> str:
    """``"war"`` or ``"uar"``: the validation metric that picked a run's checkpoint (the trainer
    selects video runs on UAR and image runs on WAR; its ``results.json`` names it)."""
    folder = Path(run) if Path(run).is_dir() else Path(run).parent
    results = folder / "results.json"
    if results.is_file():
        record = json.loads(results.read_text())
        for metric in ("war", "uar"):
            if f"best_val_{metric}" in record:
                return metric
    return "uar"


def _mark_selected(axes, rows: Sequence[dict], metric: str) -> None:
    """A dotted line at the epoch with the best validation ``metric`` on the loss and accuracy
    panels, named in the accuracy panel's legend."""
    if any(f"val_{metric}" not in r for r in rows):
        return
    best = selected_epoch(rows, metric)["epoch"]
    name = f"best val {metric.upper()}"
    for ax in axes[:2]:
        ax.axvline(best, color="0.3", ls=":", lw=1, label=f"_{name} (epoch {best:g})")
    axes[1].plot([], [], color="0.3", ls=":", lw=1, label=f"{name}: epoch {best:g}")


def plot_training_curves(run: str | Path | Sequence[dict], save: str | Path | None = None,
                         warmup_epochs: float | None = None) -> Figure:
    """Losses, validation WAR/UAR and learning rate per epoch of a run (folder, log file, or the
    ``history`` rows returned by ``s2d_lib.train.train``).

    The warm-up (``warmup_epochs``, read from the run's ``config.yaml`` when not given) is shaded
    on every panel and the learning rate starts from its warm-up value 0; a dotted line marks
    the epoch the run keeps (the best validation UAR, or WAR for an image run:
    :func:`selected_metric`). The EASDL curve is the
    weighted term ``easdl_weight * train_easdl`` that the total ``train_loss`` contains
    (``train_loss = train_ce + easdl_weight * train_easdl``): as the weight ramps up the total may
    rise while the cross-entropy falls, and the plot shows why."""
    rows = load_metrics(run) if isinstance(run, (str, Path)) else list(run)
    if warmup_epochs is None and isinstance(run, (str, Path)):
        warmup_epochs = _warmup_epochs(Path(run))
    epochs = [r["epoch"] for r in rows]

    def series(key: str) -> list[float] | None:
        values = [r.get(key) for r in rows]
        return None if any(v is None for v in values) else [float(v) for v in values]

    fig, axes = plt.subplots(1, 3, figsize=(11, 3))
    for key in ("train_loss", "train_ce", "val_loss"):
        values = series(key)
        if values is not None and any(values):
            axes[0].plot(epochs, values, marker=".", label=key)
    easdl = _weighted_easdl(series("train_easdl"), series("easdl_weight"))
    if easdl is not None and any(easdl[0]):
        axes[0].plot(epochs, easdl[0], marker=".", label=easdl[1])
    axes[0].set(title="loss", ylabel="loss (train: mean over the epoch)")
    for key, name in (("val_war", "val WAR"), ("val_uar", "val UAR")):
        values = series(key)
        if values is not None:
            axes[1].plot(epochs, [100 * v for v in values], marker=".", label=name)
    axes[1].set(title="validation accuracy", ylabel="accuracy (%)")
    _mark_selected(axes, rows, selected_metric(run) if isinstance(run, (str, Path)) else "uar")
    lr = series("lr")
    if lr is not None:
        lr_epochs = ([0] + epochs, [0.0] + lr) if warmup_epochs else (epochs, lr)
        axes[2].plot(*lr_epochs, marker=".", label="lr (top layer, end of epoch)")
    axes[2].set(title="learning rate", ylabel="learning rate")
    for ax in axes:
        if warmup_epochs:
            ax.axvspan(0, warmup_epochs, color="0.9", zorder=0,
                       label=f"warm-up ({warmup_epochs:g} epoch{'s' if warmup_epochs != 1 else ''})"
                       if ax is axes[2] else None)
        ax.set_xlim(0 if warmup_epochs else min(epochs) - 0.2, max(epochs) + 0.2)
        ax.set_xlabel("epoch", fontsize=8)
        ax.title.set_fontsize(9)
        ax.yaxis.label.set_fontsize(8)
        ax.tick_params(labelsize=7)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, save)
