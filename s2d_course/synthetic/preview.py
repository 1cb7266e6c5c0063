"""Figures of the generator: a grid of faces per expression, and one clip's frames with landmarks.

``save_previews("figures")`` writes ``synthetic_faces.png`` and ``synthetic_clip.png``; they
are drawn directly from the generator (no suite needed) and are deterministic for a seed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from s2d_lib.data.labels import CANONICAL
from .clips import ClipPlan, plan_clip
from .face import Identity, Pose, expression_aus, sample_identity, sample_pose
from .render import Scene, render_face, sample_scene

__all__ = ["FaceDraw", "face_draws", "faces_figure", "clip_draw", "clip_figure", "save_previews"]


@dataclass(frozen=True)
class FaceDraw:
    """One face of :func:`faces_figure` before rendering: its expression and what varies with it."""

    expression: str
    identity: Identity
    pose: Pose
    scene: Scene


def face_draws(seed: int = 0, per_class: int = 4, size: int = 112) -> list[list[FaceDraw]]:
    """The faces of :func:`faces_figure`, drawn but not rendered: one row per canonical expression
    (MAFW's extra four included), ``per_class`` identities, the first one frontal and unoccluded."""
    rng = np.random.default_rng(seed)
    rows = []
    for name in CANONICAL:
        row = []
        for c in range(per_class):
            pose = Pose() if c == 0 else sample_pose(rng, 0.7)
            scene = sample_scene(rng, size, occlusion=0.15 if c else 0.0, blur=0.3 if c else 0.0)
            row.append(FaceDraw(name, sample_identity(rng), pose, scene))
        rows.append(row)
    return rows


def faces_figure(seed: int = 0, per_class: int = 4, size: int = 112) -> plt.Figure:
    """One row per canonical expression (MAFW's extra four included), ``per_class`` identities
    (the faces of :func:`face_draws`)."""
    rows = face_draws(seed, per_class, size)
    fig, axes = plt.subplots(len(rows), per_class, figsize=(1.3 * per_class, 1.3 * len(rows)))
    for r, row in enumerate(rows):
        for c, draw in enumerate(row):
            img, _ = render_face(draw.identity, expression_aus({draw.expression: 1.0}), draw.pose,
                                 draw.scene, size)
            ax = axes[r, c]
            ax.imshow(img)
            ax.set_xticks([]), ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(draw.expression, fontsize=8)
    fig.suptitle("Synthetic faces: one expression per row (first column frontal)", fontsize=9)
    fig.tight_layout()
    return fig


def clip_draw(seed: int = 1, label: str = "surprise", num_frames: int = 24, size: int = 112
              ) -> tuple[Identity, Scene, ClipPlan]:
    """The clip of :func:`clip_figure`, planned but not rendered: its identity, scene and plan
    (``plan.intensity`` is the expression envelope the figure draws)."""
    rng = np.random.default_rng(seed)
    idn, base = sample_identity(rng), sample_pose(rng, 0.5)
    scene = sample_scene(rng, size, occlusion=0.0, blur=0.0)
    return idn, scene, plan_clip(rng, label, num_frames, base, talk_prob=1.0, off_centre_prob=0.0)


def clip_figure(seed: int = 1, label: str = "surprise", num_frames: int = 24, size: int = 112,
                every: int = 3) -> plt.Figure:
    """Every ``every``-th frame of one clip with its landmarks, and the expression envelope."""
    idn, scene, plan = clip_draw(seed, label, num_frames, size)
    shown = list(range(0, num_frames, every))
    fig, axes = plt.subplots(2, len(shown), figsize=(1.4 * len(shown), 3.2),
                             gridspec_kw={"height_ratios": [3, 1.4]})
    for ax, t in zip(axes[0], shown):
        img, lm = render_face(idn, plan.aus(t), plan.poses[t], scene, size, float(plan.talk[t]))
        ax.imshow(img)
        ax.scatter(lm[:, 0], lm[:, 1], s=1.5, c="lime")
        ax.set_title(f"t={t}", fontsize=7)
        ax.axis("off")
    grid = axes[1, 0].get_gridspec()
    for ax in axes[1]:
        ax.remove()
    curve = fig.add_subplot(grid[1, :])
    curve.plot(plan.intensity, label=f"{label} intensity")
    curve.plot(plan.talk, label="talking", alpha=0.7)
    curve.plot(plan.blink, label="blink", alpha=0.7)
    curve.set_xlabel("frame", fontsize=7)
    curve.tick_params(labelsize=6)
    curve.legend(fontsize=6, loc="upper right")
    fig.suptitle(f"A synthetic '{label}' clip with its 68 landmarks: onset, apex, offset, "
                 "blinks and talking", fontsize=8)
    fig.tight_layout()
    return fig


def save_previews(out: str | Path = "figures", seed: int = 0) -> list[Path]:
    """Write ``synthetic_faces.png`` and ``synthetic_clip.png`` under ``out``; returns the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in (("synthetic_faces.png", faces_figure(seed)),
                      ("synthetic_clip.png", clip_figure(seed + 1))):
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        paths.append(out / name)
    return paths
