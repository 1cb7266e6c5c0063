"""Training configuration: one dataclass, named presets, and ``key=value`` / YAML overrides.

``load_config("dfer_paper", ["dataset=FERV39k", "data_root=/data/FERV39k"])`` or, from the
shell, ``python -m s2d_lib.train --config dfer_paper dataset=FERV39k data_root=/data/FERV39k``.
A YAML file may name a ``preset`` to start from and overrides its fields. The paper presets
carry the release's hyper-parameters; fields the release does not fix are marked *ours* in the
README table. A preset here names no file of any checkout: the dataset folder is the caller's
(``data_root=``), and a project adds presets of its own with :func:`register_preset` (the
course's tiny presets, :mod:`s2d_course.presets`).
"""
from __future__ import annotations

import difflib
import typing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml
from timm.models import get_pretrained_cfg

from . import model as _model  # noqa: F401  (registers the s2d_* models with timm)
from .data.labels import CLASSES
from .data.layouts import FOLDS
from .data.frame_sampling import SAMPLINGS
from .precision import PRECISIONS
from .data.transforms import RELEASE_AUTO_AUGMENT
from .easdl import RELEASE_RAMP

__all__ = ["TrainConfig", "PRESETS", "preset", "register_preset", "load_config",
           "parse_overrides", "STAGES",
           "PROFILES", "DATASET_RECIPES", "RELEASED_STATIC", "RELEASED_LANDMARKS"]

STAGES = ("static", "temporal", "dfer")
PROFILES = ("tiny", "paper")
VIDEO_DATASETS = ("DFEW", "FERV39k", "MAFW")
IMAGE_DATASETS = ("RAF-DB", "AffectNet")


