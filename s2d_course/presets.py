"""The course's tiny presets: S2D at 64 px on CPU in minutes, trained on the synthetic suite.

The same architecture as the paper's, smaller (``s2d_tiny_patch8_64``), with the course's own
files: the synthetic datasets under ``data/synthetic/``, the MAE and landmark weights that ship
in ``trained/``, and the static run the temporal stages start from. Importing :mod:`s2d_course`
registers them with :mod:`s2d_lib.config`, so ``load_config("static_tiny")`` works wherever the
course is imported; paths are relative to the repository root, as the course runs there (the
notebooks resolve them with :func:`s2d_course.paths.repo_path`).
"""
from __future__ import annotations

from typing import Any

from s2d_lib.config import register_preset

__all__ = ["TINY_PRESETS", "TINY_MAE", "TINY_LANDMARKS_FILE", "TINY_STATIC_RUN"]

#: The tiny ViT's MAE weights (``s2d_lib.mae``, pretrained on the synthetic suite's unlabelled
#: images and shipped, as the paper's ViT-B/16 starts from MAE weights).
TINY_MAE = "trained/mae_tiny/mae.safetensors"
#: The tiny landmark network notebook 01 trains (shipped in ``trained/``).
TINY_LANDMARKS_FILE = "trained/landmarks_tiny/mobilefacenet.safetensors"
#: The static checkpoint the tiny temporal stages inflate (the course's static run).
TINY_STATIC_RUN = "runs/static_tiny_RAF-DB/best.safetensors"

_TINY = dict(profile="tiny", model="s2d_tiny_patch8_64", auto_augment=None, reprob=0.0, workers=0,
             landmark_cache=True, test_clips=1, test_crops=1, val_fraction=0.15,
             crop_scale=(0.6, 1.0), test_resize="short_side")

TINY_PRESETS: dict[str, dict[str, Any]] = {
    "static_tiny": dict(_TINY, stage="static", dataset="RAF-DB", data_root="data/synthetic/RAF-DB",
                        num_frames=1, epochs=7, batch_size=32, lr=1e-3, min_lr=1e-5,
                        warmup_epochs=1, drop_rate=0.1, mixup=0.0, cutmix=0.0, smoothing=0.1,
                        easdl=False, landmark_weights=TINY_LANDMARKS_FILE,
                        vit_weights=TINY_MAE, layer_decay=0.75),
    "temporal_tiny": dict(_TINY, stage="temporal", dataset="DFEW", data_root="data/synthetic/DFEW",
                          num_frames=8, frame_sampling="uniform", init=TINY_STATIC_RUN,
                          fresh_tma=True, epochs=6, batch_size=16, lr=1e-3, min_lr=1e-5,
                          warmup_epochs=1, drop_rate=0.1, mixup=0.0, cutmix=0.0, smoothing=0.1,
                          easdl=False),
    "dfer_tiny": dict(_TINY, stage="dfer", dataset="DFEW", data_root="data/synthetic/DFEW",
                      num_frames=8, frame_sampling="uniform", init=TINY_STATIC_RUN, fresh_tma=True,
                      epochs=8, batch_size=16, lr=1e-3, min_lr=1e-5, warmup_epochs=1,
                      drop_rate=0.1, mixup=0.0, cutmix=0.0, smoothing=0.1, easdl=True,
                      easdl_queue=8, easdl_start_epoch=2, easdl_ramp="3:0.1,5:0.5,6:1.0"),
}

for _name, _values in TINY_PRESETS.items():
    register_preset(_name, _values)
