"""Released checkpoints (names/shapes from the reference JSON) and the project's own files.

The base model is built a few times only (module fixtures): every load here replaces all of its
weights, and the tests that need the initial weights reset it to them first."""
from __future__ import annotations

import shutil

import pytest
import timm
import torch
from safetensors.torch import load_file

import s2d_lib  # noqa: F401
from s2d_lib.build import build_model
from s2d_lib.checkpoints import (CheckpointError, checkpoint_filter_fn, checkpoint_metadata, inflate,
                                 landmark_stream_by_reference, load_checkpoint,
                                 load_landmark_weights, load_released, read_header,
                                 read_state_dict, save_checkpoint, split_landmark_stream,
                                 with_landmark_stream)
from s2d_lib.checkpoints import tensors as tensors_module
from s2d_lib.config import load_config
from s2d_lib.landmarks import MobileFaceNet

from conftest import random_state_dict


@pytest.fixture(scope="module")
def base16_and_init():
    """The 16-frame, 7-class base model (seed 0) and a copy of its initial weights."""
    torch.manual_seed(0)
    model = timm.create_model("s2d_base_patch16_224", num_classes=7, num_frames=16)
    return model, {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def base16(base16_and_init):
    return base16_and_init[0]


@pytest.fixture
def fresh16(base16_and_init):
    """``base16`` reset to its initial weights: what ``timm.create_model`` returns after
    ``torch.manual_seed(0)``."""
    model, init = base16_and_init
    model.load_state_dict(init)
    return model


@pytest.fixture(scope="module")
def released(released_shapes):
    """``released(entry)``: random tensors in the names and shapes of a released file, made once
    per entry; every call returns a new dict (tests add, drop and rename keys) of the same
    tensors, which nothing changes in place."""
    made: dict[str, dict] = {}

    def state_dict(entry: str) -> dict:
        if entry not in made:
            made[entry] = random_state_dict(released_shapes[entry])
        return dict(made[entry])

    return state_dict


@pytest.fixture(scope="module")
def base1():
    return timm.create_model("s2d_base_patch16_224", num_classes=7, num_frames=1)


@pytest.mark.parametrize("entry", ["s2d_base_patch16_224_T16", "s2d_base_patch16_224_T1"])
def test_released_names_load_exactly(released, entry, tmp_path, request):
    model = request.getfixturevalue("base16" if entry.endswith("T16") else "base1")
    sd = released(entry)
    path = tmp_path / "released.pth"
    torch.save({"model": sd, "epoch": 99}, path)
    report = load_released(model, path)
    assert report.ok and not report.missing and not report.unexpected and not report.mismatched
    assert report.loaded == len(sd)
    torch.testing.assert_close(model.state_dict()["blocks.3.attn.qkv.weight"],
                               sd["blocks.3.attn.qkv.weight"])


def test_released_file_loads_the_timm_way(released, base16, tmp_path):
    sd = released("s2d_base_patch16_224_T16")
    sd["norm.weight"] = sd.pop("ln_post.weight")  # the filter's conversions apply on this path too
    sd["norm.bias"] = sd.pop("ln_post.bias")
    path = tmp_path / "DFEW-fold1.pth"
    torch.save({"model": {f"module.{k}": v for k, v in sd.items()}}, path)
    model = timm.create_model("s2d_base_patch16_224", pretrained=True,
                              pretrained_cfg_overlay=dict(file=str(path)))
    assert model.num_frames == 16 and model.num_classes == 7
    torch.testing.assert_close(model.state_dict()["blocks.3.attn.qkv.weight"],
                               sd["blocks.3.attn.qkv.weight"])
    torch.testing.assert_close(model.ln_post.weight.detach(), sd["norm.weight"])
    load_released(base16, path)  # the defaults: 7 classes, 16 frames
    for key, value in base16.state_dict().items():
        assert torch.equal(value, model.state_dict()[key]), key


def test_static_checkpoint_conversions_into_video_model(released, base16):
    sd = released("s2d_base_patch16_224_T1")
    sd["norm.weight"] = sd.pop("ln_post.weight")
    sd["norm.bias"] = sd.pop("ln_post.bias")
    sd["landmark_model.conv1.conv.weight"] = torch.zeros(64, 3, 3, 3)
    report = load_released(base16, {"model_state_dict": sd})
    assert report.dropped == ["landmark_model.conv1.conv.weight"]
    assert any("norm.weight -> ln_post.weight" in c for c in report.conversions)
    assert any("T=1 repeated to T=16" in c for c in report.conversions)
    te = base16.temporal_embedding.detach()
    torch.testing.assert_close(te, sd["temporal_embedding"].expand(1, 16, 768))
    torch.testing.assert_close(base16.ln_post.weight.detach(), sd["norm.weight"])


def test_other_class_count_reinitialises_head_with_a_message(released):
    model = timm.create_model("s2d_base_patch16_224", num_classes=11, num_frames=16)
    before = model.head.fc_cls.weight.detach().clone()
    sd = released("s2d_base_patch16_224_T16")
    with pytest.warns(UserWarning, match="7 classes, model has 11"):
        report = load_released(model, sd)
    assert len(report.reinitialised) == 2
    torch.testing.assert_close(model.head.fc_cls.weight.detach(), before)


def test_anything_else_is_an_error_not_a_partial_load(released, base16):
    sd = released("s2d_base_patch16_224_T16")
    before = base16.state_dict()["blocks.0.mlp.fc1.weight"].clone()
    bad = dict(sd)
    bad["extra.weight"] = torch.zeros(3)
    del bad["blocks.11.norm2.bias"]
    bad["blocks.0.attn.proj.weight"] = torch.zeros(768, 767)
    with pytest.raises(CheckpointError) as err:
        load_released(base16, bad)
    text = str(err.value)
    assert "missing (1): blocks.11.norm2.bias" in text
    assert "unexpected (1): extra.weight" in text
    assert "blocks.0.attn.proj.weight" in text
    torch.testing.assert_close(base16.state_dict()["blocks.0.mlp.fc1.weight"], before)


def test_unreadable_files_are_named(tmp_path, base16):
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_released(base16, tmp_path / "absent.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth"):
        load_released(base16, junk)


def test_released_landmark_network_loads(released_shapes, base1, tmp_path):
    sd = random_state_dict(released_shapes["mobilefacenet_112_136"], seed=2)
    torch.save({"state_dict": sd}, tmp_path / "mobilefacenet.pth")
    model = base1
    report = load_landmark_weights(model, tmp_path / "mobilefacenet.pth")
    assert report.ok and report.loaded == len(sd)
    torch.testing.assert_close(model.landmark_stream.net.conv1.conv.weight, sd["conv1.conv.weight"])
    net = MobileFaceNet()
    assert load_landmark_weights(net, sd).loaded == len(sd)
    pts, feat = net.eval()(torch.randn(2, 3, 112, 112))
    assert pts.shape == (2, 136) and feat.shape == (2, 128, 14, 14)


def test_own_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = timm.create_model("s2d_tiny_patch8_64", num_classes=5, num_frames=2).eval()
    with torch.no_grad():
        model.landmark_stream.net.conv1.bn.running_mean.add_(0.3)
    path = save_checkpoint(model, tmp_path / "ckpt", metadata={"epoch": 3})
    assert path.suffix == ".safetensors" and path.with_suffix(".json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.json", "ckpt.safetensors"]
    loaded = load_checkpoint(path).eval()
    assert checkpoint_metadata(path) == {"epoch": 3} and loaded.num_classes == 5
    assert not hasattr(loaded, "checkpoint_metadata")  # metadata is read, not pinned on the model
    video = torch.randn(1, 3, 2, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(video), model(video))


def test_own_checkpoint_is_one_file_the_json_is_for_the_eye(tmp_path):
    model = timm.create_model("s2d_tiny_patch8_64", num_frames=1)
    path = save_checkpoint(model, tmp_path / "m.safetensors", {"stage": "static"})
    path.with_suffix(".json").unlink()
    assert checkpoint_metadata(path) == {"stage": "static"}
    assert load_checkpoint(path).num_frames == 1


def test_the_filter_drops_a_landmark_module_by_its_prefix_only(released, base16):
    sd = released("s2d_base_patch16_224_T16")
    sd["landmark_model.conv1.conv.weight"] = torch.zeros(64, 3, 3, 3)  # a module of its own
    sd["blocks.0.landmark_gate"] = torch.zeros(1)  # a name that merely contains the word
    converted = checkpoint_filter_fn(sd, base16)
    assert "landmark_model.conv1.conv.weight" not in converted
    assert "blocks.0.landmark_gate" in converted
    with pytest.raises(CheckpointError, match="unexpected \\(1\\): blocks.0.landmark_gate"):
        load_released(base16, sd)


def test_a_run_reads_its_starting_file_once_and_its_facts_from_the_header(tmp_path, monkeypatch):
    torch.manual_seed(0)
    static = timm.create_model("s2d_tiny_patch8_64", num_classes=7, num_frames=1)
    with torch.no_grad():
        static.landmark_stream.net.conv1.bn.running_mean.add_(0.3)
    path = save_checkpoint(static, tmp_path / "static.safetensors", {"dataset": "RAF-DB"})
    reads = []
    real = tensors_module._read_safetensors
    monkeypatch.setattr(tensors_module, "_read_safetensors", lambda p: reads.append(p) or real(p))
    cfg = load_config("dfer_tiny", dict(init=str(path), landmark_weights=None, num_frames=2,
                                        dataset="DFEW"))
    model = build_model(cfg)
    assert reads == [path]
    assert torch.equal(model.landmark_stream.net.conv1.bn.running_mean,
                       static.landmark_stream.net.conv1.bn.running_mean)
    rafdb_row_of_dfew_class = [3, 4, 6, 5, 0, 2, 1]  # the header's dataset re-orders the classifier
    assert torch.equal(model.head.fc_cls.weight, static.head.fc_cls.weight[rafdb_row_of_dfew_class])


def test_a_checkpoint_can_name_its_landmark_network_instead_of_holding_it(tmp_path):
    """The shipped checkpoints' layout: the S2D file names the landmark network's file (path,
    SHA-256); reading it joins the same tensors back, a missing or changed file is named."""
    torch.manual_seed(0)
    model = timm.create_model("s2d_tiny_patch8_64", num_classes=5, num_frames=2).eval()
    with torch.no_grad():
        model.landmark_stream.net.conv1.bn.running_mean.add_(0.3)
    full = save_checkpoint(model, tmp_path / "full")
    landmarks = save_checkpoint(model.landmark_stream.net, tmp_path / "landmarks" / "net")
    run = tmp_path / "run"
    run.mkdir()
    slim = landmark_stream_by_reference(read_state_dict(full)[0], landmarks, run / "best.safetensors",
                                        read_header(full))
    assert not split_landmark_stream(load_file(str(slim)))[1]  # no copy inside
    assert slim.stat().st_size < full.stat().st_size - landmarks.stat().st_size / 2
    assert read_state_dict(slim)[0].keys() == read_state_dict(full)[0].keys()
    video = torch.randn(1, 3, 2, 64, 64)
    with torch.no_grad():
        assert torch.equal(load_checkpoint(slim).eval()(video), model(video))
    other = timm.create_model("s2d_tiny_patch8_64", num_classes=5, num_frames=2)
    with pytest.raises(CheckpointError, match="does not hold the landmark network"):
        landmark_stream_by_reference(with_landmark_stream(other), landmarks, run / "x.safetensors")
    save_checkpoint(other.landmark_stream.net, tmp_path / "landmarks" / "net")  # changed
    with pytest.raises(CheckpointError, match="net.safetensors is not the landmark network"):
        load_checkpoint(slim)
    shutil.rmtree(tmp_path / "landmarks")
    with pytest.raises(CheckpointError, match="best.safetensors: its landmark network is in .*net.safetensors, which is missing"):
        load_checkpoint(slim)


def test_mobilefacenet_checkpoint_round_trip(tmp_path):
    net = MobileFaceNet(input_size=64).eval()
    loaded = load_checkpoint(save_checkpoint(net, tmp_path / "lm")).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x))


