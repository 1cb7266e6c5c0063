"""The S2D model: a ViT whose every layer receives a landmark-aware prompt (MCP) and a
temporal adapter (TMA), with an I3D-style head on the clip-averaged class token.

``forward(video[B,3,T,H,W], landmark_features=None) -> logits[B,K]`` as in timm
(``forward_features`` -> tokens, ``forward_head(tokens, pre_logits=True)`` -> clip feature);
``forward_release`` returns the release's ``(logits, clip_feature)``.
``num_frames=1`` is the static (image) model. The forward pass follows the book's architecture
page (``book/architecture.md``, "The forward pass") literally, quirks included, so that the
authors' released checkpoints give the same logits here.
"""
from __future__ import annotations

from functools import partial
from typing import Iterable

import torch
from timm.layers import PatchEmbed, build_sincos2d_pos_embed, trunc_normal_
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models.vision_transformer import Block
from torch import nn
from torch.utils.checkpoint import checkpoint

from .checkpoints.foreign import RELEASED, checkpoint_filter_fn
from .landmarks import FEATURE_CHANNELS, LandmarkStream, MobileFaceNet
from .prompters import MCPrompter

__all__ = ["S2D", "I3DHead", "set_trainable", "count_parameters", "PARAMETER_SETS",
           "FROZEN_IN_DYNAMIC"]

#: Parameter-name prefixes of the image ViT, frozen during dynamic (video) fine-tuning.
FROZEN_IN_DYNAMIC = ("patch_embed.", "cls_token", "pos_embed", "blocks.")
#: What ``set_trainable`` can unfreeze: the whole model (static stage) or the dynamic groups
#: (temporal adaptation and DFER fine-tuning).
PARAMETER_SETS = ("static", "dynamic")


class I3DHead(nn.Module):
    """Dropout + linear classifier on the clip feature (named as in the release)."""

    def __init__(self, dim: int, num_classes: int, dropout: float = 0.5) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc_cls = nn.Linear(dim, num_classes)
        trunc_normal_(self.fc_cls.weight, std=0.02)  # the release's init of every Linear
        nn.init.zeros_(self.fc_cls.bias)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        return self.fc_cls(self.dropout(feature))


