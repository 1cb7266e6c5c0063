"""s2d_lib.viz: every plot renders to PNG, and the numbers behind it are right (tiny model,
random weights, T = 4; one check at the paper's size with T = 2, in the slow tier)."""
from __future__ import annotations

import csv
import json

import matplotlib

matplotlib.use("Agg")  # tests draw to files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import timm  # noqa: E402
import torch  # noqa: E402
from pytorch_grad_cam import GradCAM  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

import s2d_lib  # noqa: E402,F401  (registers the S2D models)
from s2d_lib import viz  # noqa: E402
from s2d_course.synthetic.clips import plan_clip  # noqa: E402
from s2d_course.synthetic.face import sample_identity, sample_pose  # noqa: E402
from s2d_course.synthetic.render import render_face, sample_scene  # noqa: E402
from s2d_lib.data.transforms import normalize  # noqa: E402

T, SIDE, K = 4, 64, 7


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return timm.create_model("s2d_tiny_patch8_64", num_classes=K, num_frames=T).eval()


@pytest.fixture(scope="module")
def video() -> torch.Tensor:
    """One synthetic 'happiness' clip ``(1, 3, T, 64, 64)``, ImageNet-normalised."""
    rng = np.random.default_rng(0)
    idn, pose = sample_identity(rng), sample_pose(rng, 0.5)
    scene = sample_scene(rng, SIDE, occlusion=0.0, blur=0.0)
    plan = plan_clip(rng, "happiness", T, pose)
    frames = [np.asarray(render_face(idn, plan.aus(t), plan.poses[t], scene, SIDE)[0]) for t in range(T)]
    clip = normalize()(torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2))  # (T, 3, H, W)
    return clip.transpose(0, 1)[None]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def assert_png(path) -> None:
    image = plt.imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) > 50 and image.std() > 0, path


def colour_bars(fig) -> list:
    """The colour-bar axes of a figure."""
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def heat_maps_have_bars(fig) -> bool:
    """Every heat map is drawn with a perceptual colour map and the figure has a colour bar."""
    cmaps = {im.get_cmap().name for ax in fig.axes for im in ax.get_images() if im.get_array().ndim == 2}
    return bool(colour_bars(fig)) and "jet" not in cmaps


def no_hooks(model) -> bool:
    return not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_frame_images_undo_normalisation(video):
    frames = viz.frame_images(video)
    assert frames.shape == (T, SIDE, SIDE, 3) and frames.min() >= 0 and frames.max() <= 1
    again = normalize()(torch.from_numpy((frames * 255).round().astype(np.uint8)).permute(0, 3, 1, 2))
    assert torch.allclose(again.transpose(0, 1), video[0], atol=0.02)


def test_recorded_attention_reproduces_the_fused_output(model, video):
    """attn @ v, projected, must equal what timm's fused SDPA attention returned."""
    reference = model(video)
    io = {}
    handles = [b.attn.register_forward_hook(lambda m, a, o, i=i: io.__setitem__(i, (a[0], o)))
               for i, b in enumerate(model.blocks)]
    try:
        with torch.no_grad(), viz.AttentionRecorder([b.attn for b in model.blocks]) as rec:
            logits = model(video)
    finally:
        for h in handles:
            h.remove()
    assert model.blocks[0].attn.fused_attn  # the normal path stays fused
    torch.testing.assert_close(logits, reference, rtol=0, atol=0)
    for i, block in enumerate(model.blocks):
        attn, (x, out) = block.attn, io[i]
        a = rec.maps[i]
        assert a.shape == (T, attn.num_heads, 65, 65)
        torch.testing.assert_close(a.sum(-1), torch.ones(a.shape[:-1]), atol=1e-5, rtol=0)
        b, n, c = x.shape
        v = attn.qkv(x).reshape(b, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)[2]
        recomputed = attn.proj((a @ v).transpose(1, 2).reshape(b, n, c))
        torch.testing.assert_close(recomputed, out, atol=1e-5, rtol=0)
    assert no_hooks(model)


