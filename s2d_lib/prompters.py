"""Multi-view Complementary Prompter (MCP) and its Fovea attention.

An MCP block fuses the image view (ViT patch tokens) with the landmark view into a prompt ``P``
and carries the layer's Temporal-Modeling Adapter, whose output ``A`` joins the same update
``x <- x + A + P``.
"""
from __future__ import annotations

import torch
from torch import nn

from .adapters import TMA

__all__ = ["Fovea", "MCPrompter", "tokens_to_map", "map_to_tokens"]


def tokens_to_map(x: torch.Tensor, grid: int) -> torch.Tensor:
    """``(B, N, C) -> (B, C, g, g)``: token n goes to row ``n // g``, column ``n % g``."""
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], grid, grid)


def map_to_tokens(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, g, g) -> (B, g*g, C)``."""
    return x.flatten(2).transpose(1, 2)


class Fovea(nn.Module):
    """Per-channel spatial softmax gate: ``softmax(s * z) * z`` over the g*g positions."""

    def __init__(self, init_scale: float = 10.0) -> None:
        super().__init__()
        self.smooth = nn.Parameter(torch.full((1,), float(init_scale)))

    def mask(self, z: torch.Tensor) -> torch.Tensor:
        """The gate ``softmax(s * z)`` for maps ``z`` of shape ``(B, C, g, g)``."""
        b, c, h, w = z.shape
        return torch.softmax(z.reshape(b, c, h * w) * self.smooth, dim=-1).view(b, c, h, w)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.mask(z) * z


class MCPrompter(nn.Module):
    """One MCP block (with its TMA).

    ``forward(x, a, num_frames) -> (P, A)`` for LayerNorm-ed image tokens ``x`` and landmark
    tokens ``a``, both ``(B*T, N, D)``:
    ``P = conv1x1(Fovea(conv0_0(x)) + conv0_1(a))`` and ``A = TMA(x)``. Without a second view
    (``a=None``, the landmark-free ablation) ``P = conv1x1(Fovea(conv0_0(x)))``.
    """

    def __init__(self, dim: int, grid: int, hidden: int = 8, adapter_ratio: float = 0.25,
                 adapter_heads: int = 8, fovea_scale: float = 10.0,
                 temporal_attention: bool = True) -> None:
        super().__init__()
        self.grid = grid
        self.conv0_0 = nn.Conv2d(dim, hidden, 1)
        self.conv0_1 = nn.Conv2d(dim, hidden, 1)
        self.conv1x1 = nn.Conv2d(hidden, dim, 1)
        self.fovea = Fovea(fovea_scale)
        self.TMA = TMA(dim, adapter_ratio, adapter_heads, temporal_attention)
        # As released: Xavier-uniform on every matrix/kernel (the adapters included), biases default.
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def prompt(self, x: torch.Tensor, a: torch.Tensor | None) -> torch.Tensor:
        """The fused prompt ``P`` as tokens ``(B*T, N, D)``."""
        z = self.fovea(self.conv0_0(tokens_to_map(x, self.grid)))
        if a is not None:
            z = z + self.conv0_1(tokens_to_map(a, self.grid))
        return map_to_tokens(self.conv1x1(z))

    def forward(self, x: torch.Tensor, a: torch.Tensor | None, num_frames: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.prompt(x, a), self.TMA(x, num_frames)
