"""``python -m s2d_lib.mae IMAGE_FOLDER_OR_GLOB... --out DIR``: MAE pretraining of S2D's ViT on
the images found there (:func:`s2d_lib.mae.pretrain_mae`)."""
from __future__ import annotations

import argparse
import inspect
import sys
from typing import Sequence

from ..logs import show_logs
from .data import image_files
from .pretrain import ENCODER_FILE, pretrain_mae


def main(argv: Sequence[str] | None = None) -> dict:
    """Parse the command line, pretrain, print where the encoder went; returns the record."""
    parser = argparse.ArgumentParser(prog="python -m s2d_lib.mae",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                     description=__doc__.split("\n\n")[0])
    default = {k: v.default for k, v in inspect.signature(pretrain_mae).parameters.items()}
    parser.add_argument("images", nargs="+", help="image folders (searched recursively for "
                        ".jpg/.jpeg/.png), image files or globs")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--model", default=default["model_name"], help="the S2D model's timm name")
    parser.add_argument("--steps", type=int, default=default["steps"], help="optimiser steps")
    parser.add_argument("--batch-size", type=int, default=default["batch_size"],
                        help="images per step")
    parser.add_argument("--base-lr", type=float, default=default["base_lr"],
                        help="learning rate per 256 images")
    parser.add_argument("--mask-ratio", type=float, default=default["mask_ratio"],
                        help="share of the patches masked")
    parser.add_argument("--seed", type=int, default=default["seed"], help="random seed")
    parser.add_argument("--precision", default=default["precision"], help="auto | fp32 | bf16")
    parser.add_argument("--device", default=default["device"], help="auto, cpu or cuda")
    args = parser.parse_args(argv)
    files = image_files(*args.images)
    if not files:
        parser.error(f"no .jpg/.jpeg/.png images found in {' '.join(args.images)}")
    show_logs(stream=sys.stderr)
    record = pretrain_mae(files, args.out, args.model, steps=args.steps,
                          batch_size=args.batch_size, base_lr=args.base_lr,
                          mask_ratio=args.mask_ratio, seed=args.seed, precision=args.precision,
                          device=args.device)
    curve = record["loss_curve"]
    print(f"MAE on {record['images']} images, {args.steps} steps: loss {curve[0][1]:.4f} -> "
          f"{curve[-1][1]:.4f} ({record['seconds']:.0f} s) -> {args.out}/{ENCODER_FILE}")
    return record


if __name__ == "__main__":
    main()