def test_attention_maps_rollout_and_plots(model, video, tmp_path):
    maps = viz.attention_maps(model, video)
    layers, heads = len(model.blocks), model.blocks[0].attn.num_heads
    assert maps.shape == (layers, T, heads, 65, 65)
    torch.testing.assert_close(maps.sum(-1), torch.ones(maps.shape[:-1]), atol=1e-5, rtol=0)
    cls = viz.cls_attention(maps)
    assert cls.shape == (layers, T, heads, 8, 8)
    torch.testing.assert_close(cls[1, 2, 0, 3, 5], maps[1, 2, 0, 0, 1 + 3 * 8 + 5])

    rollout = viz.attention_rollout(maps)
    assert rollout.shape == (T, 65, 65)
    torch.testing.assert_close(rollout.sum(-1), torch.ones(T, 65), atol=1e-5, rtol=0)
    # two layers by hand: (0.5 A2 + 0.5 I)(0.5 A1 + 0.5 I), heads averaged
    eye = torch.eye(65)
    a1, a2 = (0.5 * maps[j].mean(1) + 0.5 * eye for j in (0, 1))
    torch.testing.assert_close(viz.attention_rollout(maps[:2]), a2 @ a1, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="head_fusion"):
        viz.attention_rollout(maps, head_fusion="median")

    out = tmp_path / "a"  # a folder that does not exist yet: save= creates it
    figures = {"attention.png": viz.plot_attention(video, maps, layer=-1, head=1, save=out / "attention.png"),
               "heads.png": viz.plot_attention_heads(video, maps, frame=2, save=out / "heads.png"),
               "rollout.png": viz.plot_rollout(video, rollout, save=out / "rollout.png")}
    for name, fig in figures.items():
        assert isinstance(fig, matplotlib.figure.Figure)
        assert heat_maps_have_bars(fig), name
        assert_png(out / name)
    # one colour range for the clip: the bar reads in attention weights
    bar = colour_bars(figures["attention.png"])[0]
    shown = viz.cls_attention(maps[-1, :, 1])
    np.testing.assert_allclose(bar.get_ylim(), (shown.min(), shown.max()), rtol=0.05)
    assert model.training is False and no_hooks(model)
    # the face box, outlined on every overlay
    boxes = viz.face_boxes(viz.predict_landmarks(model, video)[0].clamp(0, 1))
    for fig, panels in ((viz.plot_attention(video, maps, boxes=boxes), T), (viz.plot_rollout(video, rollout, boxes=boxes), T),
                        (viz.plot_attention_heads(video, maps, frame=2, box=boxes[2]), layers * heads)):
        outlined = [ax for ax in fig.axes if any(isinstance(q, matplotlib.patches.Rectangle) and not q.get_fill()
                                                 for q in ax.patches)]
        assert len(outlined) == panels


