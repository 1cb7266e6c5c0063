"""Class-balanced oversampling of training items, drawn alike and sharded on every process."""
from __future__ import annotations

import math
from typing import Iterator, Sequence

import torch
from torch.utils.data import Sampler

__all__ = ["BalancedSampler"]


class BalancedSampler(Sampler[int]):
    """Class-balanced oversampling: items drawn with replacement, with weight 1 / (frequency of
    their class), identically on every process and sharded ``rank::world``; ``set_epoch``
    reseeds the draw. (``WeightedRandomSampler`` draws the same way but knows no processes.)"""

    def __init__(self, labels: Sequence[int], rank: int = 0, world: int = 1, seed: int = 0) -> None:
        labels = torch.as_tensor(list(labels))
        counts = torch.bincount(labels).clamp_min(1).double()
        self.weights = (1.0 / counts)[labels]
        self.rank, self.world, self.seed, self.epoch = rank, world, seed, 0
        self.num_samples = math.ceil(len(labels) / world)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        drawn = torch.multinomial(self.weights, self.num_samples * self.world, True, generator=g)
        return iter(drawn[self.rank::self.world].tolist())

    def __len__(self) -> int:
        return self.num_samples
