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
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Subset

from .checkpoints import checkpoint_metadata, load_any_checkpoint
from .config import load_config
from .data.labels import CLASSES
from .data.layouts import FOLDS
from .data.frame_sampling import SAMPLINGS
from .devices import resolve_device
from .distributed import current, shard
from .landmark_cache import in_order
from .logs import show_logs
from .metrics import average_views, classification_metrics, format_metrics
from .model import S2D
from .progress import progress_bar
from .splits import build_split

__all__ = ["evaluate", "frame_average_baseline", "as_video", "unpack", "single_view",
           "frame_sampling_of", "evaluate_checkpoint", "main"]

log = logging.getLogger(__name__)


def as_video(x: torch.Tensor) -> torch.Tensor:
    """A batch of images ``(B, 3, H, W)`` becomes one-frame clips ``(B, 3, 1, H, W)``."""
    return x.unsqueeze(2) if x.dim() == 4 else x


def single_view(x: torch.Tensor, lf: torch.Tensor | None):
    """Training items given as one deterministic test view ``(B, 1, 3, T, H, W)`` -> clips."""
    if x.dim() != 6:
        return x, lf
    if x.shape[1] != 1:
        raise ValueError(f"training items hold {x.shape[1]} test views; expected clips or one view")
    return x[:, 0], (lf[:, 0] if lf is not None else None)


def unpack(batch, device: torch.device):
    x, y = batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
    lf = batch[2].to(device, non_blocking=True).float() if len(batch) > 2 else None
    return x, y, lf


@torch.no_grad()
def evaluate(model: nn.Module, dataset: Dataset, num_classes: int, batch_size: int = 32,
             device: torch.device | str = "cpu", class_names: Sequence[str] | None = None,
             progress: bool = False, amp: bool = False, workers: int = 0) -> dict:
    """WAR/UAR/per-class recall/confusion of ``model`` on ``dataset`` with the softmax averaged
    over test views; also ``loss`` (cross-entropy of the averaged scores), ``probs``, ``labels``.
    ``workers`` processes decode the items (as training's loader does). Under torch.distributed
    each process scores a shard and the results are gathered."""
    env = current()
    raw = model.module if isinstance(model, DistributedDataParallel) else model
    was_training = raw.training
    raw.eval()
    indices = shard(len(dataset), env)
    device = torch.device(device)
    loader = DataLoader(Subset(dataset, indices), batch_size=batch_size, shuffle=False,
                        num_workers=workers, pin_memory=device.type == "cuda")
    probs, labels = [], []
    for batch in progress_bar(loader, desc="eval", disable=not progress, leave=False):
        x, y, lf = unpack(batch, device)
        x = as_video(x)
        views = 1
        if x.dim() == 6:  # (B, V, 3, T, H, W): every test view is a clip of its own
            views = x.shape[1]
            x = x.flatten(0, 1)
            lf = lf.flatten(0, 1) if lf is not None else None
        with torch.autocast(device.type, enabled=amp and device.type == "cuda"):
            logits = raw(x, lf)
        probs.append(average_views(logits.view(-1, views, logits.shape[-1])).cpu())
        labels.append(y.cpu())
    raw.train(was_training)
    probs_t = torch.cat(probs) if probs else torch.zeros(0, num_classes)
    labels_t = torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long)
    if env.enabled:
        gathered = [None] * env.world
        dist.all_gather_object(gathered, (indices, probs_t, labels_t))
        order = torch.as_tensor([i for g in gathered for i in g[0]]).argsort()
        probs_t = torch.cat([g[1] for g in gathered])[order]
        labels_t = torch.cat([g[2] for g in gathered])[order]
    result = classification_metrics(labels_t.numpy(), probs_t.argmax(1).numpy(), num_classes,
                                    class_names)
    result["loss"] = float(F.nll_loss(probs_t.clamp_min(1e-12).log(), labels_t))
    result["probs"], result["labels"] = probs_t.numpy(), labels_t.numpy()
    return result


@torch.no_grad()
def frame_average_baseline(static_model: S2D, dataset: Dataset, num_classes: int,
                           label_order: Sequence[int] | None = None, batch_size: int = 8,
                           device: torch.device | str = "cpu",
                           class_names: Sequence[str] | None = None) -> dict:
    """Metrics of a static (T = 1) model that scores every frame of a clip on its own and
    averages the softmax over frames (and test views): the baseline temporal modelling must
    beat. ``label_order[i]`` is the static model's class for the dataset's class i. The result
    also holds the averaged ``probs``."""
    static_model.eval().to(device)
    loader = in_order(dataset, batch_size)
    probs, labels = [], []
    for batch in loader:
        x, y = batch[0].to(device), batch[1]
        x = x if x.dim() == 6 else x.unsqueeze(1)                    # (B, V, 3, T, H, W)
        b, v, c, t, h, w = x.shape
        frames = x.permute(0, 1, 3, 2, 4, 5).reshape(b * v * t, c, 1, h, w)
        logits = static_model(frames)
        p = average_views(logits.view(b, v * t, -1))
        probs.append((p[:, list(label_order)] if label_order is not None else p).cpu())
        labels.append(y)
    probs_t, labels_t = torch.cat(probs), torch.cat(labels)
    result = classification_metrics(labels_t.numpy(), probs_t.argmax(1).numpy(), num_classes,
                                    class_names)
    result["probs"] = probs_t.numpy()
    return result