class S2D(nn.Module):
    """Landmark-aware ViT with Multi-view Complementary Prompters and Temporal-Modeling Adapters.

    Args:
        img_size: input frame side H = W.
        patch_size: ViT patch side p; the patch grid is ``g = img_size // patch_size``.
        num_classes: K, classifier outputs.
        num_frames: T, frames per clip (1 = static image model).
        embed_dim, depth, num_heads, mlp_ratio: the ViT's width D, layers, heads, MLP ratio.
        prompt_dim: h, the MCP bottleneck width (8).
        adapter_ratio: r, the TMA bottleneck ratio (0.25).
        adapter_heads: heads of the T-Adapter's temporal attention (8).
        landmark_input_size: MobileFaceNet input side; its feature grid ``size / 8`` must be g.
        drop_rate: head dropout (0.5 in the release, 0 for FERV39k).
        drop_path_rate: stochastic depth in the ViT blocks.
        with_landmark_stream: attach a (randomly initialised, frozen) MobileFaceNet that computes
            the landmark view when ``forward`` is not given ``landmark_features``.
        landmark_view: ablation switch. ``False`` removes the landmark branch: the first
            prompter fuses nothing but the image view, and no landmark features are computed or
            used (``patch_embed_prompt`` and the first ``conv0_1`` stay, unused and frozen).
        temporal_attention: ablation switch. ``False`` keeps every TMA but lets each frame
            attend to itself alone, so no information crosses frames before the clip average.
    """

    def __init__(self, img_size: int = 224, patch_size: int = 16, num_classes: int = 7,
                 num_frames: int = 16, embed_dim: int = 768, depth: int = 12, num_heads: int = 12,
                 mlp_ratio: float = 4.0, prompt_dim: int = 8, adapter_ratio: float = 0.25,
                 adapter_heads: int = 8, landmark_input_size: int = 112, drop_rate: float = 0.5,
                 drop_path_rate: float = 0.0, with_landmark_stream: bool = True,
                 landmark_view: bool = True, temporal_attention: bool = True) -> None:
        super().__init__()
        grid = img_size // patch_size
        if landmark_input_size // 8 != grid:
            raise ValueError(f"landmark grid {landmark_input_size // 8} (input {landmark_input_size}/8) "
                             f"must equal the patch grid {grid} ({img_size}/{patch_size})")
        self.config = dict(img_size=img_size, patch_size=patch_size, num_classes=num_classes,
                           num_frames=num_frames, embed_dim=embed_dim, depth=depth,
                           num_heads=num_heads, mlp_ratio=mlp_ratio, prompt_dim=prompt_dim,
                           adapter_ratio=adapter_ratio, adapter_heads=adapter_heads,
                           landmark_input_size=landmark_input_size, drop_rate=drop_rate,
                           drop_path_rate=drop_path_rate)
        if not (landmark_view and temporal_attention):  # ablations only: older files stay as they were
            self.config.update(landmark_view=landmark_view, temporal_attention=temporal_attention)
        self.landmark_view = landmark_view
        self.num_frames = num_frames
        self.num_classes = num_classes
        self.embed_dim = self.num_features = embed_dim
        self.grid_size = grid
        self.grad_checkpointing = False

        self.patch_embed = PatchEmbed(img_size, patch_size, 3, embed_dim)
        self.patch_embed_prompt = PatchEmbed(img_size=grid, patch_size=1, in_chans=FEATURE_CHANNELS,
                                             embed_dim=embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        # Fixed 2-D sin-cos position embedding (as in MAE); a checkpoint may overwrite it.
        pos = build_sincos2d_pos_embed([grid, grid], embed_dim)
        self.pos_embed = nn.Parameter(torch.cat([torch.zeros(1, embed_dim), pos])[None],
                                      requires_grad=False)
        self.temporal_embedding = nn.Parameter(torch.zeros(1, num_frames, embed_dim))
        self.prompt_blocks = nn.ModuleList([
            MCPrompter(embed_dim, grid, prompt_dim, adapter_ratio, adapter_heads,
                       temporal_attention=temporal_attention)
            for _ in range(depth)])
        self.prompt_norms = nn.ModuleList([nn.LayerNorm(embed_dim, eps=1e-6) for _ in range(depth)])
        dpr = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList([
            Block(embed_dim, num_heads, mlp_ratio, qkv_bias=True, drop_path=dpr[i],
                  norm_layer=partial(nn.LayerNorm, eps=1e-6))
            for i in range(depth)])
        self.ln_post = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = I3DHead(embed_dim, num_classes, drop_rate)
        self._init_weights()
        # The frozen landmark network is a wrapper held outside the module tree, so that S2D's
        # parameters, state dict, optimiser groups and parameter counts are the release's; it
        # follows .to()/.half() (``_apply``), and our files keep its tensors under
        # ``landmark_stream.`` by the one rule of :mod:`s2d_lib.checkpoints.tensors`.
        self._landmark_stream: LandmarkStream | None = None
        if with_landmark_stream:
            self.attach_landmark_stream(LandmarkStream(MobileFaceNet(landmark_input_size)))

    def _init_weights(self) -> None:
        """The release's initialisation: every ``nn.Linear`` (ViT blocks, TMA adapters and their
        attention, classifier) truncated normal std 0.02 with zero bias; ``cls_token`` and the
        temporal embedding truncated normal std 0.02; LayerNorms ones / zeros. The prompters'
        1x1 convolutions keep their Xavier-uniform start."""
        trunc_normal_(self.cls_token, std=0.02)
        trunc_normal_(self.temporal_embedding, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    # ----------------------------------------------------------------- landmark view
    @property
    def landmark_stream(self) -> LandmarkStream | None:
        """The attached frozen landmark network (not a submodule; see ``attach_landmark_stream``)."""
        return self._landmark_stream

    def attach_landmark_stream(self, stream: LandmarkStream | MobileFaceNet) -> None:
        """Use ``stream`` to compute landmark features when ``forward`` gets none."""
        if isinstance(stream, MobileFaceNet):
            stream = LandmarkStream(stream)
        if stream.grid_size != self.grid_size:
            raise ValueError(f"landmark grid {stream.grid_size} != patch grid {self.grid_size}")
        p = next(self.parameters())
        object.__setattr__(self, "_landmark_stream", stream.to(device=p.device, dtype=p.dtype))

    def _apply(self, fn, recurse: bool = True):
        super()._apply(fn, recurse)
        if self._landmark_stream is not None:
            self._landmark_stream._apply(fn, recurse)
        return self

    def landmark_features(self, frames: torch.Tensor) -> torch.Tensor:
        """Landmark view ``(B*T, 128, g, g)`` of normalised frames ``(B*T, 3, H, W)``."""
        if self._landmark_stream is None:
            raise RuntimeError("no landmark stream attached: pass landmark_features to forward() "
                               "or call attach_landmark_stream()")
        return self._landmark_stream(frames)

    # ----------------------------------------------------------------- forward
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each layer in the backward pass instead of storing its activations."""
        self.grad_checkpointing = enable

    def fold_frames(self, video: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T, H, W) -> (B*T, 3, H, W)``, frame index fastest."""
        if video.dim() != 5 or video.shape[1] != 3:
            raise ValueError(f"expected video (B, 3, T, H, W), got {tuple(video.shape)}")
        b, c, t, h, w = video.shape
        if t != self.num_frames:
            raise ValueError(f"model has num_frames={self.num_frames}, video has T={t}")
        return video.transpose(1, 2).reshape(b * t, c, h, w)

    def _layer(self, i: int, x: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer i >= 1: prompt with norm_p[i-1] on all tokens, update patch tokens, run block i."""
        y = self.prompt_norms[i - 1](x)
        p, adapter = self.prompt_blocks[i](y[:, 1:], self.prompt_norms[0](a), self.num_frames)
        x = torch.cat([x[:, :1], x[:, 1:] + adapter + p], dim=1)
        return self.blocks[i](x), p

    def forward_features(self, video: torch.Tensor, landmark_features: torch.Tensor | None = None
                         ) -> torch.Tensor:
        """All tokens after ``ln_post``: ``(B*T, 1+N, D)``."""
        frames = self.fold_frames(video)
        a = None
        if self.landmark_view:
            if landmark_features is None:
                landmark_features = self.landmark_features(frames)
            elif landmark_features.dim() == 5:  # (B, T, C, g, g) from a feature cache
                landmark_features = landmark_features.flatten(0, 1)
        x = self.patch_embed(frames)
        if self.landmark_view:
            a = self.patch_embed_prompt(landmark_features.to(x.dtype))
        # (the image view is normalised first: the order keeps seeded runs bit-identical)
        x_norm = self.prompt_norms[0](x)
        p, adapter = self.prompt_blocks[0](x_norm, self.prompt_norms[0](a) if a is not None
                                           else None, self.num_frames)
        a = p
        x = x + adapter + p
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        bt, n, d = x.shape
        x = (x.view(-1, self.num_frames, n, d) + self.temporal_embedding[:, :, None]).view(bt, n, d)
        x = self.blocks[0](x)
        for i in range(1, len(self.blocks)):
            if self.grad_checkpointing and self.training and torch.is_grad_enabled():
                x, a = checkpoint(self._layer, i, x, a, use_reentrant=False)
            else:
                x, a = self._layer(i, x, a)
        return self.ln_post(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Logits ``(B, K)`` of the tokens ``(B*T, 1+N, D)``: the per-frame class tokens averaged
        over the T frames of each clip, then the head; with ``pre_logits`` that clip feature
        ``(B, D)`` itself."""
        cls = x[:, 0]
        feature = cls.view(-1, self.num_frames, cls.shape[-1]).mean(1)
        return feature if pre_logits else self.head(feature)

    def forward(self, video: torch.Tensor, landmark_features: torch.Tensor | None = None
                ) -> torch.Tensor:
        """Logits ``(B, K)`` of videos ``(B, 3, T, H, W)``."""
        return self.forward_head(self.forward_features(video, landmark_features))

    def forward_release(self, video: torch.Tensor, landmark_features: torch.Tensor | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits[B, K], clip_feature[B, D])`` as the release's forward returns them (the
        feature before the head dropout); the trainer's EASDL anchors need both."""
        feature = self.forward_head(self.forward_features(video, landmark_features), pre_logits=True)
        return self.head(feature), feature

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """Parameters AdamW does not decay (besides every 1-D parameter and bias)."""
        return {"cls_token", "pos_embed", "temporal_embedding"}

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict:
        """Parameter groups by depth as timm's ViT's; a prompter and its inputs join its block."""
        return dict(stem=r"^cls_token|^pos_embed|^patch_embed\.|^temporal_embedding",
                    blocks=[(r"^(?:prompt_)?blocks\.(\d+)", None), (r"^prompt_norms\.(\d+)", None),
                            (r"^patch_embed_prompt\.", (0,)), (r"^ln_post", (99999,))])

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        """The classifier layer (``head.fc_cls``)."""
        return self.head.fc_cls

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the classifier with a freshly initialised one for ``num_classes`` (the class
        token average is the only pooling: ``global_pool`` is accepted for timm's signature)."""
        self.head = I3DHead(self.embed_dim, num_classes, self.head.dropout.p).to(
            self.head.fc_cls.weight.device)
        self.num_classes = self.config["num_classes"] = num_classes


def set_trainable(model: S2D, stage: str) -> tuple[int, int]:
    """Freeze/unfreeze ``model`` for a training stage; return ``(trainable, total)`` parameters.

    * ``"dynamic"`` (temporal adaptation and DFER fine-tuning): the image ViT (``patch_embed``,
      ``cls_token``, ``pos_embed``, all blocks) is frozen; the landmark projection, every
      MCP prompter with its TMA, the prompt norms, the temporal embedding, ``ln_post`` and the
      classifier train. For the base model with 7 classes: 9,256,915 of 95,055,571 (the
      release's count, 9,258,451, includes the last prompt norm frozen below).
    * ``"static"`` (image FER pretraining): everything trains except the fixed sin-cos
      ``pos_embed``. The ViT starts from generic (MAE) features and must itself learn what
      distinguishes expressions, which a frozen backbone with prompts alone learns poorly; the
      prompters learn to inject the landmark view at the same time.

    In both stages the last prompt norm stays frozen: the forward pass never uses it (a quirk
    kept for checkpoint parity), so it gets no gradient and must get no weight decay either.
    The landmark network is frozen in both stages and is not counted (it is not part of S2D's
    parameters).
    """
    if stage not in PARAMETER_SETS:
        raise ValueError(f"stage must be one of {PARAMETER_SETS}, got {stage!r}")
    unused = (f"prompt_norms.{len(model.prompt_norms) - 1}.",)
    if not model.landmark_view:  # the landmark branch removed (ablation)
        unused += ("patch_embed_prompt.", "prompt_blocks.0.conv0_1.")
    for name, p in model.named_parameters():
        if name == "pos_embed" or name.startswith(unused):
            p.requires_grad_(False)
        elif stage == "dynamic":
            p.requires_grad_(not name.startswith(FROZEN_IN_DYNAMIC))
        else:
            p.requires_grad_(True)
    return count_parameters(model.parameters())


def count_parameters(params: Iterable[nn.Parameter]) -> tuple[int, int]:
    """``(trainable, total)`` element counts."""
    trainable = total = 0
    for p in params:
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return trainable, total


def _cfg(**kwargs) -> dict:
    """timm's pretrained config of a released S2D file (:data:`~s2d_lib.checkpoints.RELEASED`):
    the user brings the file (``pretrained_cfg_overlay=dict(file=...)``); nothing is downloaded."""
    return {**{k: RELEASED[k] for k in ("num_classes", "input_size", "mean", "std")},
            "first_conv": "patch_embed.proj", "classifier": "head.fc_cls",
            "license": "see the authors' release", **kwargs}


default_cfgs = generate_default_cfgs({
    "s2d_base_patch16_224.dfew": _cfg(),
    "s2d_tiny_patch8_64.untrained": _cfg(input_size=(3, 64, 64)),
})


def _create(variant: str, pretrained: bool, defaults: dict, kwargs: dict) -> S2D:
    if pretrained and not (kwargs.get("pretrained_cfg_overlay") or {}).get("file"):
        raise ValueError(f"{variant}: S2D weights are not downloaded by this library; download "
                         "the released checkpoint and pass pretrained_cfg_overlay=dict(file=PATH)")
    model = build_model_with_cfg(S2D, variant, pretrained, pretrained_filter_fn=checkpoint_filter_fn,
                                 kwargs_filter=("in_chans",), **{**defaults, **kwargs})
    size = model.config["img_size"]
    if tuple(model.pretrained_cfg["input_size"]) != (3, size, size):  # built at another size
        model.pretrained_cfg = model.default_cfg = {**model.pretrained_cfg,
                                                    "input_size": (3, size, size)}
    return model


@register_model
def s2d_base_patch16_224(pretrained: bool = False, **kwargs) -> S2D:
    """S2D as in the paper: ViT-B/16 at 224 px, 14x14 patch grid, MobileFaceNet at 112 px."""
    return _create("s2d_base_patch16_224", pretrained,
                   dict(img_size=224, patch_size=16, embed_dim=768, depth=12, num_heads=12,
                        landmark_input_size=112), kwargs)


@register_model
def s2d_tiny_patch8_64(pretrained: bool = False, **kwargs) -> S2D:
    """CPU teaching size: the same architecture at 64 px, patch 8 (8x8 grid), width 192, 4 layers,
    MobileFaceNet at 64 px (8x8 landmark grid)."""
    return _create("s2d_tiny_patch8_64", pretrained,
                   dict(img_size=64, patch_size=8, embed_dim=192, depth=4, num_heads=3,
                        landmark_input_size=64), kwargs)
