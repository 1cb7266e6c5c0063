"""The training engine: static FER pretraining, temporal adaptation and DFER fine-tuning.

``python -m s2d_lib.train --config <preset|yaml> [key=value ...]``, or from Python
``train(load_config("static_tiny"))``; ``fit(cfg, data)`` trains on datasets you built yourself.

* **static**: S2D with T = 1 on RAF-DB / AffectNet images; the ViT starts from MAE weights
  (``vit_weights``, paper) or from scratch (tiny).
* **temporal** / **dfer**: a static checkpoint is inflated to T frames (temporal embedding
  repeated, fresh TMAs) and only the dynamic groups train (``set_trainable(model, "dynamic")``).
  ``dfer`` adds the release's recipe: mixup/cutmix with label smoothing and EASDL.

Every epoch: metrics to ``metrics.csv`` / ``metrics.json``, ``last`` checkpoint (safetensors)
plus ``last_state.pt`` (optimizer, scheduler, RNG, EASDL queues) for an exact resume, ``best``
checkpoint by the validation split carved from train. The test split is evaluated once, at the
end, with the best checkpoint. A non-finite loss stops the run and leaves the last good
checkpoint in place. Under ``torchrun`` the model is wrapped in DistributedDataParallel (NCCL on
GPU, gloo on CPU).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import random
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import timm
import torch
import torch.distributed as dist
import torch.nn.functional as F
from sklearn.model_selection import train_test_split
from timm.data import Mixup
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
from timm.optim import param_groups_weight_decay
from timm.scheduler import CosineLRScheduler
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, Subset

from . import model as _model  # noqa: F401  (registers the s2d_* models with timm)
from .checkpoints import (CheckpointError, LoadReport, checkpoint_filter_fn, load_landmarks,
                          load_released, load_vit_backbone, read_state_dict, save_checkpoint)
from .config import VIDEO_DATASETS, TrainConfig, load_config
from .data.labels import CLASSES, label_map
from .easdl import EmotionAnchors, easdl_loss, easdl_weight, parse_ramp
from .metrics import average_views, classification_metrics, format_metrics
from .model import S2D, set_trainable
from .progress import progress_bar

__all__ = ["DataSplits", "TrainingDiverged", "build_model", "inflate",
           "landmark_hash", "landmark_cache", "WithLandmarks", "evaluate", "fit", "train",
           "frame_average_baseline", "main"]

STATE_FILE = "last_state.pt"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is left untouched."""


@dataclass
class DataSplits:
    """The datasets of one run. ``train`` yields training views (augmented); ``train_eval`` the
    same samples as deterministic views (used for the validation split and the landmark cache);
    ``test`` deterministic test views. Items are ``(x, label)`` with x an image ``(3, H, W)``, a
    clip ``(3, T, H, W)`` or test views ``(V, 3, T, H, W)``."""

    train: Dataset
    train_eval: Dataset
    test: Dataset | None
    labels: Sequence[int]
    class_names: Sequence[str]
    name: str = "data"
    val: Dataset | None = field(default=None)


# ----------------------------------------------------------------------------------- model
def inflate(model: S2D, source: str | os.PathLike | dict, fresh_tma: bool = True) -> LoadReport:
    """Load a static (T = 1) or dynamic checkpoint into the T-frame ``model``.

    The conversions of ``checkpoint_filter_fn`` apply (the static temporal embedding is repeated
    over T frames); with ``fresh_tma`` the TMAs keep the model's fresh initialisation, since a
    static model's temporal attention has only ever seen one frame. A classifier trained on
    another dataset of ours is re-ordered to this model's label order when both are known.
    """
    state_dict, name = read_state_dict(source)
    report = LoadReport(name)
    converted = checkpoint_filter_fn(state_dict, model, report)
    own = model.state_dict()
    if fresh_tma:
        tma = [k for k in converted if ".TMA." in k]
        converted.update({k: own[k] for k in tma})
        report.reinitialised.append(f"{len(tma)} TMA tensors (fresh temporal adapters)")
    source_dataset = _checkpoint_dataset(source)
    target_dataset = getattr(model, "dataset_name", None)
    if source_dataset in CLASSES and target_dataset in CLASSES and source_dataset != target_dataset:
        order = label_map(target_dataset, source_dataset)
        w = converted.get("head.fc_cls.weight")
        if -1 not in order and w is not None and w.shape[0] == len(CLASSES[source_dataset]):
            converted["head.fc_cls.weight"] = w[order]
            converted["head.fc_cls.bias"] = converted["head.fc_cls.bias"][order]
            report.conversions.append(f"classifier re-ordered from {source_dataset} to "
                                      f"{target_dataset} labels")
    loaded = load_released(model, converted)
    report.loaded = loaded.loaded
    return report


