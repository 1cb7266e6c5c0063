"""s2d_lib.viz figures that need no model: the numbered 68-point landmark scheme (no number on
another number or on another point; the whole face in view) and comparison bar charts (error
bars, test sizes, what the bars mean)."""
from __future__ import annotations

import logging

import matplotlib

matplotlib.use("Agg")  # tests draw to files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from s2d_lib import viz  # noqa: E402
from s2d_course.synthetic import face, render  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def surprised_face(pose: face.Pose):
    rng = np.random.default_rng(0)
    identity = face.sample_identity(rng)
    scene = render.sample_scene(rng, 224, occlusion=0.0, blur=0.0)
    return render.render_face(identity, face.expression_aus({"surprise": 1.0}), pose, scene, 224)


def label_boxes(ax, renderer) -> dict[str, object]:
    """Each number's text box (without the leader line an annotation's own extent includes)."""
    return {t.get_text(): Text.get_window_extent(t, renderer) for t in ax.texts}


def test_landmarks_68_numbers_do_not_overlap_and_the_face_is_in_view(tmp_path, caplog):
    # the framing notebook 00 uses: the open-mouthed face fits the image
    image, points = surprised_face(face.Pose(scale=0.7, shift=(0.0, -0.08)))
    with caplog.at_level(logging.WARNING, logger="s2d_lib"):
        fig = viz.plot_landmarks_68(image, points, save=tmp_path / "landmarks_68.png")
    assert not caplog.records and (tmp_path / "landmarks_68.png").stat().st_size > 20_000
    full, zoom = fig.axes[1], fig.axes[2]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    numbered = sorted(int(t.get_text()) for ax in (full, zoom) for t in ax.texts)
    assert numbered == list(range(68))  # every point numbered once
    assert sorted(int(t.get_text()) for t in zoom.texts) == sorted(viz.face_landmarks.ZOOM_POINTS)
    for ax in (full, zoom):
        boxes = label_boxes(ax, renderer)
        names = list(boxes)
        clashes = [(a, b) for i, a in enumerate(names) for b in names[i + 1:] if boxes[a].overlaps(boxes[b])]
        assert not clashes, clashes
        frame = ax.get_window_extent(renderer)
        assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1
                   for b in boxes.values())
        dots = ax.transData.transform(points)
        x0, x1 = sorted(ax.get_xlim())
        y0, y1 = sorted(ax.get_ylim())
        visible = (points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1)
        on_a_dot = [(name, j) for name, b in boxes.items() for j in np.flatnonzero(visible)
                    if b.contains(*dots[j]) and int(name) != j]
        assert not on_a_dot, on_a_dot
    h, w = np.asarray(image).shape[:2]
    assert full.get_xlim() == (0, w) and full.get_ylim() == (h, 0)  # nothing outside the image


def test_landmarks_68_outside_the_image_are_shown_and_named(caplog):
    image, points = surprised_face(face.Pose(scale=0.8))
    assert points[:, 1].max() > 224  # the chin leaves the frame at this scale
    with caplog.at_level(logging.WARNING, logger="s2d_lib"):
        fig = viz.plot_landmarks_68(image, points, zoom=None)
    assert "fall outside the 224x224 image" in caplog.text
    assert len(fig.axes) == 2 and max(fig.axes[1].get_ylim()) > points[:, 1].max()
    with pytest.raises(ValueError, match="68"):
        viz.plot_landmarks_68(image, points[:60])


def test_proportion_interval_is_wilson():
    low, high = viz.proportion_interval(0.5, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    low, high = viz.proportion_interval(50 / 70, 70)
    assert low < 50 / 70 < high and 0.18 < high - low < 0.23  # about +-11 points on 70 clips
    with pytest.raises(ValueError, match="n must be positive"):
        viz.proportion_interval(0.5, 0)


def test_comparison_bars_carry_error_bars_and_test_sizes(tmp_path):
    values = {"UAR": [70.0, 71.4], "WAR": [72.9, 74.3]}
    intervals = {k: [tuple(100 * x for x in viz.proportion_interval(v / 100, 70)) for v in row]
                 for k, row in values.items()}
    fig = viz.plot_comparison(["frame average", "S2D"], values, intervals, n=70, chance=14.3,
                              error_label="95% Wilson interval", save=tmp_path / "cmp.png")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["frame average\n(n=70)", "S2D\n(n=70)"]
    assert "error bars: 95% Wilson interval" in ax.get_title()
    heights = sorted(p.get_height() for p in ax.patches)
    assert heights == sorted(values["UAR"] + values["WAR"])
    # each error bar spans its interval
    segments = [seg for c in ax.collections for seg in c.get_segments()]
    spans = sorted((round(s[0][1], 3), round(s[1][1], 3)) for s in segments)
    expected = sorted((round(lo, 3), round(hi, 3)) for row in intervals.values() for lo, hi in row)
    assert spans == expected
    assert (tmp_path / "cmp.png").stat().st_size > 5_000
    # one metric, symmetric errors (a std over seeds), one n per arm
    fig = viz.plot_comparison(["a", "b", "c"], [50.0, 60.0, 55.0], [2.0, 3.0, 1.0], n=[10, 20, 30],
                              error_label="± std over 3 seeds")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()][2] == "c\n(n=30)"


@pytest.mark.parametrize("kwargs, message", [
    ({"errors": None}, "needs its error bars"),
    ({"errors": [1.0]}, "1 entries for 2 names"),
    ({"n": [10]}, "1 test sizes for 2 names"),
    ({"errors": [(60.0, 70.0), 1.0]}, "does not contain its value"),
])
def test_comparison_refuses_incomplete_input(kwargs, message):
    args = {"names": ["a", "b"], "values": [50.0, 60.0], "errors": [1.0, 1.0], "n": 10} | kwargs
    with pytest.raises(ValueError, match=message):
        viz.plot_comparison(**args)
