"""Visualization toolkit for S2D: what the model looks at, what the landmark view and the
prompts contribute, how the temporal adapters mix frames, and how clips and runs turn out.

Every ``plot_*`` function returns a matplotlib ``Figure`` and writes a PNG when given
``save=path`` (parent folders are created). Every heat map has a colour bar and a perceptual
colour map (``magma`` over faces, a diverging map centred at 0 for deviations). Frames are shown de-normalised (timm ImageNet mean
and std), and every map is computed in eval mode with hooks that are removed afterwards and do
not change the model's outputs. Works for the tiny and the paper-size model alike.

Plots and the figures of the paper they correspond to:

* Where the ViT attends on the face -- the paper's visualisation of attention maps on faces:
  :func:`plot_attention` (class-token attention per layer/head over the frames, from
  :func:`attention_maps`), :func:`plot_attention_heads` (layer x head grid for one frame),
  :func:`plot_rollout` (:func:`attention_rollout` across layers), :func:`plot_cams`
  (Grad-CAM family, :func:`clip_cams`).
* The landmark-aware prompts (MCP) -- the paper's figure of the landmark view and its prompts:
  :func:`plot_landmarks` (:func:`predict_landmarks`), :func:`plot_feature_channels` and
  :func:`plot_feature_pca` (MobileFaceNet ``conv_4`` maps, :func:`landmark_feature_maps`),
  :func:`plot_prompts` (each layer's Fovea mask ``softmax(s*z)`` and ``|P|``, from
  :func:`prompt_views`).
* The Temporal-Modeling Adapter: :func:`plot_temporal_attention` (each layer's attention over
  frames as its row entropy relative to uniform, :func:`tma_entropy` and
  :func:`attention_entropy`, from :func:`prompt_views`).
* Reading a saliency map against the face: :func:`face_boxes` (a box around the predicted
  landmarks), :func:`mass_in_box` (the share of a map's mass inside it).
* The MAE stage: :func:`plot_mae` (masked inputs, reconstructions and the loss curve of
  :mod:`s2d_lib.mae`), :func:`reconstruction_error`.
* The 68-point landmark scheme: :func:`plot_landmarks_68` (every point numbered, none overlapping;
  the nose base and lips enlarged).
* Comparisons: :func:`plot_comparison` (bars with error bars and the test size ``n``;
  :func:`proportion_interval` for the Wilson interval of an accuracy).
* Clip-level results: :func:`plot_timeline` (per-frame class probabilities under a filmstrip,
  :func:`frame_logits`); :func:`plot_tsne` -- the paper's t-SNE of learnt features
  (:func:`clip_features`, :func:`tsne_embedding`); :func:`plot_confusion` -- the paper's
  confusion matrices, with counts and fractions; :func:`plot_training_curves` (a run's
  ``metrics.json``/``metrics.csv``, :func:`load_metrics`; the EASDL curve is the weighted term).
* A figure read in numbers: :func:`training_summary` (the curves' selected epoch, warm-up and
  loss), :func:`confusion_summary` (the weakest and strongest recall, the commonest confusion),
  :func:`trainable_summary` (what trains in a stage, counted).
* :class:`Explorer`: an ipywidgets explorer over clips, frames, layers, heads and methods.

The CAMs (``grad-cam``) and the explorer (``ipywidgets``) need the ``notebooks`` extra; they are
imported on first use, so the rest of this package works on a core install.

* The model itself: :func:`plot_architecture` -- the two views, one MCP block with its Fovea and
  TMA, the I3D head and EASDL's queues, coloured by the training stage of each part.

Generic pieces: :func:`frame_images` (de-normalised frames), :func:`plot_frame_maps` (any
per-frame maps over a filmstrip), :class:`AttentionRecorder` (attention probabilities of any timm
``Attention`` module), :class:`CAMModel` and :func:`reshape_transform` (S2D for ``grad-cam``).
"""
from .architecture import STAGE_COLOURS, plot_architecture
from .attention import (AttentionRecorder, attention_maps, attention_rollout, cls_attention,
                        plot_attention, plot_attention_heads, plot_rollout)
from .clip import (ClipOutputs, clip_features, frame_logits, load_metrics, plot_confusion,
                   plot_timeline, plot_training_curves, plot_tsne, selected_metric, tsne_embedding)
from .frames import frame_images, plot_frame_maps, save_figure
from .comparison import plot_comparison, proportion_interval
from .face_box import box_masks, face_boxes, mass_in_box
from .face_landmarks import IBUG_GROUPS, plot_landmarks_68
from .mae import plot_mae, reconstruction_error
from .readings import confusion_summary, trainable_summary, training_summary
from .landmark_views import (PromptViews, attention_entropy, feature_pca_rgb, landmark_feature_maps,
                             plot_feature_channels, plot_feature_pca, plot_landmarks, plot_prompts,
                             plot_temporal_attention, predict_landmarks, prompt_views, tma_entropy)

__all__ = [
    "plot_mae", "reconstruction_error",
    "confusion_summary", "trainable_summary", "training_summary",
    "STAGE_COLOURS", "plot_architecture",
    "AttentionRecorder", "attention_maps", "attention_rollout", "cls_attention", "plot_attention",
    "plot_attention_heads", "plot_rollout",
    "CAM_METHODS", "CAMModel", "clip_cams", "plot_cams", "reshape_transform", "target_layer",
    "ClipOutputs", "clip_features", "frame_logits", "load_metrics", "plot_confusion", "plot_timeline",
    "plot_training_curves", "plot_tsne", "selected_metric", "tsne_embedding",
    "Explorer",
    "frame_images", "plot_frame_maps", "save_figure",
    "plot_comparison", "proportion_interval",
    "IBUG_GROUPS", "plot_landmarks_68",
    "box_masks", "face_boxes", "mass_in_box",
    "PromptViews", "attention_entropy", "feature_pca_rgb", "landmark_feature_maps", "plot_feature_channels",
    "plot_feature_pca", "plot_landmarks", "plot_prompts", "plot_temporal_attention",
    "predict_landmarks", "prompt_views", "tma_entropy",
]

#: Names of the optional parts (the ``notebooks`` extra), imported on first use.
_OPTIONAL = {**dict.fromkeys(("CAM_METHODS", "CAMModel", "clip_cams", "plot_cams",
                              "reshape_transform", "target_layer"), "cam"),
             "Explorer": "explorer"}


def __getattr__(name: str):
    """Import the CAM and explorer names when first asked for (they need the notebooks extra)."""
    if name in _OPTIONAL:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_OPTIONAL[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
