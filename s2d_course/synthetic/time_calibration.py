"""Does the ``claims3`` world need time? Bounds that use no S2D part, on the world's own folds.

``python -m s2d_course.synthetic.time_calibration [--out results] [--seed 0]`` reads every clip's
exact per-frame action units from the generator (:func:`.items.item_timeline`: nothing is
rendered), trains logistic regressions on DFEW folds 2-5 and tests them on fold 1 (the clean
labels), and writes ``time_calibration.json`` and ``time_calibration.md``:

- per dose of talking (the realistic and the pure world), a **per-frame bound** (the mean and the
  max over frames of each feature: no order) and an **order-aware bound** (the same plus, per
  feature, the number of open / closed transitions, the longest open run and the lag-1
  autocorrelation), as UAR on the whole test fold, on the talking-vs-expression clips (every
  emphatic talker and every surprise and fear clip) and on the neutral talkers with the surprise
  and fear clips, and the validity rule of ``results/world_v3_rationale.md``;
- per dose of ambiguity, an EASDL proxy: the per-frame regression trained on the clean labels
  and on one annotator's labels, both tested on clean labels (cross-entropy and UAR, with a
  bootstrap interval of the paired difference over test clips).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, recall_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from s2d_lib.data.labels import canonical_names
from .items import item_timeline
from .presets import CLAIMS3_DOSES, PRESETS, SuitePreset
from .suite import _plan, clean_folds
from .timeline import FEATURES, LOOKALIKES, frame_features

__all__ = ["OPEN", "VALIDITY", "order_features", "pooled_features", "world_clips", "bounds",
           "easdl_proxy", "calibrate", "main"]

#: A feature is "open" on a frame above this value (the order features' threshold).
OPEN = 0.25
#: The validity rule, fixed before any result: the order-aware bound beats the per-frame bound by
#: at least ``talk_gap`` UAR points on the talking-vs-expression clips at the top dose and by at
#: least ``overall_gap`` overall, and the two are within ``zero_gap`` overall at the 0 % dose.
VALIDITY = {"talk_gap": 15.0, "overall_gap": 3.0, "zero_gap": 3.0}
TEST_FOLD = 1
#: The course's video presets hold out this share of the training folds for validation.
VAL_FRACTION = 0.15


def pooled_features(x: np.ndarray) -> np.ndarray:
    """(N, T, F) per-frame features -> (N, 2F): the mean and the max over frames."""
    return np.concatenate([x.mean(1), x.max(1)], 1)


def order_features(x: np.ndarray, threshold: float = OPEN) -> np.ndarray:
    """(N, T, F) -> (N, 3F): per feature, the number of open / closed transitions, the longest
    run of open frames, and the lag-1 autocorrelation over frames (0 for a constant feature)."""
    open_ = x > threshold
    transitions = (open_[:, 1:] != open_[:, :-1]).sum(1)
    run = np.zeros(open_.shape[0::2])
    longest = np.zeros_like(run)
    for t in range(open_.shape[1]):
        run = np.where(open_[:, t], run + 1, 0)
        longest = np.maximum(longest, run)
    centred = x - x.mean(1, keepdims=True)
    denominator = (centred ** 2).sum(1)
    lag1 = (centred[:, 1:] * centred[:, :-1]).sum(1)
    autocorr = np.divide(lag1, denominator, out=np.zeros_like(lag1), where=denominator > 1e-12)
    return np.concatenate([transitions, longest, autocorr], 1).astype(float)


def world_clips(preset: SuitePreset, seed: int = 0) -> dict[str, np.ndarray]:
    """The DFEW clips of a ``claims3`` world: per-frame features (N, T, F), clean and annotated
    labels, fold, whether each clip talks emphatically and what its look-alike is."""
    items = _plan("DFEW", preset, seed)
    plans = [item_timeline(it) for it in items]
    return {"x": np.stack([frame_features(pl) for pl in plans]),
            "label": np.array([it.label for it in items]),
            "annotated": np.array([pl.annotated for pl in plans]),
            "fold": np.array(clean_folds(items, seed)),
            "talks": np.array([pl.lookalike_class is not None for pl in plans]),
            "blended": np.array([len(pl.blend) > 1 for pl in plans])}


def _fit(x: np.ndarray, y: np.ndarray) -> object:
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000,
                                                               class_weight="balanced"))
    return model.fit(x, y)


def _uar(y: np.ndarray, pred: np.ndarray, mask: np.ndarray | None = None) -> float | None:
    """Unweighted average recall (%) over the classes present in ``y`` (within ``mask``); None
    for no clip."""
    if mask is not None:
        y, pred = y[mask], pred[mask]
    if not len(y):
        return None
    return 100 * float(recall_score(y, pred, labels=sorted(set(y)), average="macro",
                                    zero_division=0))


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def subsets(clips: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Test-clip masks: all, the talking-vs-expression clips, neutral talkers vs surprise / fear."""
    test = clips["fold"] == TEST_FOLD
    expression = np.isin(clips["label"], list(LOOKALIKES))
    return {"all": test, "talking_vs_expression": test & (clips["talks"] | expression),
            "neutral_talkers_vs_expression":
                test & ((clips["talks"] & (clips["label"] == "neutral")) | expression)}


