"""The masked autoencoder of He et al. (2022), "Masked Autoencoders Are Scalable Vision
Learners", around S2D's own ViT.

The **encoder** is exactly the part of S2D that :func:`s2d_lib.checkpoints.load_vit_backbone`
fills: ``patch_embed``, ``cls_token``, the fixed sin-cos ``pos_embed``, ``blocks`` and a final
``norm`` (S2D's ``ln_post``). It is taken from a freshly built S2D model of the same timm name,
so its width, depth, patch and image size always match the model it will start. It sees only
the visible patches: a random 75 % of each image's patches is dropped (``random_masking``).

The light **decoder** (``decoder_*``, 2 blocks of width 128 with 4 heads by default) gets the
encoded visible tokens plus a shared ``mask_token`` at every masked position, adds its own fixed
sin-cos position embedding and predicts each patch's pixels. The loss is the mean squared error
on the masked patches only, against targets normalised per patch (``norm_pix_loss``).
"""
from __future__ import annotations

from functools import partial

import timm
import torch
from timm.layers import build_sincos2d_pos_embed, trunc_normal_
from timm.models.vision_transformer import Block
from torch import nn

from .. import model as _model  # noqa: F401  (registers the s2d_* models with timm)
from timm.data import IMAGENET_DEFAULT_MEAN as MEAN, IMAGENET_DEFAULT_STD as STD

__all__ = ["MaskedAutoencoder", "ENCODER_PARTS", "kept_patches"]

#: Top-level names of the encoder's tensors: what ``load_vit_backbone`` copies into S2D
#: (``norm`` becomes S2D's ``ln_post``).
ENCODER_PARTS = ("patch_embed", "cls_token", "pos_embed", "blocks", "norm")
#: Added to a patch's variance before its pixels are normalised (the paper's value).
_PIX_EPS = 1e-6


def kept_patches(num_patches: int, mask_ratio: float) -> int:
    """How many of ``num_patches`` stay visible: ``round((1 - mask_ratio) * num_patches)``, which
    must leave at least one patch visible and one masked."""
    keep = round((1 - mask_ratio) * num_patches)
    if not (0 < mask_ratio < 1 and 0 < keep < num_patches):
        raise ValueError(f"mask_ratio={mask_ratio} keeps {keep} of {num_patches} patches: at least "
                         "one patch must stay visible and one be masked")
    return keep


