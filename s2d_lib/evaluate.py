"""Evaluate a checkpoint (ours or the authors' released one) on any split.

``python -m s2d_lib.evaluate --checkpoint runs/dfer_tiny_DFEW/best.safetensors --dataset DFEW
--data-root data/synthetic/DFEW --fold 1 --split test``

``python -m s2d_lib.evaluate --checkpoint DFEW-fold1.pth --landmark-weights
mobilefacenet_model_best.pth.tar --dataset DFEW --data-root data/DFEW --fold 1 --views 2x2``

Prints WAR / UAR, per-class recall and the confusion matrix; ``--out`` writes them as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

import torch

from .checkpoints import checkpoint_metadata, load_any_checkpoint
from .config import load_config
from .data.labels import CLASSES
from .data.sampling import SAMPLINGS
from .metrics import format_metrics
from .train import build_split, evaluate

__all__ = ["frame_sampling_of", "evaluate_checkpoint", "main"]


def frame_sampling_of(checkpoint: str | os.PathLike) -> str:
    """The frame sampling our checkpoint was trained with (its JSON), else the release's
    ``window``."""
    return checkpoint_metadata(checkpoint).get("frame_sampling", "window")


def evaluate_checkpoint(checkpoint: str | os.PathLike, dataset: str, data_root: str,
                        split: str = "test", fold: int = 1, views: tuple[int, int] = (2, 2),
                        model_name: str = "s2d_base_patch16_224",
                        landmark_weights: str | None = None, batch_size: int = 8,
                        device: str = "auto", progress: bool = True,
                        sampling: str | None = None) -> dict:
    """Metrics of ``checkpoint`` on ``split`` (``train`` / ``test``) of ``dataset``, the softmax
    averaged over ``views`` = (N temporal views, M spatial crops). ``sampling`` picks the frames
    (``window`` / ``uniform``, see :mod:`s2d_lib.data.sampling`); None: the one our checkpoint
    was trained with, else the release's ``window``."""
    model = load_any_checkpoint(checkpoint, model_name, landmark_weights)
    stage = "static" if model.num_frames == 1 else "dfer"
    sampling = sampling or frame_sampling_of(checkpoint)
    cfg = load_config(None, dict(stage=stage, dataset=dataset, data_root=data_root, fold=max(fold, 1),
                                 num_classes=model.num_classes, num_frames=model.num_frames,
                                 test_clips=views[0], test_crops=views[1],
                                 frame_sampling=sampling))
    data = build_split(cfg, split, model.config["img_size"])
    dev = torch.device(device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    model.to(dev)
    names = CLASSES[dataset] if len(CLASSES[dataset]) == model.num_classes else None
    result = evaluate(model, data, model.num_classes, batch_size, dev, names, progress=progress,
                      amp=dev.type == "cuda")
    result.pop("probs")
    result["labels"] = result["labels"].tolist()
    result.update(checkpoint=str(checkpoint), dataset=dataset, split=split, fold=fold,
                  views=list(views), frame_sampling=sampling)
    return result


def main(argv: Sequence[str] | None = None) -> dict:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m s2d_lib.evaluate",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="ours (.safetensors) or released .pth")
    parser.add_argument("--dataset", required=True, choices=sorted(CLASSES))
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--split", default="test", choices=("train", "test"))
    parser.add_argument("--fold", type=int, default=1, help="DFEW / MAFW split 1..5")
    parser.add_argument("--views", default="2x2", help="N temporal x M spatial test views")
    parser.add_argument("--sampling", default=None, choices=SAMPLINGS,
                        help="frames of a view: T contiguous (window) or spread over the clip "
                             "(uniform); default: as the checkpoint was trained, else window")
    parser.add_argument("--model", default="s2d_base_patch16_224",
                        help="architecture of a released .pth")
    parser.add_argument("--landmark-weights", default=None, help="MobileFaceNet weights")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=None, help="write the metrics here as JSON")
    args = parser.parse_args(argv)
    try:
        n, m = (int(v) for v in args.views.lower().split("x"))
    except ValueError:
        parser.error(f"--views {args.views!r}: expected NxM, e.g. 2x2")
    result = evaluate_checkpoint(args.checkpoint, args.dataset, args.data_root, args.split,
                                 args.fold, (n, m), args.model, args.landmark_weights,
                                 args.batch_size, args.device, sampling=args.sampling)
    print(f"{args.dataset} {args.split} (fold {args.fold}, {n}x{m} {result['frame_sampling']} views, "
          f"{len(result['labels'])} items): {format_metrics(result)}")
    for name, recall in result["per_class_recall"].items():
        print(f"  {name:>16s} recall {100 * recall:6.2f}")
    print("confusion (rows: true, columns: predicted):")
    for row in result["confusion"]:
        print("  " + " ".join(f"{v:5d}" for v in row))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
        print(f"-> {args.out}", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
