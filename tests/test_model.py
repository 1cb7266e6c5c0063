"""The S2D forward pass: shapes, equivalence with timm's ViT, trainable groups, options."""
from __future__ import annotations

import pytest
import timm
import torch

import s2d_lib  # noqa: F401  (registers the models)
from s2d_lib.checkpoints import load_vit_backbone
from s2d_lib.model import S2D, set_trainable
from s2d_lib.cost import profile


def tiny(**kw) -> S2D:
    torch.manual_seed(0)
    return timm.create_model("s2d_tiny_patch8_64", **{"num_classes": 7, "num_frames": 4, **kw})


def zero_prompts_and_adapters(model: S2D) -> None:
    """Make every P and every A exactly zero (their last linear maps are zeroed)."""
    with torch.no_grad():
        for blk in model.prompt_blocks:
            for p in (blk.conv1x1.weight, blk.conv1x1.bias, blk.TMA.S_Adapter.D_fc2.weight,
                      blk.TMA.S_Adapter.D_fc2.bias):
                p.zero_()
        model.temporal_embedding.zero_()


def test_registry_lists_both_sizes():
    assert {"s2d_base_patch16_224", "s2d_tiny_patch8_64"} <= set(timm.list_models("s2d_*"))
    with pytest.raises(ValueError, match="pretrained_cfg_overlay=dict.file=PATH"):
        timm.create_model("s2d_tiny_patch8_64", pretrained=True)


def test_zeroed_prompters_reduce_to_timm_vit():
    """At the tiny size (the base model is the same code with other sizes): timm's ViT-Ti
    trimmed to S2D-tiny's input, patch and depth."""
    torch.manual_seed(0)
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, img_size=64,
                            patch_size=8, depth=4).eval()
    model = tiny(num_frames=2).eval()
    report = load_vit_backbone(model, vit)
    assert report.ok and report.loaded == 4 + 4 * 12 + 2
    zero_prompts_and_adapters(model)
    video = torch.randn(1, 3, 2, 64, 64)
    with torch.no_grad():
        ours = model.forward_features(video)[:, 0]
        ref = vit.forward_features(video[0].transpose(0, 1))[:, 0]
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)


def test_prompters_change_the_output():
    model = tiny().eval()
    video = torch.randn(1, 3, 4, 64, 64)
    with torch.no_grad():
        before = model(video)
        zero_prompts_and_adapters(model)
        after = model(video)
    assert not torch.allclose(before, after, atol=1e-4)


@pytest.mark.parametrize("t", [1, 16])
def test_tiny_shapes(t):
    model = tiny(num_frames=t).eval()
    logits, feat = model.forward_release(torch.randn(2, 3, t, 64, 64))
    assert logits.shape == (2, 7) and feat.shape == (2, 192)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("t", [1, 16])
def test_base_shapes_on_meta(t):
    with torch.device("meta"):
        model = timm.create_model("s2d_base_patch16_224", num_classes=7, num_frames=t)
        logits, feat = model.forward_release(torch.zeros(2, 3, t, 224, 224))
        lm = model.landmark_features(torch.zeros(2 * t, 3, 224, 224))
    assert logits.shape == (2, 7) and feat.shape == (2, 768)
    assert lm.shape == (2 * t, 128, 14, 14)


def test_given_landmark_features_are_used_instead_of_the_stream():
    model = tiny().eval()
    video = torch.randn(2, 3, 4, 64, 64)
    with torch.no_grad():
        feats = model.landmark_features(model.fold_frames(video))
        assert feats.shape == (8, 128, 8, 8)
        own = model(video)
        given = model(video, feats.view(2, 4, 128, 8, 8))
        other = model(video, torch.randn_like(feats))
    torch.testing.assert_close(own, given)
    assert not torch.allclose(own, other, atol=1e-4)


def test_frames_are_independent_for_static_model_but_not_with_tma():
    model = tiny(num_frames=4).eval()
    video = torch.randn(1, 3, 4, 64, 64)
    changed = video.clone()
    changed[:, :, 3] = torch.randn(3, 64, 64)
    with torch.no_grad():
        a = model.forward_features(video)[:3, 0]
        b = model.forward_features(changed)[:3, 0]
    # The T-Adapter mixes frames: changing frame 3 changes the class tokens of frames 0-2.
    assert not torch.allclose(a, b, atol=1e-5)


def test_dynamic_stage_counts_and_gradients():
    with torch.device("meta"):
        base = timm.create_model("s2d_base_patch16_224", num_classes=7, num_frames=16)
    unused_norm = 2 * 768  # the last prompt norm, never used by the forward pass
    assert set_trainable(base, "dynamic") == (9_258_451 - unused_norm, 95_055_571)
    assert set_trainable(base, "static") == (95_055_571 - 197 * 768 - unused_norm, 95_055_571)

    model = tiny()
    trainable, total = set_trainable(model, "dynamic")
    assert 0 < trainable < total
    logits, _ = model.forward_release(torch.randn(2, 3, 4, 64, 64))
    logits.sum().backward()
    unused = f"prompt_norms.{len(model.blocks) - 1}."  # as released: the last prompt norm is never used
    for name, p in model.named_parameters():
        if name.startswith(unused):
            assert not p.requires_grad and p.grad is None
        elif p.requires_grad:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        else:
            assert p.grad is None, name
            assert name.startswith(("patch_embed.", "cls_token", "pos_embed", "blocks.")), name
    assert all(not p.requires_grad for p in model.landmark_stream.parameters())
    with pytest.raises(ValueError):
        set_trainable(model, "video")