class MaskedAutoencoder(nn.Module):
    """MAE with S2D's ViT (``model_name``, a registered ``s2d_*`` timm name) as its encoder.

    Args:
        model_name: the S2D model whose ViT is pretrained (``s2d_tiny_patch8_64``: width 192,
            depth 4, 3 heads, patch 8 at 64 px; ``s2d_base_patch16_224``: ViT-B/16).
        decoder_dim, decoder_depth, decoder_heads: the decoder's width, blocks and heads.
        mlp_ratio: MLP ratio of the decoder blocks.
        norm_pix_loss: regress each patch's pixels normalised by its own mean and variance.
    """

    def __init__(self, model_name: str = "s2d_tiny_patch8_64", decoder_dim: int = 128,
                 decoder_depth: int = 2, decoder_heads: int = 4, mlp_ratio: float = 4.0,
                 norm_pix_loss: bool = True) -> None:
        super().__init__()
        vit = timm.create_model(model_name, num_frames=1, with_landmark_stream=False)
        if not hasattr(vit, "prompt_blocks"):
            raise ValueError(f"{model_name!r} is not an S2D model (s2d_tiny_patch8_64, "
                             "s2d_base_patch16_224, ...)")
        self.config = dict(model_name=model_name, decoder_dim=decoder_dim,
                           decoder_depth=decoder_depth, decoder_heads=decoder_heads,
                           mlp_ratio=mlp_ratio, norm_pix_loss=norm_pix_loss)
        self.img_size, self.patch_size = vit.config["img_size"], vit.config["patch_size"]
        self.grid_size = vit.grid_size
        self.num_patches = self.grid_size ** 2
        self.norm_pix_loss = norm_pix_loss
        dim = vit.embed_dim
        # the encoder: S2D's own ViT modules (the pos_embed stays fixed, as in S2D)
        self.patch_embed, self.cls_token, self.pos_embed = vit.patch_embed, vit.cls_token, vit.pos_embed
        self.blocks = vit.blocks
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        # the decoder
        self.decoder_embed = nn.Linear(dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        pos = build_sincos2d_pos_embed([self.grid_size, self.grid_size], decoder_dim)
        self.decoder_pos_embed = nn.Parameter(torch.cat([torch.zeros(1, decoder_dim), pos])[None],
                                              requires_grad=False)
        self.decoder_blocks = nn.ModuleList([
            Block(decoder_dim, decoder_heads, mlp_ratio, qkv_bias=True,
                  norm_layer=partial(nn.LayerNorm, eps=1e-6)) for _ in range(decoder_depth)])
        self.decoder_norm = nn.LayerNorm(decoder_dim, eps=1e-6)
        self.decoder_pred = nn.Linear(decoder_dim, self.patch_size ** 2 * 3)
        self._init_weights()
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)

    def _init_weights(self) -> None:
        """The paper's initialisation: Xavier-uniform for every linear layer and for the patch
        projection (seen as a linear layer), std 0.02 for the class and mask tokens."""
        proj = self.patch_embed.proj.weight
        nn.init.xavier_uniform_(proj.data.view(proj.shape[0], -1))
        trunc_normal_(self.cls_token, std=0.02)
        trunc_normal_(self.mask_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """Parameters AdamW does not decay (besides every 1-D parameter and bias)."""
        return {"cls_token", "pos_embed", "mask_token", "decoder_pos_embed"}

    # ----------------------------------------------------------------- patches
    def patchify(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W) -> (B, N, p*p*3)``, patches in ``patch_embed``'s (row-major) order and
        each patch's pixels row by row, channels last."""
        b, c, h, w = images.shape
        p = self.patch_size
        x = images.reshape(b, c, h // p, p, w // p, p)
        return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), p * p * c)

    def unpatchify(self, patches: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`patchify`: ``(B, N, p*p*3) -> (B, 3, H, W)``."""
        b, n, _ = patches.shape
        p, g = self.patch_size, self.grid_size
        x = patches.reshape(b, g, g, p, p, 3)
        return x.permute(0, 5, 1, 3, 2, 4).reshape(b, 3, g * p, g * p)

    def random_masking(self, x: torch.Tensor, mask_ratio: float,
                       generator: torch.Generator | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Keep a random subset of each sample's tokens ``x (B, N, D)``: the tokens of the
        lowest-noise positions. Returns the kept tokens ``(B, keep, D)``, the ``mask (B, N)``
        (0 kept, 1 masked) and ``ids_restore (B, N)``, which puts a sequence in kept-then-masked
        order back in patch order."""
        b, n, d = x.shape
        keep = kept_patches(n, mask_ratio)
        where = generator.device if generator is not None else x.device
        noise = torch.rand(b, n, generator=generator, device=where).to(x.device)
        ids_shuffle = torch.argsort(noise, dim=1)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        ids_keep = ids_shuffle[:, :keep]
        kept = torch.gather(x, 1, ids_keep[..., None].expand(-1, -1, d))
        mask = torch.ones(b, n, device=x.device)
        mask[:, :keep] = 0
        return kept, torch.gather(mask, 1, ids_restore), ids_restore

    # ----------------------------------------------------------------- forward
    def forward_encoder(self, images: torch.Tensor, mask_ratio: float,
                        generator: torch.Generator | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encoded ``[cls] + visible`` tokens ``(B, 1+keep, D)``, the mask and ``ids_restore``."""
        x = self.patch_embed(images) + self.pos_embed[:, 1:]
        x, mask, ids_restore = self.random_masking(x, mask_ratio, generator)
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.norm(x), mask, ids_restore

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """Predicted pixels of every patch ``(B, N, p*p*3)`` (normalised per patch with
        ``norm_pix_loss``)."""
        x = self.decoder_embed(latent)
        b, n = ids_restore.shape
        tokens = torch.cat([x[:, 1:], self.mask_token.expand(b, n + 1 - x.shape[1], -1)], dim=1)
        tokens = torch.gather(tokens, 1, ids_restore[..., None].expand(-1, -1, x.shape[2]))
        x = torch.cat([x[:, :1], tokens], dim=1) + self.decoder_pos_embed
        for block in self.decoder_blocks:
            x = block(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:]

    def targets(self, images: torch.Tensor) -> torch.Tensor:
        """What the decoder regresses: the patches of ``images`` in float32, each normalised by
        its own mean and variance with ``norm_pix_loss``."""
        target = self.patchify(images.float())
        if self.norm_pix_loss:
            mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
            target = (target - mean) / (var + _PIX_EPS) ** 0.5
        return target

    def forward_loss(self, images: torch.Tensor, pred: torch.Tensor,
                     mask: torch.Tensor) -> torch.Tensor:
        """Mean squared error over the masked patches only, in float32."""
        per_patch = (pred.float() - self.targets(images)).pow(2).mean(-1)
        return (per_patch * mask).sum() / mask.sum()

    def forward(self, images: torch.Tensor, mask_ratio: float = 0.75,
                generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(loss, pred (B, N, p*p*3), mask (B, N))`` of normalised ``images (B, 3, H, W)``."""
        latent, mask, ids_restore = self.forward_encoder(images, mask_ratio, generator)
        pred = self.forward_decoder(latent, ids_restore)
        return self.forward_loss(images, pred, mask), pred, mask

    # ----------------------------------------------------------------- results
    def encoder_state_dict(self) -> dict[str, torch.Tensor]:
        """The encoder's tensors under the names ``load_vit_backbone`` takes (``patch_embed.*``,
        ``cls_token``, ``pos_embed``, ``blocks.*``, ``norm.*``), on the CPU."""
        return {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()
                if k.split(".", 1)[0] in ENCODER_PARTS}

    def to_pixels(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised images back to RGB in [0, 1] for display."""
        return (images.float() * self.std + self.mean).clamp(0, 1)

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor, mask_ratio: float = 0.75,
                    generator: torch.Generator | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(masked, reconstruction, original)``, each ``(B, 3, H, W)`` RGB in [0, 1], of
        normalised ``images``: the input with its masked patches grey, the prediction with the
        visible patches pasted back, and the input itself. With ``norm_pix_loss`` the predicted
        patches are brought back to pixels with each true patch's own mean and variance."""
        images = images.float()
        _, pred, mask = self(images, mask_ratio, generator)
        pred = pred.float()
        if self.norm_pix_loss:
            target = self.patchify(images)
            mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
            pred = pred * (var + _PIX_EPS) ** 0.5 + mean
        masked_pixels = self.unpatchify(mask[..., None].expand_as(pred)).bool()
        original = self.to_pixels(images)
        reconstruction = self.to_pixels(torch.where(masked_pixels, self.unpatchify(pred), images))
        masked = original.masked_fill(masked_pixels, 0.5)
        return masked, reconstruction, original
