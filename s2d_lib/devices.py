"""Where a model runs: the one reading of ``device="auto"`` for training, evaluation and
prediction."""
from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(spec: str | torch.device = "auto", local_rank: int = 0) -> torch.device:
    """``"auto"``: this process's GPU (``cuda:<local_rank>``) when one is present, else the CPU;
    anything else is taken as a torch device name (``"cpu"``, ``"cuda:1"``, ``"mps"``)."""
    if str(spec) != "auto":
        return torch.device(spec)
    return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
