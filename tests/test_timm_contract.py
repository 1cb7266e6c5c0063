"""S2D keeps timm's model contract, and the facts a run depends on travel with its weights."""
from __future__ import annotations

import json

import pytest
import timm
import torch
from safetensors.torch import save_file
from torch.utils.data import TensorDataset

import s2d_lib  # noqa: F401  (registers the models)
from s2d_lib.checkpoints import (RELEASED, CheckpointError, checkpoint_metadata, load_any_checkpoint,
                                 load_checkpoint, read_header, save_checkpoint,
                                 with_landmark_stream)
from s2d_lib.config import load_config
from s2d_lib.data.video import FRAME_RATE
from s2d_lib.landmark_cache import landmark_hash
from s2d_lib.predict.windows import training_span
from s2d_lib.splits import DataSplits
from s2d_lib.trainer import fit


def _model(frames=2, classes=3):
    torch.manual_seed(0)
    return timm.create_model("s2d_tiny_patch8_64", num_classes=classes, num_frames=frames).eval()


def test_forward_is_forward_head_of_forward_features_and_the_release_pair_agrees():
    model = _model()
    video = torch.randn(2, 3, 2, 64, 64)
    with torch.no_grad():
        logits = model(video)
        tokens = model.forward_features(video)
        feature = model.forward_head(tokens, pre_logits=True)
        release_logits, release_feature = model.forward_release(video)
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 3)
    assert tokens.shape == (2 * 2, 1 + 8 * 8, 192) and feature.shape == (2, 192)
    assert torch.equal(model.forward_head(tokens), logits)
    assert torch.equal(release_logits, logits) and torch.equal(release_feature, feature)


def test_classifier_access_reset_and_group_matcher():
    model = _model()
    assert model.get_classifier() is model.head.fc_cls
    cfg = dict(model.pretrained_cfg)
    model.reset_classifier(5)
    assert model.get_classifier().out_features == 5 and model.num_classes == 5
    assert model.pretrained_cfg == cfg  # timm's record of where the weights came from
    assert model(torch.randn(1, 3, 2, 64, 64)).shape == (1, 5)
    matcher = model.group_matcher()
    assert set(matcher) == {"stem", "blocks"}
    groups = timm.models.group_parameters(model, matcher)
    grouped = {n for names in groups.values() for n in names}
    assert {"cls_token", "blocks.0.attn.qkv.weight", "prompt_blocks.3.conv0_0.weight",
            "ln_post.weight"} <= grouped


def test_a_saved_model_names_its_variant_and_comes_back_through_timm(tmp_path):
    model = _model(frames=2)
    path = save_checkpoint(model, tmp_path / "m.safetensors", {"dataset": "DFEW"})
    assert read_header(path)["s2d.architecture"] == "s2d_tiny_patch8_64"
    again = load_checkpoint(path)
    # timm's pretrained_cfg, as timm.create_model gives it: the run's facts are not in it
    assert again.pretrained_cfg == timm.create_model("s2d_tiny_patch8_64").pretrained_cfg
    assert again.pretrained_cfg["input_size"] == (3, 64, 64)
    assert not {"frame_sampling", "clip_seconds", "label_names", "dataset"} & set(again.pretrained_cfg)
    assert (again.num_frames, again.num_classes) == (2, 3)
    assert checkpoint_metadata(path) == {"dataset": "DFEW"}
    small = timm.create_model("s2d_tiny_patch8_64", img_size=32, landmark_input_size=32)
    small = load_checkpoint(save_checkpoint(small, tmp_path / "small"))
    assert small.pretrained_cfg["input_size"] == (3, 32, 32)  # the size the weights were built at
    with torch.no_grad():
        video = torch.randn(1, 3, 2, 64, 64)
        assert torch.equal(again.eval()(video), model(video))