def _checkpoint_dataset(source) -> str | None:
    """The dataset an S2D checkpoint of ours was trained on (from its JSON), else None."""
    if not isinstance(source, (str, os.PathLike)) or not str(source).endswith(".safetensors"):
        return None
    meta = Path(source).with_suffix(".json")
    if not meta.is_file():
        return None
    return json.loads(meta.read_text()).get("metadata", {}).get("dataset")


def build_model(cfg: TrainConfig) -> S2D:
    """The S2D model of ``cfg`` with its starting weights (see the module docstring)."""
    model = timm.create_model(cfg.model, num_classes=cfg.classes, num_frames=cfg.num_frames,
                              drop_rate=cfg.drop_rate, drop_path_rate=cfg.drop_path_rate)
    model.dataset_name = cfg.dataset
    if cfg.stage == "static":
        if cfg.vit_weights:
            load_vit_backbone(model, _vit_source(cfg.vit_weights))
        set_trainable(model, "static")
    else:
        _check_init(cfg)
        inflate(model, cfg.init, cfg.fresh_tma)
        if _has_landmark_stream(cfg.init):
            load_landmarks(model, cfg.init)
        set_trainable(model, "dynamic")
    if cfg.landmark_weights:
        if not Path(cfg.landmark_weights).is_file():
            raise FileNotFoundError(f"{cfg.landmark_weights}: landmark weights not found (the tiny "
                                    "profile trains them with `python -m s2d_lib.train_landmarks`)")
        load_landmarks(model, cfg.landmark_weights)
    return model


def _check_init(cfg: TrainConfig) -> None:
    if cfg.stage == "static":
        return
    if not cfg.init:
        raise ValueError(f"stage {cfg.stage!r} needs init= a static checkpoint to inflate")
    if not Path(cfg.init).is_file():
        raise FileNotFoundError(f"{cfg.init}: static checkpoint not found (train the static "
                                "stage first, or point init= at the released .pth)")


def _has_landmark_stream(path: str) -> bool:
    return path.endswith(".safetensors") and any(
        k.startswith("landmark_stream.") for k in read_state_dict(path)[0])


def _vit_source(spec: str):
    """A local file as is; otherwise a timm model name, fetched by timm (needs the internet)."""
    if Path(spec).is_file():
        return spec
    try:
        return timm.create_model(spec, pretrained=True)
    except Exception as exc:  # offline, unknown name, or no such pretrained tag
        raise RuntimeError(f"vit_weights={spec!r}: not a local file, and timm could not fetch it "
                           f"({exc}); download the weights once and pass the file") from exc