def test_grad_cam_per_frame_maps(model, video, tmp_path):
    reference = model(video)
    g = model.grid_size
    tokens = torch.randn(T, 1 + g * g, 192)
    maps = viz.reshape_transform(tokens)
    assert maps.shape == (T, 192, g, g)
    torch.testing.assert_close(maps[:, :, 2, 5], tokens[:, 1 + 2 * g + 5])
    torch.testing.assert_close(viz.CAMModel(model)(model.fold_frames(video)), reference)
    assert viz.target_layer(model) is model.blocks[-1].norm1

    # One CAM per class (the clip repeated K times): with random weights a class may have no
    # positive evidence anywhere (an all-zero map); each frame's map is min-max scaled, so it
    # either reaches 1 or is 0 everywhere, and some class must have positive evidence.
    per_class = viz.clip_cams(model, video.expand(K, -1, -1, -1, -1), target_class=list(range(K)))
    peaks = per_class.reshape(K, T, -1).max(-1)
    assert np.all((peaks > 0.99) | (peaks == 0)), peaks
    assert peaks.max() > 0.99
    target = int(np.argmax(peaks.max(1)))

    model.train()
    cams = viz.clip_cams(model, video, target_class=target)
    assert model.training  # mode restored
    model.eval()
    assert cams.shape == (1, T, SIDE, SIDE)
    assert np.isfinite(cams).all() and cams.min() >= 0 and cams.max() <= 1 + 1e-6
    np.testing.assert_allclose(cams[0], per_class[target], atol=1e-5)  # batching changes nothing
    flags = [p.requires_grad for p in model.parameters()]
    assert all(p.grad is None for p in model.parameters())
    assert no_hooks(model)
    torch.testing.assert_close(model(video), reference, rtol=0, atol=0)
    # the shortened backward (gradient_from) gives grad-cam's own full-backward result
    with GradCAM(viz.CAMModel(model), [model.blocks[-1].norm1], viz.reshape_transform) as cam:
        full = cam(model.fold_frames(video), [ClassifierOutputTarget(target)])
    model.zero_grad(set_to_none=True)
    np.testing.assert_allclose(cams[0], full, atol=1e-6)
    assert [p.requires_grad for p in model.parameters()] == flags

    fig = viz.plot_cams(video, cams, class_name="happiness", save=tmp_path / "cam" / "gradcam.png")
    assert isinstance(fig, matplotlib.figure.Figure) and heat_maps_have_bars(fig)
    assert_png(tmp_path / "cam" / "gradcam.png")

    two = torch.cat([video, video.flip(2)])
    for method in viz.CAM_METHODS:
        c = viz.clip_cams(model, two, target_class=[1, 2], method=method)
        assert c.shape == (2, T, SIDE, SIDE) and np.isfinite(c).all(), method
        assert c.min() >= 0 and c.max() <= 1 + 1e-6, method
    with pytest.raises(ValueError, match="2 clips"):
        viz.clip_cams(model, two, target_class=[1])


def test_grad_cam_with_a_frozen_model(video):
    torch.manual_seed(1)
    frozen = timm.create_model("s2d_tiny_patch8_64", num_classes=K, num_frames=T).eval()
    trainable = viz.clip_cams(frozen, video.expand(K, -1, -1, -1, -1), target_class=list(range(K)))
    frozen.requires_grad_(False)
    cams = viz.clip_cams(frozen, video.expand(K, -1, -1, -1, -1), target_class=list(range(K)))
    assert not any(p.requires_grad for p in frozen.parameters())
    assert np.isfinite(cams).all() and cams.max() > 0.99
    np.testing.assert_allclose(cams, trainable, atol=1e-5)


def test_landmarks_and_landmark_view(model, video, tmp_path):
    pts = viz.predict_landmarks(model, video)
    assert pts.shape == (1, T, 68, 2) and torch.isfinite(pts).all()
    features = viz.landmark_feature_maps(model, video)
    assert features.shape == (1, T, 128, 8, 8)
    torch.testing.assert_close(features[0], model.landmark_features(model.fold_frames(video)))
    rgb = viz.feature_pca_rgb(features[0])
    assert rgb.shape == (T, 8, 8, 3) and rgb.min() >= 0 and rgb.max() <= 1
    assert np.allclose(rgb.reshape(-1, 3).max(0), 1) and np.allclose(rgb.reshape(-1, 3).min(0), 0)
    viz.plot_landmarks(video, pts.clamp(0, 1), save=tmp_path / "landmarks.png")
    boxes = viz.face_boxes(pts[0].clamp(0, 1))
    assert boxes.shape == (T, 4)
    viz.plot_landmarks(video, pts.clamp(0, 1), boxes=boxes, save=tmp_path / "landmarks_box.png")
    channels = viz.plot_feature_channels(features[0, 0], channels=9, save=tmp_path / "channels.png")
    # one colour range for all channels, and its colour bar
    assert heat_maps_have_bars(channels) and len(colour_bars(channels)) == 1
    assert len({ax.get_images()[0].get_clim() for ax in channels.axes if ax.get_images()}) == 1
    viz.plot_feature_pca(video, features, save=tmp_path / "pca.png")
    for name in ("landmarks.png", "landmarks_box.png", "channels.png", "pca.png"):
        assert_png(tmp_path / name)


