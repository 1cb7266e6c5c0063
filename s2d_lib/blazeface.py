"""BlazeFace, the short-range face detector of MediaPipe, in PyTorch: network, anchors, decoding.

The network (Bazarevsky et al., 2019, "BlazeFace: Sub-millisecond Neural Face Detection on Mobile
GPUs") reads a 128 x 128 RGB image scaled to [-1, 1]: a 5 x 5 stride-2 convolution, then
"BlazeBlocks" (a 3 x 3 depthwise convolution and a 1 x 1 convolution, added to the input --
max-pooled when the block halves the grid, zero-padded in channels when it widens -- and a ReLU),
down to a 16 x 16 grid of 88 channels and an 8 x 8 grid of 96. Each grid cell holds anchors (2 at
16 x 16, 6 at 8 x 8: 896 in all), and for each anchor a score logit and 16 numbers: the box
centre offset and size and six keypoints (the eyes, the nose tip, the mouth centre and the ear
tragions), in pixels of the 128 px input relative to the anchor's centre.

The weights are MediaPipe's (Apache License 2.0), converted once from the model file by
``python -m s2d_course.blazeface_weights`` and shipped in ``trained/blazeface/``.
:class:`BlazeFaceDetector` letterboxes a frame to 128 x 128, runs the network, keeps the anchors
scoring above ``min_score`` and merges overlapping ones by weighted non-maximum suppression
(the overlapping boxes' score-weighted mean), returning boxes and keypoints in frame pixels.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BlazeFace", "BlazeFaceDetector", "BLAZEFACE_BLOCKS", "KEYPOINTS", "anchors",
           "decode", "weighted_nms"]

#: The short-range network's blocks after the stem: (input channels, output channels, stride).
BLAZEFACE_BLOCKS = ((24, 24, 1), (24, 28, 1), (28, 32, 2), (32, 36, 1), (36, 42, 1), (42, 48, 2),
                    (48, 56, 1), (56, 64, 1), (64, 72, 1), (72, 80, 1), (80, 88, 1),
                    (88, 96, 2), (96, 96, 1), (96, 96, 1), (96, 96, 1), (96, 96, 1))
#: The six keypoints, in the order the network gives them (left and right as seen in the image).
KEYPOINTS = ("right eye", "left eye", "nose tip", "mouth centre", "right ear tragion",
             "left ear tragion")
INPUT_SIZE = 128


def _same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow's "SAME" padding: the extra row and column go at the bottom and right."""
    size = x.shape[-1]
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return F.pad(x, (total // 2, total - total // 2, total // 2, total - total // 2))


class BlazeBlock(nn.Module):
    """Depthwise 3 x 3 (stride 1 or 2) and pointwise 1 x 1, plus the (pooled, padded) input."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, cout - cin
        self.depthwise = nn.Conv2d(cin, cin, 3, stride, groups=cin)
        self.pointwise = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pointwise(self.depthwise(_same_pad(x, 3, self.stride)))
        skip = F.max_pool2d(x, 2) if self.stride == 2 else x
        if self.extra:
            skip = F.pad(skip, (0, 0, 0, 0, 0, self.extra))
        return F.relu(y + skip)


class BlazeFace(nn.Module):
    """The short-range BlazeFace network: ``(B, 3, 128, 128)`` in [-1, 1] ->
    ``(B, 896, 16)`` box and keypoint regressions and ``(B, 896)`` score logits."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 24, 5, 2)
        self.blocks = nn.ModuleList(BlazeBlock(*b) for b in BLAZEFACE_BLOCKS)
        self.score16, self.box16 = nn.Conv2d(88, 2, 1), nn.Conv2d(88, 32, 1)
        self.score8, self.box8 = nn.Conv2d(96, 6, 1), nn.Conv2d(96, 96, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.relu(self.stem(_same_pad(x, 5, 2)))
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == 10:
                grid16 = x
        b = x.shape[0]

        def flat(t: torch.Tensor, k: int) -> torch.Tensor:  # channels-last, anchors per cell
            return t.permute(0, 2, 3, 1).reshape(b, -1, k)
        scores = torch.cat([flat(self.score16(grid16), 1), flat(self.score8(x), 1)], 1)[..., 0]
        boxes = torch.cat([flat(self.box16(grid16), 16), flat(self.box8(x), 16)], 1)
        return boxes, scores


def anchors() -> np.ndarray:
    """``(896, 2)`` anchor centres in [0, 1]: 2 per cell of the 16 x 16 grid, 6 per cell of the
    8 x 8 grid, row by row; every anchor is the input's size (boxes are offsets from centres)."""
    out = []
    for grid, per_cell in ((16, 2), (8, 6)):
        y, x = np.mgrid[0:grid, 0:grid]
        centres = np.stack([(x + 0.5) / grid, (y + 0.5) / grid], -1).reshape(-1, 2)
        out.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(out)


def decode(raw: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """``(N, 16)`` regressions -> ``(N, 16)`` [x0, y0, x1, y1, then six (x, y) keypoints] in [0, 1]
    of the input."""
    v = raw / INPUT_SIZE
    cx, cy = v[:, 0] + centres[:, 0], v[:, 1] + centres[:, 1]
    w, h = v[:, 2], v[:, 3]
    points = v[:, 4:].reshape(-1, 6, 2) + centres[:, None, :]
    return np.concatenate([np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1),
                           points.reshape(-1, 12)], 1)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    w = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    h = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = w * h
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-12)


def weighted_nms(detections: np.ndarray, scores: np.ndarray, min_iou: float = 0.3
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Merge overlapping detections: the best-scoring one takes every detection overlapping it by
    at least ``min_iou`` and becomes their score-weighted mean (boxes and keypoints), keeping its
    own score. Returns the merged ``(k, 16)`` detections and scores, best first."""
    order = np.argsort(-scores, kind="stable")
    detections, scores = detections[order], scores[order]
    kept, kept_scores = [], []
    left = np.ones(len(scores), dtype=bool)
    for i in range(len(scores)):
        if not left[i]:
            continue
        group = left & (_iou(detections[i], detections[:, :4]) >= min_iou)
        group[i] = True
        weights = scores[group]
        kept.append((detections[group] * weights[:, None]).sum(0) / weights.sum())
        kept_scores.append(scores[i])
        left &= ~group
    return np.array(kept).reshape(-1, 16), np.array(kept_scores)


class BlazeFaceDetector:
    """``detector(frame uint8 (H, W, 3)) -> (k, 4)`` face boxes ``x0, y0, x1, y1`` in frame
    pixels, best first; ``detector.detect(frame)`` also returns ``(k, 6, 2)`` keypoints and the
    ``(k,)`` scores. Weights: ``trained/blazeface/short_range.safetensors`` or ``weights``."""

    def __init__(self, weights: str | Path | None = None, min_score: float = 0.5,
                 min_iou: float = 0.3) -> None:
        from safetensors.torch import load_file
        path = Path(weights) if weights is not None else default_weights()
        if not path.is_file():
            raise FileNotFoundError(f"{path}: BlazeFace weights not found (python -m "
                                    "s2d_course.blazeface_weights writes them)")
        self.net = BlazeFace().eval()
        state = {k: v.float() for k, v in load_file(str(path)).items()}
        self.net.load_state_dict(state)
        self.min_score, self.min_iou = min_score, min_iou
        self.centres = anchors()

    def detect(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes ``(k, 4)``, keypoints ``(k, 6, 2)`` (frame pixels) and scores ``(k,)``."""
        from PIL import Image
        h, w = frame.shape[:2]
        side = max(h, w)  # letterbox: the frame centred in a square, scaled to 128 px
        scale = INPUT_SIZE / side
        sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
        canvas = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.float32)
        ox, oy = (INPUT_SIZE - sw) // 2, (INPUT_SIZE - sh) // 2
        canvas[oy:oy + sh, ox:ox + sw] = np.asarray(
            Image.fromarray(frame).resize((sw, sh), Image.BILINEAR), np.float32)
        x = torch.from_numpy(canvas / 127.5 - 1.0).permute(2, 0, 1)[None]
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a 128 px input: waking a thread pool per frame costs more
        try:                      # than it saves (4-6x slower with 2 threads on a busy 2-core CPU)
            with torch.inference_mode():
                raw, logits = self.net(x)
        finally:
            torch.set_num_threads(threads)
        scores = 1 / (1 + np.exp(-np.clip(logits[0].numpy().astype(np.float64), -100, 100)))
        keep = scores >= self.min_score
        found = decode(raw[0].numpy().astype(np.float64)[keep], self.centres[keep])
        found, scores = weighted_nms(found, scores[keep], self.min_iou)
        xy = found.reshape(-1, 8, 2) * INPUT_SIZE - [ox, oy]
        xy /= scale
        boxes = xy[:, :2].reshape(-1, 4)
        return boxes, xy[:, 2:], scores

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self.detect(frame)[0]


def default_weights() -> Path:
    """Where the shipped short-range weights lie (``trained/blazeface`` beside the package)."""
    return Path(__file__).resolve().parent.parent / "trained" / "blazeface" / "short_range.safetensors"