def bounds(clips: dict[str, np.ndarray]) -> dict:
    """UAR (%) of the per-frame and the order-aware bound on each subset of the test fold."""
    x, y, test = clips["x"], clips["label"], clips["fold"] == TEST_FOLD
    pooled = pooled_features(x)
    views = {"per_frame": pooled, "order_aware": np.concatenate([pooled, order_features(x)], 1)}
    out = {}
    for name, features in views.items():
        pred = _fit(features[~test], y[~test]).predict(features)
        out[name] = {k: _round(_uar(y, pred, m)) for k, m in subsets(clips).items()}
    a, b = out["order_aware"], out["per_frame"]
    out["gap"] = {k: None if a[k] is None else round(a[k] - b[k], 2) for k in b}
    return out


def _bootstrap(a: np.ndarray, b: np.ndarray, y: np.ndarray, seed: int, n: int = 1000) -> list:
    """95 % bootstrap interval (over test clips) of UAR(a) - UAR(b), predictions a and b."""
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n):
        i = rng.integers(0, len(y), len(y))
        diffs.append(_uar(y[i], a[i]) - _uar(y[i], b[i]))
    return [round(float(v), 2) for v in np.percentile(diffs, [2.5, 97.5])]


def easdl_proxy(clips: dict[str, np.ndarray], seed: int = 0) -> dict:
    """The per-frame regression trained on clean vs one annotator's labels, tested on clean ones:
    cross-entropy (nats) and UAR (%), and the clean - annotator UAR gap's bootstrap interval."""
    x, y, test = pooled_features(clips["x"]), clips["label"], clips["fold"] == TEST_FOLD
    classes = sorted(set(y))
    out, preds = {}, {}
    for name, labels in (("clean", y), ("annotator", clips["annotated"])):
        model = _fit(x[~test], labels[~test])
        proba = np.zeros((test.sum(), len(classes)))
        proba[:, [classes.index(c) for c in model.classes_]] = model.predict_proba(x[test])
        preds[name] = np.array(classes)[proba.argmax(1)]
        out[name] = {"cross_entropy": round(float(log_loss(y[test], proba, labels=classes)), 4),
                     "uar": round(_uar(y[test], preds[name]), 2)}
    out["uar_gap"] = round(out["clean"]["uar"] - out["annotator"]["uar"], 2)
    out["uar_gap_ci95"] = _bootstrap(preds["clean"], preds["annotator"], y[test], seed)
    out["cross_entropy_gap"] = round(out["annotator"]["cross_entropy"]
                                     - out["clean"]["cross_entropy"], 4)
    train = ~test
    out["training_labels_changed"] = round(
        100 * float((clips["annotated"][train] != y[train]).mean()), 2)
    return out


def _counts(clips: dict[str, np.ndarray]) -> dict:
    test = clips["fold"] == TEST_FOLD
    names = canonical_names("DFEW")
    return {"test": int(test.sum()), "train": int((~test).sum()),
            "validation": int(round(VAL_FRACTION * (~test).sum())),
            "test_per_class": {c: int((clips["label"][test] == c).sum()) for c in names},
            "test_talking": int((clips["talks"] & test).sum()),
            "test_blended": int((clips["blended"] & test).sum())}


def _world(name: str, clips_limit: int | None) -> SuitePreset:
    p = PRESETS[name]
    return replace(p, dfew=clips_limit) if clips_limit else p


def verdict(rows: dict[str, dict]) -> dict:
    """The validity rule on one family's rows (dose -> bounds): each condition and the verdict."""
    zero, top = rows[min(rows)], rows[max(rows)]
    checks = {"top_talking_gap": top["gap"]["talking_vs_expression"] >= VALIDITY["talk_gap"],
              "top_overall_gap": top["gap"]["all"] >= VALIDITY["overall_gap"],
              "zero_dose_close": abs(zero["gap"]["all"]) <= VALIDITY["zero_gap"]}
    return {**checks, "valid": all(checks.values())}