def frame_sampling_of(checkpoint: str | os.PathLike) -> str:
    """The frame sampling the checkpoint was trained with (its metadata,
    :func:`~s2d_lib.checkpoints.checkpoint_metadata`; a released file's is the release's
    ``window``)."""
    return checkpoint_metadata(checkpoint).get("frame_sampling") or "window"


def evaluate_checkpoint(checkpoint: str | os.PathLike, dataset: str, data_root: str,
                        split: str = "test", fold: int = 1, views: tuple[int, int] = (2, 2),
                        model_name: str = "s2d_base_patch16_224",
                        landmark_weights: str | None = None, batch_size: int = 8,
                        device: str = "auto", progress: bool = True,
                        sampling: str | None = None, workers: int = 0, trust: bool = False) -> dict:
    """Metrics of ``checkpoint`` on ``split`` (``train`` / ``test``) of ``dataset``, the softmax
    averaged over ``views`` = (N temporal views, M spatial crops). ``sampling`` picks the frames
    (``window`` / ``uniform``, see :mod:`s2d_lib.data.frame_sampling`); None: the one our checkpoint
    was trained with, else the release's ``window``. ``workers``: processes decoding the videos.
    ``trust``: a ``.pth`` may hold any pickled object
    (:func:`~s2d_lib.checkpoints.load_any_checkpoint`)."""
    model = load_any_checkpoint(checkpoint, model_name, landmark_weights, trust=trust)
    stage = "static" if model.num_frames == 1 else "dfer"
    meta = checkpoint_metadata(checkpoint)
    sampling = sampling or meta.get("frame_sampling") or "window"
    resize = meta.get("test_resize", "square")  # square: the release's
    cfg = load_config(None, dict(stage=stage, dataset=dataset, data_root=data_root, fold=max(fold, 1),
                                 num_classes=model.num_classes, num_frames=model.num_frames,
                                 test_clips=views[0], test_crops=views[1],
                                 frame_sampling=sampling, test_resize=resize))
    data = build_split(cfg, split, model.pretrained_cfg["input_size"][-1])
    dev = resolve_device(device)
    model.to(dev)
    names = CLASSES[dataset] if len(CLASSES[dataset]) == model.num_classes else None
    result = evaluate(model, data, model.num_classes, batch_size, dev, names, progress=progress,
                      amp=dev.type == "cuda", workers=workers)
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
    parser.add_argument("--fold", type=int, default=1, help=f"DFEW / MAFW split 1..{FOLDS}")
    parser.add_argument("--views", default="2x2", help="N temporal x M spatial test views")
    parser.add_argument("--sampling", default=None, choices=SAMPLINGS,
                        help="frames of a view: T contiguous (window) or spread over the clip "
                             "(uniform); default: as the checkpoint was trained, else window")
    parser.add_argument("--model", default="s2d_base_patch16_224",
                        help="architecture of a released .pth")
    parser.add_argument("--landmark-weights", default=None, help="MobileFaceNet weights")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="load a .pth that holds pickled Python objects beyond tensors and "
                             "plain data (runs code from the file: only for a trusted source)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=0, help="processes decoding the videos")
    parser.add_argument("--out", default=None, help="write the metrics here as JSON")
    args = parser.parse_args(argv)
    show_logs(stream=sys.stderr)
    try:
        n, m = (int(v) for v in args.views.lower().split("x"))
    except ValueError:
        parser.error(f"--views {args.views!r}: expected NxM, e.g. 2x2")
    result = evaluate_checkpoint(args.checkpoint, args.dataset, args.data_root, args.split,
                                 args.fold, (n, m), args.model, args.landmark_weights,
                                 args.batch_size, args.device, sampling=args.sampling,
                                 workers=args.workers, trust=args.trust_checkpoint)
    print(f"{args.dataset} {args.split} (fold {args.fold}, {n}x{m} {result['frame_sampling']} views, "
          f"{len(result['labels'])} items): {format_metrics(result)}")
    for name, recall in result["per_class_recall"].items():
        print(f"  {name:>16s} recall {100 * recall:6.2f}")
    print("confusion (rows: true, columns: predicted):")
    for row in result["confusion"]:
        print("  " + " ".join(f"{v:5d}" for v in row))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
        log.info("-> %s", args.out)
    return result


if __name__ == "__main__":
    main()
