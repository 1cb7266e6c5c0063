"""Where a trained file comes from. This module answers what a notebook gets: load-or-compute
the artifacts the notebooks share (the synthetic suite, the landmark network, the MAE encoder, the
static checkpoint and the video checkpoints). Each other question has its own module (import a
name from the module that defines it):

* :mod:`.shipped`: which trained files ship in ``trained/`` (checked against the manifest's
  SHA-256), and how a reader's run compares with the seeds' spread;
* :mod:`.regenerate`: how the shipped files are made (``python -m s2d_course.artifacts.regenerate``,
  ``make weights``);
* :mod:`.mae`: the MAE backbone a tiny static run starts from, pretrained once per world;
* :mod:`.run_cache`: whether a finished run (or an artifact folder) may be reused for a config.

Every notebook runs on its own: it asks for what it needs here. A trained model comes from the
weights that ship in ``trained/`` (:mod:`.shipped`: the same numbers on every machine)
unless the caller asks to train (``train=True``, the notebooks' ``TRAIN`` / ``S2D_TRAIN=1``) or
asks for another recipe: then it comes from ``runs/`` when an earlier notebook already trained it,
and is trained otherwise. Paths are relative to the repository root, whatever the caller's
working directory, and functions return paths relative to it where they can (notebook outputs
stay machine-independent).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import torch

from s2d_lib.checkpoints import load_checkpoint
from s2d_lib.config import load_config
from s2d_lib.landmarks import MobileFaceNet
from s2d_lib.model import S2D
from ..paths import repo_path
from . import run_cache
from .shipped import shipped_run

__all__ = ["train_switch", "synthetic_data", "landmark_weights", "mae_weights", "landmark_net",
           "trained_run", "static_run", "video_run", "load_best"]


def synthetic_data(root: str | os.PathLike = "data/synthetic", preset: str = "tiny",
                   seed: int = 0) -> Path:
    """The synthetic suite under ``root``, built when missing (reused when already there)."""
    from ..synthetic import build_suite

    root = repo_path(root)
    build_suite(root, preset, seed)
    return root


def train_switch() -> bool:
    """The notebooks' default for ``TRAIN``: the environment variable ``S2D_TRAIN=1``."""
    return os.environ.get("S2D_TRAIN", "0").strip().lower() in ("1", "true", "yes")


def landmark_weights(run_dir: str | os.PathLike = "runs/landmarks_tiny",
                     data_root: str | os.PathLike = "data/synthetic/AffectNet",
                     input_size: int = 64, train: bool = False, **train_kwargs) -> Path:
    """Path of the trained tiny MobileFaceNet (our safetensors): the one that ships
    (``trained/landmarks_tiny``) unless ``train``; then the one in ``run_dir``, trained on the
    synthetic AffectNet faces' landmarks when ``run_dir`` holds none yet (about two minutes on two
    CPU cores), with :func:`~s2d_lib.train_landmarks.train_landmarks`'s defaults unless
    ``train_kwargs`` say otherwise."""
    from s2d_lib.train_landmarks import train_and_save

    if not train:
        if train_kwargs or Path(data_root) != Path("data/synthetic/AffectNet") or input_size != 64:
            raise ValueError("the shipped landmark network has the default recipe; pass train=True "
                             f"to train one with {train_kwargs or 'other data or input size'}")
        return shipped_run("landmarks") / "mobilefacenet.safetensors"
    path = repo_path(run_dir) / "mobilefacenet.safetensors"
    key = {"input_size": input_size, "train": train_kwargs,
           "data": run_cache.data_digest(repo_path(data_root))}
    if path.is_file() and run_cache.matches(path.parent, key):
        return path
    path = train_and_save(repo_path(data_root), repo_path(run_dir), input_size, **train_kwargs)
    run_cache.write_key(path.parent, key)
    return path


