"""An ipywidgets explorer for one model and a few clips: pick the clip, the frame, the layer, the
head and the method (attention, rollout, Grad-CAM, Fovea mask, prompt magnitude, TMA temporal
attention); the one figure below the controls is redrawn in place on every change.

``Explorer(model, clips, class_names)`` displays itself as the last expression of a cell.
"""
from __future__ import annotations

import io
from typing import Sequence

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import nn

from ..extras import require
from .attention import attention_maps, attention_rollout, cls_attention
from .cam import clip_cams
from .clip import frame_logits
from .frames import HEAT_CMAP, frame_images, upsample_maps
from .landmark_views import prompt_views

widgets = require("ipywidgets", "notebooks", "s2d_lib.viz.explorer (the widget explorer)")
_display = require("IPython.display", "notebooks", "s2d_lib.viz.explorer")
Image, display = _display.Image, _display.display

__all__ = ["Explorer", "METHODS"]

METHODS = ("attention", "rollout", "grad-cam", "fovea mask", "prompt |P|", "temporal attention")
_MEAN = -1  # head dropdown value meaning "mean over heads"


class Explorer:
    """Interactive view of what S2D looks at, per clip, frame, layer, head and method.

    ``clips`` is a video ``(M, 3, T, H, W)`` or a list of clips ``(3, T, H, W)``; each clip's
    maps are computed once, on first view.
    """

    def __init__(self, model: nn.Module, clips: torch.Tensor | Sequence[torch.Tensor],
                 class_names: Sequence[str] | None = None, names: Sequence[str] | None = None) -> None:
        self.model = model
        self.clips = [c for c in clips]
        if not self.clips or any(c.dim() != 4 for c in self.clips):
            raise ValueError("clips must be a non-empty (M, 3, T, H, W) tensor or list of (3, T, H, W)")
        self.class_names = list(class_names) if class_names else [str(k) for k in range(model.num_classes)]
        self._cache: dict[int, dict] = {}
        names = list(names) if names else [f"clip {i}" for i in range(len(self.clips))]
        depth, t = len(model.blocks), self.clips[0].shape[1]
        self.clip = widgets.Dropdown(options=list(zip(names, range(len(self.clips)))), value=0,
                                     description="clip")
        self.method = widgets.Dropdown(options=METHODS, value="attention", description="method")
        self.head = widgets.Dropdown(description="head")
        self.frame = widgets.IntSlider(value=0, min=0, max=t - 1, description="frame")
        self.layer = widgets.IntSlider(value=depth - 1, min=0, max=depth - 1, description="layer")
        self.output = widgets.Output()
        self.figure = Figure(figsize=(9, 3.2))
        FigureCanvasAgg(self.figure)  # draws without pyplot, so no stray copy shows in a notebook
        self.redraws = 0
        self._set_head_options()
        for w in (self.clip, self.method, self.head, self.frame, self.layer):
            w.observe(self._on_change, names="value")
        self.widget = widgets.VBox([widgets.HBox([self.clip, self.method, self.head]),
                                    widgets.HBox([self.frame, self.layer]), self.output])
        self.redraw()

    def _ipython_display_(self) -> None:
        display(self.widget)

    def _set_head_options(self) -> None:
        if self.method.value == "attention":
            heads = self.model.blocks[0].attn.num_heads
        elif self.method.value == "temporal attention":
            heads = self.model.prompt_blocks[0].TMA.T_Adapter.attn.num_heads
        else:
            heads = 0
        self.head.options = [("mean", _MEAN)] + [(str(h), h) for h in range(heads)]
        self.head.value = _MEAN

    def _on_change(self, change: dict) -> None:
        if change["owner"] is self.method:
            # new head choices must not trigger a second redraw of their own
            self.head.unobserve(self._on_change, names="value")
            self._set_head_options()
            self.head.observe(self._on_change, names="value")
        self.redraw()

    def analysis(self, index: int) -> dict:
        """All maps of clip ``index`` (computed on first use)."""
        if index not in self._cache:
            video = self.clips[index][None].to(next(self.model.parameters()).device)
            maps = attention_maps(self.model, video)
            self._cache[index] = dict(
                video=video, maps=maps, rollout=attention_rollout(maps),
                cams=clip_cams(self.model, video)[0], views=prompt_views(self.model, video),
                frame_logits=frame_logits(self.model, video)[0])
        return self._cache[index]

    def _map(self, a: dict) -> np.ndarray:
        """The selected method's map for the current frame, ``(h, w)`` or ``(T, T)``."""
        f, layer, head, method = self.frame.value, self.layer.value, self.head.value, self.method.value
        if method == "attention":
            m = cls_attention(a["maps"][layer, f])
            return (m.mean(0) if head == _MEAN else m[head]).numpy()
        if method == "rollout":
            return cls_attention(a["rollout"][f]).numpy()
        if method == "grad-cam":
            return a["cams"][f]
        if method == "fovea mask":
            return a["views"].fovea[layer, f].mean(0).numpy()
        if method == "prompt |P|":
            return a["views"].prompt_magnitude[layer, f].numpy()
        tma = a["views"].temporal_attention[layer, 0]
        return (tma.mean(0) if head == _MEAN else tma[head]).numpy()

    def redraw(self) -> None:
        """Redraw the figure for the current widget values and show it in the output area."""
        a = self.analysis(self.clip.value)
        f, method = self.frame.value, self.method.value
        image = frame_images(a["video"])[f]
        m = self._map(a)
        fig = self.figure
        fig.clear()
        ax_frame, ax_map, ax_prob = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.3]})
        ax_frame.imshow(image)
        ax_frame.set_title(f"frame {f}", fontsize=8)
        if method == "temporal attention":
            im = ax_map.imshow(m, cmap=HEAT_CMAP, vmin=0, vmax=1)
            ax_map.axhline(f, color="cyan", lw=1)
            ax_map.set_xlabel("key frame", fontsize=7)
            ax_map.set_ylabel("query frame", fontsize=7)
            ax_map.tick_params(labelsize=7)
        else:
            ax_map.imshow(image)
            im = ax_map.imshow(upsample_maps(m, image.shape[:2]), cmap=HEAT_CMAP, alpha=0.5)
            ax_map.axis("off")
        bar = fig.colorbar(im, ax=ax_map, fraction=0.046, pad=0.03)
        bar.ax.tick_params(labelsize=6)
        bar.solids.set_alpha(1.0)
        ax_frame.axis("off")
        ax_map.set_title(f"{method}, layer {self.layer.value}", fontsize=8)
        probs = a["frame_logits"][f].softmax(-1).numpy()
        ax_prob.barh(range(len(probs)), probs, color="tab:blue")
        ax_prob.set_yticks(range(len(probs)), self.class_names, fontsize=7)
        ax_prob.set_xlim(0, 1)
        ax_prob.invert_yaxis()
        # the clip logits are the mean of the per-frame logits (linear head)
        clip_pred = self.class_names[int(a["frame_logits"].mean(0).argmax())]
        ax_prob.set_title(f"frame probabilities (clip: {clip_pred})", fontsize=8)
        ax_prob.tick_params(axis="x", labelsize=7)
        fig.tight_layout()
        self.redraws += 1
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)  # a PNG of its own: no pyplot backend needed
        self.output.clear_output(wait=True)
        with self.output:
            display(Image(data=buffer.getvalue(), format="png"))
