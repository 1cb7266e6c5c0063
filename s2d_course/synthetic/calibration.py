"""How hard is the synthetic suite? Simple baselines that a trained S2D must beat.

- *Static*: logistic regression on raw pixels (32 x 32 RGB) of RAF-DB train, scored on RAF-DB
  test. Identity, pose, background and lighting dominate the pixels, so it scores far below a
  trained ViT.
- *Video*: logistic regression on the exact landmarks (similarity-aligned) of DFEW clips --
  the middle frame only versus statistics over all frames (mean, std, min, max per
  coordinate) -- over the five folds. Onset / offset timing leaves the middle frame neutral in
  many clips, so the whole clip predicts better.

*World* (:func:`calibrate_world`, for suites with nuisances such as ``claims``): the same
questions on one DFEW fold and RAF-DB, scored as WAR (accuracy) and UAR (mean recall), which
differ once the class frequencies are the real ones. A pixel baseline (logistic regression on
downsampled grey pixels: the image; for clips the middle frame or the mean over frames), a
landmark baseline (aligned exact landmarks: ``landmarks.npy`` of clips, the middle frame or the
mean over frames; RAF-DB images, which store none, planned again), both views concatenated, and
the pixel and landmark middle-frame classifiers scored on every
test frame that shows the expression, with and without each nuisance of ``nuisance.json``.

``python -m s2d_course.synthetic.calibration --root data/synthetic [--world]`` prints the
numbers.
"""
from __future__ import annotations

import argparse
import csv
import json
import warnings
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from s2d_lib.data.annotations import read_dfew_split, read_rafdb_partition
from s2d_lib.data.decode import IMAGE_EXTENSIONS
from s2d_lib.data.layouts import RAFDB_IMAGES, RAFDB_LABELS, video_layout
from .nuisances import NUISANCES
from .writers import LANDMARKS_FILE, NUISANCE_FILE, SYNTHETIC_LABELS

__all__ = ["calibrate", "calibrate_world", "pixel_baseline", "landmark_baselines", "align",
           "rafdb_landmarks", "detected", "landmark_error", "DETECTOR_NME", "grey_images",
           "pixel_scores"]


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


def _grey(path: Path, side: int) -> np.ndarray:
    with Image.open(path) as im:
        im.draft("L", (side, side))  # JPEG decodes at a fraction of its size: much faster
        return np.asarray(im.convert("L").resize((side, side), Image.BILINEAR), np.float32).ravel() / 255


def grey_images(dataset, side: int = 32) -> np.ndarray:
    """A RAF-DB-style dataset's images, grey ``side`` x ``side`` in [0, 1], one row each."""
    return np.stack([_grey(dataset.image_path(n), side) for n, _ in dataset.samples])


def pixel_scores(x: np.ndarray, y: np.ndarray, x_eval: np.ndarray, y_eval: np.ndarray
                 ) -> dict[str, float]:
    """The pixel baseline (standardised logistic regression, C = 0.1, on one thread) fitted on
    ``x``, ``y`` and scored on ``x_eval``, ``y_eval``: ``{"war", "uar"}``."""
    with threadpool_limits(1):
        pred = _classifier().fit(x, y).predict(x_eval)
    return _scores(y_eval, pred)


def _scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    with warnings.catch_warnings():  # a small test split may lack a class the model predicts
        warnings.simplefilter("ignore", UserWarning)
        uar = balanced_accuracy_score(y, pred)
    return {"war": float(accuracy_score(y, pred)), "uar": float(uar)}


def _clip(folder: Path, side: int) -> dict:
    """Grey pixels (T, side**2), aligned exact and detected landmarks (T, 136) and flags of one
    clip folder."""
    frames = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    flags = folder / NUISANCE_FILE
    exact = np.load(folder / LANDMARKS_FILE)
    rng = np.random.default_rng(int(folder.name) if folder.name.isdigit() else 0)
    noisy = detected(exact, rng, per_face=True)
    return {"pixels": np.stack([_grey(p, side) for p in frames]),
            "colour": np.stack([_colour(p, side) for p in frames]),
            "landmarks": align(exact).reshape(len(frames), -1),
            "detected": align(noisy).reshape(len(frames), -1),
            "flags": json.loads(flags.read_text()) if flags.is_file() else None}