# ----------------------------------------------------------------------------------- landmarks
def landmark_hash(model: S2D) -> str:
    """A short hash of the landmark network's weights: the key that keeps a cache from going stale."""
    digest = hashlib.sha256()
    for key, value in sorted(model.landmark_stream.net.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def landmark_cache(model: S2D, dataset: Dataset, key: str, cache_dir: str | os.PathLike,
                   batch_size: int = 32, device: torch.device | str = "cpu",
                   progress: bool = False) -> torch.Tensor:
    """Landmark views of every item of ``dataset`` (deterministic views), computed once and
    stored in ``cache_dir/<key>-<landmark hash>.pt`` (float16). Returns ``(n, [V,] T, 128, g, g)``.
    Computing the cache leaves the global random state untouched, so a run is the same whether
    its cache was already on disk or not."""
    path = Path(cache_dir) / f"{_safe(key)}-{landmark_hash(model)}.pt"
    if path.is_file():
        features = torch.load(path, map_location="cpu", weights_only=True)
        if features.shape[0] == len(dataset):
            return features
        warnings.warn(f"{path}: holds {features.shape[0]} items, the dataset {len(dataset)}; "
                      "recomputing")
    stream = model.landmark_stream
    loader = _in_order(dataset, batch_size)
    chunks = []
    for batch in progress_bar(loader, desc=f"landmark cache {key}", disable=not progress,
                              leave=False):
        x = batch[0]
        lead = x.shape[:-4] if x.dim() >= 5 else x.shape[:-3]  # (B,) or (B, V) or (B, V, ...)
        video = x if x.dim() >= 5 else x.unsqueeze(-3)         # images get T = 1
        t = video.shape[-3]
        frames = video.reshape(-1, *video.shape[-4:]).transpose(1, 2).flatten(0, 1)
        lf = stream(frames.to(device)).to("cpu", torch.float16)
        chunks.append(lf.view(*lead, t, *lf.shape[1:]))
    features = torch.cat(chunks)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(features, tmp)
    os.replace(tmp, path)
    return features


def _in_order(dataset: Dataset, batch_size: int) -> DataLoader:
    """A loader over ``dataset`` in order that leaves the global random state alone (a loader
    otherwise draws its base seed from the global generator)."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, generator=torch.Generator())


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


class WithLandmarks(Dataset):
    """``dataset`` items with their cached landmark view appended: ``(x, label, lf)``."""

    def __init__(self, dataset: Dataset, features: torch.Tensor) -> None:
        if len(dataset) != len(features):
            raise ValueError(f"{len(dataset)} items but {len(features)} cached landmark views")
        self.dataset, self.features = dataset, features

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        x, label = self.dataset[index][:2]
        return x, label, self.features[index]


# ----------------------------------------------------------------------------------- helpers
@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed() -> _Dist:
    """Join the process group torchrun (or a spawner) described in the environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return _Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def _device(cfg: TrainConfig, env: _Dist) -> torch.device:
    if cfg.device != "auto":
        return torch.device(cfg.device)
    return torch.device(f"cuda:{env.local_rank}" if torch.cuda.is_available() else "cpu")


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_video(x: torch.Tensor) -> torch.Tensor:
    """A batch of images ``(B, 3, H, W)`` becomes one-frame clips ``(B, 3, 1, H, W)``."""
    return x.unsqueeze(2) if x.dim() == 4 else x


def _single_view(x: torch.Tensor, lf: torch.Tensor | None):
    """Training items given as one deterministic test view ``(B, 1, 3, T, H, W)`` -> clips."""
    if x.dim() != 6:
        return x, lf
    if x.shape[1] != 1:
        raise ValueError(f"training items hold {x.shape[1]} test views; expected clips or one view")
    return x[:, 0], (lf[:, 0] if lf is not None else None)


def _unpack(batch, device: torch.device):
    x, y = batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
    lf = batch[2].to(device, non_blocking=True).float() if len(batch) > 2 else None
    return x, y, lf


class BalancedSampler(Sampler[int]):
    """Class-balanced oversampling (``WeightedRandomSampler`` with 1 / class frequency weights),
    drawn identically on every process and sharded ``rank::world``, reseeded by ``set_epoch``."""

    def __init__(self, labels: Sequence[int], rank: int = 0, world: int = 1, seed: int = 0) -> None:
        labels = torch.as_tensor(list(labels))
        counts = torch.bincount(labels).clamp_min(1).double()
        self.weights = (1.0 / counts)[labels]
        self.rank, self.world, self.seed, self.epoch = rank, world, seed, 0
        self.num_samples = math.ceil(len(labels) / world)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        drawn = torch.multinomial(self.weights, self.num_samples * self.world, True, generator=g)
        return iter(drawn[self.rank::self.world].tolist())

    def __len__(self) -> int:
        return self.num_samples


def _shard(n: int, env: _Dist) -> list[int]:
    return list(range(env.rank, n, env.world))


# ----------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(model: nn.Module, dataset: Dataset, num_classes: int, batch_size: int = 32,
             device: torch.device | str = "cpu", class_names: Sequence[str] | None = None,
             progress: bool = False, amp: bool = False) -> dict:
    """WAR/UAR/per-class recall/confusion of ``model`` on ``dataset`` with the softmax averaged
    over test views; also ``loss`` (cross-entropy of the averaged scores), ``probs``, ``labels``.
    Under torch.distributed each process scores a shard and the results are gathered."""
    env = _Dist(dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else _Dist()
    raw = model.module if isinstance(model, DistributedDataParallel) else model
    was_training = raw.training
    raw.eval()
    indices = _shard(len(dataset), env)
    loader = DataLoader(Subset(dataset, indices), batch_size=batch_size, shuffle=False)
    probs, labels = [], []
    device = torch.device(device)
    for batch in progress_bar(loader, desc="eval", disable=not progress, leave=False):
        x, y, lf = _unpack(batch, device)
        x = _as_video(x)
        views = 1
        if x.dim() == 6:  # (B, V, 3, T, H, W): every test view is a clip of its own
            views = x.shape[1]
            x = x.flatten(0, 1)
            lf = lf.flatten(0, 1) if lf is not None else None
        with torch.autocast(device.type, enabled=amp and device.type == "cuda"):
            logits, _ = raw(x, lf)
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
    loader = _in_order(dataset, batch_size)
    probs, labels = [], []
    for batch in loader:
        x, y = batch[0].to(device), batch[1]
        x = x if x.dim() == 6 else x.unsqueeze(1)                    # (B, V, 3, T, H, W)
        b, v, c, t, h, w = x.shape
        frames = x.permute(0, 1, 3, 2, 4, 5).reshape(b * v * t, c, 1, h, w)
        logits, _ = static_model(frames)
        p = logits.float().softmax(-1).view(b, v * t, -1).mean(1)
        probs.append((p[:, list(label_order)] if label_order is not None else p).cpu())
        labels.append(y)
    probs_t, labels_t = torch.cat(probs), torch.cat(labels)
    result = classification_metrics(labels_t.numpy(), probs_t.argmax(1).numpy(), num_classes,
                                    class_names)
    result["probs"] = probs_t.numpy()
    return result


# ----------------------------------------------------------------------------------- training
class _Run:
    """One training run: built from a config and datasets, driven by ``fit``."""

    def __init__(self, cfg: TrainConfig, data: DataSplits, model: S2D | None,
                 callbacks: Sequence[Callable[[dict], None]]) -> None:
        self.cfg, self.data, self.callbacks = cfg, data, callbacks
        self.env = _setup_distributed()
        self.device = _device(cfg, self.env)
        self.dir = cfg.run_dir
        _check_cache_compatible(cfg)
        _seed_everything(cfg.seed + self.env.rank)
        self.model = (model if model is not None else build_model(cfg)).to(self.device)
        # The last prompt norm is never used by the forward pass (a quirk kept for checkpoint
        # parity); frozen, it receives no weight decay and DDP expects no gradient for it.
        self.model.prompt_norms[-1].requires_grad_(False)
        self.use_amp = cfg.amp and self.device.type == "cuda"
        self.amp_dtype = (torch.bfloat16 if self.use_amp and torch.cuda.is_bf16_supported()
                          else torch.float16)
        self._build_data()
        self._build_optimisation()
        self.anchors = (EmotionAnchors(cfg.classes, self.model.embed_dim, cfg.easdl_queue,
                                       cfg.easdl_top_k).to(self.device) if cfg.easdl else None)
        self.ramp = parse_ramp(cfg.easdl_ramp)
        self.net: nn.Module = self.model
        if self.env.enabled:
            self.net = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.epoch, self.step, self.best, self.history = 0, 0, -math.inf, []
        self.select = "uar" if cfg.dataset in VIDEO_DATASETS else "war"

    # ---- data
    def _build_data(self) -> None:
        cfg, data, env = self.cfg, self.data, self.env
        labels = list(data.labels)
        if data.val is not None:
            train_idx, val = list(range(len(labels))), data.val
        elif cfg.val_fraction > 0:
            train_idx, val_idx = train_test_split(list(range(len(labels))),
                                                  test_size=cfg.val_fraction, stratify=labels,
                                                  random_state=cfg.seed)
            val = Subset(data.train_eval, val_idx)
        else:
            train_idx, val = list(range(len(labels))), None
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
            return landmark_cache(*args)
        features = landmark_cache(*args)
        if self.env.enabled:
            dist.barrier()
        return features

    # ---- optimisation
    def _build_optimisation(self) -> None:
        cfg = self.cfg
        total_batch = cfg.batch_size * self.env.world
        self.lr = cfg.lr if cfg.lr is not None else cfg.base_lr * total_batch / 8
        groups = param_groups_weight_decay(
            self.model, cfg.weight_decay,
            no_weight_decay_list=("cls_token", "pos_embed", "temporal_embedding"))
        self.optimizer = torch.optim.AdamW(groups, lr=self.lr, betas=tuple(cfg.betas))
        steps = len(self.loader)
        self.scheduler = CosineLRScheduler(
            self.optimizer, t_initial=max(cfg.epochs * steps, 1), lr_min=cfg.min_lr,
            warmup_t=int(cfg.warmup_epochs * steps), warmup_lr_init=min(cfg.min_lr, self.lr),
            t_in_epochs=False)
        self.scaler = torch.amp.GradScaler(
            "cuda", enabled=self.use_amp and self.amp_dtype == torch.float16)
        self.mixup = None
        if cfg.mixup > 0 or cfg.cutmix > 0:
            self.mixup = Mixup(mixup_alpha=cfg.mixup, cutmix_alpha=cfg.cutmix,
                               label_smoothing=cfg.smoothing, num_classes=cfg.classes)
            self.criterion: nn.Module = SoftTargetCrossEntropy()
        elif cfg.smoothing > 0:
            self.criterion = LabelSmoothingCrossEntropy(cfg.smoothing)
        else:
            self.criterion = nn.CrossEntropyLoss()

    # ---- checkpoints
    def _state(self) -> dict:
        rng = _rng_state()
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
        video = {"frame_sampling": self.cfg.frame_sampling} if self.cfg.num_frames > 1 else {}
        return {"stage": self.cfg.stage, "dataset": self.cfg.dataset, "epoch": self.epoch,
                "class_names": list(self.data.class_names), **video, **extra}

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
        state = torch.load(path, map_location="cpu", weights_only=False)
        weights = self.dir / "last.safetensors"
        meta = json.loads(weights.with_suffix(".json").read_text())["metadata"]
        if meta.get("epoch") != state["epoch"]:
            raise CheckpointError(f"{weights} (epoch {meta.get('epoch')}) and {path} (epoch "
                                  f"{state['epoch']}) disagree: the run was killed while saving; "
                                  "delete both to restart")
        if state["world"] != self.env.world:
            raise CheckpointError(f"{path}: saved by {state['world']} processes, resuming with "
                                  f"{self.env.world}; resume with the same number")
        tensors = read_state_dict(weights)[0]
        self.model.load_state_dict({k: v for k, v in tensors.items()
                                    if not k.startswith("landmark_stream.")})
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if self.anchors is not None and state["anchors"] is not None:
            self.anchors.load_state_dict(state["anchors"])
        self.epoch, self.step, self.best = state["epoch"], state["step"], state["best"]
        self.history = state["history"]
        _set_rng_state(state["rng"][self.env.rank])
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
                           disable=not (cfg.progress and env.main), leave=False)
        for i, batch in enumerate(bar):
            x, y, lf = _unpack(batch, self.device)
            x, lf = _single_view(_as_video(x), lf)
            inputs, targets = (self.mixup(x, y) if self.mixup is not None else (x, y))
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
                logits, feature = self.net(inputs, lf)
                loss_ce = self.criterion(logits, targets)
                loss_e = torch.zeros((), device=self.device)
                if fill and weight > 0 and self.anchors.ready:
                    loss_e = easdl_loss(logits, self.anchors.soft_labels(feature))
                    totals["easdl_steps"] += 1
                loss = loss_ce + weight * loss_e
            self._check_finite(loss, i)
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
            totals["loss"] += float(loss.detach())
            totals["ce"] += float(loss_ce.detach())
            totals["easdl"] += float(loss_e.detach())
            bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
        n = len(self.loader)
        return {"train_loss": totals["loss"] / n, "train_ce": totals["ce"] / n,
                "train_easdl": totals["easdl"] / max(totals["easdl_steps"], 1),
                "easdl_weight": weight if totals["easdl_steps"] else 0.0,
                "lr": self.optimizer.param_groups[0]["lr"]}

    def _check_finite(self, loss: torch.Tensor, i: int) -> None:
        bad = torch.tensor([0.0 if torch.isfinite(loss) else 1.0], device=self.device)
        if self.env.enabled:
            dist.all_reduce(bad)  # every process stops together
        if bad.item():
            last = self.dir / "last.safetensors"
            where = (f"the last good checkpoint is {last} (epoch {self.epoch})" if last.is_file()
                     else "no checkpoint was written yet")
            raise TrainingDiverged(f"loss is {float(loss.detach())} at epoch {self.epoch + 1}, step {i + 1}: "
                                   f"training stopped; {where}. Lower the learning rate "
                                   f"(now {self.lr:g}) or check the data for NaN/inf.")

    @torch.no_grad()
    def _fill_anchors(self, x, y, lf, logits, feature) -> None:
        """Push this batch's clips into their class queues. With mixup the training clips are
        mixtures, so the anchors come from a separate no-grad pass on the clean clips."""
        if self.mixup is not None:
            self.model.eval()
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
                logits, feature = self.model(x, lf)
            self.model.train()
        feature, probs = feature.float(), logits.float().softmax(-1)
        if self.env.enabled:  # identical queues on every process
            feature, probs, y = (_all_gather(t) for t in (feature, probs, y))
        self.anchors.update(feature, probs, y)

    # ---- the run
    def fit(self) -> dict:
        cfg, env = self.cfg, self.env
        self.dir.mkdir(parents=True, exist_ok=True)
        if env.main:
            cfg.save(self.dir / "config.yaml")
        if self.resume() and env.main:
            print(f"resumed {self.dir} after epoch {self.epoch}", file=sys.stderr)
        while self.epoch < cfg.epochs:
            start = time.time()
            row = {"epoch": self.epoch + 1, **self._train_epoch()}
            val = None
            if self.val_set is not None:
                val = evaluate(self.net, self.val_set, cfg.classes, cfg.batch_size, self.device,
                               self.data.class_names, amp=self.use_amp)
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
                print(line, file=sys.stderr)
                for callback in self.callbacks:
                    callback(row)
        return self.finish()

    def finish(self) -> dict:
        cfg = self.cfg
        result = {"run_dir": str(self.dir), "epochs": self.epoch, "history": self.history,
                  f"best_val_{self.select}": self.best, "chance_uar": 1.0 / cfg.classes}
        if self.test_set is not None:
            best = read_state_dict(self.dir / "best.safetensors")[0]
            self.model.load_state_dict({k: v for k, v in best.items()
                                        if not k.startswith("landmark_stream.")})
            test = evaluate(self.net, self.test_set, cfg.classes, cfg.batch_size, self.device,
                            self.data.class_names, amp=self.use_amp)
            labels = test.pop("labels")
            test.pop("probs")
            counts = np.bincount(labels, minlength=cfg.classes)
            result["test"] = test
            result["chance_war"] = float(counts.max() / counts.sum())
            if self.env.main:
                print(f"test ({len(labels)} items, best epoch by val {self.select}): "
                      f"{format_metrics(test)}  | chance: UAR {100 / cfg.classes:.2f} "
                      f"WAR {100 * result['chance_war']:.2f} (majority class)", file=sys.stderr)
        if self.env.main:
            (self.dir / "results.json").write_text(json.dumps(
                {k: v for k, v in result.items() if k != "history"}, indent=1))
        return result


