"""The trainer: one run of S2D's static, temporal or DFER stage from a config and its datasets.

Every epoch: metrics to ``metrics.csv`` / ``metrics.json``, ``last`` checkpoint (safetensors)
plus ``last_state.pt`` (optimizer, scheduler, RNG, EASDL queues) for an exact resume, ``best``
checkpoint by the validation split carved from train. The test split is evaluated once, at the
end, with the best checkpoint. A non-finite loss stops the run and leaves the last good
checkpoint in place. Under ``torchrun`` the model is wrapped in DistributedDataParallel (NCCL on
GPU, gloo on CPU). Progress goes to the progress bars, epoch lines to the ``s2d_lib.trainer``
logger.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import os
import time
from typing import Callable, Sequence

import numpy as np
import torch
import torch.distributed as dist
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
from timm.scheduler import CosineLRScheduler
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, Subset

from .checkpoints import (CheckpointError, checkpoint_metadata, load_torch_file, read_state_dict,
                          save_checkpoint, split_landmark_stream)
from .config import TrainConfig
from .data.balanced_sampler import BalancedSampler
from .data.video import clip_seconds
from .devices import resolve_device
from .distributed import ReleaseOutputs, all_gather, setup_distributed
from .build import build_model
from .easdl import EmotionAnchors, easdl_loss, easdl_weight, parse_ramp
from .evaluate import as_video, evaluate, single_view, unpack
from .landmark_cache import WithLandmarks, check_cache_compatible, landmark_cache, landmark_hash
from .metrics import format_metrics, selection_metric
from .mixup import ClipMixup
from .model import S2D
from .optim import param_groups
from .precision import attention_path, autocast_dtype
from .progress import progress_bar
from .seeding import rng_state, seed_everything, set_rng_state
from .splits import DataSplits, train_val_indices

__all__ = ["Trainer", "TrainingDiverged", "fit", "STATE_FILE"]

log = logging.getLogger(__name__)

STATE_FILE = "last_state.pt"
#: Optimiser steps between two reads of the logged losses from the device (the progress bar and
#: the NaN stop, and each epoch's end): a read waits for the GPU's queued work.
LOG_EVERY = 20


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is left untouched."""


