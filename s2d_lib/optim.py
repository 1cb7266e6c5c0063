"""AdamW's parameter groups of a training run: weight decay, and, with ``layer_decay``, the
layer-wise learning-rate decay of MAE's (and BEiT's) fine-tuning recipe.

* ``layer_decay=None`` (default, the release): timm's ``param_groups_weight_decay``, two groups
  (no decay on biases, norms and ``model.no_weight_decay()``; decay on the rest).
* ``layer_decay=d``: the ViT that a pretraining initialised (MAE's) decays layer by layer over
  S2D's ``group_matcher``, as in MAE fine-tuning: a parameter ``k`` layers below the top gets
  ``lr_scale = d ** k``, which timm's schedulers multiply into every learning rate they set.
  The layers, bottom to top (:func:`layer_ids`): the stem (``patch_embed``, ``cls_token``,
  ``pos_embed``); ViT block ``i`` at layer ``i + 1``; ``ln_post`` with the last block; the top.
  S2D's own parts (:data:`OWN_PARTS`: the prompters, their norms and landmark projection, the
  temporal embedding, the classifier), which no pretraining initialised, train at the base
  rate (scale 1).

Frozen parameters (``requires_grad=False``) are in no group.
"""
from __future__ import annotations

from timm.models import group_parameters
from timm.optim import param_groups_weight_decay
from torch import nn

from .config import TrainConfig

__all__ = ["param_groups", "layer_ids", "OWN_PARTS"]

#: Name prefixes of S2D's parts that a ViT pretraining does not initialise.
OWN_PARTS = ("prompt_blocks.", "prompt_norms.", "patch_embed_prompt.", "temporal_embedding",
             "head.")


def param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
    """AdamW's groups of ``model``'s trainable parameters for ``cfg`` (see the module docstring)."""
    if cfg.layer_decay is None:
        return param_groups_weight_decay(model, cfg.weight_decay,
                                         no_weight_decay_list=model.no_weight_decay())
    ids, no_decay = layer_ids(model), set(model.no_weight_decay())
    top = max(ids.values())
    groups: dict[tuple[int, bool], dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        layer = top if name.startswith(OWN_PARTS) else ids[name]
        decay = not (param.ndim <= 1 or name in no_decay)
        group = groups.setdefault((layer, decay), {
            "params": [], "weight_decay": cfg.weight_decay if decay else 0.0,
            "lr_scale": cfg.layer_decay ** (top - layer)})
        group["params"].append(param)
    return list(groups.values())


def layer_ids(model: nn.Module) -> dict[str, int]:
    """Parameter name -> its layer for layer-wise decay (0: the stem; the highest: the classifier,
    which ``group_matcher`` leaves unmatched and timm puts on top)."""
    ids = group_parameters(model, model.group_matcher(coarse=False), reverse=True)
    top = max(ids.values())
    return {name: ids.get(name, top) for name, _ in model.named_parameters()}