def _all_gather(t: torch.Tensor) -> torch.Tensor:
    parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts)


def _check_cache_compatible(cfg: TrainConfig) -> None:
    if cfg.landmark_cache and (cfg.mixup > 0 or cfg.cutmix > 0 or cfg.auto_augment or cfg.reprob > 0):
        raise ValueError("landmark_cache=true precomputes the landmark view of the un-augmented "
                         "frames, so it cannot be combined with mixup/cutmix/auto_augment/reprob "
                         "(set them to 0/none, or landmark_cache=false)")


def fit(cfg: TrainConfig, data: DataSplits, model: S2D | None = None,
        callbacks: Sequence[Callable[[dict], None]] = ()) -> dict:
    """Train ``cfg`` on ``data`` (or a model you built); returns the history and test metrics.
    ``callbacks`` get each epoch's metrics row on the main process."""
    return _Run(cfg, data, model, callbacks).fit()


def _first_dir(root: Path, candidates: Sequence[str], what: str) -> Path:
    for c in candidates:
        if (root / c).is_dir():
            return root / c
    raise FileNotFoundError(f"{root}: no {what} folder (looked for {', '.join(candidates)})")


def _video_files(cfg: TrainConfig, split: str) -> tuple[Path, Path]:
    """(frames or videos folder, split file) of a video dataset in its release layout."""
    root, k = Path(cfg.data_root), max(cfg.fold, 1)
    if cfg.dataset == "DFEW":
        frames = _first_dir(root, ("Clip/clip_224x224", "Clip/clip_112x112", "Clip/original"),
                            "DFEW clip")
        return frames, root / "EmoLabel_DataSplit" / f"{split}(single-labeled)" / f"{split}_set_{k}.csv"
    if cfg.dataset == "FERV39k":
        return root, root / "Annotation" / f"{split}.csv"
    frames = _first_dir(root, ("frames", "data/frames", "data/clips", "clips"), "MAFW clip")
    return frames, root / "anno" / "single" / "no_caption" / f"set_{k}" / f"{split}.csv"