class Trainer:
    """One training run of S2D: built from a config and its datasets, driven by ``fit``."""

    def __init__(self, cfg: TrainConfig, data: DataSplits, model: S2D | None,
                 callbacks: Sequence[Callable[[dict], None]]) -> None:
        self.cfg, self.data, self.callbacks = cfg, data, callbacks
        self.env = setup_distributed(cfg.device)
        self.device = resolve_device(cfg.device, self.env.local_rank)
        self.dir = cfg.run_dir
        check_cache_compatible(cfg)
        seed_everything(cfg.seed + self.env.rank)
        self.model = (model if model is not None else build_model(cfg)).to(self.device)
        # precision: fp16 autocast with a GradScaler (a GPU's auto), bf16, or fp32 (s2d_lib.precision)
        dtype = autocast_dtype(cfg.precision, self.device)
        self.use_amp, self.amp_dtype = dtype is not None, dtype or torch.float32
        self._build_data()
        stream = self.model.landmark_stream
        self.facts = {  # what prediction reads from the file: the span T uniform frames covered
            "clip_seconds": clip_seconds(self.train_set) if cfg.frame_sampling == "uniform"
            and cfg.num_frames > 1 else None,
            "landmark_hash": landmark_hash(self.model) if stream is not None else None}
        self._build_optimisation()
        self.anchors = (EmotionAnchors(cfg.classes, self.model.embed_dim, cfg.easdl_queue,
                                       cfg.easdl_top_k).to(self.device) if cfg.easdl else None)
        self.ramp = parse_ramp(cfg.easdl_ramp)
        self.net: nn.Module = ReleaseOutputs(self.model)  # (logits, feature) for EASDL
        if self.env.enabled:
            self.net = DistributedDataParallel(
                self.net, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.epoch, self.step, self.best, self.history = 0, 0, -math.inf, []
        self.select = selection_metric(cfg.dataset)

    # ---- data
    def _build_data(self) -> None:
        cfg, data, env = self.cfg, self.data, self.env
        labels = list(data.labels)
        # a validation split of its own, or one carved from train (the claims' split too)
        train_idx, val_idx = train_val_indices(labels, cfg.val_fraction if data.val is None else 0,
                                               cfg.train_fraction, cfg.seed)
        val = data.val if data.val is not None else Subset(data.train_eval, val_idx) if val_idx \
            else None
        train_source, test = data.train, data.test
        if cfg.landmark_cache:
            key = f"{data.name}-T{cfg.num_frames}"
            feats = self._cache(data.train_eval, f"{key}-train")
            # The cached view belongs to the deterministic frames, so training uses those too.
            train_source = WithLandmarks(data.train_eval, feats)
            if val is not None:
                val = Subset(train_source, val.indices) if isinstance(val, Subset) else \
                    WithLandmarks(val, self._cache(val, f"{key}-val"))
            if test is not None:
                test = WithLandmarks(test, self._cache(test, f"{key}-test"))
        self.train_set = Subset(train_source, train_idx)
        self.val_set, self.test_set = val, test
        train_labels = [labels[i] for i in train_idx]
        if cfg.class_balanced:
            self.sampler: Sampler = BalancedSampler(train_labels, env.rank, env.world, cfg.seed)
        else:
            self.sampler = DistributedSampler(self.train_set, env.world, env.rank, shuffle=True,
                                              seed=cfg.seed)
        self.loader = DataLoader(self.train_set, batch_size=cfg.batch_size, sampler=self.sampler,
                                 num_workers=cfg.workers, drop_last=True,
                                 pin_memory=self.device.type == "cuda",
                                 persistent_workers=False)
        if len(self.loader) == 0:
            raise ValueError(f"{len(self.train_set)} training items per process are fewer than "
                             f"one batch of {cfg.batch_size}")

    def _cache(self, dataset: Dataset, key: str) -> torch.Tensor:
        """Rank 0 computes the cache, the others wait and read it."""
        args = (self.model, dataset, key, self.cfg.cache_dir, self.cfg.batch_size, self.device,
                self.cfg.progress and self.env.main)
        if self.env.enabled and not self.env.main:
            dist.barrier()
        features = landmark_cache(*args)
        if self.env.enabled and self.env.main:
            dist.barrier()
        return features

    # ---- optimisation
    def _build_optimisation(self) -> None:
        cfg = self.cfg
        total_batch = cfg.batch_size * self.env.world
        self.lr = cfg.lr if cfg.lr is not None else cfg.base_lr * total_batch / 8
        min_lr = cfg.min_lr if cfg.min_lr is not None else cfg.base_min_lr * total_batch / 256
        self.optimizer = torch.optim.AdamW(param_groups(self.model, cfg), lr=self.lr,
                                           betas=tuple(cfg.betas))
        steps = self.steps = min(len(self.loader), cfg.steps_per_epoch or len(self.loader))
        # The release's per-step schedule: linear warm-up from 0, then a cosine over the steps
        # that remain, ending at min_lr.
        warmup = int(cfg.warmup_epochs * steps)
        self.scheduler = CosineLRScheduler(
            # (at least 2 steps: timm warns that a 1-step cosine has no effect)
            self.optimizer, t_initial=max(cfg.epochs * steps - warmup, 2), lr_min=min_lr,
            warmup_t=warmup, warmup_lr_init=0.0, warmup_prefix=True, t_in_epochs=False)
        self.scaler = torch.amp.GradScaler(
            self.device.type, enabled=self.use_amp and self.amp_dtype == torch.float16)
        self.mixup = None
        if cfg.mixup > 0 or cfg.cutmix > 0:
            self.mixup = ClipMixup(mixup_alpha=cfg.mixup, cutmix_alpha=cfg.cutmix,
                                   label_smoothing=cfg.smoothing, num_classes=cfg.classes)
            self.criterion: nn.Module = SoftTargetCrossEntropy()
        elif cfg.smoothing > 0:
            self.criterion = LabelSmoothingCrossEntropy(cfg.smoothing)
        else:
            self.criterion = nn.CrossEntropyLoss()

    # ---- checkpoints
    def _state(self) -> dict:
        rng = rng_state()
        if self.env.enabled:
            gathered = [None] * self.env.world
            dist.all_gather_object(gathered, rng)
            rng = gathered
        else:
            rng = [rng]
        return {"epoch": self.epoch, "step": self.step, "best": self.best,
                "history": self.history, "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "anchors": self.anchors.state_dict() if self.anchors is not None else None,
                "rng": rng, "world": self.env.world}

    def _metadata(self, **extra) -> dict:
        video = ({"frame_sampling": self.cfg.frame_sampling, "test_resize": self.cfg.test_resize}
                 if self.cfg.num_frames > 1 else {})
        return {"stage": self.cfg.stage, "dataset": self.cfg.dataset, "epoch": self.epoch,
                "class_names": list(self.data.class_names), **video, **self.facts, **extra}

    def save_last(self) -> None:
        """``last`` weights and the full training state, each written atomically."""
        state = self._state()  # collective under DDP: every rank takes part
        if not self.env.main:
            return
        save_checkpoint(self.model, self.dir / "last.safetensors", self._metadata())
        tmp = self.dir / f".{STATE_FILE}.tmp"
        torch.save(state, tmp)
        os.replace(tmp, self.dir / STATE_FILE)

    def resume(self) -> bool:
        path = self.dir / STATE_FILE
        if not (self.cfg.resume and path.is_file()):
            return False
        state = load_torch_file(path)  # weights-only: tensors, numbers, NumPy's RNG state
        weights = self.dir / "last.safetensors"
        meta = checkpoint_metadata(weights)
        if meta.get("epoch") != state["epoch"]:
            raise CheckpointError(f"{weights} (epoch {meta.get('epoch')}) and {path} (epoch "
                                  f"{state['epoch']}) disagree: the run was killed while saving; "
                                  "delete both to restart")
        if state["world"] != self.env.world:
            raise CheckpointError(f"{path}: saved by {state['world']} processes, resuming with "
                                  f"{self.env.world}; resume with the same number")
        tensors = read_state_dict(weights)[0]
        self.model.load_state_dict(split_landmark_stream(tensors)[0])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if self.anchors is not None and state["anchors"] is not None:
            self.anchors.load_state_dict(state["anchors"])
        self.epoch, self.step, self.best = state["epoch"], state["step"], state["best"]
        self.history = state["history"]
        set_rng_state(state["rng"][self.env.rank])
        return True

    def _write_metrics(self) -> None:
        rows = [{k: v for k, v in h.items() if not isinstance(v, (dict, list))}
                for h in self.history]
        with open(self.dir / "metrics.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        (self.dir / "metrics.json").write_text(json.dumps(self.history, indent=1))

    # ---- one epoch
    def _train_epoch(self) -> dict:
        cfg, env = self.cfg, self.env
        self.net.train()
        self.sampler.set_epoch(self.epoch)
        weight = easdl_weight(self.epoch, self.ramp) if self.anchors is not None else 0.0
        fill = self.anchors is not None and self.epoch >= cfg.easdl_start_epoch
        totals = {"loss": 0.0, "ce": 0.0, "easdl": 0.0, "easdl_steps": 0}
        bar = progress_bar(self.loader, desc=f"{cfg.stage} epoch {self.epoch + 1}/{cfg.epochs}",
                           disable=not (cfg.progress and env.main), leave=False, total=self.steps)
        pending: list[torch.Tensor] = []  # this interval's (loss, ce, easdl) per step, on device
        for i, batch in enumerate(bar):
            if i == self.steps:
                break
            x, y, lf = unpack(batch, self.device)
            x, lf = single_view(as_video(x), lf)
            pending.append(self._step(x, y, lf, weight, fill, totals))
            if len(pending) == LOG_EVERY:
                bar.set_postfix(loss=f"{self._read_losses(pending, i, totals):.4f}")
                pending = []
        if pending:
            self._read_losses(pending, self.steps - 1, totals)
        n = self.steps
        return {"train_loss": totals["loss"] / n, "train_ce": totals["ce"] / n,
                "train_easdl": totals["easdl"] / max(totals["easdl_steps"], 1),
                "easdl_weight": weight if totals["easdl_steps"] else 0.0,
                "lr": max(g["lr"] for g in self.optimizer.param_groups)}  # the top layer's

    def _step(self, x: torch.Tensor, y: torch.Tensor, lf: torch.Tensor | None,
              weight: float, fill: bool, totals: dict) -> torch.Tensor:
        """One optimiser step on a batch of clips; the EASDL term joins once the anchors are
        ready. Mixup returns a mixed copy, so the anchors are filled from the clean clips.
        Returns ``(loss, ce, easdl)`` of the step, left on the device."""
        cfg = self.cfg
        inputs, targets = (self.mixup(x, y) if self.mixup is not None else (x, y))
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp), \
                attention_path(self.amp_dtype if self.use_amp else None, self.device):
            logits, feature = self.net(inputs, lf)
            # the losses in float32 (CPU bfloat16 autocast would compute them in bfloat16)
            loss_ce = self.criterion(logits.float(), targets)
            loss_e = torch.zeros((), device=self.device)
            if fill and weight > 0 and self.anchors.ready:
                loss_e = easdl_loss(logits.float(), self.anchors.soft_labels(feature))
                totals["easdl_steps"] += 1
            loss = loss_ce + weight * loss_e
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if cfg.clip_grad:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_grad)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step += 1
        self.scheduler.step_update(self.step)
        if fill:
            self._fill_anchors(x, y, lf, logits, feature)
        return torch.stack([loss.detach(), loss_ce.detach(), loss_e.detach()]).float()

    def _read_losses(self, pending: list[torch.Tensor], i: int, totals: dict) -> float:
        """Bring the interval's losses to the host in one copy, add them to ``totals`` step by
        step (float64, as the per-step sums always were) and stop the run on a non-finite loss;
        ``i`` is the interval's last step. Returns the interval's mean loss (the progress bar's)."""
        losses = torch.stack(pending)
        bad = (~torch.isfinite(losses[:, 0])).any().float().reshape(1)
        if self.env.enabled:
            dist.all_reduce(bad)  # every process stops together
        values = torch.cat([bad, losses.flatten()]).tolist()  # the one device -> host copy
        rows = [values[1 + 3 * k:4 + 3 * k] for k in range(len(pending))]
        if values[0]:  # the interval's first bad loss (the last step's if another process's)
            k = next((k for k, r in enumerate(rows) if not math.isfinite(r[0])), len(rows) - 1)
            last = self.dir / "last.safetensors"
            where = (f"the last good checkpoint is {last} (epoch {self.epoch})" if last.is_file()
                     else "no checkpoint was written yet")
            raise TrainingDiverged(
                f"loss is {rows[k][0]} at epoch {self.epoch + 1}, step {i - len(rows) + k + 2}: "
                f"training stopped; {where}. Lower the learning rate (now {self.lr:g}) or check "
                "the data for NaN/inf.")
        for row in rows:
            for key, value in zip(("loss", "ce", "easdl"), row):
                totals[key] += value
        return sum(r[0] for r in rows) / len(rows)

    @torch.no_grad()
    def _fill_anchors(self, x, y, lf, logits, feature) -> None:
        """Push this batch's clips into their class queues. With mixup the training clips are
        mixtures, so the anchors come from a separate no-grad pass on the clean clips."""
        if self.mixup is not None:
            self.model.eval()
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp), \
                    attention_path(self.amp_dtype if self.use_amp else None, self.device):
                logits, feature = self.model.forward_release(x, lf)
            self.model.train()
        feature, probs = feature.float(), logits.float().softmax(-1)
        if self.env.enabled:  # identical queues on every process
            feature, probs, y = (all_gather(t) for t in (feature, probs, y))
        self.anchors.update(feature, probs, y)

    # ---- the run
    def fit(self) -> dict:
        cfg, env = self.cfg, self.env
        self.dir.mkdir(parents=True, exist_ok=True)
        if env.main:
            cfg.save(self.dir / "config.yaml")
        if self.resume() and env.main:
            log.info("resumed %s after epoch %d", self.dir, self.epoch)
        while self.epoch < cfg.epochs:
            start = time.time()
            row = {"epoch": self.epoch + 1, **self._train_epoch()}
            val = None
            if self.val_set is not None:
                val = evaluate(self.model, self.val_set, cfg.classes, cfg.batch_size, self.device,
                               self.data.class_names, amp=self.use_amp, workers=cfg.workers)
                row.update(val_war=val["war"], val_uar=val["uar"], val_loss=val["loss"])
            self.epoch += 1
            row["seconds"] = time.time() - start
            self.history.append(row)
            improved = val is not None and val[self.select] > self.best
            if improved:
                self.best = val[self.select]
            if env.main:
                if improved or val is None:
                    save_checkpoint(self.model, self.dir / "best.safetensors",
                                    self._metadata(**{f"val_{self.select}": self.best}))
                self._write_metrics()
            self.save_last()
            if env.main:
                line = (f"epoch {row['epoch']}/{cfg.epochs} loss {row['train_loss']:.4f}"
                        + (f" val {format_metrics(val)}" if val else "")
                        + f" ({row['seconds']:.0f}s)")
                log.info(line)
                for callback in self.callbacks:
                    callback(row)
        return self.finish()

    def finish(self) -> dict:
        cfg = self.cfg
        result = {"run_dir": str(self.dir), "epochs": self.epoch, "history": self.history,
                  "autocast": str(self.amp_dtype).removeprefix("torch.") if self.use_amp else None,
                  f"best_val_{self.select}": self.best, "chance_uar": 1.0 / cfg.classes}
        if self.test_set is not None:
            best = read_state_dict(self.dir / "best.safetensors")[0]
            self.model.load_state_dict(split_landmark_stream(best)[0])
            test = evaluate(self.model, self.test_set, cfg.classes, cfg.batch_size, self.device,
                            self.data.class_names, amp=self.use_amp, workers=cfg.workers)
            labels = test.pop("labels")
            test.pop("probs")
            counts = np.bincount(labels, minlength=cfg.classes)
            result["test"] = test
            result["chance_war"] = float(counts.max() / counts.sum())
            if self.env.main:
                log.info(f"test ({len(labels)} items, best epoch by val {self.select}): "
                         f"{format_metrics(test)}  | chance: UAR {100 / cfg.classes:.2f} "
                         f"WAR {100 * result['chance_war']:.2f} (majority class)")
        if self.env.main:
            (self.dir / "results.json").write_text(json.dumps(
                {k: v for k, v in result.items() if k != "history"}, indent=1))
        return result


def fit(cfg: TrainConfig, data: DataSplits, model: S2D | None = None,
        callbacks: Sequence[Callable[[dict], None]] = ()) -> dict:
    """Train ``cfg`` on ``data`` (or a model you built); returns the history and test metrics.
    ``callbacks`` get each epoch's metrics row on the main process."""
    return Trainer(cfg, data, model, callbacks).fit()
