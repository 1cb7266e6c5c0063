"""Make the shipped weights: train the course's runs for several seeds, ship seed 0 in float16
into ``trained/`` with its manifest (hashes, the seeds' spread):
``python -m s2d_course.artifacts.regenerate`` (``make weights``), after a change to the pipeline.
Reading them is :mod:`.shipped`.
"""
from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from safetensors.torch import load_file, save_file

from s2d_lib.checkpoints import landmark_stream_by_reference, read_header, split_landmark_stream

from .. import float_path, paths
from . import landmark_weights, synthetic_data, trained_run
from .shipped import (MAE_RUN, MANIFEST, METRICS, RUNS, TABLE_MARK, TRAINED, shipped_run, spread,
                      test_metrics, write_readme_table)

__all__ = ["regenerate", "score_shipped", "main"]

log = logging.getLogger(__name__)


def _chain(seed: int, runs: Path, mae: Path, landmarks: Path | None = None) -> dict[str, Path]:
    """Train the course's four runs for ``seed``, the static one from the MAE encoder ``mae``
    (each reused when already finished; ``landmarks``: a landmark network's folder to use
    instead of training one)."""
    out = {"landmarks": landmarks or landmark_weights(
        runs / RUNS["landmarks"][0], seed=seed, train=True).parent}
    weights = out["landmarks"] / "mobilefacenet.safetensors"
    common = [f"seed={seed}", f"landmark_weights={weights}"]
    out["static"] = trained_run("static_tiny", common + [
        f"vit_weights={mae}", f"out_dir={runs / RUNS['static'][0]}"])
    for stage in ("temporal", "dfer"):
        out[stage] = trained_run(f"{stage}_tiny", common + [
            f"init={out['static'] / 'best.safetensors'}", f"out_dir={runs / RUNS[stage][0]}"])
    return out


def score_shipped(stage: str, run: Path) -> dict:
    """Test metrics of the float16 weights in a shipped folder (what every machine loads)."""
    from s2d_lib.checkpoints import load_checkpoint
    from s2d_lib.config import load_config
    from s2d_lib.evaluate import evaluate
    from s2d_lib.splits import build_split
    from s2d_lib.train_landmarks import evaluate_nme, landmark_datasets

    if stage == "landmarks":
        net = load_checkpoint(run / "mobilefacenet.safetensors").eval()
        _, test = landmark_datasets(paths.repo_path("data/synthetic/AffectNet"), net.input_size)
        return {"nme": evaluate_nme(net, test)}
    cfg = load_config(f"{stage}_tiny", [f"data_root={paths.repo_path(load_config(f'{stage}_tiny').data_root)}"])
    model = load_checkpoint(run / "best.safetensors").eval()
    test = evaluate(model, build_split(cfg, "test"), cfg.classes, cfg.batch_size, "cpu")
    counts = np.bincount(np.asarray(test["labels"]), minlength=cfg.classes)
    return {"uar": test["uar"], "war": test["war"], "n": int(counts.sum()),
            "classes": cfg.classes, "smallest_class": int(counts.min())}


#: An absolute path into a checkout's runs/, data/ or trained/ folder, up to that folder.
_CHECKOUT_PATH = re.compile(r"(?:/[^\s\"':,]+)*?/(runs|data|trained)/")


def _copy_relative(src: Path, dst: Path) -> None:
    """Copy a text file of a run with its paths made relative to the checkout that trained it
    (``/home/me/s2d/runs/x`` -> ``runs/x``): the shipped folder names no machine's folders."""
    dst.write_text(_CHECKOUT_PATH.sub(r"\1/", src.read_text()))


def _half(src: Path, dst: Path, landmarks: Path | None = None) -> None:
    """Copy a safetensors file with its floating tensors in float16 (integer buffers as they are).
    ``landmarks``: the shipped landmark network's file, which an S2D checkpoint then names instead
    of holding a copy (the frozen network is the same in all three; 2 MB less each)."""
    tensors = {k: (v.half() if v.is_floating_point() else v) for k, v in load_file(str(src)).items()}
    header = read_header(src)  # what the file says of its model and run
    if landmarks is not None and split_landmark_stream(tensors)[1]:
        landmark_stream_by_reference(tensors, landmarks, dst, header)
    else:
        save_file(tensors, str(dst), metadata=header or None)


def _record(stage: str, source: Path, target: Path) -> None:
    """Complete the shipped checkpoint's JSON with the record of facts that prediction and
    evaluation read (:func:`s2d_lib.checkpoints.checkpoint_metadata`), when the run predates
    them: computed from the run's config and training split as the trainer computes them, for
    the float16 weights."""
    from s2d_lib.checkpoints import load_checkpoint
    from s2d_lib.config import load_config
    from s2d_lib.data.labels import CLASSES
    from s2d_lib.data.video import clip_seconds
    from s2d_lib.landmark_cache import landmark_hash
    from s2d_lib.splits import build_split

    if stage == "landmarks":
        return
    info_path = target / "best.json"
    info = json.loads(info_path.read_text())
    if "pretrained_cfg" in info or "landmark_hash" in info.get("metadata", {}):
        return
    cfg = load_config(source / "config.yaml")
    cfg.data_root = str(paths.repo_path(load_config(f"{stage}_tiny").data_root))
    model = load_checkpoint(target / "best.safetensors")
    uniform = cfg.num_frames > 1 and cfg.frame_sampling == "uniform"
    info["metadata"] = {
        **info.get("metadata", {}), "class_names": list(CLASSES[cfg.dataset])[:cfg.classes],
        "frame_sampling": cfg.frame_sampling, "landmark_hash": landmark_hash(model),
        "clip_seconds": clip_seconds(build_split(cfg, "train")) if uniform else None}
    info_path.write_text(json.dumps(info, indent=2))