@dataclass
class TrainConfig:
    """Every knob of a training run (see the README's preset table)."""

    # What to train
    stage: str = "static"              # static | temporal | dfer
    profile: str = "tiny"              # tiny | paper (sizes only: same architecture)
    model: str = "s2d_tiny_patch8_64"  # a registered timm name
    dataset: str = "RAF-DB"            # RAF-DB | AffectNet | DFEW | FERV39k | MAFW
    data_root: str | None = None       # the dataset's folder (its release layout); required to
                                       # build the data
    num_classes: int | None = None     # None: the dataset's class count (AffectNet: 7)
    num_frames: int = 1                # T; 1 for the static stage
    frame_sampling: str = "window"     # window: T contiguous frames | uniform: T spread over the clip
    fold: int = 1                      # DFEW / MAFW split 1..FOLDS; 0 runs them all: mean ± std
    # Where the weights start
    init: str | None = None            # temporal/dfer: static checkpoint (ours or released .pth);
                                       # "scratch": the model's own initialisation (an ablation)
    vit_weights: str | None = None     # static: MAE ViT as a local file or a timm name (online only)
    landmark_weights: str | None = None  # MobileFaceNet weights (ours or released); None: random
    fresh_tma: bool = False            # temporal/dfer: re-initialise the TMAs of the static model
    # Ablations (the claims the course measures); the paper's model has both on
    landmark_view: bool = True         # False: the landmark branch removed (not zeroed)
    temporal_attention: bool = True    # False: each frame attends to itself alone in the TMAs
    tma_qk_std: float | None = None    # beyond the paper: fresh TMAs' query / key weights drawn
                                       # with this std (adapters.widen_attention); None: the release's
    # Optimisation (AdamW, warm-up + cosine per step)
    epochs: int = 10
    steps_per_epoch: int | None = None  # cap on optimiser steps per epoch (smoke runs); None: all
    batch_size: int = 32               # per process
    base_lr: float = 1e-5              # lr = base_lr * total batch / 8 (the release's rule)
    lr: float | None = None            # absolute learning rate; overrides the base_lr rule
    base_min_lr: float = 1e-8          # cosine floor = base_min_lr * total batch / 256 (release)
    min_lr: float | None = None        # absolute cosine floor; overrides the base_min_lr rule
    warmup_epochs: float = 2.0         # linear warm-up from 0, per step
    weight_decay: float = 0.05
    layer_decay: float | None = None   # layer-wise lr decay (MAE fine-tuning): a layer's lr is scaled
                                       # by layer_decay ** (layers above it); None: one lr (release)
    betas: tuple[float, float] = (0.9, 0.999)
    clip_grad: float | None = None
    drop_rate: float = 0.5             # head dropout
    drop_path_rate: float = 0.0
    # Augmentation (timm's RandAugment policy string, random erasing, mixup / cutmix)
    auto_augment: str | None = RELEASE_AUTO_AUGMENT  # timm's meaning: m7 of 10, same ops on every frame
    crop_scale: tuple[float, float] = (0.08, 1.0)  # random resized crop's area range
    reprob: float = 0.25               # random erasing (timm, pixel mode, same box on every frame)
    mixup: float = 0.8
    cutmix: float = 1.0
    smoothing: float = 0.1
    class_balanced: bool = False       # oversample rare classes (data.balanced_sampler.BalancedSampler)
    # EASDL (book/architecture.md, "EASDL")
    easdl: bool = False                # the release uses it for FERV39k only
    easdl_top_k: int = 2
    easdl_queue: int = 16
    easdl_start_epoch: int = 20        # queues fill from this epoch on (the release's)
    easdl_ramp: str = RELEASE_RAMP     # epoch:weight steps
    # Evaluation
    val_fraction: float = 0.1          # carved from train (stratified) for model selection
    train_fraction: float = 1.0        # share of the rest that trains (stratified, repeated to the
                                       # split's length: same steps per epoch; learning curves)
    test_clips: int = 2                # N temporal views
    test_crops: int = 2                # M spatial views
    test_resize: str = "square"        # test frames squashed to the input size, or "short_side"
    # Engine
    landmark_cache: bool = False       # precompute the landmark view once per dataset
    cache_dir: str = "data/cache"
    precision: str = "auto"            # auto (GPU: fp16; CPU: bf16 where native) | fp32 | bf16 | fp16
                                       # (s2d_lib.precision; replaces amp, see _retired)
    device: str = "auto"
    seed: int = 0
    workers: int = 2
    out_dir: str | None = None         # default runs/<stage>_<profile>_<dataset>
    resume: bool = True                # continue from out_dir/last.* when present
    progress: bool = True

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)
        self.crop_scale = tuple(float(s) for s in self.crop_scale)
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {self.stage!r}")
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {self.profile!r}")
        if self.dataset not in CLASSES:
            raise ValueError(f"dataset must be one of {tuple(CLASSES)}, got {self.dataset!r}")
        if self.stage == "static" and self.num_frames != 1:
            raise ValueError("the static stage trains on images: num_frames must be 1")
        if self.stage != "static" and self.dataset in IMAGE_DATASETS:
            raise ValueError(f"stage {self.stage!r} trains on videos, not {self.dataset}")
        if self.frame_sampling not in SAMPLINGS:
            raise ValueError(f"frame_sampling must be one of {SAMPLINGS}, got {self.frame_sampling!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.test_resize not in ("square", "short_side"):
            raise ValueError(f"test_resize must be 'square' or 'short_side', got {self.test_resize!r}")
        if self.tma_qk_std is not None and not self.tma_qk_std > 0:
            raise ValueError(f"tma_qk_std must be positive (or None), got {self.tma_qk_std}")
        if self.layer_decay is not None and not 0 < self.layer_decay <= 1:
            raise ValueError(f"layer_decay must be None or in (0, 1], got {self.layer_decay}")
        if not 0 < self.train_fraction <= 1:
            raise ValueError(f"train_fraction must be in (0, 1], got {self.train_fraction}")
        if self.fold not in range(FOLDS + 1):
            raise ValueError(f"fold must be 1..{FOLDS} (or 0 for all of them), got {self.fold}")

    @property
    def classes(self) -> int:
        """The number of classes: ``num_classes`` or the dataset's count."""
        if self.num_classes is not None:
            return self.num_classes
        return 7 if self.dataset == "AffectNet" else len(CLASSES[self.dataset])

    @property
    def image_size(self) -> int:
        """Frame side H = W of ``model``: the input size of its registered ``pretrained_cfg``."""
        cfg = get_pretrained_cfg(self.model)
        if cfg is None:
            raise ValueError(f"model {self.model!r} is not a registered timm model")
        return int(cfg.input_size[-1])

    @property
    def run_dir(self) -> Path:
        """``out_dir`` or its default."""
        return Path(self.out_dir or f"runs/{self.stage}_{self.profile}_{self.dataset}")

    def to_dict(self) -> dict:
        """Plain dict (YAML/JSON friendly)."""
        out = asdict(self)
        out["betas"] = list(self.betas)
        out["crop_scale"] = list(self.crop_scale)
        return out

    def save(self, path: str | Path) -> None:
        """Write the config as YAML (loadable with ``load_config(path)``)."""
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


#: Where the paper presets expect the authors' released files (downloading them is the user's
#: step; relative to the working directory, like every path of a config).
RELEASED_STATIC = "data/weights/pretrain-AffectNet-7.pth"
RELEASED_LANDMARKS = "data/weights/mobilefacenet_model_best.pth.tar"

_PAPER = dict(profile="paper", model="s2d_base_patch16_224", batch_size=8, epochs=100, workers=8)

PRESETS: dict[str, dict[str, Any]] = {
    # Static FER pretraining (ours): the release publishes its static checkpoint, not the
    # recipe; the optimiser and schedule follow the dynamic recipe, the lr and epochs are ours.
    "static_paper": dict(_PAPER, stage="static", dataset="AffectNet", num_frames=1, batch_size=64, base_lr=5e-5,
                         epochs=50, vit_weights="vit_base_patch16_224.mae", drop_rate=0.5,
                         mixup=0.8, cutmix=1.0, smoothing=0.1,
                         landmark_weights=RELEASED_LANDMARKS),
    # Temporal adaptation alone (ours, an ablation): the dynamic groups with cross-entropy and
    # label smoothing, no mixup/cutmix, no EASDL.
    "temporal_paper": dict(_PAPER, stage="temporal", dataset="DFEW", num_frames=16, init=RELEASED_STATIC,
                           mixup=0.0, cutmix=0.0, smoothing=0.1,
                           landmark_weights=RELEASED_LANDMARKS),
    # The release's DFER fine-tuning recipe (DFEW; dataset=FERV39k / MAFW apply their recipe).
    "dfer_paper": dict(_PAPER, stage="dfer", dataset="DFEW", num_frames=16,
                       init=RELEASED_STATIC, mixup=0.8, cutmix=1.0,
                       smoothing=0.1, easdl_top_k=2, easdl_queue=16,
                       landmark_weights=RELEASED_LANDMARKS),
}

#: Per-dataset changes to the paper presets, applied when ``dataset=`` is overridden: the
#: release trains FERV39k with plain cross-entropy (no mixup/cutmix, no smoothing), head
#: dropout 0 and EASDL; DFEW and MAFW without EASDL.
DATASET_RECIPES: dict[str, dict[str, Any]] = {
    "FERV39k": dict(drop_rate=0.0, mixup=0.0, cutmix=0.0, smoothing=0.0, easdl=True),
}


def register_preset(name: str, values: Mapping[str, Any]) -> None:
    """Add (or replace) the preset ``name``: ``values`` are TrainConfig fields, checked now."""
    TrainConfig(**values)
    PRESETS[name] = dict(values)


def preset(name: str) -> TrainConfig:
    """The named preset (``<stage>_<profile>``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    return TrainConfig(**PRESETS[name])


def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


def _coerce(key: str, value: Any, kind: Any) -> Any:
    """Convert a YAML/CLI value to the field's type, with an error naming the key."""
    args = typing.get_args(kind)
    if type(None) in args:  # Optional[...]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            return None
        kind = next(a for a in args if a is not type(None))
    try:
        if kind is bool:
            if isinstance(value, str):
                lowered = value.lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return lowered in ("true", "1", "yes")
            return bool(value)
        if kind in (int, float, str):
            if kind is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return kind(value)
        if typing.get_origin(kind) is tuple:
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(float(v) for v in items)
    except (TypeError, ValueError):
        raise ValueError(f"config key {key!r}: cannot read {value!r} as {kind}") from None
    return value


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["epochs=3", "init=none"]`` -> ``{"epochs": 3, "init": None}``, typed by the fields."""
    types = _field_types()
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if key == "amp" and sep:
            _retired({key: value.strip()}, "overrides")
            continue
        if not sep:
            raise ValueError(f"override {item!r} is not key=value")
        if key not in types:
            close = difflib.get_close_matches(key, types, n=3)
            raise ValueError(f"unknown config key {key!r}" + (f" (did you mean {close}?)" if close else ""))
        out[key] = _coerce(key, value.strip(), types[key])
    return out


def _retired(changes: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """``changes`` without ``amp``, the GPU's half of what ``precision`` now says alone:
    ``amp: true`` (every config saved before) is what ``precision=auto`` does on a GPU and is
    dropped; ``amp: false`` asks for float32 on a GPU, which is ``precision=fp32``."""
    changes = dict(changes)
    if "amp" in changes and _coerce("amp", changes.pop("amp"), bool) is False:
        raise ValueError(f"{origin}: amp=false is retired: precision alone says it now; for "
                         "float32 on a GPU write precision=fp32 (float32 on every device)")
    return changes


def _apply(base: dict[str, Any], changes: Mapping[str, Any], origin: str) -> dict[str, Any]:
    changes = _retired(changes, origin)
    types = _field_types()
    unknown = sorted(set(changes) - set(types))
    if unknown:
        raise ValueError(f"{origin}: unknown config keys {unknown}")
    return {**base, **{k: _coerce(k, v, types[k]) for k, v in changes.items()}}


def load_config(source: str | Path | TrainConfig | None = None,
                overrides: Iterable[str] | Mapping[str, Any] = ()) -> TrainConfig:
    """A config from a preset name, a YAML file (optionally naming a ``preset``), or a config,
    then ``overrides`` (``key=value`` strings or a mapping). For the paper profile, overriding
    ``dataset`` first applies that dataset's recipe (``DATASET_RECIPES``)."""
    if isinstance(source, TrainConfig):
        values = source.to_dict()
    elif source is None:
        values = TrainConfig().to_dict()
    elif str(source) in PRESETS:
        values = preset(str(source)).to_dict()
    else:
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"{path}: neither a preset ({', '.join(PRESETS)}) nor a YAML file")
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a config file must hold a mapping of keys to values")
        base = data.pop("preset", None)
        values = preset(base).to_dict() if base else TrainConfig().to_dict()
        values = _apply(values, data, str(path))
    changes = (parse_overrides(overrides) if not isinstance(overrides, Mapping)
               else _apply({}, overrides, "overrides"))
    dataset = changes.get("dataset")
    if dataset and values.get("profile") == "paper" and dataset in DATASET_RECIPES:
        stage = changes.get("stage", values.get("stage"))
        values = {**values, **{k: v for k, v in DATASET_RECIPES[dataset].items()
                               if k != "easdl" or stage == "dfer"}}
    return TrainConfig(**_apply(values, changes, "overrides"))

