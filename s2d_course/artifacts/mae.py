"""The MAE backbones the tiny static runs start from, as the paper's ViT starts from MAE weights:
one per synthetic world, pretrained once (:func:`s2d_lib.mae.pretrain_mae`) on the world's
unlabelled training images, cached with a key, and shipped in ``trained/`` with its SHA-256.

The images are the RAF-DB training images and every :data:`FRAME_STRIDE`-th frame of the DFEW
training clips of fold 1. Only file names are read (the split file's names column for DFEW): no
expression label reaches the autoencoder, and no test image or clip either.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from s2d_lib.data.annotations import read_dfew_split
from s2d_lib.data.layouts import RAFDB_IMAGES, video_layout

from . import run_cache

__all__ = ["RECIPE", "FRAME_STRIDE", "world_images", "ensure_mae", "describe_mae"]

#: The MAE recipe of the tiny profile: 75 % of the patches masked, normalised-pixel loss,
#: AdamW (0.9, 0.95) at MAE's base rate 1.5e-4 x batch / 256, 5 % warm-up then a cosine.
RECIPE = dict(steps=2000, batch_size=128, base_lr=1.5e-4, mask_ratio=0.75, seed=0)
#: Every how many frames of a training clip one is taken (neighbouring frames nearly repeat).
FRAME_STRIDE = 4


def world_images(world: str | Path, fold: int = 1) -> list[Path]:
    """The unlabelled training images of a synthetic world folder (holding ``RAF-DB`` and/or
    ``DFEW``): RAF-DB ``train_*`` images, and frames of DFEW's fold-``fold`` training clips."""
    world = Path(world)
    files: list[Path] = []
    rafdb = world / "RAF-DB" / "basic" / RAFDB_IMAGES
    if rafdb.is_dir():
        files += sorted(rafdb.glob("train_*_aligned.jpg"))
    dfew = world / "DFEW"
    if dfew.is_dir():
        frames, split = video_layout("DFEW", dfew, "train", fold, "frames")
        for name, _ in read_dfew_split(split):  # the names only
            clip = sorted(p for p in (frames / name).iterdir() if p.suffix == ".jpg")
            files += clip[::FRAME_STRIDE]
    if not files:
        raise FileNotFoundError(f"{world}: no RAF-DB or DFEW training images to pretrain on")
    return files


def _key(world: Path, files: list[Path], recipe: dict) -> dict:
    names = hashlib.sha256("\n".join(p.relative_to(world).as_posix() for p in files).encode())
    data = {ds: run_cache.data_digest(world / ds) for ds in ("RAF-DB", "DFEW")
            if (world / ds).is_dir()}
    return {"recipe": recipe, "images": names.hexdigest(), "data": data}


def ensure_mae(path: str | Path, world: str | Path, progress: bool = True, **recipe) -> dict:
    """The MAE encoder ``path`` (``<folder>/mae.safetensors``) pretrained on ``world``'s
    training images with :data:`RECIPE` (updated by ``recipe``): reused when its folder holds
    the same key, trained otherwise. Returns :func:`describe_mae` of the folder."""
    from s2d_lib.mae import pretrain_mae

    path, world = Path(path), Path(world)
    recipe = {**RECIPE, **recipe}
    files = world_images(world)
    key = _key(world, files, recipe)
    if not (path.is_file() and run_cache.matches(path.parent, key)):
        pretrain_mae(files, path.parent, progress=progress, **recipe)
        run_cache.write_key(path.parent, key)
    return describe_mae(path.parent)


def describe_mae(folder: str | Path) -> dict:
    """What an MAE folder holds: the encoder's SHA-256, images, steps, first and last loss,
    seconds."""
    record = json.loads((Path(folder) / "mae.json").read_text())
    curve = record["loss_curve"]
    return {"sha256": record["mae_sha256"], "images": record["images"],
            "steps": record["config"]["steps"], "loss": [curve[0][1], curve[-1][1]],
            "seconds": record["seconds"]}
