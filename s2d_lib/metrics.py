"""Evaluation metrics of DFER: WAR (accuracy), UAR (mean per-class recall), per-class recall and
the confusion matrix (scikit-learn), the averaging of softmax scores over test views, and which
epoch a run keeps (:func:`selection_metric`, :func:`selected_epoch`)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, recall_score

__all__ = ["classification_metrics", "average_views", "format_metrics", "selection_metric",
           "selected_epoch"]


def selection_metric(dataset: str) -> str:
    """``"uar"`` or ``"war"``: the validation metric that selects a run's checkpoint. Video
    datasets (imbalanced, reported by UAR first) select on UAR, image datasets on WAR."""
    from .config import VIDEO_DATASETS

    return "uar" if dataset in VIDEO_DATASETS else "war"


def selected_epoch(history: Sequence[dict], metric: str) -> dict | None:
    """The epoch row a run keeps: the first with the best ``val_<metric>`` (a later epoch that
    only ties does not replace it, as in the trainer); ``None`` when no epoch was validated."""
    key = f"val_{metric}"
    best = None
    for row in history:
        if key in row and (best is None or row[key] > best[key]):
            best = row
    return best


def average_views(logits: torch.Tensor) -> torch.Tensor:
    """Average the softmax over test views: logits ``(B, V, K)`` (V = N temporal x M spatial)
    -> probabilities ``(B, K)``; ``(B, K)`` is a single view."""
    probs = logits.float().softmax(-1)
    return probs.mean(1) if probs.dim() == 3 else probs


def classification_metrics(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                           num_classes: int, class_names: Sequence[str] | None = None) -> dict:
    """WAR, UAR, per-class recall and confusion matrix (rows: true class, columns: predicted).

    UAR averages recall over the classes present in ``y_true`` (scikit-learn's balanced
    accuracy), so a class absent from a small split does not count as recall 0.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or y_true.size == 0:
        raise ValueError(f"need two equal, non-empty 1-D label arrays, got {y_true.shape} and "
                         f"{y_pred.shape}")
    labels = list(range(num_classes))
    recall = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    present = np.isin(labels, y_true)
    names = list(class_names) if class_names is not None else [str(c) for c in labels]
    return {
        "war": float(accuracy_score(y_true, y_pred)),
        "uar": float(recall[present].mean()),
        "per_class_recall": {n: float(r) for n, r in zip(names, recall)},
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "support": np.bincount(y_true, minlength=num_classes).tolist(),
    }


def format_metrics(metrics: dict) -> str:
    """One line: ``WAR 76.03  UAR 61.82`` (percent)."""
    return f"WAR {100 * metrics['war']:.2f}  UAR {100 * metrics['uar']:.2f}"
