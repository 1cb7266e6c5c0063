"""MAE pretraining of S2D's ViT on unlabelled face images, and what it leaves behind.

``pretrain_mae(images, out)`` writes

* ``out/mae.safetensors``: the encoder alone, under the names
  :func:`s2d_lib.checkpoints.load_vit_backbone` takes, so that a static run starts from it with
  ``vit_weights=out/mae.safetensors``;
* ``out/decoder.safetensors``: the rest of the autoencoder (the decoder and its mask token),
  which with the encoder gives reconstructions (:func:`load_mae`);
* ``out/mae.json``: the recipe, the loss curve (``[step, mean loss of the last steps]``), the
  seconds taken, the number of images and the SHA-256 of ``mae.safetensors``.

The recipe is the paper's: AdamW with betas (0.9, 0.95) and weight decay 0.05, learning rate
``base_lr * batch_size / 256``, linear warm-up then a cosine to 0 per step, 75 % of the patches
masked. On a CPU with native bfloat16 the forward pass runs in bfloat16 autocast exactly as the
trainer decides it (:mod:`s2d_lib.precision`); the loss is computed in float32.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Sequence

import torch
from safetensors.torch import load_file, save_file
from timm.optim import param_groups_weight_decay
from timm.scheduler import CosineLRScheduler
from torch.utils.data import Dataset

from ..checkpoints.files import _atomic_write
from ..checkpoints.tensors import file_sha256
from ..devices import resolve_device
from ..precision import attention_path, autocast_dtype
from ..progress import progress_bar
from ..seeding import seed_everything
from .data import IndexStream, dataset_images, load_images, random_resized_crop
from .model import MaskedAutoencoder

__all__ = ["pretrain_mae", "load_mae", "MAEDiverged", "ENCODER_FILE", "DECODER_FILE", "RECORD_FILE", "LOG_EVERY"]

log = logging.getLogger(__name__)

ENCODER_FILE, DECODER_FILE, RECORD_FILE = "mae.safetensors", "decoder.safetensors", "mae.json"
#: The loss curve holds the mean loss of every this many steps.
LOG_EVERY = 10


class MAEDiverged(RuntimeError):
    """The reconstruction loss became NaN or infinite."""


def _images(images: Sequence[str | Path] | Dataset, size: int, progress: bool) -> torch.Tensor:
    if isinstance(images, Dataset):
        return dataset_images(images, size, progress)
    return load_images(list(images), size, progress)


def _optimisation(model: MaskedAutoencoder, lr: float, weight_decay: float, steps: int,
                  warmup: int) -> tuple[torch.optim.Optimizer, CosineLRScheduler]:
    """AdamW (betas 0.9, 0.95; no decay on biases, norms, tokens and position embeddings) and
    the per-step schedule: linear warm-up from 0 over ``warmup`` steps, then a cosine to 0."""
    groups = param_groups_weight_decay(model, weight_decay,
                                       no_weight_decay_list=model.no_weight_decay())
    optimizer = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95))
    scheduler = CosineLRScheduler(optimizer, t_initial=max(steps - warmup, 2), lr_min=0.0,
                                  warmup_t=warmup, warmup_lr_init=0.0, warmup_prefix=True,
                                  t_in_epochs=False)
    return optimizer, scheduler


def _train(model: MaskedAutoencoder, data: torch.Tensor, steps: int, batch_size: int, lr: float,
           weight_decay: float, warmup: int, mask_ratio: float, seed: int, amp: torch.dtype | None,
           progress: bool) -> list[list[float]]:
    """``steps`` optimiser steps on batches of ``data``; returns the loss curve."""
    device = data.device
    optimizer, scheduler = _optimisation(model, lr, weight_decay, steps, warmup)
    scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)
    generator = torch.Generator().manual_seed(seed)  # crops, flips, batches and masks
    batches = IndexStream(len(data), batch_size, generator)
    curve, window = [], []
    model.train()
    bar = progress_bar(range(steps), desc="MAE", disable=not progress)
    for step in bar:
        x = random_resized_crop(data[batches.next().to(device)], generator)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None), \
                attention_path(amp, device):
            loss, _, _ = model(x, mask_ratio, generator)
        if not torch.isfinite(loss):
            raise MAEDiverged(f"MAE loss is {float(loss)} at step {step + 1}: lower the learning "
                              f"rate (now {lr:g})")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step_update(step + 1)
        window.append(float(loss.detach()))
        if (step + 1) % LOG_EVERY == 0 or step + 1 == steps:
            curve.append([step + 1, sum(window) / len(window)])
            window = []
            bar.set_postfix(loss=f"{curve[-1][1]:.4f}")
    model.eval()
    return curve


def _write(out: Path, model: MaskedAutoencoder, record: dict) -> dict:
    """The two weight files and the record (with the encoder file's SHA-256), each atomically."""
    out.mkdir(parents=True, exist_ok=True)
    encoder = model.encoder_state_dict()
    rest = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()
            if k not in encoder}
    _atomic_write(out / ENCODER_FILE, lambda tmp: save_file(encoder, tmp, {"format": "pt"}))
    _atomic_write(out / DECODER_FILE, lambda tmp: save_file(rest, tmp, {"format": "pt"}))
    record = {**record, "mae_sha256": file_sha256(out / ENCODER_FILE)}
    _atomic_write(out / RECORD_FILE, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=1)))
    return record