def test_prompt_views_fovea_prompt_and_temporal_attention(model, video, tmp_path):
    reference = model(video)
    views = viz.prompt_views(model, video)
    layers, g = len(model.blocks), model.grid_size
    torch.testing.assert_close(views.logits, reference, rtol=0, atol=0)
    assert no_hooks(model)

    assert views.fovea.shape == (layers, T, 8, g, g)
    torch.testing.assert_close(views.fovea.sum((-1, -2)), torch.ones(layers, T, 8), atol=1e-5, rtol=0)
    # layer 0's prompt from its definition P = conv1x1(Fovea(conv0_0(x)) + conv0_1(a))
    with torch.no_grad():
        frames = model.fold_frames(video)
        x = model.prompt_norms[0](model.patch_embed(frames))
        a = model.prompt_norms[0](model.patch_embed_prompt(model.landmark_features(frames)))
        p0 = model.prompt_blocks[0].prompt(x, a)
    assert views.prompt_magnitude.shape == (layers, T, g, g)
    torch.testing.assert_close(views.prompt_magnitude[0], p0.norm(dim=-1).view(T, g, g))

    tma = views.temporal_attention
    heads = model.prompt_blocks[0].TMA.T_Adapter.attn.num_heads
    assert tma.shape == (layers, 1, heads, T, T)
    torch.testing.assert_close(tma.sum(-1), torch.ones(tma.shape[:-1]), atol=1e-5, rtol=0)

    prompts = viz.plot_prompts(video, views, frame=1, save=tmp_path / "prompts.png")
    assert heat_maps_have_bars(prompts) and len(colour_bars(prompts)) == 2  # one per row
    fig = viz.plot_temporal_attention(views, save=tmp_path / "tma.png")
    viz.plot_temporal_attention(views, head=heads - 1, save=tmp_path / "tma_head.png")
    for name in ("prompts.png", "tma.png", "tma_head.png"):
        assert_png(tmp_path / name)
    # row entropies per (layer, clip, head): each row's entropy, averaged over positions and rows
    assert views.temporal_entropy.shape == (layers, 1, heads)
    with torch.no_grad(), viz.AttentionRecorder([p.TMA.T_Adapter.attn for p in model.prompt_blocks]) as rec:
        model(video)
    rows = viz.attention_entropy(rec.stacked()).mean(1)  # (L, heads): one clip, mean over positions
    torch.testing.assert_close(views.temporal_entropy[:, 0], rows)
    # averaging rows over positions can only make them more even
    assert (viz.attention_entropy(tma[:, 0]) >= views.temporal_entropy[:, 0] - 1e-5).all()
    uniform, one_hot = torch.full((T, T), 1 / T), torch.eye(T)
    torch.testing.assert_close(viz.attention_entropy(torch.stack([uniform, one_hot])), torch.tensor([1.0, 0.0]))

    # the static model (T = 1): each frame attends only to itself
    torch.manual_seed(0)
    static = timm.create_model("s2d_tiny_patch8_64", num_classes=K, num_frames=1).eval()
    one = viz.prompt_views(static, video[:, :, :1])
    assert one.fovea.shape == (layers, 1, 8, g, g)
    assert torch.equal(one.temporal_attention, torch.ones(layers, 1, heads, 1, 1))