def _train_transform(cfg: TrainConfig, size: int):
    """Random resized crop, flip, RandAugment from ``auto_augment`` (``rand-m7-n4...``), random
    erasing with ``reprob``: the release's training augmentation, on whole clips."""
    from torchvision.transforms import v2

    from .data.transforms import normalize

    steps = [v2.RandomResizedCrop(size, scale=(0.6, 1.0), antialias=True), v2.RandomHorizontalFlip()]
    if cfg.auto_augment:
        parts = dict((p[0], p[1:]) for p in cfg.auto_augment.split("-")[1:] if p[:1] in "mn")
        steps.append(v2.RandAugment(num_ops=int(parts.get("n", 2)), magnitude=int(parts.get("m", 9))))
    steps += [normalize(), v2.RandomErasing(p=cfg.reprob, value=0)]
    return v2.Compose(steps)


def build_split(cfg: TrainConfig, split: str, image_size: int | None = None,
                mode: str = "test", views: tuple[int, int] | None = None) -> Dataset:
    """One split (``train`` / ``test``) of the dataset ``cfg`` names, in ``mode`` ``train``
    (augmented) or ``test`` (deterministic ``views`` = N x M, default from ``cfg``)."""
    from .data import video

    size = image_size or cfg.image_size
    n, m = views or (cfg.test_clips, cfg.test_crops)
    if cfg.dataset in VIDEO_DATASETS:
        frames, annotation = _video_files(cfg, split)
        cls = getattr(video, cfg.dataset)
        return cls(frames, annotation, num_frames=cfg.num_frames, mode=mode, image_size=size,
                   num_temporal_views=n, num_spatial_views=m,
                   transform=_train_transform(cfg, size) if mode == "train" else None,
                   seed=cfg.seed, sampling=cfg.frame_sampling)
    from .data import static

    augment = mode == "train"
    transform = _train_transform(cfg, size) if augment else None
    if cfg.dataset == "RAF-DB":
        return static.RAFDB(cfg.data_root, split, image_size=size, transform=transform,
                            augment=augment)
    return static.AffectNet(cfg.data_root, "train" if split == "train" else "val",
                            num_classes=cfg.classes, image_size=size, transform=transform,
                            augment=augment)


