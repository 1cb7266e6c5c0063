"""The numbers that read a figure aloud: one sentence each, computed from the data the figure
draws, so that a notebook's reading below a figure quotes what the figure shows.

* :func:`training_summary`: a run's curves (:func:`~s2d_lib.viz.plot_training_curves`): the
  selected epoch, its validation score, the warm-up and how far the training loss fell;
* :func:`confusion_summary`: a confusion matrix (:func:`~s2d_lib.viz.plot_confusion`): the
  weakest and strongest class recall and the most frequent confusion;
* :func:`trainable_summary`: the architecture figure (:func:`~s2d_lib.viz.plot_architecture`),
  whose colours mark what trains in a stage: how many parameters that is.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import timm
import torch
from sklearn.metrics import confusion_matrix

from ..metrics import selected_epoch
from ..model import set_trainable

from .clip import _warmup_epochs, load_metrics, selected_metric

__all__ = ["training_summary", "confusion_summary", "trainable_summary"]


def training_summary(run: str | Path) -> str:
    """What a run's training curves show, in one sentence (the run folder written by
    ``s2d_lib.train``)."""
    rows = load_metrics(run)
    metric = selected_metric(run)
    key = f"val_{metric}"
    best = selected_epoch(rows, metric) or {}
    last = rows[-1]
    warmup = _warmup_epochs(Path(run))
    parts = [f"{len(rows)} epochs"]
    if warmup:
        parts.append(f"warm-up {warmup:g} epoch{'s' if warmup != 1 else ''}")
    text = ", ".join(parts)
    if key in best:
        text += (f"; best validation {metric.upper()} {100 * best[key]:.1f} % at epoch "
                 f"{best['epoch']:g} (the checkpoint kept), {100 * last[key]:.1f} % at the last")
    text += f"; training loss {rows[0]['train_loss']:.2f} -> {last['train_loss']:.2f}"
    return text


def confusion_summary(y_true: Sequence[int], y_pred: Sequence[int],
                      class_names: Sequence[str]) -> str:
    """What a confusion matrix shows, in one sentence: the lowest and highest recall (with the
    class's number of items) and the most frequent off-diagonal cell."""
    k = len(class_names)
    counts = confusion_matrix(y_true, y_pred, labels=list(range(k)))
    totals = counts.sum(1)
    present = np.flatnonzero(totals)
    if not len(present):
        raise ValueError("no items to summarise")
    recall = counts.diagonal() / np.maximum(totals, 1)
    low = present[np.argmin(recall[present])]
    high = present[np.argmax(recall[present])]
    text = (f"{int(totals.sum())} items; recall lowest for {class_names[low]} "
            f"{100 * recall[low]:.0f} % (n={totals[low]}), highest for {class_names[high]} "
            f"{100 * recall[high]:.0f} % (n={totals[high]})")
    off = counts - np.diag(counts.diagonal())
    if off.any():
        t, p = np.unravel_index(np.argmax(off), off.shape)
        text += (f"; the most frequent confusion: {class_names[t]} taken for {class_names[p]}, "
                 f"{off[t, p]} of {totals[t]}")
    else:
        text += "; no confusion"
    return text


def trainable_summary(model_name: str, stage: str, num_frames: int = 1, classes: int = 7) -> str:
    """How many of ``model_name``'s parameters train in ``stage`` (``static`` or ``dynamic``,
    :func:`s2d_lib.model.set_trainable`), counted on the meta device (no memory, no weights)."""
    with torch.device("meta"):
        model = timm.create_model(model_name, num_classes=classes, num_frames=num_frames)
    trainable, total = set_trainable(model, stage)
    return (f"{model_name}, {stage} stage, T={num_frames}: {trainable:,} of {total:,} parameters "
            f"train ({trainable / 1e6:.2f} M of {total / 1e6:.2f} M, {100 * trainable / total:.1f} %)")