def test_temporal_attention_is_read_as_entropy_bars(model, video):
    views = viz.prompt_views(model, video)
    layers, heads = views.temporal_entropy.shape[0], views.temporal_entropy.shape[-1]
    entropy = viz.tma_entropy(views)
    torch.testing.assert_close(entropy, views.temporal_entropy[:, 0].mean(1))
    torch.testing.assert_close(viz.tma_entropy(views, head=1), views.temporal_entropy[:, 0, 1])
    fig = viz.plot_temporal_attention(views)
    ax = fig.axes[0]
    bars = [p for p in ax.patches if p.get_width() < 1]
    np.testing.assert_allclose([b.get_height() for b in bars], entropy.numpy(), rtol=1e-6)
    assert [t.get_text() for t in ax.texts] == [f"{float(v):.4f}" for v in entropy]  # each bar's value
    uniform = [line for line in ax.get_lines() if line.get_label().startswith("uniform")]
    assert len(uniform) == 1 and tuple(uniform[0].get_ydata()) == (1.0, 1.0)  # the uniform level
    assert sum(len(c.get_offsets()) for c in ax.collections) == layers * heads  # one dot per head
    assert not ax.get_images() and "entropy" in ax.get_ylabel()  # bars, not blank T x T squares
    # built by hand without row entropies: the entropy of the position-averaged map
    bare = viz.PromptViews(views.fovea, views.prompt_magnitude, views.temporal_attention, views.logits)
    torch.testing.assert_close(viz.tma_entropy(bare), viz.attention_entropy(views.temporal_attention[:, 0].mean(1)))
    assert len(viz.plot_temporal_attention(bare).axes[0].patches) == layers


def test_face_boxes_and_the_mass_inside():
    points = torch.tensor([[[0.2, 0.4], [0.6, 0.9], [0.4, 0.6]]])  # (T=1, 3 points, 2)
    np.testing.assert_allclose(viz.face_boxes(points, forehead=0.0), [[0.2, 0.4, 0.6, 0.9]])
    # the forehead: a fifth of the width (0.4) above the top point
    np.testing.assert_allclose(viz.face_boxes(points), [[0.2, 0.32, 0.6, 0.9]], atol=1e-6)
    np.testing.assert_allclose(viz.face_boxes(points, forehead=0.0, margin=1.0), [[0.0, 0.0, 1.0, 1.0]])
    box = np.array([0.0, 0.0, 0.5, 0.5])
    mask = viz.box_masks(box, (4, 4))
    assert mask.sum() == 4 and mask[:2, :2].all()
    maps = np.zeros((2, 4, 4))
    maps[0, 0, 0] = 1.0  # all mass in the box
    maps[1] = 1.0        # spread evenly: the box's share of the frame
    np.testing.assert_allclose(viz.mass_in_box(maps, np.stack([box, box])), [1.0, 0.25])
    # resized to the frame first: an even map stays even
    np.testing.assert_allclose(viz.mass_in_box(np.ones((2, 2)), box, size=(8, 8)), 0.25)
    with pytest.raises(ValueError, match="non-negative"):
        viz.mass_in_box(-maps, box)


