"""Checkpoints, in one home: the project's own files and the authors' released ones, into one
S2D model (or its landmark network).

* :mod:`~s2d_lib.checkpoints.files`: our files, written with the model's registered timm name,
  its arguments and the run's facts in the safetensors header, and rebuilt through
  ``timm.create_model`` (``save_checkpoint``, ``load_checkpoint``, ``checkpoint_metadata``,
  ``load_any_checkpoint`` for either format).
* :mod:`~s2d_lib.checkpoints.foreign`: the release's facts (:data:`RELEASED`), its files
  (``checkpoint_filter_fn``, ``load_released``, ``inflate``), MobileFaceNet and timm ViT weights.
* :mod:`~s2d_lib.checkpoints.tensors`: the one reader of every file (``read_state_dict``, the
  header alone with ``read_header``), the ``LoadReport``, the landmark network's place in our
  files.
* :mod:`~s2d_lib.checkpoints.safe_load`: a ``.pth`` is read without running code from it: a file
  that holds more than tensors and plain data raises ``UnsafeCheckpointError`` unless
  ``trust=True``.
"""
from .files import checkpoint_metadata, load_any_checkpoint, load_checkpoint, save_checkpoint
from .foreign import (RELEASED, checkpoint_filter_fn, inflate, load_landmark_weights, load_released,
                      load_vit_backbone)
from .safe_load import (SAFE_GLOBALS, CheckpointError, UnsafeCheckpointError, load_torch_file,
                        trusted_checkpoints)
from .tensors import (LANDMARK_PREFIX, LoadReport, file_sha256, landmark_stream_by_reference,
                      read_header, read_state_dict, split_landmark_stream, with_landmark_stream)

__all__ = ["save_checkpoint", "load_checkpoint", "checkpoint_metadata", "load_any_checkpoint",
           "RELEASED", "checkpoint_filter_fn", "load_released", "inflate", "load_landmark_weights",
           "load_vit_backbone", "CheckpointError", "UnsafeCheckpointError", "SAFE_GLOBALS",
           "load_torch_file", "trusted_checkpoints", "LANDMARK_PREFIX", "LoadReport",
           "file_sha256", "landmark_stream_by_reference", "read_header", "read_state_dict",
           "split_landmark_stream", "with_landmark_stream"]