def calibrate(seed: int = 0, clips_limit: int | None = None) -> dict:
    """The whole calibration: bounds per talking dose (realistic, pure), the EASDL proxy per
    blend dose, counts and verdicts. ``clips_limit`` shrinks every world (for tests)."""
    worlds = {"realistic": {0.0: "claims3", **{d: f"claims3_talk{round(100 * d)}"
                                               for d in CLAIMS3_DOSES["talk"]}},
              "pure": {d: f"claims3_pure{round(100 * d)}" for d in CLAIMS3_DOSES["pure"]}}
    out: dict = {"seed": seed, "open_threshold": OPEN, "validity_rule": VALIDITY,
                 "features": list(FEATURES), "time": {}, "ambiguity": {}}
    for family, doses in worlds.items():
        rows = {}
        for dose, name in doses.items():
            clips = world_clips(_world(name, clips_limit), seed)
            rows[dose] = {"world": name, **bounds(clips), "counts": _counts(clips)}
        out["time"][family] = {"doses": {f"{d:g}": r for d, r in rows.items()},
                               "verdict": verdict(rows)}
    blends = {0.0: "claims3", **{d: f"claims3_blend{round(100 * d)}" for d in CLAIMS3_DOSES["blend"]}}
    for dose, name in blends.items():
        clips = world_clips(_world(name, clips_limit), seed)
        out["ambiguity"][f"{dose:g}"] = {"world": name, **easdl_proxy(clips, seed),
                                         "counts": _counts(clips)}
    return out


def markdown(result: dict) -> str:
    """The calibration as markdown tables (UAR %, test fold)."""
    lines = ["# Calibration of the world with time in it (claims3)", "",
             f"Seed {result['seed']}; logistic regression on the generator's exact per-frame AUs, "
             "trained on DFEW folds 2-5, tested on fold 1 (clean labels). UAR in %. "
             "Rationale and validity rule: `results/world_v3_rationale.md`.", ""]
    for family, block in result["time"].items():
        lines += [f"## Time: {family} world", "",
                  "| emphatic talk | world | test clips (talking) | per-frame all | order-aware all "
                  "| gap all | per-frame talking-vs-expression | order-aware talking-vs-expression "
                  "| gap | gap, neutral talkers vs surprise/fear |", "|---" * 10 + "|"]
        for dose, r in block["doses"].items():
            c = r["counts"]
            lines.append(
                f"| {100 * float(dose):.0f} % | `{r['world']}` | {c['test']} ({c['test_talking']}) "
                f"| {r['per_frame']['all']:.1f} | {r['order_aware']['all']:.1f} | {r['gap']['all']:+.1f} "
                f"| {r['per_frame']['talking_vs_expression']:.1f} "
                f"| {r['order_aware']['talking_vs_expression']:.1f} "
                f"| {r['gap']['talking_vs_expression']:+.1f} "
                f"| {r['gap']['neutral_talkers_vs_expression']:+.1f} |")
        v = block["verdict"]
        lines += ["", "Validity: " + ", ".join(f"{k} {'yes' if v[k] else 'NO'}" for k in v), ""]
    lines += ["## Ambiguity: EASDL proxy (per-frame regression, clean vs one annotator's labels)", "",
              "| blended | world | training labels changed | CE clean | CE annotator | CE gap "
              "| UAR clean | UAR annotator | UAR gap [95 % bootstrap] |", "|---" * 9 + "|"]
    for dose, r in result["ambiguity"].items():
        lines.append(
            f"| {100 * float(dose):.0f} % | `{r['world']}` | {r['training_labels_changed']:.1f} % "
            f"| {r['clean']['cross_entropy']:.3f} | {r['annotator']['cross_entropy']:.3f} "
            f"| {r['cross_entropy_gap']:+.3f} | {r['clean']['uar']:.1f} | {r['annotator']['uar']:.1f} "
            f"| {r['uar_gap']:+.1f} [{r['uar_gap_ci95'][0]:+.1f}, {r['uar_gap_ci95'][1]:+.1f}] |")
    counts = result["time"]["realistic"]["doses"]["0"]["counts"]
    lines += ["", f"Folds per level: {counts['test']} test, {counts['train']} training clips "
              f"({counts['validation']} of them held out for validation by the course's presets). "
              "Test clips per class: "
              + ", ".join(f"{k} {v}" for k, v in counts["test_per_class"].items()) + ".", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Compute the calibration and write ``time_calibration.json`` and ``.md`` under ``--out``."""
    parser = argparse.ArgumentParser(prog="python -m s2d_course.synthetic.time_calibration",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("results"), help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clips", type=int, default=None, help="DFEW clips per world (default: the presets')")
    args = parser.parse_args(argv)
    result = calibrate(args.seed, args.clips)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "time_calibration.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "time_calibration.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