def test_timeline_confusion_tsne(model, video, tmp_path):
    logits = viz.frame_logits(model, video)
    assert logits.shape == (1, T, K)
    torch.testing.assert_close(logits.mean(1), model(video), atol=1e-5, rtol=1e-5)
    names = [f"c{k}" for k in range(K)]
    fig = viz.plot_timeline(video, logits.softmax(-1), names, save=tmp_path / "timeline.png")
    assert isinstance(fig, matplotlib.figure.Figure)
    assert_png(tmp_path / "timeline.png")

    y_true, y_pred = [0, 0, 0, 1, 1, 2, 3, 4, 5, 6], [0, 0, 1, 1, 1, 2, 3, 4, 5, 0]
    fig = viz.plot_confusion(y_true, y_pred, names, save=tmp_path / "confusion.png")
    shown = np.asarray(fig.axes[0].collections[0].get_array()).reshape(K, K)
    np.testing.assert_allclose(shown.sum(1), 1)
    assert shown[0, 0] == pytest.approx(2 / 3) and shown[6, 0] == 1
    cells = [t.get_text() for t in fig.axes[0].texts]  # row by row: count and row fraction
    assert cells[0] == "2\n0.67" and cells[1] == "1\n0.33" and cells[2] == "0" and cells[6 * K] == "1\n1.00"
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()][:2] == ["c0 (n=3)", "c1 (n=2)"]
    assert "10 items" in fig.axes[0].get_title()
    assert_png(tmp_path / "confusion.png")

    clips = torch.cat([video, video.flip(2), video.flip(-1)])
    labels = torch.tensor([0, 1, 2])
    out = viz.clip_features(model, [(clips[i:i + 1], labels[i:i + 1]) for i in range(3)])
    assert out.features.shape == (3, 192) and (out.labels == labels.numpy()).all()
    logits, feature = model.forward_release(clips[1:2])
    np.testing.assert_allclose(out.features[1], feature[0].detach().numpy(), atol=1e-5)
    assert out.predictions[1] == logits.argmax()
    # test-mode views (B, V, 3, T, H, W) are averaged per clip
    views = viz.clip_features(model, [(clips[None, :2], labels[:1])])
    np.testing.assert_allclose(views.features[0], out.features[:2].mean(0), atol=1e-5)

    rng = np.random.default_rng(0)  # three separated classes of 8 clips each
    features = np.repeat(np.eye(3, 16) * 20, 8, axis=0) + rng.normal(size=(24, 16))
    classes = np.repeat(np.arange(3), 8)
    xy = viz.tsne_embedding(features)
    assert xy.shape == (24, 2) and np.isfinite(xy).all()
    centres = np.stack([xy[classes == c].mean(0) for c in range(3)])
    spread = max(np.linalg.norm(xy[classes == c] - centres[c], axis=1).mean() for c in range(3))
    assert min(np.linalg.norm(centres[i] - centres[j]) for i, j in ((0, 1), (0, 2), (1, 2))) > 2 * spread
    fig = viz.plot_tsne(features, classes, names[:3], save=tmp_path / "tsne.png")
    assert isinstance(fig, matplotlib.figure.Figure)
    assert_png(tmp_path / "tsne.png")


def test_training_curves_show_the_warm_up_and_the_selected_epoch(tmp_path):
    history = [dict(epoch=e, train_loss=1.0, lr=1e-3, val_war=0.5, val_uar=u)
               for e, u in ((1, 0.3), (2, 0.6), (3, 0.5))]
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps(history))
    (run / "config.yaml").write_text("warmup_epochs: 1.5\n")
    fig = viz.plot_training_curves(run)
    for ax in fig.axes:  # the warm-up shaded on every panel, from epoch 0
        spans = [p for p in ax.patches if p.get_x() == 0]
        assert len(spans) == 1 and spans[0].get_width() == 1.5
        assert ax.get_ylabel() and ax.get_xlabel() == "epoch"
    lr = fig.axes[2].get_lines()[0]
    assert list(lr.get_xdata()) == [0, 1, 2, 3] and lr.get_ydata()[0] == 0  # the ramp from 0
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert "best val UAR: epoch 2" in labels
    assert [t.get_text() for t in fig.axes[2].get_legend().get_texts()][-1] == "warm-up (1.5 epochs)"
    without = viz.plot_training_curves(history)  # rows alone: no config, no warm-up shading
    assert not without.axes[2].patches and list(without.axes[2].get_lines()[0].get_xdata()) == [1, 2, 3]