def pretrain_mae(images: Sequence[str | Path] | Dataset, out: str | Path,
                 model_name: str = "s2d_tiny_patch8_64", steps: int = 2000, batch_size: int = 128,
                 base_lr: float = 1.5e-4, weight_decay: float = 0.05,
                 warmup_steps: int | None = None, mask_ratio: float = 0.75, seed: int = 0,
                 precision: str = "auto", device: str = "auto", progress: bool = True) -> dict:
    """Pretrain ``model_name``'s ViT as a masked autoencoder on ``images`` (image files, or a
    dataset whose items, or their first elements, are images) and write ``out`` (module
    docstring). ``warmup_steps`` defaults to 5 % of ``steps`` (the paper's 40 of 800 epochs).
    Returns the record written to ``out/mae.json``."""
    start = time.time()
    seed_everything(seed)
    device = resolve_device(device)
    amp = autocast_dtype(precision, device)
    model = MaskedAutoencoder(model_name).to(device)
    data = _images(images, model.img_size, progress).to(device)
    lr = base_lr * batch_size / 256
    warmup = steps // 20 if warmup_steps is None else warmup_steps
    curve = _train(model, data, steps, batch_size, lr, weight_decay, warmup, mask_ratio, seed,
                   amp, progress)
    config = dict(model=model.config, steps=steps, batch_size=batch_size, base_lr=base_lr, lr=lr,
                  weight_decay=weight_decay, betas=[0.9, 0.95], warmup_steps=warmup,
                  mask_ratio=mask_ratio, seed=seed, precision=precision, image_size=model.img_size,
                  autocast=str(amp).removeprefix("torch.") if amp is not None else None,
                  device=str(device))
    record = {"config": config, "images": len(data), "loss_curve": curve,
              "seconds": time.time() - start}
    record = _write(Path(out), model, record)
    if curve:
        log.info("MAE: %d images, %d steps, loss %.4f -> %.4f (%.0f s) -> %s", len(data), steps,
                 curve[0][1], curve[-1][1], record["seconds"], Path(out) / ENCODER_FILE)
    return record


def load_mae(out_dir: str | Path, map_location: str | torch.device = "cpu") -> MaskedAutoencoder:
    """The autoencoder :func:`pretrain_mae` wrote to ``out_dir`` (its ``mae.safetensors`` and
    ``decoder.safetensors``, float32 or float16, and ``mae.json``), in float32 and eval mode: for
    reconstructions."""
    out_dir = Path(out_dir)
    config = json.loads((out_dir / RECORD_FILE).read_text())["config"]["model"]
    model = MaskedAutoencoder(**config)
    state = {**load_file(str(out_dir / ENCODER_FILE)), **load_file(str(out_dir / DECODER_FILE))}
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    return model.to(map_location).eval()
