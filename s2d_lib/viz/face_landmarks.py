"""The 68-point iBUG landmark scheme on a face, every point numbered without two numbers on top
of each other: :func:`plot_landmarks_68` (the crowded nose base and lips in an enlarged view).

The numbers are placed one by one, the most crowded points first (nose tip, lips), each at the
first free spot on rings around its point, trying first the side that faces away from the centre
of its group; a number set further out is tied to its point by a thin line.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from .frames import save_figure

__all__ = ["IBUG_GROUPS", "ZOOM_POINTS", "plot_landmarks_68", "place_labels"]

log = logging.getLogger(__name__)

#: The parts of the face in the 68-point iBUG scheme (0-based point numbers).
IBUG_GROUPS: dict[str, range] = {"jaw": range(0, 17), "brows": range(17, 27), "nose": range(27, 36),
                                 "eyes": range(36, 48), "mouth": range(48, 68)}

_RINGS = (6.0, 10.0, 15.0, 21.0, 28.0)  # label distance from its point, in typographic points
_DIRECTIONS = 16


def _candidates(away: np.ndarray) -> list[np.ndarray]:
    """Offsets (points) on rings, each ring starting from ``away`` and alternating around it."""
    start = np.arctan2(away[1], away[0]) if np.any(away) else np.pi / 2
    steps = [0] + [s * k for k in range(1, _DIRECTIONS // 2 + 1) for s in (1, -1)][:_DIRECTIONS - 1]
    angles = [start + 2 * np.pi * k / _DIRECTIONS for k in steps]
    return [r * np.array([np.cos(a), np.sin(a)]) for r in _RINGS for a in angles]


def place_labels(ax, points: np.ndarray, labels: list[str], groups: Mapping[str, list[int] | range],
                 fontsize: float = 6.0, marker_radius: float = 2.5) -> list:
    """Number each of ``points`` (data coordinates) in ``ax`` where the label overlaps no other
    label, no point and stays inside the axes; returns the text artists."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    ax.apply_aspect()  # an image's equal aspect moves the axes only when drawn: place for the final box
    scale = fig.dpi / 72.0  # typographic points -> pixels
    xy = ax.transData.transform(points)
    sizes = {}
    for text in set(labels):
        probe = ax.text(0, 0, text, fontsize=fontsize)
        box = probe.get_window_extent(renderer)
        sizes[text] = (box.width + 2, box.height)
        probe.remove()
    centre = np.zeros_like(xy)
    for idx in groups.values():
        centre[list(idx)] = xy[list(idx)].mean(0)
    r = marker_radius * scale
    dots = [Bbox.from_extents(x - r, y - r, x + r, y + r) for x, y in xy]
    frame = ax.get_window_extent(renderer)
    crowding = (np.linalg.norm(xy[:, None] - xy[None], axis=-1) < 14 * scale).sum(1)
    placed: list[Bbox] = []
    artists = [None] * len(points)
    for i in np.argsort(-crowding, kind="stable"):
        w, h = sizes[labels[i]]
        best, best_cost = None, None
        for offset in _candidates(xy[i] - centre[i]):
            cx, cy = xy[i] + offset * scale
            box = Bbox.from_extents(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            cost = (sum(box.overlaps(b) for b in placed) + sum(box.overlaps(d) for d in dots)
                    + 10 * (not frame.contains(box.x0, box.y0) or not frame.contains(box.x1, box.y1)))
            if best_cost is None or cost < best_cost:
                best, best_cost = (offset, box), cost
            if cost == 0:
                break
        offset, box = best
        placed.append(box)
        far = np.linalg.norm(offset) > _RINGS[1] + 1e-6
        artists[i] = ax.annotate(labels[i], xy=points[i], xytext=tuple(offset), textcoords="offset points",
                                 ha="center", va="center", fontsize=fontsize,
                                 arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "#555555",
                                             "shrinkA": 0, "shrinkB": 2} if far else None)
    return artists


#: Points numbered in the enlarged view: the nose's base and the lips, the crowded part of a face.
ZOOM_POINTS = tuple(range(30, 36)) + tuple(range(48, 68))


