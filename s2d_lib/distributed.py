"""Several processes (``torchrun``): which one this is, joining the group, gathering results."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from .devices import resolve_device

__all__ = ["Dist", "ReleaseOutputs", "setup_distributed", "current", "all_gather", "shard"]


@dataclass
class Dist:
    """This process's place among ``world`` processes (one process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str | torch.device = "auto") -> Dist:
    """Join the process group torchrun (or a spawner) described in the environment; a single
    process needs nothing. A run on GPUs first makes ``cuda:<LOCAL_RANK>`` this process's current
    device, then joins NCCL bound to it: the object collectives and barriers run on the current
    device, which is ``cuda:0`` in every process until it is set. A run on the CPU joins gloo."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    where = resolve_device(device, local_rank)
    if where.type == "cuda":
        if where.index is None:
            where = torch.device("cuda", local_rank)
        if where.index >= torch.cuda.device_count():
            raise RuntimeError(f"process with LOCAL_RANK={local_rank} wants {where}, but this node "
                               f"has {torch.cuda.device_count()} GPUs: start at most that many "
                               "processes per node (torchrun --nproc-per-node)")
        torch.cuda.set_device(where)
    if not dist.is_initialized():
        if where.type == "cuda":
            dist.init_process_group("nccl", device_id=where)
        else:
            dist.init_process_group("gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), local_rank)


def current() -> Dist:
    """The group this process already belongs to, without joining one."""
    return Dist(dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else Dist()


def all_gather(t: torch.Tensor) -> torch.Tensor:
    """``t`` of every process, concatenated along the first dimension in rank order."""
    parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts)


def shard(n: int, env: Dist) -> list[int]:
    """The indices of ``n`` items this process handles (``rank::world``)."""
    return list(range(env.rank, n, env.world))


class ReleaseOutputs(nn.Module):
    """``model.forward_release`` as a module's forward: DistributedDataParallel synchronises the
    gradients of what goes through its wrapped module's ``forward``, and the trainer needs the
    clip feature (EASDL) besides the logits."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, video: torch.Tensor, landmark_features: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.forward_release(video, landmark_features)