def test_gradient_checkpointing_gives_the_same_gradients():
    grads = []
    for enable in (False, True):
        model = tiny(drop_rate=0.0)
        set_trainable(model, "dynamic")
        model.set_grad_checkpointing(enable)
        torch.manual_seed(1)
        model(torch.randn(2, 3, 4, 64, 64)).square().sum().backward()
        grads.append(model.prompt_blocks[1].TMA.T_Adapter.attn.qkv.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


def test_bf16_autocast_on_cpu():
    model = tiny().eval()
    video = torch.randn(2, 3, 4, 64, 64)
    with torch.no_grad():
        ref = model(video)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(video)
    assert low.dtype == torch.bfloat16
    assert torch.isfinite(low).all()
    assert (low.float() - ref).abs().max() < 0.1


def test_wrong_inputs_are_named():
    model = tiny()
    with pytest.raises(ValueError, match="num_frames=4"):
        model(torch.randn(1, 3, 8, 64, 64))
    with pytest.raises(ValueError, match=r"\(B, 3, T, H, W\)"):
        model(torch.randn(1, 4, 64, 64))
    with pytest.raises(ValueError, match="patch grid"):
        S2D(img_size=64, patch_size=8, landmark_input_size=112)


def test_landmark_stream_follows_dtype_and_stays_frozen():
    model = tiny()
    model.train()
    assert not model.landmark_stream.training
    model.double()
    assert next(model.landmark_stream.parameters()).dtype == torch.float64
    assert not any(k.startswith("landmark") for k in model.state_dict())


def test_profile_base_flops_and_counts():
    with torch.device("meta"):  # counts and FLOPs need no weights
        base = timm.create_model("s2d_base_patch16_224", num_classes=7, num_frames=16)
    set_trainable(base, "dynamic")
    cost = profile(base)
    assert (cost.params_trainable, cost.params_total) == (9_256_915, 95_055_571)
    assert cost.gflops_model == pytest.approx(620, rel=0.02)
    assert cost.gflops_landmarks == pytest.approx(7, rel=0.02)
    assert cost.gflops_landmark_view < cost.gflops_landmarks


def test_single_frame_t_adapter_equals_attention_over_one_frame():
    """At T = 1 the T-Adapter skips the attention call: same output and gradients as running it."""
    from s2d_lib.adapters import TAdapter

    torch.manual_seed(0)
    adapter = TAdapter(32, 0.25, num_heads=4)
    x = torch.randn(6, 5, 32, requires_grad=True)
    general = adapter.D_fc2(adapter.from_sequences(
        adapter.attn(adapter.to_sequences(adapter.act(adapter.D_fc1(x)), 1)), 5))
    fast = adapter(x, 1)
    torch.testing.assert_close(fast, general, atol=1e-6, rtol=1e-5)
    g_general = torch.autograd.grad(general.square().sum(), [x, adapter.attn.qkv.weight])
    g_fast = torch.autograd.grad(fast.square().sum(), [x, adapter.attn.qkv.weight])
    for a, b in zip(g_fast, g_general):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def _tma_by_hand(tma, u: torch.Tensor, t: int, eps: float) -> torch.Tensor:
    """The TMA of the design note, written out: T-Adapter (attention over frames), LayerNorm
    with ``eps``, S-Adapter."""
    ta, sa = tma.T_Adapter, tma.S_Adapter
    gelu = torch.nn.functional.gelu
    bt, n, d = u.shape
    h = gelu(u @ ta.D_fc1.weight.T + ta.D_fc1.bias)                       # (B*T, N, C)
    c = h.shape[-1]
    seq = h.view(bt // t, t, n, c).transpose(1, 2).reshape(-1, t, c)     # (B*N, T, C)
    heads = ta.attn.num_heads
    q, k, v = (seq @ ta.attn.qkv.weight.T).view(len(seq), t, 3, heads, c // heads).unbind(2)
    w = torch.einsum("bihd,bjhd->bhij", q, k) / (c // heads) ** 0.5
    mixed = torch.einsum("bhij,bjhd->bihd", w.softmax(-1), v).reshape(len(seq), t, c)
    mixed = mixed @ ta.attn.proj.weight.T + ta.attn.proj.bias
    back = mixed.view(bt // t, n, t, c).transpose(1, 2).reshape(bt, n, c)
    y = back @ ta.D_fc2.weight.T + ta.D_fc2.bias
    mean, var = y.mean(-1, keepdim=True), y.var(-1, unbiased=False, keepdim=True)
    y = (y - mean) / torch.sqrt(var + eps) * tma.norm.weight + tma.norm.bias
    return gelu(y @ sa.D_fc1.weight.T + sa.D_fc1.bias) @ sa.D_fc2.weight.T + sa.D_fc2.bias


def test_tma_norm_uses_the_release_eps_at_initialisation():
    torch.manual_seed(0)
    model = timm.create_model("s2d_base_patch16_224", num_frames=4).eval()
    tma = model.prompt_blocks[3].TMA
    assert tma.norm.eps == 1e-5
    assert all(m.eps == 1e-6 for name, m in model.named_modules()
               if isinstance(m, torch.nn.LayerNorm) and not name.endswith("TMA.norm"))
    u = torch.randn(2 * 4, 196, 768)
    with torch.no_grad():
        out = tma(u, 4)
        right, wrong = _tma_by_hand(tma, u, 4, 1e-5), _tma_by_hand(tma, u, 4, 1e-6)
    # At initialisation the T-Adapter's output is tiny (std about 1e-2), so the eps is not
    # negligible against its variance: 1e-6 gives visibly different adapter outputs.
    torch.testing.assert_close(out, right, atol=1e-5, rtol=1e-4)
    assert (out - wrong).abs().max() > 100 * (out - right).abs().max()
