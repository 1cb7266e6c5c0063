"""Cost of an S2D model: parameters (total / trainable) and FLOPs per clip.

FLOPs are counted with ``torch.utils.flop_counter`` (a multiply-add is 2 FLOPs), separately for
the S2D model and for the landmark network. The release runs the whole MobileFaceNet on every
frame (``gflops_landmarks``, about 7 GFLOPs per 16-frame clip); our stream stops after ``conv_4``,
the only part S2D uses (``gflops_landmark_view``, about 11% less). Attention is counted through PyTorch's math path,
because the counter has no formula for the fused CPU kernel.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from .model import S2D, count_parameters

__all__ = ["Cost", "profile"]


@dataclass
class Cost:
    """Parameters and forward FLOPs of one clip."""

    params_total: int
    params_trainable: int
    gflops_model: float
    gflops_landmarks: float
    gflops_landmark_view: float
    num_frames: int
    img_size: int

    def __str__(self) -> str:
        return (f"params {self.params_total:,} (trainable {self.params_trainable:,}); "
                f"{self.gflops_model:.1f} GFLOPs S2D + {self.gflops_landmarks:.2f} GFLOPs landmark "
                f"network ({self.gflops_landmark_view:.2f} up to its conv_4 view) per {self.num_frames}-frame {self.img_size}px clip")


def _count(fn) -> int:
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter, torch.no_grad():
        fn()
    return counter.get_total_flops()


def profile(model: S2D, on_meta: bool = True) -> Cost:
    """Count the cost of one clip of ``model``'s size. With ``on_meta`` (the default) the FLOPs are
    counted on a twin built on the ``meta`` device: no memory is allocated and nothing is
    computed, so the base model is counted in about a second."""
    size, t = model.config["img_size"], model.num_frames
    trainable, total = count_parameters(model.parameters())
    device = torch.device("meta") if on_meta else next(model.parameters()).device
    if on_meta:
        with device:
            model = S2D(**model.config)
    video = torch.zeros(1, 3, t, size, size, device=device)
    frames = model.fold_frames(video)
    stream = model.landmark_stream
    full = view = 0
    if stream is not None:
        full = _count(lambda: stream.net(stream.resize(frames)))
        view = _count(lambda: stream(frames))
    features = torch.zeros(t, 128, model.grid_size, model.grid_size, device=device)
    model_flops = _count(lambda: model(video, features))
    return Cost(total, trainable, model_flops / 1e9, full / 1e9, view / 1e9, t, size)
