"""Train S2D: static FER pretraining, temporal adaptation and DFER fine-tuning.

``python -m s2d_lib.train --config <preset|yaml> data_root=<folder> [key=value ...]``, or from
Python ``train(load_config("dfer_paper", ["data_root=/data/DFEW"]))``; ``s2d_lib.trainer.fit(cfg, data)`` trains on datasets you
built yourself. The model and its starting weights come from :mod:`s2d_lib.build`, the datasets
from :mod:`s2d_lib.splits`, the loop from :mod:`s2d_lib.trainer`; ``fold=0`` on DFEW / MAFW
runs the five folds here.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Callable, Sequence

import numpy as np
import torch.distributed as dist

from .build import check_init
from .checkpoints import UnsafeCheckpointError, trusted_checkpoints
from .config import PRESETS, TrainConfig, load_config
from .data.layouts import FOLDS
from .distributed import setup_distributed
from .logs import show_logs
from .splits import build_data
from .trainer import TrainingDiverged, fit

__all__ = ["train", "main"]

log = logging.getLogger(__name__)


def train(cfg: TrainConfig, callbacks: Sequence[Callable[[dict], None]] = ()) -> dict:
    """Build the data and train; ``fold=0`` on DFEW / MAFW runs the five folds and adds their
    mean ± std to the result (``folds.json`` in the run folder)."""
    check_init(cfg)
    if cfg.fold != 0 or cfg.dataset not in ("DFEW", "MAFW"):
        return fit(cfg, build_data(cfg), callbacks=callbacks)
    results = {}
    for k in range(1, FOLDS + 1):
        fold_cfg = load_config(cfg, {"fold": k, "out_dir": str(cfg.run_dir / f"fold{k}")})
        results[k] = fit(fold_cfg, build_data(fold_cfg), callbacks=callbacks)
    summary = {"folds": {k: r["test"] for k, r in results.items()}}
    for metric in ("war", "uar"):
        values = np.array([r["test"][metric] for r in results.values()])
        summary[metric] = {"mean": float(values.mean()), "std": float(values.std())}
    if setup_distributed(cfg.device).main:
        (cfg.run_dir / "folds.json").write_text(json.dumps(summary, indent=1))
        log.info(f"{cfg.dataset} 5-fold: WAR {100 * summary['war']['mean']:.2f} ± "
                 f"{100 * summary['war']['std']:.2f}  UAR {100 * summary['uar']['mean']:.2f} ± "
                 f"{100 * summary['uar']['std']:.2f}")
    return summary


def main(argv: Sequence[str] | None = None, prog: str = "python -m s2d_lib.train") -> dict:
    """``python -m s2d_lib.train --config <preset|yaml> [key=value ...]`` (``prog``: the command's
    name in its help, for a project that registers presets of its own and calls this)."""
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__.split("\n\n")[0],
        epilog=f"presets: {', '.join(PRESETS)}; any TrainConfig field can be overridden as "
               "key=value")
    parser.add_argument("--config", required=True, help="preset name or YAML file")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="the .pth files the run starts from (init=, landmark_weights=, "
                             "vit_weights=) may hold any pickled Python object (runs code from "
                             "them: only for files from a source you trust)")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides)
    except ValueError as exc:
        parser.error(str(exc))
    if not cfg.data_root:
        parser.error(f"no {cfg.dataset} folder given: add data_root=<folder of its release layout>")
    show_logs(stream=sys.stderr)
    try:
        with trusted_checkpoints(args.trust_checkpoint):
            result = train(cfg)
    except (TrainingDiverged, UnsafeCheckpointError) as exc:
        raise SystemExit(f"error: {exc}") from None
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return result


if __name__ == "__main__":
    main()