def _draw_points(ax, faded: np.ndarray, points: np.ndarray, groups: Mapping[str, range],
                 limits: tuple[float, float, float, float], size: float) -> None:
    x0, y0, x1, y1 = limits
    ax.imshow(faded)
    for name, idx in groups.items():
        ax.scatter(points[idx, 0], points[idx, 1], s=size, label=f"{name} {idx.start}-{idx.stop - 1}",
                   zorder=3)
    ax.set_xlim(x0, x1), ax.set_ylim(y1, y0)
    ax.axis("off")


def plot_landmarks_68(image, points: np.ndarray, groups: Mapping[str, range] = IBUG_GROUPS,
                      titles: tuple[str, str] = ("the face", "its 68 iBUG landmarks"),
                      zoom: tuple[int, ...] | None = ZOOM_POINTS, save: str | Path | None = None) -> Figure:
    """The face (left), its 68 landmarks coloured by part and numbered (middle), and the crowded
    points ``zoom`` (default: the nose's base and the lips) numbered in an enlarged view (right;
    ``zoom=None`` leaves it out and numbers every point in the middle panel).

    ``image`` is an RGB array or PIL image, ``points`` ``(68, 2)`` in its pixel coordinates
    (x, y). Points outside the image are still shown (the view widens to hold them) and a
    warning names how many there are: pick a framing that keeps the whole face in view.
    """
    image = np.asarray(image)
    points = np.asarray(points, dtype=float)
    if points.shape != (68, 2):
        raise ValueError(f"expected 68 (x, y) landmarks, got an array of shape {points.shape}")
    h, w = image.shape[:2]
    outside = int(((points < 0) | (points > [w, h])).any(1).sum())
    if outside:
        log.warning("%d of 68 landmarks fall outside the %dx%d image; the view is widened to show them",
                    outside, w, h)
    faded = image // 3 + 170 if image.dtype == np.uint8 else 0.33 * image + 0.67
    # the image's own extent, widened (with room for a marker) only where points leave it
    low = np.where(points.min(0) < 0, points.min(0) - 8, 0.0)
    high = np.where(points.max(0) > [w, h], points.max(0) + 8, [w, h])
    limits = (float(low[0]), float(low[1]), float(high[0]), float(high[1]))
    fig, axes = plt.subplots(1, 3 if zoom else 2, figsize=(14 if zoom else 10, 5.2),
                             gridspec_kw={"width_ratios": [1, 1, 1] if zoom else [1, 1]})
    axes[0].imshow(image)
    axes[0].set_xlim(limits[0], limits[2]), axes[0].set_ylim(limits[3], limits[1])
    axes[0].axis("off")
    _draw_points(axes[1], faded, points, groups, limits, 10)
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=9)
    zoomed = sorted(set(zoom or ()))
    if zoomed:
        zx0, zy0 = points[zoomed].min(0) - 0.06 * w
        zx1, zy1 = points[zoomed].max(0) + 0.06 * w
        side = max(zx1 - zx0, zy1 - zy0)  # a square view, so the enlarged face is not stretched
        cx, cy = (zx0 + zx1) / 2, (zy0 + zy1) / 2
        box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
        _draw_points(axes[2], faded, points, groups, box, 28)
        axes[2].set_title("nose base and lips, enlarged", fontsize=9)
        axes[1].add_patch(plt.Rectangle(box[:2], side, side, fill=False, ls="--", lw=0.8, color="#555555"))
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(-0.02, -0.01), ncol=3, frameon=False)
    fig.tight_layout()
    rest = [i for i in range(len(points)) if i not in zoomed]
    place_labels(axes[1], points[rest], [str(i) for i in rest], _subset(groups, rest))
    if zoomed:
        place_labels(axes[2], points[zoomed], [str(i) for i in zoomed], _subset(groups, zoomed),
                     fontsize=7.5, marker_radius=3.5)
    return save_figure(fig, save)


def _subset(groups: Mapping[str, range], kept: list[int]) -> dict[str, list[int]]:
    """``groups`` re-indexed into the list ``kept`` of point numbers."""
    where = {p: k for k, p in enumerate(kept)}
    subset = {name: [where[p] for p in idx if p in where] for name, idx in groups.items()}
    return {name: idx for name, idx in subset.items() if idx}
