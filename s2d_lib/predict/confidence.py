"""How sure the model is, and what it says over a stretch of time: read from a ``Prediction``.

Confidence here is the top smoothed class probability of a window. It is what the model
believes, not how often it is right: a model trained on one kind of face (drawn, synthetic) and
shown another (a real one) is not calibrated there, and may be surer of itself on the faces it
never saw than on the ones it was trained on.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .video import Prediction

__all__ = ["Confidence", "top_probability", "confidence_summary", "label_counts"]


@dataclass(frozen=True)
class Confidence:
    """Median and spread of the top smoothed probability over the windows with a face."""

    windows: int
    median: float
    q25: float
    q75: float
    low: float
    high: float

    def line(self) -> str:
        return (f"median {self.median:.2f} (middle half {self.q25:.2f}-{self.q75:.2f}, "
                f"range {self.low:.2f}-{self.high:.2f}, {self.windows} windows)")


def top_probability(prediction: Prediction) -> np.ndarray:
    """(windows with a face,) the highest smoothed class probability of each such window."""
    return prediction.smoothed[prediction.has_face].max(axis=1)


def confidence_summary(prediction: Prediction) -> Confidence:
    """Median, quartiles and range of :func:`top_probability`."""
    top = top_probability(prediction)
    if not len(top):
        raise ValueError(f"{prediction.video}: no window with a face")
    q25, median, q75 = np.percentile(top, [25, 50, 75])
    return Confidence(len(top), float(median), float(q25), float(q75),
                      float(top.min()), float(top.max()))


def label_counts(prediction: Prediction, start_s: float = 0.0, end_s: float = np.inf
                 ) -> dict[str, int]:
    """Windows per smoothed label among those with a face whose centre lies in
    ``[start_s, end_s)``, most frequent first (classes never predicted left out)."""
    inside = (prediction.timestamps >= start_s) & (prediction.timestamps < end_s)
    labels = [label for label, ok in zip(prediction.labels, inside) if ok and label is not None]
    counts = {name: labels.count(name) for name in prediction.class_names}
    return dict(sorted(((k, v) for k, v in counts.items() if v), key=lambda kv: -kv[1]))