def test_training_curves_from_a_run_folder(tmp_path):
    history = [dict(epoch=e, train_loss=2.0 / e, train_ce=2.0 / e, train_easdl=0.0, easdl_weight=0.0,
                    lr=1e-3 / e, val_war=0.1 * e, val_uar=0.09 * e, val_loss=2.1 / e, seconds=1.0)
               for e in (1, 2, 3)]
    run = tmp_path / "runs" / "static_tiny_RAF-DB"
    run.mkdir(parents=True)
    with open(run / "metrics.csv", "w", newline="") as f:  # as s2d_lib.train writes it
        writer = csv.DictWriter(f, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    assert viz.load_metrics(run) == history
    (run / "metrics.json").write_text(json.dumps(history))
    assert viz.load_metrics(run / "metrics.json") == history
    fig = viz.plot_training_curves(run, save=tmp_path / "curves.png")
    loss_lines = {line.get_label(): line.get_ydata() for line in fig.axes[0].get_lines()
                  if not line.get_label().startswith("_")}
    assert set(loss_lines) == {"train_loss", "train_ce", "val_loss"}  # the all-zero EASDL loss is left out
    # with EASDL on, the curve is the weighted term that the total loss contains
    ramp = [dict(row, train_easdl=0.5, easdl_weight=0.1 * row["epoch"]) for row in history]
    lines = {line.get_label(): line.get_ydata() for line in viz.plot_training_curves(ramp).axes[0].get_lines()
             if not line.get_label().startswith("_")}
    np.testing.assert_allclose(lines["easdl_weight x train_easdl"], [0.05, 0.1, 0.15])
    old = [{k: v for k, v in row.items() if k != "easdl_weight"} for row in ramp]
    lines = {line.get_label() for line in viz.plot_training_curves(old).axes[0].get_lines()}
    assert "train_easdl (unweighted)" in lines
    np.testing.assert_allclose(fig.axes[1].get_lines()[0].get_ydata(), [10, 20, 30])
    assert_png(tmp_path / "curves.png")
    with pytest.raises(FileNotFoundError, match="metrics"):
        viz.load_metrics(tmp_path / "nowhere")


def test_explorer_redraws_in_place(model, video):
    clips = torch.cat([video, video.flip(2)])
    explorer = viz.Explorer(model, clips, class_names=[f"c{k}" for k in range(K)])

    def pixels() -> np.ndarray:
        explorer.figure.canvas.draw()
        return np.asarray(explorer.figure.canvas.buffer_rgba()).copy()

    figure, before, count = explorer.figure, pixels(), explorer.redraws
    explorer.frame.value = 2
    assert explorer.redraws == count + 1 and explorer.figure is figure
    after = pixels()
    assert (after != before).any()
    heads = {"attention": model.blocks[0].attn.num_heads,
             "temporal attention": model.prompt_blocks[0].TMA.T_Adapter.attn.num_heads}
    for method in viz.explorer.METHODS[1:] + viz.explorer.METHODS[:1]:
        count = explorer.redraws
        explorer.method.value = method
        assert explorer.redraws == count + 1, method  # one redraw, also when the head choices change
        assert len(explorer.head.options) == 1 + heads.get(method, 0)
        current = pixels()
        assert (current != after).any(), method
        after = current
    explorer.head.value = 1
    explorer.clip.value = 1
    explorer.layer.value = 0
    assert set(explorer._cache) == {0, 1} and (pixels() != after).any()
    assert no_hooks(model)


@pytest.mark.slow  # the base model built and run with hooks and a backward pass
def test_base_size_attention_and_grad_cam():
    torch.manual_seed(0)
    base = timm.create_model("s2d_base_patch16_224", num_classes=K, num_frames=2).eval()
    clip = torch.randn(1, 3, 2, 224, 224)
    maps = viz.attention_maps(base, clip)
    assert maps.shape == (12, 2, 12, 197, 197)
    torch.testing.assert_close(maps.sum(-1), torch.ones(12, 2, 12, 197), atol=1e-4, rtol=0)
    assert viz.cls_attention(maps).shape == (12, 2, 12, 14, 14)
    assert viz.attention_rollout(maps).shape == (2, 197, 197)
    cams = viz.clip_cams(base, clip)
    assert cams.shape == (1, 2, 224, 224) and np.isfinite(cams).all()
    assert cams.min() >= 0 and cams.max() <= 1 + 1e-6
    assert no_hooks(base)


def test_architecture_figure_draws_saves_and_no_text_overlaps(tmp_path):
    fig = viz.plot_architecture(save=tmp_path / "arch" / "s2d_architecture.png")
    assert (tmp_path / "arch" / "s2d_architecture.png").stat().st_size > 50_000
    ax = fig.axes[0]
    words = " ".join(t.get_text() for t in ax.texts)
    for part in ("patch embedding", "MobileFaceNet (frozen)", "landmark tokens", "Fovea", "T-Adapter",
                 "LayerNorm", "S-Adapter", "ViT block", "I3D head", "anchor", "soft label", "EASDL"):
        assert part in words, part
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == list(viz.STAGE_COLOURS)
    # every label is readable: inside the figure and clear of every other label
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts + ax.get_legend().get_texts()
             if t.get_text().strip()]
    frame = fig.bbox
    assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1
               for b in boxes)
    overlaps = [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes))
                if boxes[i].shrunk(0.98, 0.9).overlaps(boxes[j].shrunk(0.98, 0.9))]
    assert not overlaps, [(ax.texts[i].get_text(), ax.texts[j].get_text()) for i, j in overlaps
                          if j < len(ax.texts)]