def calibrate_world(root: str | Path, fold: int = 1, side: int = 24) -> dict[str, float]:
    """Baselines of a suite on RAF-DB and one DFEW fold (see :func:`_calibrate_world`)."""
    with threadpool_limits(1):  # these fits are small: BLAS threads only wait on each other
        return _calibrate_world(root, fold, side)


def rafdb_landmarks(rafdb: str | Path) -> dict[str, np.ndarray]:
    """The exact landmarks (68 x 2, face units) of every image of a synthetic RAF-DB, keyed by
    its name in the annotation file (``train_00001.jpg``). The images store none: each image's
    face is planned again from its preset and seed (nothing is drawn)."""
    from .face import landmarks
    from .items import _static_face, item_rng
    from .suite import PRESETS, SuitePreset, _plan

    stamp = json.loads((Path(rafdb) / ".synthetic.json").read_text())
    preset = dict(stamp["preset"])
    preset = PRESETS[preset["name"]] if preset["name"] in PRESETS else SuitePreset(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in preset.items()})
    out = {}
    for item in _plan("RAF-DB", preset, stamp["seed"]):
        idn, aus, pose, talk, _ = _static_face(item, item_rng(item.seed, item.dataset, item.index))
        name = Path(item.files[0]).name.replace("_aligned", "")
        out[name] = landmarks(idn, aus, pose, talk, item.gain)
    return out


#: The shipped tiny landmark network's NME on the tiny suite's test faces (notebook 01): the error
#: of the "detected" landmarks of the baselines (:func:`detected`).
DETECTOR_NME = 0.044


def detected(points: np.ndarray, rng: np.random.Generator, nme: float = DETECTOR_NME,
             per_face: bool = False) -> np.ndarray:
    """Exact landmarks ``(..., 68, 2)`` as a detector of mean error ``nme`` (over the outer eye
    corners' distance) would give them: Gaussian noise on every point, whose mean norm is ``nme``
    times that distance; drawn for every point of every face, or with ``per_face`` once for the
    68 points and shared by all the faces (the frames of a clip: a detector's error follows the
    face, not the frame), scaled by each face's own distance."""
    ocular = np.linalg.norm(points[..., 36, :] - points[..., 45, :], axis=-1)[..., None, None]
    draw = rng.normal(size=points.shape[-2:] if per_face else points.shape)
    return points + draw * nme * ocular / np.sqrt(np.pi / 2)


def _colour(path: Path, side: int) -> np.ndarray:
    with Image.open(path) as im:
        im.draft("RGB", (side, side))
        return np.asarray(im.convert("RGB").resize((side, side), Image.BILINEAR), np.float32).ravel() / 255


def _calibrate_rafdb(root: Path, side: int) -> dict[str, float]:
    """Baselines on RAF-DB (train -> test): grey and colour pixels, exact and detected landmarks
    (:func:`detected`), grey pixels with detected landmarks (concatenated), and its test label
    noise; {} without RAF-DB."""
    basic = root / "RAF-DB" / "basic"
    if not basic.is_dir():
        return {}
    marks = rafdb_landmarks(root / "RAF-DB")
    rng = np.random.default_rng(0)
    data = {}
    for split in ("train", "test"):
        samples = read_rafdb_partition(basic / RAFDB_LABELS, split)
        files = [basic / RAFDB_IMAGES / f"{Path(n).stem}_aligned.jpg" for n, _ in samples]
        pixels = np.stack([_grey(f, side) for f in files])
        exact = np.stack([marks[n] for n, _ in samples])
        noisy = align(detected(exact, rng)).reshape(len(files), -1)
        data[split] = ({"pixel": pixels, "pixel_colour": np.stack([_colour(f, side) for f in files]),
                        "landmark": align(exact).reshape(len(files), -1), "landmark_detected": noisy,
                        "both": None}, np.array([y for _, y in samples]))
        data[split][0]["both"] = np.hstack([data[split][0]["pixel_colour"], noisy])
    out = {}
    for kind in data["train"][0]:
        pred = _classifier().fit(data["train"][0][kind], data["train"][1]).predict(data["test"][0][kind])
        out.update({f"rafdb_{kind}_{k}": v for k, v in _scores(data["test"][1], pred).items()})
    out["rafdb_test_label_noise"] = _label_noise(root / "RAF-DB", lambda s: s == "test")
    return out


