"""Temporal-Modeling Adapter (TMA): a T-Adapter that attends over the frames of a clip at each
spatial position, a LayerNorm, and an S-Adapter (bottleneck MLP). Neither adapter has a
residual of its own; S2D adds the TMA output ``A`` to the tokens in ``x <- x + A + P``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import Attention
from torch import nn

__all__ = ["SAdapter", "TAdapter", "TMA", "widen_attention"]


class SAdapter(nn.Module):
    """Spatial/channel adapter: Linear D -> rD, GELU, Linear rD -> D."""

    def __init__(self, dim: int, ratio: float = 0.25) -> None:
        super().__init__()
        hidden = int(dim * ratio)
        self.D_fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.D_fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.D_fc2(self.act(self.D_fc1(x)))


class TAdapter(SAdapter):
    """Temporal adapter: the S-Adapter's bottleneck with self-attention over the T frames in it.

    Input and output ``(B*T, N, D)``. With T > 1 each of the ``B*N`` spatial positions becomes a
    length-T sequence for the attention. With T = 1 (static images) the attention call is
    skipped: over a single key the softmax is 1, so the attention returns the projection of its
    values, which :meth:`forward` computes directly (the same output and gradients up to rounding:
    the attention has no dropout, no output norm and no gate). With ``temporal=False`` (an
    ablation) every frame is treated so: the same parameters, but no information crosses frames.
    """

    def __init__(self, dim: int, ratio: float = 0.25, num_heads: int = 8,
                 temporal: bool = True) -> None:
        super().__init__(dim, ratio)
        self.attn = Attention(self.D_fc1.out_features, num_heads=num_heads, qkv_bias=False)
        self.temporal = temporal

    def to_sequences(self, x: torch.Tensor, num_frames: int) -> torch.Tensor:
        """``(B*T, N, C) -> (B*N, T, C)``."""
        bt, n, c = x.shape
        return x.view(bt // num_frames, num_frames, n, c).transpose(1, 2).reshape(-1, num_frames, c)

    def from_sequences(self, x: torch.Tensor, num_tokens: int) -> torch.Tensor:
        """``(B*N, T, C) -> (B*T, N, C)``."""
        bn, t, c = x.shape
        return x.view(bn // num_tokens, num_tokens, t, c).transpose(1, 2).reshape(-1, num_tokens, c)

    def forward(self, x: torch.Tensor, num_frames: int) -> torch.Tensor:
        """``(B*T, N, D) -> (B*T, N, D)`` with ``T = num_frames``: attention over the frames at
        each spatial position, or at ``num_frames == 1`` (or ``temporal=False``) its value
        projection alone."""
        h = self.act(self.D_fc1(x))
        if num_frames == 1 or not self.temporal:
            # B*N attentions over one frame each would only return proj(v): skip their cost.
            return self.D_fc2(self.attn.proj(self.single_frame_values(h)))
        h = self.from_sequences(self.attn(self.to_sequences(h, num_frames)), x.shape[1])
        return self.D_fc2(h)

    def single_frame_values(self, h: torch.Tensor) -> torch.Tensor:
        """The attention's values ``v`` of ``h`` ``(B*T, N, C)``, all heads side by side: what the
        attention passes to ``proj`` when T = 1."""
        qkv = self.attn.qkv
        c = self.attn.attn_dim
        bias = qkv.bias[2 * c:] if qkv.bias is not None else None
        return F.linear(h, qkv.weight[2 * c:], bias)


class TMA(nn.Module):
    """Temporal-Modeling Adapter: ``A = S_Adapter(LayerNorm(T_Adapter(u)))``."""

    def __init__(self, dim: int, ratio: float = 0.25, num_heads: int = 8,
                 temporal: bool = True) -> None:
        super().__init__()
        self.T_Adapter = TAdapter(dim, ratio, num_heads, temporal)
        # PyTorch's default eps, as the release builds it (every other norm of S2D uses 1e-6):
        # the T-Adapter's output has a small variance, so the eps changes the logits.
        self.norm = nn.LayerNorm(dim, eps=1e-5)
        self.S_Adapter = SAdapter(dim, ratio)

    def forward(self, u: torch.Tensor, num_frames: int) -> torch.Tensor:
        return self.S_Adapter(self.norm(self.T_Adapter(u, num_frames)))


def widen_attention(model: nn.Module, std: float) -> int:
    """Beyond the paper: re-draw the query and key weights of every T-Adapter in ``model`` from a
    normal of ``std`` (truncated at two ``std``; the release draws 0.02). A fresh TMA's attention
    logits then spread from the first step instead of starting near 0, where the softmax over
    frames is uniform. Returns the number of T-Adapters changed."""
    changed = 0
    for module in model.modules():
        if isinstance(module, TAdapter):
            weight = module.attn.qkv.weight
            with torch.no_grad():
                nn.init.trunc_normal_(weight[:2 * module.attn.attn_dim], std=std, a=-2 * std,
                                      b=2 * std)
            changed += 1
    return changed
