"""Emotion-Anchors based Self-Distillation (EASDL), as ``book/architecture.md`` describes it.

Per class c a FIFO queue holds ``queue_size`` anchors: the clip feature and the softmax
probabilities of a training clip whose ground-truth label is c. A training clip's soft label is
the similarity-weighted average of the stored probabilities of its top-K most similar anchors of
every class; the clip's logits are pulled towards it with binary cross-entropy, with a weight
that ramps up over training.

Unlike the release, the queues start empty (not as random noise) and the loss stays off until
every queue is full, so soft labels are never built from noise.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EmotionAnchors", "easdl_loss", "easdl_weight", "RELEASE_RAMP", "parse_ramp"]

#: The release's weight schedule, ``epoch:weight`` steps (the weight is 0 before the first);
#: the config's ``easdl_ramp`` default.
RELEASE_RAMP = "30:0.01,50:0.1,60:0.5,80:1.0"


def easdl_weight(epoch: int, ramp: str | Sequence[tuple[int, float]] = RELEASE_RAMP) -> float:
    """Weight of the EASDL loss at 0-based ``epoch``: the last step of ``ramp`` (the text form or
    :func:`parse_ramp`'s steps) reached, else 0."""
    weight = 0.0
    for start, value in (parse_ramp(ramp) if isinstance(ramp, str) else sorted(ramp)):
        if epoch >= start:
            weight = float(value)
    return weight


def parse_ramp(text: str) -> tuple[tuple[int, float], ...]:
    """``"30:0.01,50:0.1"`` -> ``((30, 0.01), (50, 0.1))`` (the config/CLI spelling of a ramp)."""
    steps = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        epoch, sep, weight = item.partition(":")
        if not sep:
            raise ValueError(f"EASDL ramp step {item!r} is not 'epoch:weight' (in {text!r})")
        steps.append((int(epoch), float(weight)))
    return tuple(sorted(steps))


class EmotionAnchors(nn.Module):
    """Per-class FIFO queues of (clip feature, softmax probability) anchors.

    The queues are buffers, so they travel with ``state_dict()`` (exact resume) and ``.to()``.
    """

    def __init__(self, num_classes: int, dim: int, queue_size: int = 16, top_k: int = 2) -> None:
        super().__init__()
        if not 1 <= top_k <= queue_size:
            raise ValueError(f"need 1 <= top_k ({top_k}) <= queue_size ({queue_size})")
        self.num_classes, self.queue_size, self.top_k = num_classes, queue_size, top_k
        self.register_buffer("features", torch.zeros(num_classes, queue_size, dim))
        self.register_buffer("probs", torch.zeros(num_classes, queue_size, num_classes))
        self.register_buffer("count", torch.zeros(num_classes, dtype=torch.long))
        self.register_buffer("pointer", torch.zeros(num_classes, dtype=torch.long))

    @property
    def ready(self) -> bool:
        """True once every class queue is full: only then is the loss switched on."""
        return bool((self.count >= self.queue_size).all())

    @torch.no_grad()
    def update(self, features: torch.Tensor, probs: torch.Tensor, labels: torch.Tensor) -> None:
        """Push each clip's (feature, probs) into the queue of its ground-truth class, oldest out."""
        features = features.detach().to(self.features.dtype)
        probs = probs.detach().to(self.probs.dtype)
        for f, p, c in zip(features, probs, labels.tolist()):
            i = int(self.pointer[c])
            self.features[c, i] = f
            self.probs[c, i] = p
            self.pointer[c] = (i + 1) % self.queue_size
            self.count[c] = min(int(self.count[c]) + 1, self.queue_size)

    @torch.no_grad()
    def soft_labels(self, features: torch.Tensor) -> torch.Tensor:
        """Soft labels ``(B, C)``: per class the top-K anchors by cosine similarity, their stored
        probabilities averaged with the similarities as weights (negative similarities count 0)."""
        if not self.ready:
            raise RuntimeError(f"anchor queues not full yet (counts {self.count.tolist()}, "
                               f"need {self.queue_size} each)")
        f = F.normalize(features.detach().to(self.features.dtype), dim=-1)
        anchors = F.normalize(self.features, dim=-1)
        sim = torch.einsum("bd,cqd->bcq", f, anchors)                 # (B, C, Q)
        top, index = sim.topk(self.top_k, dim=-1)                      # (B, C, K)
        classes = torch.arange(self.num_classes, device=index.device)[None, :, None]
        probs = self.probs[classes, index]                             # (B, C, K, C)
        weights = top.clamp_min(0).flatten(1)                          # (B, C*K)
        # A clip orthogonal to every anchor gets the plain mean rather than a division by zero.
        weights = torch.where(weights.sum(1, keepdim=True) > 0, weights, torch.ones_like(weights))
        weights = weights / weights.sum(1, keepdim=True)
        return torch.einsum("bn,bnc->bc", weights, probs.flatten(1, 2))


def easdl_loss(logits: torch.Tensor, soft_labels: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy with logits between the clips' logits and their soft labels."""
    return F.binary_cross_entropy_with_logits(logits.float(), soft_labels.float())
