"""The model a run starts from: S2D as its config names it, with its starting weights.

* **static**: S2D with T = 1; the ViT starts from MAE weights (``vit_weights``, paper) or from
  scratch (tiny).
* **temporal** / **dfer**: a static checkpoint is inflated to T frames (temporal embedding
  repeated, TMAs fresh or kept) and only the dynamic groups train
  (``set_trainable(model, "dynamic")``). With ``init=scratch`` (no static pretraining) the
  frozen ViT keeps its random initialisation, or starts from ``vit_weights`` when given.

The landmark network comes from ``landmark_weights`` (or the static checkpoint of ours that
carries one).
"""
from __future__ import annotations

from pathlib import Path

import timm

from . import model as _model  # noqa: F401  (registers the s2d_* models with timm)
from .checkpoints import (checkpoint_metadata, inflate, load_landmark_weights, load_vit_backbone,
                          read_state_dict, split_landmark_stream)
from .adapters import widen_attention
from .config import TrainConfig
from .model import S2D, set_trainable

__all__ = ["build_model", "check_init", "SCRATCH"]

#: ``init=scratch``: a video stage without static pretraining (the frozen ViT keeps its random
#: initialisation), the "static pretraining vs none" ablation.
SCRATCH = "scratch"


def build_model(cfg: TrainConfig) -> S2D:
    """The S2D model of ``cfg`` with its starting weights (see the module docstring)."""
    model = timm.create_model(cfg.model, num_classes=cfg.classes, num_frames=cfg.num_frames,
                              drop_rate=cfg.drop_rate, drop_path_rate=cfg.drop_path_rate,
                              landmark_view=cfg.landmark_view,
                              temporal_attention=cfg.temporal_attention)
    if cfg.stage == "static":
        if cfg.vit_weights:
            load_vit_backbone(model, _vit_source(cfg.vit_weights))
        set_trainable(model, "static")
    else:
        check_init(cfg)
        if cfg.init != SCRATCH:
            _start_from(model, cfg)
        elif cfg.vit_weights:  # no static pretraining: the frozen ViT as MAE left it
            load_vit_backbone(model, _vit_source(cfg.vit_weights))
        if cfg.tma_qk_std is not None and (cfg.fresh_tma or cfg.init == SCRATCH):
            widen_attention(model, cfg.tma_qk_std)
        set_trainable(model, "dynamic")
    if cfg.landmark_weights:
        if not Path(cfg.landmark_weights).is_file():
            raise FileNotFoundError(f"{cfg.landmark_weights}: landmark weights not found (the tiny "
                                    "profile trains them with `python -m s2d_lib.train_landmarks`)")
        load_landmark_weights(model, cfg.landmark_weights)
    return model


def check_init(cfg: TrainConfig) -> None:
    """A video stage needs an existing static checkpoint to start from."""
    if cfg.stage == "static" or cfg.init == SCRATCH:
        return
    if not cfg.init:
        raise ValueError(f"stage {cfg.stage!r} needs init= a static checkpoint to inflate "
                         f"(or init={SCRATCH} to start without static pretraining)")
    if not Path(cfg.init).is_file():
        raise FileNotFoundError(f"{cfg.init}: static checkpoint not found (train the static "
                                "stage first, or point init= at the released .pth)")


def _start_from(model: S2D, cfg: TrainConfig) -> None:
    """Inflate ``model`` from ``cfg.init``, read once (its metadata from the header alone), and
    take its landmark network when the file carries one (ours do)."""
    tensors = read_state_dict(cfg.init)[0]
    source_dataset = checkpoint_metadata(cfg.init).get("dataset")  # None for a released file
    inflate(model, tensors, cfg.fresh_tma, target_dataset=cfg.dataset,
            source_dataset=source_dataset)
    stream = split_landmark_stream(tensors)[1]
    if stream:
        load_landmark_weights(model, stream)


def _vit_source(spec: str):
    """A local file as is; otherwise a timm model name, fetched by timm (needs the internet)."""
    if Path(spec).is_file():
        return spec
    try:
        return timm.create_model(spec, pretrained=True)
    except Exception as exc:  # offline, unknown name, or no such pretrained tag
        raise RuntimeError(f"vit_weights={spec!r}: not a local file, and timm could not fetch it "
                           f"({exc}); download the weights once and pass the file") from exc
