"""Where the face is, for reading a saliency map: a box around the landmarks the model's own
landmark network predicts, and the share of a map's mass that falls inside it.

A bright spot says where a map is high, not that the model uses the face there. The share of
the map's mass inside the face box, set against the box's share of the frame (what a map spread
evenly would give), says in one number whether a map sits on the face or on the background and
hair around it.
"""
from __future__ import annotations

import numpy as np
import torch

from .frames import upsample_maps

__all__ = ["FOREHEAD", "face_boxes", "box_masks", "mass_in_box"]

#: How far the face box reaches above the brows, as a fraction of the landmarks' width: the 68
#: points stop at the brows, and the forehead above them is face too. The width (jaw to jaw) is
#: the face's size that does not change when the mouth opens.
FOREHEAD = 0.2


def face_boxes(landmarks: torch.Tensor | np.ndarray, forehead: float = FOREHEAD,
               margin: float = 0.0) -> np.ndarray:
    """Face boxes ``(..., 4)`` as ``(x0, y0, x1, y1)`` fractions of the frame side, from landmarks
    ``(..., 68, 2)`` given as (x, y) fractions (:func:`predict_landmarks`).

    Each box is the tightest box around its points, raised at the top by ``forehead`` times its
    width, widened by ``margin`` times its width and height on every side, and clipped to the
    frame."""
    points = landmarks.detach().float().cpu().numpy() if torch.is_tensor(landmarks) else np.asarray(
        landmarks, np.float32)
    if points.ndim < 2 or points.shape[-1] != 2:
        raise ValueError(f"expected landmarks (..., points, 2), got {points.shape}")
    low, high = points.min(-2), points.max(-2)
    size = high - low
    low = low - margin * size
    high = high + margin * size
    low[..., 1] -= forehead * size[..., 0]
    return np.clip(np.concatenate([low, high], -1), 0.0, 1.0)


def box_masks(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Boolean masks ``(..., H, W)``: the pixels of an ``H x W`` frame whose centres lie in each box."""
    boxes = np.asarray(boxes, np.float32)
    h, w = size
    y = (np.arange(h) + 0.5) / h
    x = (np.arange(w) + 0.5) / w
    inside_x = (x >= boxes[..., 0, None]) & (x <= boxes[..., 2, None])  # (..., W)
    inside_y = (y >= boxes[..., 1, None]) & (y <= boxes[..., 3, None])  # (..., H)
    return inside_y[..., :, None] & inside_x[..., None, :]


def mass_in_box(maps: torch.Tensor | np.ndarray, boxes: np.ndarray,
                size: tuple[int, int] | None = None) -> np.ndarray:
    """Share ``(...)`` of each non-negative map's mass ``(..., h, w)`` inside its box ``(..., 4)``.

    With ``size = (H, W)`` the maps are first resized bilinearly to the frame, as the plots
    overlay them; otherwise the boxes are read at the maps' own resolution. ``1 - share`` is the
    mass outside. A map spread evenly gets the box's share of the frame."""
    if size is not None:
        maps = upsample_maps(maps, size)
    maps = maps.detach().float().cpu().numpy() if torch.is_tensor(maps) else np.asarray(maps, np.float32)
    if (maps < 0).any():
        raise ValueError("mass_in_box needs non-negative maps (attention, rollout, CAMs, |P|)")
    inside = (maps * box_masks(boxes, maps.shape[-2:])).sum((-2, -1))
    total = maps.sum((-2, -1))
    return np.divide(inside, total, out=np.zeros_like(total), where=total > 0)