def build_data(cfg: TrainConfig) -> DataSplits:
    """Train (augmented), train as deterministic single views, and test (N x M views) splits of
    the dataset ``cfg`` names, read from its release layout under ``data_root``."""
    train_set = build_split(cfg, "train", mode="train")
    root = hashlib.sha1(str(Path(cfg.data_root).resolve()).encode()).hexdigest()[:8]
    return DataSplits(
        train=train_set, train_eval=build_split(cfg, "train", views=(1, 1)),
        test=build_split(cfg, "test"), labels=list(train_set.labels),
        class_names=list(CLASSES[cfg.dataset])[:cfg.classes],
        name=f"{cfg.dataset}-{root}-fold{cfg.fold}-{cfg.image_size}px-views{cfg.test_clips}x"
             f"{cfg.test_crops}" + ("" if cfg.num_frames == 1 else f"-{cfg.frame_sampling}"))


def train(cfg: TrainConfig, callbacks: Sequence[Callable[[dict], None]] = ()) -> dict:
    """Build the data and train; ``fold=0`` on DFEW / MAFW runs the five folds and adds their
    mean ± std to the result (``folds.json`` in the run folder)."""
    _check_init(cfg)
    if cfg.fold != 0 or cfg.dataset not in ("DFEW", "MAFW"):
        return fit(cfg, build_data(cfg), callbacks=callbacks)
    results = {}
    for k in range(1, 6):
        fold_cfg = load_config(cfg, {"fold": k, "out_dir": str(cfg.run_dir / f"fold{k}")})
        results[k] = fit(fold_cfg, build_data(fold_cfg), callbacks=callbacks)
    summary = {"folds": {k: r["test"] for k, r in results.items()}}
    for metric in ("war", "uar"):
        values = np.array([r["test"][metric] for r in results.values()])
        summary[metric] = {"mean": float(values.mean()), "std": float(values.std())}
    if _setup_distributed().main:
        (cfg.run_dir / "folds.json").write_text(json.dumps(summary, indent=1))
        print(f"{cfg.dataset} 5-fold: WAR {100 * summary['war']['mean']:.2f} ± "
              f"{100 * summary['war']['std']:.2f}  UAR {100 * summary['uar']['mean']:.2f} ± "
              f"{100 * summary['uar']['std']:.2f}", file=sys.stderr)
    return summary


def main(argv: Sequence[str] | None = None) -> dict:
    """``python -m s2d_lib.train --config <preset|yaml> [key=value ...]``."""
    parser = argparse.ArgumentParser(
        prog="python -m s2d_lib.train", description=__doc__.split("\n\n")[0],
        epilog="presets: static_tiny, temporal_tiny, dfer_tiny, static_paper, temporal_paper, "
               "dfer_paper; any TrainConfig field can be overridden as key=value")
    parser.add_argument("--config", required=True, help="preset name or YAML file")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    try:
        result = train(cfg)
    except TrainingDiverged as exc:
        raise SystemExit(f"error: {exc}") from None
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return result


if __name__ == "__main__":
    main()