def ship_mae(runs: Path, folder: Path = TRAINED) -> dict:
    """Pretrain the tiny ViT as a masked autoencoder on the synthetic suite's unlabelled training
    images (in ``runs/mae_tiny``, reused when its key matches), ship it in float16 into
    ``folder/mae_tiny`` and return its manifest entry. The shipped record's ``mae_sha256`` is the
    float16 encoder's, the one every static run starts from."""
    from .mae import RECIPE, ensure_mae

    name, files = MAE_RUN
    source = runs / name
    ensure_mae(source / "mae.safetensors", paths.repo_path("data/synthetic"))
    target = folder / name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for file in ("mae.safetensors", "decoder.safetensors"):
        _half(source / file, target / file)
    record = json.loads((source / "mae.json").read_text())
    record.update(mae_sha256=paths.file_sha256(target / "mae.safetensors"), float16=True)
    (target / "mae.json").write_text(json.dumps(record, indent=1))
    return {"folder": name, "files": {f: paths.file_sha256(target / f) for f in files},
            "recipe": RECIPE, "shipped": {"loss": record["loss_curve"][-1][1]},
            "images": record["images"], "seconds": round(record["seconds"])}


def regenerate(seeds: int = 5, runs: Path | None = None, folder: Path = TRAINED,
               keep_landmarks: bool = False) -> dict:
    """Pretrain and ship the MAE stage (:func:`ship_mae`), train the course's runs from it for
    ``seeds`` seeds (in ``runs``, default ``runs/shipped``), ship seed 0 in float16 into
    ``folder`` and write its manifest. ``keep_landmarks``: seed 0 keeps the shipped landmark
    network instead of training it again (the claims measure their world with it, so a new one
    would void their runs); seeds 1 and up train theirs."""
    start = time.perf_counter()
    runs = runs or paths.repo_path("runs/shipped")
    synthetic_data()
    kept = None
    if keep_landmarks:
        kept = runs / "seed0" / f"kept_{RUNS['landmarks'][0]}"
        shutil.copytree(shipped_run("landmarks", folder), kept, dirs_exist_ok=True)
    entries = {"mae": ship_mae(runs, folder)}
    chains = []
    for seed in range(seeds):
        log.info("shipped weights: seed %d of %d", seed + 1, seeds)
        chains.append(_chain(seed, runs / f"seed{seed}", folder / MAE_RUN[0] / "mae.safetensors",
                             kept if seed == 0 else None))
    landmarks = folder / RUNS["landmarks"][0] / RUNS["landmarks"][1][0]
    for stage, (name, files) in RUNS.items():  # the landmark network first: the others name it
        source, target = chains[0][stage], folder / name
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for file in files:
            if file.endswith(".safetensors"):
                _half(source / file, target / file, landmarks if stage != "landmarks" else None)
            else:
                _copy_relative(source / file, target / file)
        _record(stage, source, target)
        entries[stage] = {
            "folder": name, "files": {f: paths.file_sha256(target / f) for f in files},
            "recipe": json.loads((source / "best.json").read_text()).get("metadata", {})
            if stage != "landmarks" else {"epochs": 2, "input_size": 64},
            "shipped": score_shipped(stage, target),
            "seeds": [{"seed": s, **test_metrics(stage, chain[stage])} for s, chain in enumerate(chains)]}
    made_by = (f"python -m s2d_course.artifacts.regenerate --seeds {seeds}"
               + (" --keep-landmarks" if keep_landmarks else ""))
    result = {"made_by": made_by, "machine": float_path.describe(),
              "seconds": round(time.perf_counter() - start), "runs": entries}
    (folder / MANIFEST).write_text(json.dumps(result, indent=1))
    return result


def main(argv: Sequence[str] | None = None) -> dict:
    """``python -m s2d_course.artifacts.regenerate [--seeds N] [--keep-landmarks]
    [--readme README.md]``."""
    from s2d_lib.logs import show_logs

    parser = argparse.ArgumentParser(prog="python -m s2d_course.artifacts.regenerate",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds of the recipe (seed 0 ships)")
    parser.add_argument("--readme", type=Path, help="write the table of the shipped runs into this "
                        f"README (between its {TABLE_MARK} marks) and stop")
    parser.add_argument("--keep-landmarks", action="store_true", help="seed 0 keeps the shipped "
                        "landmark network (the claims' world is measured with it)")
    args = parser.parse_args(argv)
    show_logs(stream=sys.stderr)
    if args.readme:
        write_readme_table(args.readme)
        return {}
    result = regenerate(args.seeds, keep_landmarks=args.keep_landmarks)
    for stage in RUNS:
        for metric in METRICS[stage]:
            s = spread(stage, metric)
            print(f"{stage:9s} {metric.upper()}: shipped {100 * result['runs'][stage]['shipped'][metric]:.2f} %"
                  f" | {s['n']} seeds {100 * s['mean']:.2f} ± {100 * s['std']:.2f} %")
    return result


if __name__ == "__main__":
    main()