def mae_weights() -> Path:
    """The tiny ViT's shipped MAE encoder (``trained/mae_tiny``, checked against the manifest):
    the start of every tiny static run, as the paper's ViT starts from MAE weights. It is not
    re-trained with ``train`` (like the paper's public MAE weights); ``make weights`` makes it."""
    return shipped_run("mae") / "mae.safetensors"


def landmark_net(**kwargs) -> MobileFaceNet:
    """The trained MobileFaceNet of :func:`landmark_weights` (eval mode)."""
    return load_checkpoint(landmark_weights(**kwargs)).eval()


def trained_run(preset: str, overrides: Iterable[str] = (), retrain: bool = False) -> Path:
    """The run folder of ``python -m s2d_lib.train --config preset overrides``; trained unless it
    holds a finished run of this config on this data (:mod:`.run_cache`; an interrupted run of it
    resumes, a run of another config is trained afresh). Relative ``data_root``, ``init``,
    ``landmark_weights``, ``cache_dir`` and ``out_dir`` are taken from the repository root."""
    from s2d_lib.train import train

    cfg = load_config(preset, list(overrides))
    for key in ("data_root", "init", "landmark_weights", "vit_weights", "cache_dir", "out_dir"):
        value = getattr(cfg, key)
        if value is not None and (key != "vit_weights" or value.endswith(".safetensors")):
            setattr(cfg, key, str(repo_path(value)))  # (a vit_weights without it is a timm name)
    if cfg.out_dir is None:
        cfg.out_dir = str(repo_path(cfg.run_dir))
    run = Path(cfg.out_dir)
    if retrain or not run_cache.reusable(cfg):
        if retrain or (run / "results.json").is_file():
            cfg = run_cache.afresh(cfg)
        train(cfg)
        run_cache.remember(cfg)
    return run


#: Config fields that say where things are, not what was trained.
_PLACES = run_cache.PLACES + run_cache.VOLATILE


def _shipped_or_none(preset: str, overrides: Iterable[str]) -> Path | None:
    """The shipped run of ``preset`` when ``overrides`` ask for the shipped recipe on the default
    synthetic data (else None: another recipe is trained)."""
    stage, profile = preset.split("_", 1)
    if profile != "tiny":
        return None
    asked = load_config(preset, list(overrides))
    default = load_config(preset)
    same_recipe = all(getattr(asked, k) == getattr(default, k) for k in asked.to_dict() if k not in _PLACES)
    same_data = repo_path(asked.data_root).resolve() == repo_path(default.data_root).resolve()
    return shipped_run(stage) if same_recipe and same_data else None


def static_run(profile: str = "tiny", overrides: Iterable[str] = (), train: bool = False) -> Path:
    """The static (image) S2D run: in the tiny profile the shipped one (``trained/``) unless
    ``train`` or ``overrides`` change the recipe; a run trained here starts from the shipped MAE
    encoder (:func:`mae_weights`) and the landmark network trained here (``train``) or the
    shipped one."""
    if not train and (run := _shipped_or_none(f"static_{profile}", overrides)) is not None:
        return run
    extra = ([f"landmark_weights={landmark_weights(train=train)}", f"vit_weights={mae_weights()}"]
             if profile == "tiny" else [])
    return trained_run(f"static_{profile}", extra + list(overrides))


def video_run(stage: str = "dfer", profile: str = "tiny", overrides: Iterable[str] = (),
              train: bool = False) -> Path:
    """A video run (``stage`` ``temporal`` or ``dfer``): the shipped one unless ``train`` or
    ``overrides`` change the recipe; a run trained here is inflated from :func:`static_run` with
    the same ``train``."""
    if not train and (run := _shipped_or_none(f"{stage}_{profile}", overrides)) is not None:
        return run
    init = [f"init={static_run(profile, train=train) / 'best.safetensors'}"] if profile == "tiny" else []
    return trained_run(f"{stage}_{profile}", init + list(overrides))


def load_best(run: str | os.PathLike, device: str | torch.device = "cpu") -> S2D:
    """The selected checkpoint of a run folder, in eval mode."""
    return load_checkpoint(Path(run) / "best.safetensors").to(device).eval()