def _calibrate_world(root: str | Path, fold: int, side: int) -> dict[str, float]:
    """Baselines of a suite on RAF-DB (train -> test) and DFEW (fold ``fold``); fractions in
    [0, 1], NaN where a nuisance has no test frame.

    Keys: ``rafdb_{pixel,pixel_colour,landmark,landmark_detected,both}_{war,uar}``;
    ``dfew_{pixel,landmark,landmark_detected,both}_{middle,mean}_{war,uar}`` (``both``: grey
    pixels with detected landmarks);
    ``dfew_frame_{pixel,landmark}_all`` (the middle-frame classifier's accuracy over every test
    frame); for each nuisance ``dfew_frame_{pixel,landmark}_{nuisance}_{with,without}`` over
    the test frames that show the expression (intensity at least half the clip's peak, every
    frame of a neutral clip) and ``dfew_frame_{nuisance}_share`` (their fraction with the
    nuisance); ``{rafdb,dfew}_test_label_noise`` (written label is not the true one).
    """
    root = Path(root)
    out = _calibrate_rafdb(root, side)
    dfew = root / "DFEW"
    if not dfew.is_dir():
        return out
    folder, _ = video_layout("DFEW", dfew, source="frames")
    splits = {s: read_dfew_split(video_layout("DFEW", dfew, s, fold, "frames")[1])
              for s in ("train", "test")}
    clips = {n: _clip(folder / n, side) for s in splits.values() for n, _ in s}
    y = {s: np.array([label for _, label in v]) for s, v in splits.items()}
    for c in clips.values():
        c["both"] = np.hstack([c["colour"], c["detected"]])
    middle = {}
    for kind in ("pixel", "pixel_colour", "landmark", "landmark_detected", "both"):
        key = {"pixel": "pixels", "pixel_colour": "colour", "landmark": "landmarks",
               "landmark_detected": "detected", "both": "both"}[kind]
        for view in ("middle", "mean"):
            x = {s: np.stack([clips[n][key][len(clips[n][key]) // 2] if view == "middle"
                              else clips[n][key].mean(0) for n, _ in v]) for s, v in splits.items()}
            model = _classifier().fit(x["train"], y["train"])
            pred = model.predict(x["test"])
            out.update({f"dfew_{kind}_{view}_{k}": v for k, v in _scores(y["test"], pred).items()})
            if view == "middle":
                middle[kind] = model
    # every test frame, scored by the middle-frame classifiers
    test = splits["test"]
    label = np.concatenate([np.full(len(clips[n]["pixels"]), y) for n, y in test])
    correct = {kind: np.concatenate([middle[kind].predict(clips[n][key]) for n, _ in test]) == label
               for kind, key in (("pixel", "pixels"), ("landmark", "landmarks"))}
    for kind in correct:
        out[f"dfew_frame_{kind}_all"] = float(correct[kind].mean())
    if all(clips[n]["flags"] is not None for n, _ in test):
        flags = {k: np.concatenate([clips[n]["flags"][k] for n, _ in test]).astype(bool)
                 for k in NUISANCES}
        shown = np.concatenate([_shown(np.array(clips[n]["flags"]["intensity"])) for n, _ in test])
        for k in NUISANCES:
            with_, without = shown & flags[k], shown & ~flags[k]
            out[f"dfew_frame_{k}_share"] = float(with_.sum() / max(1, shown.sum()))
            for kind in correct:
                out[f"dfew_frame_{kind}_{k}_with"] = float(correct[kind][with_].mean()) \
                    if with_.any() else float("nan")
                out[f"dfew_frame_{kind}_{k}_without"] = float(correct[kind][without].mean()) \
                    if without.any() else float("nan")
    names = {n for n, _ in test}
    out["dfew_test_label_noise"] = _label_noise(dfew, lambda s: s == str(fold), names)
    return out


def landmark_error(dfew: str | Path, weights: str | Path, fold: int = 1, input_size: int = 64,
                   max_clips: int = 200) -> dict[str, float]:
    """The NME of a landmark network (``weights``) on the test frames of DFEW fold ``fold``
    (the first ``max_clips`` clips): over all frames, and over the frames with and without each
    nuisance of ``nuisance.json`` (``{nuisance}_with`` / ``{nuisance}_without``): how a detector's
    error grows with head turns and occluders."""
    import torch
    from torchvision.transforms import v2

    from s2d_lib.data.transforms import normalize
    from s2d_lib.landmarks import MobileFaceNet
    from s2d_lib.checkpoints import load_landmark_weights
    from s2d_lib.train_landmarks import _predict, nme

    net = MobileFaceNet(input_size=input_size)
    load_landmark_weights(net, weights)
    prepare = v2.Compose([v2.Resize((input_size, input_size), antialias=True), normalize()])
    folder, split = video_layout("DFEW", dfew, "test", fold, "frames")
    errors, flags = [], {k: [] for k in NUISANCES}
    for name, _ in read_dfew_split(split)[:max_clips]:
        clip = folder / name
        frames = sorted(p for p in clip.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        images = torch.stack([prepare(torch.from_numpy(np.array(Image.open(p).convert("RGB")))
                                      .permute(2, 0, 1)) for p in frames])
        size = Image.open(frames[0]).size[0]
        target = torch.from_numpy(np.load(clip / LANDMARKS_FILE)).float() / size
        with torch.no_grad():
            errors.append(nme(_predict(net.eval(), images), target).numpy())
        marks = json.loads((clip / NUISANCE_FILE).read_text())
        for k in NUISANCES:
            flags[k].append(np.asarray(marks[k], bool))
    error = np.concatenate(errors)
    out = {"all": float(error.mean()), "frames": int(len(error))}
    for k, v in flags.items():
        on = np.concatenate(v)
        out[f"{k}_with"] = float(error[on].mean()) if on.any() else float("nan")
        out[f"{k}_without"] = float(error[~on].mean()) if (~on).any() else float("nan")
    return out


def _shown(intensity: np.ndarray) -> np.ndarray:
    """Frames that show the clip's expression (all frames of a clip without one)."""
    peak = intensity.max()
    return intensity >= 0.5 * peak if peak > 0 else np.ones(len(intensity), bool)


def _label_noise(folder: Path, in_test, names: set[str] | None = None) -> float:
    """Fraction of test samples whose written label is not the true one (NaN without the file)."""
    path = folder / SYNTHETIC_LABELS
    if not path.is_file():
        return float("nan")
    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if in_test(r["split"])
                and (names is None or r["sample"] in names)]
    return float(np.mean([r["label"] != r["written"] for r in rows])) if rows else float("nan")


def main(argv: list[str] | None = None) -> None:
    """Print the calibration numbers of a built suite."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="data/synthetic")
    parser.add_argument("--world", action="store_true",
                        help="the baselines of calibrate_world (RAF-DB and DFEW fold 1, nuisances)")
    args = parser.parse_args(argv)
    numbers = calibrate_world(args.root) if args.world else calibrate(args.root)
    for key, value in numbers.items():
        print(f"{key:40s} {100 * value:5.1f} %")


if __name__ == "__main__":
    main()
