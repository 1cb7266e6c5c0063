"""A picture of S2D drawn by code, so that it regenerates with the library: the two views of a
frame, one MCP block with its Fovea and its TMA, the I3D head, EASDL's anchor queues, and the
training stage in which each part learns (by colour).

The figure follows the forward pass of ``s2d_lib.model.S2D`` (``book/architecture.md``): the image
view goes through the patch embedding and the ViT blocks; the landmark view is the ``conv_4``
feature map of a frozen MobileFaceNet, projected to landmark tokens; before every ViT block an
MCP prompter adds ``A + P`` to the patch tokens, where ``P`` is the Fovea-gated fusion of both
views and ``A`` the Temporal-Modeling Adapter's output.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch, Rectangle

from .frames import save_figure

__all__ = ["STAGE_COLOURS", "plot_architecture"]

#: Fill colour of a part by the training stages in which it learns (colour-blind-safe Okabe-Ito
#: tints; the landmark network is trained beforehand, in notebook 01, and frozen in S2D).
STAGE_COLOURS = {
    "frozen in S2D (landmark net, trained beforehand)": "#d9d9d9",
    "static stage only (frozen in the video stages)": "#9ecae1",
    "all three stages (static, temporal, DFER)": "#a1d99b",
    "video stages (temporal, DFER)": "#fdd0a2",
    "DFER stage only (loss, no parameters)": "#dadaeb",
}
FROZEN, STATIC, ALL, VIDEO, DFER = STAGE_COLOURS.values()
FONT = 10.5


def _box(ax, x: float, y: float, w: float, h: float, text: str, colour: str = "white",
         size: float = FONT, weight: str = "normal", style: str = "round,pad=0.02,rounding_size=0.8",
         **kwargs) -> tuple[float, float, float, float]:
    """A rounded box with centred text; returns ``(x, y, w, h)`` for placing arrows."""
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle=style, facecolor=colour,
                                edgecolor=kwargs.pop("edgecolor", "#333333"), linewidth=1.0, **kwargs))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size, weight=weight,
            linespacing=1.25)
    return x, y, w, h


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], text: str = "",
           colour: str = "#333333", rad: float = 0.0, style: str = "-|>", offset=(0.0, 0.8),
           size: float = FONT - 1, **kwargs) -> None:
    """An arrow, optionally labelled at its middle (shifted by ``offset``)."""
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=11, color=colour,
                                 linewidth=1.1, connectionstyle=f"arc3,rad={rad}", **kwargs))
    if text:
        ax.text((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1], text,
                ha="center", va="bottom", fontsize=size, color="#333333", style="italic")


def _right(b):
    return b[0] + b[2], b[1] + b[3] / 2


def _left(b):
    return b[0], b[1] + b[3] / 2


def _top(b):
    return b[0] + b[2] / 2, b[1] + b[3]


def _bottom(b):
    return b[0] + b[2] / 2, b[1]


def _overview(ax) -> dict:
    """The two views and the pass through the layers to the logits (top half)."""
    b = {}
    b["clip"] = _box(ax, 0.5, 54, 10, 9, "video clip\n$T$ RGB\nframes\n(B, 3, T, H, W)")
    b["patch"] = _box(ax, 16, 55.5, 12, 6, "patch embedding\n16×16 conv → $x$", STATIC)
    b["cls"] = _box(ax, 31, 59, 15, 3.6, "+ [CLS], pos. embed.", STATIC, size=FONT - 1)
    b["temb"] = _box(ax, 31, 54.4, 15, 3.6, "+ temporal embed.", ALL, size=FONT - 1)
    b["layers"] = _box(ax, 49.5, 53, 17, 11, "× L layers:\nMCP prompter + TMA\n→ ViT block\n(layer $i$ below)",
                       "white", weight="bold", edgecolor="#555555", linestyle="--")
    b["post"] = _box(ax, 70, 55, 12.5, 7, "ln_post; [CLS] of\neach frame, mean\nover the $T$ frames", ALL,
                     size=FONT - 1)
    b["head"] = _box(ax, 86, 55.5, 14, 6, "I3D head\ndropout + fc\n→ logits", ALL)
    b["mfn"] = _box(ax, 16, 41, 21, 8.5, "MobileFaceNet (frozen)\n68-landmark net, frames at 112²;\n"
                    "conv_4 feature maps (128, 14, 14)", FROZEN, size=FONT - 1)
    b["proj"] = _box(ax, 40.5, 42.2, 14, 6, "1×1 conv 128 → $D$\n→ landmark tokens $a$", ALL, size=FONT - 1)
    _arrow(ax, _right(b["clip"]), _left(b["patch"]), "image\nview", offset=(0, 0.4))
    _arrow(ax, (5.5, 54), (16, 45), "landmark view", rad=0.25, offset=(-3.5, -3.6))
    _arrow(ax, _right(b["patch"]), _left(b["temb"]), rad=0.15)
    _arrow(ax, _right(b["patch"]), _left(b["cls"]), rad=-0.15)
    _arrow(ax, _right(b["cls"]), (49.5, 59.5))
    _arrow(ax, _right(b["temb"]), (49.5, 57))
    _arrow(ax, _right(b["layers"]), _left(b["post"]))
    _arrow(ax, _right(b["post"]), _left(b["head"]), "$f$", offset=(0, 0.4))
    _arrow(ax, _right(b["mfn"]), _left(b["proj"]))
    _arrow(ax, _right(b["proj"]), (60, 53), rad=0.3)
    ax.text(55.5, 50.6, "$a$ (no position embedding)", fontsize=FONT - 1.5, style="italic",
            ha="right", va="center")
    return b


def _panel(ax, x: float, w: float, title: str) -> None:
    ax.add_patch(Rectangle((x, 0.5), w, 35, facecolor="#fafafa", edgecolor="#555555",
                           linestyle="--", linewidth=1.0))
    ax.text(x + 1, 34.6, title, fontsize=FONT + 0.5, weight="bold", va="top")


def _layer(ax) -> dict:
    """One layer: the MCP prompter (Fovea fusion -> P), its TMA (-> A), the update, the block."""
    _panel(ax, 0.5, 69, "layer $i$: one MCP prompter with its TMA, then ViT block $i$")
    b = {}
    ax.add_patch(Rectangle((12, 21.5), 44.5, 10.5, facecolor="none", edgecolor="#e6550d",
                           linestyle=":", linewidth=1.2))
    ax.text(12.5, 31.4, "TMA (re-initialised for video, ours) → $A$", fontsize=FONT - 1.5,
            color="#a63603", va="top")
    ax.add_patch(Rectangle((12, 2), 47.5, 18, facecolor="none", edgecolor="#31a354",
                           linestyle=":", linewidth=1.2))
    ax.text(12.5, 19.4, "MCP prompt → $P$", fontsize=FONT - 1.5, color="#006d2c", va="top")
    b["x"] = _box(ax, 1.5, 19.5, 8, 5, "image\ntokens $x$\n(B·T, N, D)", size=FONT - 1)
    b["a"] = _box(ax, 1.5, 4, 8, 5, "landmark\ntokens $a$\n(B·T, N, D)", size=FONT - 1)
    b["tada"] = _box(ax, 13, 22.5, 19, 6.8, "T-Adapter: $D$→$rD$, GELU,\nattention over the $T$ frames\n"
                     "at each of the $N$ positions,\n$rD$→$D$", VIDEO, size=FONT - 1.5)
    b["ln"] = _box(ax, 34.5, 23.5, 7.5, 4.6, "LayerNorm", VIDEO, size=FONT - 1)
    b["sada"] = _box(ax, 44.5, 22.5, 11, 6.8, "S-Adapter:\n$D$→$rD$, GELU,\n$rD$→$D$", VIDEO,
                     size=FONT - 1.5)
    b["c00"] = _box(ax, 13, 11.5, 10, 5, "1×1 conv\n$D$→$h$", ALL, size=FONT - 1)
    b["fovea"] = _box(ax, 26, 11, 13, 6, "Fovea\n$\\mathrm{softmax}(s\\,z)\\odot z$\nper channel",
                      ALL, size=FONT - 1)
    b["c01"] = _box(ax, 13, 3, 10, 5, "1×1 conv\n$D$→$h$", ALL, size=FONT - 1)
    b["sum"] = _box(ax, 42, 12, 4, 4, "+", ALL, size=FONT + 2, style="circle,pad=0.2")
    b["c1"] = _box(ax, 49, 11.5, 9.5, 5, "1×1 conv\n$h$→$D$ → $P$", ALL, size=FONT - 1)
    b["upd"] = _box(ax, 60.5, 22, 8.5, 6, "$x + A + P$\n(patch tokens;\n[CLS] as is)", "white",
                    size=FONT - 1.5)
    b["vit"] = _box(ax, 60.5, 10.5, 8.5, 7, "ViT block $i$\n(frozen in\nvideo stages)", STATIC,
                    size=FONT - 1)
    b["next"] = _box(ax, 61, 2, 8, 5.5, "$a \\leftarrow P$\nfor layer\n$i+1$", "white", size=FONT - 1.5)
    _arrow(ax, _right(b["x"]), _left(b["tada"]), "LN", rad=-0.1, offset=(-0.6, 0.8))
    _arrow(ax, _right(b["x"]), _left(b["c00"]), "LN", rad=0.1, offset=(-0.6, -2.8))
    _arrow(ax, _right(b["a"]), (13, 5.5), "LN", offset=(0, 0.2))
    _arrow(ax, _right(b["tada"]), _left(b["ln"]))
    _arrow(ax, _right(b["ln"]), _left(b["sada"]))
    _arrow(ax, _right(b["sada"]), _left(b["upd"]), "$A$", offset=(0, 0.2))
    _arrow(ax, _right(b["c00"]), _left(b["fovea"]), "$z$", offset=(0, 0.2))
    _arrow(ax, _right(b["fovea"]), _left(b["sum"]))
    _arrow(ax, _right(b["c01"]), _bottom(b["sum"]), rad=0.3)
    _arrow(ax, _right(b["sum"]), _left(b["c1"]))
    _arrow(ax, _top(b["c1"]), (62, 22), "$P$", rad=-0.25, offset=(2.4, -1.6))
    _arrow(ax, _bottom(b["upd"]), _top(b["vit"]))
    _arrow(ax, _bottom(b["c1"]), _left(b["next"]), rad=0.25)
    return b


def _easdl(ax) -> dict:
    """EASDL: per-class anchor queues -> soft label -> BCE next to the main loss (DFER stage)."""
    _panel(ax, 71.5, 29, "EASDL (DFER stage)")
    b = {}
    ax.text(72.5, 30.2, "a queue of 16 anchors ($f$, softmax) per\nclass, from training clips of that\n"
            "class (no gradient)", fontsize=FONT - 1.5, va="top")
    for row, name in enumerate(("class 1", "class 2", "…", "class C")):
        y = 21.3 - 2.3 * row
        ax.text(77, y + 0.8, name, fontsize=FONT - 2, ha="right", va="center")
        for k in range(7):
            ax.add_patch(Rectangle((77.5 + 1.5 * k, y), 1.3, 1.6, facecolor=DFER, edgecolor="#555555",
                                   linewidth=0.6))
    b["sim"] = _box(ax, 90.5, 15.5, 9.5, 7.5, "cosine sim.\nto $f$; top-2\nper class", DFER,
                    size=FONT - 1.5)
    b["soft"] = _box(ax, 73, 8, 17, 5, "soft label: similarity-\nweighted anchor softmax", DFER,
                     size=FONT - 1.5)
    b["loss"] = _box(ax, 73, 1.5, 26.5, 4.5, "loss = CE + $w(t)$ · BCE(logits, soft label)", DFER,
                     size=FONT - 1)
    _arrow(ax, (88.5, 19.3), _left(b["sim"]))
    _arrow(ax, _bottom(b["sim"]), _right(b["soft"]), rad=-0.3)
    _arrow(ax, _bottom(b["soft"]), (81.5, 6))
    return b


def plot_architecture(save: str | Path | None = None) -> Figure:
    """S2D at a glance: the image and landmark views, one MCP block (Fovea, TMA) inside a layer,
    the I3D head, EASDL's queues, coloured by the training stage in which each part learns."""
    fig, ax = plt.subplots(figsize=(13, 9))
    ax.set_xlim(0, 100.5)
    ax.set_ylim(-7, 64.5)
    ax.set_aspect("equal")
    ax.axis("off")
    top = _overview(ax)
    _layer(ax)
    _easdl(ax)
    # the clip feature and the logits feed EASDL
    _arrow(ax, _bottom(top["post"]), (92, 23), "$f$", colour="#555555", rad=0.1, offset=(1.2, 0))
    _arrow(ax, _bottom(top["head"]), (98, 23), "logits", colour="#555555", offset=(2.5, 0))
    handles = [Patch(facecolor=c, edgecolor="#333333", label=k) for k, c in STAGE_COLOURS.items()]
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, -0.005), ncol=3,
              fontsize=FONT - 0.5, frameon=False, title="trains in", title_fontsize=FONT)
    ax.set_title("S2D: a landmark-aware image ViT adapted to video", fontsize=FONT + 3, weight="bold")
    fig.tight_layout()
    return save_figure(fig, save)