def _static_release_file(released, t: int) -> dict:
    """A file shaped like ``pretrain-AffectNet-7.pth``: the static model's keys, ``norm.*`` for
    the final norm, landmark keys and classifier heads the fine-tuned models do not have."""
    sd = released("s2d_base_patch16_224_T1")
    sd["temporal_embedding"] = torch.randn(1, t, 768) * 0.02
    sd["norm.weight"], sd["norm.bias"] = sd.pop("ln_post.weight"), sd.pop("ln_post.bias")
    sd["landmark_model.conv1.conv.weight"] = torch.zeros(64, 3, 3, 3)
    sd["head.weight"], sd["head.bias"] = torch.randn(7, 768), torch.zeros(7)
    sd["weak_head.fc.weight"], sd["fc_norm.weight"] = torch.randn(7, 768), torch.ones(768)
    return sd


@pytest.mark.parametrize("t", [1, 16])
def test_inflate_takes_every_fitting_key_and_reports_the_rest(released, fresh16, t, caplog):
    sd = _static_release_file(released, t)
    for k in [k for k in sd if ".TMA." in k and k.startswith("prompt_blocks.2.")]:
        del sd[k]  # a file without some TMA weights: those keep the release's initialisation
    model = fresh16
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    with caplog.at_level("WARNING", logger="s2d_lib.checkpoints"):
        report = inflate(model, {"model": sd})
    state = model.state_dict()
    assert report.dropped == ["landmark_model.conv1.conv.weight"]
    assert report.unexpected == ["fc_norm.weight", "head.bias", "head.weight", "weak_head.fc.weight"]
    assert all(".TMA." in k and k.startswith("prompt_blocks.2.") for k in report.missing)
    assert report.missing and "skipped 4 keys" in caplog.text and "keep their initialisation" in caplog.text
    torch.testing.assert_close(state["ln_post.weight"], sd["norm.weight"])
    torch.testing.assert_close(state["prompt_blocks.5.TMA.T_Adapter.D_fc1.weight"],
                               sd["prompt_blocks.5.TMA.T_Adapter.D_fc1.weight"])  # TMA kept
    torch.testing.assert_close(state["temporal_embedding"], sd["temporal_embedding"].expand(1, 16, 768))
    for k in report.missing:  # absent: the release's init (trunc normal 0.02 / zero bias)
        assert torch.equal(state[k], fresh[k]), k
    w = state["prompt_blocks.2.TMA.S_Adapter.D_fc1.weight"]
    assert 0.018 < w.std() < 0.022 and abs(float(w.mean())) < 1e-3
    assert state["prompt_blocks.2.TMA.S_Adapter.D_fc1.bias"].abs().max() == 0


def test_inflate_refuses_an_incomplete_vit_or_a_wrong_shape(released, base16):
    sd = _static_release_file(released, 1)
    del sd["blocks.4.mlp.fc1.weight"]
    with pytest.raises(CheckpointError, match="blocks.4.mlp.fc1.weight"):
        inflate(base16, sd)
    sd = _static_release_file(released, 1)
    sd["prompt_blocks.0.conv1x1.weight"] = torch.zeros(768, 4, 1, 1)
    with pytest.raises(CheckpointError, match="prompt_blocks.0.conv1x1.weight"):
        inflate(base16, sd)


def test_inflate_with_fresh_tmas_keeps_the_models_adapters(released, fresh16):
    model = fresh16
    before = model.prompt_blocks[7].TMA.T_Adapter.D_fc1.weight.detach().clone()
    report = inflate(model, _static_release_file(released, 1), fresh_tma=True)
    assert any("TMA tensors (fresh" in r for r in report.reinitialised)
    assert torch.equal(model.prompt_blocks[7].TMA.T_Adapter.D_fc1.weight, before)