def test_a_released_file_gets_the_release_facts(tmp_path):
    model = _model(frames=2, classes=7)
    torch.save({"model": model.state_dict()}, tmp_path / "released.pth")
    with pytest.warns(UserWarning, match="landmark"):
        loaded = load_any_checkpoint(tmp_path / "released.pth", "s2d_tiny_patch8_64")
    assert loaded.num_frames == 2  # what the tensors say wins
    facts = checkpoint_metadata(tmp_path / "released.pth")
    assert facts["clip_seconds"] == RELEASED["clip_seconds"] == 3.0
    assert facts["class_names"] == RELEASED["class_names"] and facts["frame_sampling"] == "window"
    assert training_span(facts, 2) == (3.0, False)


class _Clips(TensorDataset):
    """Toy video clips that know their source clips' lengths, as the real video datasets do."""

    def clip_frame_counts(self):
        return [20, 30, 40, 50][:len(self)]


def test_the_trainer_writes_the_record_and_prediction_reads_the_span(tmp_path):
    torch.manual_seed(0)
    x, y = torch.randn(4, 3, 2, 64, 64), torch.tensor([0, 1, 0, 1])
    data = DataSplits(train=_Clips(x, y), train_eval=_Clips(x, y), test=None, labels=y.tolist(),
                      class_names=["calm", "upset"], name="toy")
    cfg = load_config("dfer_tiny", dict(num_classes=2, num_frames=2, batch_size=4, epochs=1,
                                        val_fraction=0, init="scratch", landmark_weights=None,
                                        landmark_cache=False, easdl=False, progress=False,
                                        frame_sampling="uniform", out_dir=str(tmp_path),
                                        device="cpu"))
    model = timm.create_model(cfg.model, num_classes=2, num_frames=2)
    fit(cfg, data, model)
    facts = checkpoint_metadata(tmp_path / "last.safetensors")  # the header alone
    assert facts["frame_sampling"] == "uniform" and facts["stage"] == "dfer"
    assert facts["clip_seconds"] == pytest.approx(35 / FRAME_RATE)
    assert facts["class_names"] == ["calm", "upset"]
    assert facts["landmark_hash"] == landmark_hash(model)
    assert json.loads((tmp_path / "last.json").read_text())["metadata"] == facts  # for the eye
    assert training_span(facts, 2) == (pytest.approx(35 / FRAME_RATE), False)


def _older_pair(model, path, info):
    """A checkpoint as files were written before their header described them."""
    save_file(with_landmark_stream(model), str(path))
    path.with_suffix(".json").write_text(json.dumps(info))


def test_older_files_read_their_model_and_facts_from_the_json_beside_them(tmp_path):
    model = _model(frames=2)
    config = dict(model.config)
    _older_pair(model, tmp_path / "record.safetensors", {
        "model": "S2D", "config": config, "metadata": {"stage": "dfer", "epoch": 3},
        "pretrained_cfg": {"architecture": "s2d_tiny_patch8_64", "frame_sampling": "uniform",
                           "clip_seconds": 1.25, "label_names": ["a", "b", "c"]}})
    _older_pair(model, tmp_path / "bare.safetensors", {   # before the record existed
        "model": "S2D", "config": config,
        "metadata": {"frame_sampling": "uniform", "class_names": ["a", "b", "c"]}})
    for name in ("record", "bare"):
        path = tmp_path / f"{name}.safetensors"
        again = load_checkpoint(path)
        assert again.pretrained_cfg["architecture"] == "s2d_tiny_patch8_64"
        with torch.no_grad():
            video = torch.randn(1, 3, 2, 64, 64)
            assert torch.equal(again.eval()(video), model(video))
        facts = checkpoint_metadata(path)
        assert facts["frame_sampling"] == "uniform" and facts["class_names"] == ["a", "b", "c"]
    assert checkpoint_metadata(tmp_path / "record.safetensors")["clip_seconds"] == 1.25
    (tmp_path / "bare.json").unlink()
    with pytest.raises(CheckpointError, match="bare.json: missing"):
        load_checkpoint(tmp_path / "bare.safetensors")
