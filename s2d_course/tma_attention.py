"""How the TMAs attend over frames, measured: per layer, the entropy of the T-Adapter's
attention relative to uniform (1 = every frame reads all frames alike, 0 = one frame each),
before and after training.

Two entropies, because they answer different questions: ``row`` is the mean entropy of each
(position, head, frame) row, i.e. how sharply one token attends; ``mean_map`` is the entropy of
the map averaged over positions and heads, which is what a single frame x frame figure shows
and which is near uniform whenever different positions look at different frames. ``logit_std``
is the spread of ``q k^T / sqrt(d)``: attention cannot move far from uniform while it is small.
``output_ratio`` is ``||A|| / ||u||``, the size of what the TMA adds to the tokens relative to
what it reads.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from s2d_lib.landmark_cache import in_order
from s2d_lib.viz.attention import AttentionRecorder, evaluating
from s2d_lib.viz.landmark_views import attention_entropy

__all__ = ["attention_stats"]


@torch.no_grad()
def attention_stats(model: torch.nn.Module, dataset: Dataset, clips: int = 32,
                    batch_size: int = 8) -> list[dict]:
    """Per TMA layer: ``row`` and ``mean_map`` entropies over ``log T``, ``logit_std`` and
    ``output_ratio``, on the first ``clips`` items of ``dataset`` (first test view of each)."""
    blocks = [p.TMA.T_Adapter for p in model.prompt_blocks]
    sums = [dict(row=0.0, mean_map=0.0, logit_sq=0.0, out_sq=0.0, in_sq=0.0, n=0) for _ in blocks]
    inputs: list = [None] * len(blocks)

    def keep(i):
        def hook(module, args, output):
            inputs[i] = args[0].detach()
        return hook

    def norms(i):  # the TMA's output A against its input u, summed over the batch
        def hook(module, args, output):
            sums[i]["out_sq"] += float(output.float().pow(2).sum())
            sums[i]["in_sq"] += float(args[0].float().pow(2).sum())
        return hook

    seen = 0
    handles = [b.attn.register_forward_hook(keep(i)) for i, b in enumerate(blocks)]
    handles += [p.TMA.register_forward_hook(norms(i)) for i, p in enumerate(model.prompt_blocks)]
    try:
        with evaluating(model), AttentionRecorder([b.attn for b in blocks]) as rec:
            for batch in in_order(dataset, batch_size):
                x = batch[0]
                x = x[:, 0] if x.dim() == 6 else x  # the first of the test views
                x = x[: clips - seen]
                model(x)
                n_clips = x.shape[0]
                for i, (maps, b) in enumerate(zip(rec.maps, blocks)):
                    s = sums[i]
                    s["row"] += float(attention_entropy(maps).mean()) * n_clips
                    mean_map = maps.view(n_clips, -1, *maps.shape[1:]).mean((1, 2))  # (B, T, T)
                    s["mean_map"] += float(attention_entropy(mean_map).mean()) * n_clips
                    q, k = _qk(b.attn, inputs[i])
                    s["logit_sq"] += float(((q @ k.transpose(-2, -1)) ** 2).mean()) * n_clips
                    s["n"] += n_clips
                seen += x.shape[0]
                if seen >= clips:
                    break
    finally:
        for h in handles:
            h.remove()
    return [{"row": s["row"] / s["n"], "mean_map": s["mean_map"] / s["n"],
             "logit_std": float(np.sqrt(s["logit_sq"] / s["n"])),
             "output_ratio": float(np.sqrt(s["out_sq"] / s["in_sq"]))} for s in sums]


def _qk(attn, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    b, n, _ = x.shape
    qkv = attn.qkv(x).reshape(b, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    return attn.q_norm(qkv[0]) * attn.scale, attn.k_norm(qkv[1])
