"""How hard is the synthetic suite? Simple baselines that a trained S2D must beat.

- *Static*: logistic regression on raw pixels (32 x 32 RGB) of RAF-DB train, scored on RAF-DB
  test. Identity, pose, background and lighting dominate the pixels, so it scores far below a
  trained ViT.
- *Video*: logistic regression on the exact landmarks (similarity-aligned) of DFEW clips --
  the middle frame only versus statistics over all frames (mean, std, min, max per
  coordinate) -- over the five folds. Onset / offset timing leaves the middle frame neutral in
  many clips, so the whole clip predicts better.

``python -m s2d_lib.data.synthetic.calibration --root data/synthetic`` prints the numbers.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..annotations import read_dfew_split, read_rafdb_partition
from ..layouts import RAFDB_IMAGES, RAFDB_LABELS, video_layout
from .writers import LANDMARKS_FILE

__all__ = ["calibrate", "pixel_baseline", "landmark_baselines", "align"]


def _classifier():
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000))


def pixel_baseline(rafdb: str | Path, side: int = 32) -> dict[str, float]:
    """Accuracy / UAR of logistic regression on raw pixels, RAF-DB train -> test."""
    basic = Path(rafdb) / "basic"
    labels_file = basic / RAFDB_LABELS

    def load(split: str) -> tuple[np.ndarray, np.ndarray]:
        samples = read_rafdb_partition(labels_file, split)
        x = np.stack([np.asarray(Image.open(basic / RAFDB_IMAGES / f"{Path(n).stem}_aligned.jpg")
                                 .convert("RGB").resize((side, side)), np.float32).ravel()
                      for n, _ in samples])
        return x / 255, np.array([y for _, y in samples])

    (xtr, ytr), (xte, yte) = load("train"), load("test")
    pred = _classifier().fit(xtr, ytr).predict(xte)
    return {"acc": accuracy_score(yte, pred), "uar": balanced_accuracy_score(yte, pred)}


def align(points: np.ndarray) -> np.ndarray:
    """Remove translation, scale and rotation of (..., 68, 2) landmarks (to a unit, upright face)."""
    z = points[..., 0] + 1j * points[..., 1]
    z = z - z.mean(-1, keepdims=True)
    z = z / np.sqrt((np.abs(z) ** 2).sum(-1, keepdims=True))
    # Rotate so the eye line (centres of points 36-41 and 42-47) is horizontal.
    eyes = z[..., 42:48].mean(-1) - z[..., 36:42].mean(-1)
    z = z * (np.abs(eyes) / eyes)[..., None]
    return np.stack([z.real, z.imag], -1)


def landmark_baselines(dfew: str | Path, folds: tuple[int, ...] = (1, 2, 3, 4, 5)) -> dict[str, float]:
    """Mean UAR / WAR over DFEW folds of landmark logistic regression: middle frame vs all frames."""
    frames, _ = video_layout("DFEW", dfew, source="frames")
    features: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def feats(name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in features:
            lm = align(np.load(frames / name / LANDMARKS_FILE)).reshape(-1, 136)
            middle = lm[len(lm) // 2]
            stats = np.concatenate([lm.mean(0), lm.std(0), lm.min(0), lm.max(0)])
            features[name] = (middle, stats)
        return features[name]

    scores = {k: [] for k in ("middle_uar", "middle_war", "clip_uar", "clip_war")}
    for k in folds:
        train = read_dfew_split(video_layout("DFEW", dfew, "train", k, "frames")[1])
        test = read_dfew_split(video_layout("DFEW", dfew, "test", k, "frames")[1])
        ytr, yte = np.array([y for _, y in train]), np.array([y for _, y in test])
        for j, view in enumerate(("middle", "clip")):
            xtr = np.stack([feats(n)[j] for n, _ in train])
            xte = np.stack([feats(n)[j] for n, _ in test])
            pred = _classifier().fit(xtr, ytr).predict(xte)
            scores[f"{view}_uar"].append(balanced_accuracy_score(yte, pred))
            scores[f"{view}_war"].append(accuracy_score(yte, pred))
    return {k: float(np.mean(v)) for k, v in scores.items()}


def calibrate(root: str | Path) -> dict[str, float]:
    """All calibration numbers of a suite folder (fractions in [0, 1])."""
    root = Path(root)
    pixels = pixel_baseline(root / "RAF-DB")
    return {"rafdb_pixel_lr_acc": pixels["acc"], "rafdb_pixel_lr_uar": pixels["uar"],
            **{f"dfew_landmark_lr_{k}": v for k, v in landmark_baselines(root / "DFEW").items()}}


def main(argv: list[str] | None = None) -> None:
    """Print the calibration numbers of a built suite."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="data/synthetic")
    args = parser.parse_args(argv)
    for key, value in calibrate(args.root).items():
        print(f"{key:28s} {100 * value:5.1f} %")


if __name__ == "__main__":
    main()
