"""MAE self-supervised pretraining of S2D's ViT (He et al. 2022, "Masked Autoencoders Are
Scalable Vision Learners"): the stage the paper's ViT comes from, here for any S2D size.

``pretrain_mae(image_files("faces/"), "runs/mae_tiny")`` writes ``mae.safetensors``, which a
static run starts from with ``vit_weights=runs/mae_tiny/mae.safetensors``; from the shell:
``python -m s2d_lib.mae faces/ --out runs/mae_tiny``.

* :mod:`.model`: :class:`MaskedAutoencoder`, S2D's ViT as the encoder plus a light decoder.
* :mod:`.data`: unlabelled images in memory and MAE's augmentation.
* :mod:`.pretrain`: the training loop, the files it writes, :func:`load_mae`.
"""
from .data import IMAGE_SUFFIXES, image_files, load_images, random_resized_crop
from .model import ENCODER_PARTS, MaskedAutoencoder, kept_patches
from .pretrain import (DECODER_FILE, ENCODER_FILE, RECORD_FILE, MAEDiverged, load_mae,
                       pretrain_mae)

__all__ = ["MaskedAutoencoder", "ENCODER_PARTS", "kept_patches", "IMAGE_SUFFIXES", "image_files",
           "load_images", "random_resized_crop", "pretrain_mae", "load_mae", "MAEDiverged",
           "ENCODER_FILE", "DECODER_FILE", "RECORD_FILE"]