def test_training_summary_reads_the_curves(tmp_path):
    rows = [dict(epoch=e, train_loss=l, val_uar=u) for e, l, u in ((1, 2.0, 0.3), (2, 1.0, 0.7), (3, 0.8, 0.65))]
    (tmp_path / "metrics.json").write_text(json.dumps(rows))
    (tmp_path / "config.yaml").write_text("warmup_epochs: 1\n")
    assert viz.training_summary(tmp_path) == (
        "3 epochs, warm-up 1 epoch; best validation UAR 70.0 % at epoch 2 (the checkpoint kept), "
        "65.0 % at the last; training loss 2.00 -> 0.80")


def test_confusion_summary_names_the_weakest_class_and_the_commonest_confusion():
    names = ["a", "b", "c"]
    text = viz.confusion_summary([0, 0, 0, 0, 1, 1, 2, 2], [0, 0, 0, 1, 2, 2, 2, 2], names)
    assert text == ("8 items; recall lowest for b 0 % (n=2), highest for c 100 % (n=2); "
                    "the most frequent confusion: b taken for c, 2 of 2")
    assert viz.confusion_summary([0, 1], [0, 1], names).endswith("no confusion")
    with pytest.raises(ValueError):
        viz.confusion_summary([], [], names)


def test_trainable_summary_counts_what_a_stage_trains():
    text = viz.trainable_summary("s2d_base_patch16_224", "dynamic", num_frames=16)
    assert text.startswith("s2d_base_patch16_224, dynamic stage, T=16: 9,256,915 of 95,055,571 parameters")
    assert "(9.26 M of 95.06 M, 9.7 %)" in text


def test_an_image_run_is_read_by_the_metric_that_picked_its_checkpoint(tmp_path):
    rows = [dict(epoch=e, train_loss=1.0, val_war=w, val_uar=u) for e, w, u in ((1, 0.9, 0.5), (2, 0.8, 0.7))]
    (tmp_path / "metrics.json").write_text(json.dumps(rows))
    (tmp_path / "results.json").write_text(json.dumps({"best_val_war": 0.9}))
    assert viz.selected_metric(tmp_path) == "war"
    assert "best validation WAR 90.0 % at epoch 1" in viz.training_summary(tmp_path)
    labels = [t.get_text() for t in viz.plot_training_curves(tmp_path).axes[1].get_legend().get_texts()]
    assert "best val WAR: epoch 1" in labels
