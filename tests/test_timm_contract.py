"""S2D keeps timm's model contract, and the facts a run depends on travel with its weights."""
from __future__ import annotations

import json

import pytest
import timm
import torch
from torch.utils.data import TensorDataset

import s2d_lib  # noqa: F401  (registers the models)
from s2d_lib.checkpoints import load_any_checkpoint, load_checkpoint, save_checkpoint
from s2d_lib.config import load_config
from s2d_lib.landmark_cache import landmark_hash
from s2d_lib.predict.windows import training_span
from s2d_lib.pretrained import FRAME_RATE, RECORD_KEYS, RELEASED, read_record
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
    model.reset_classifier(5)
    assert model.get_classifier().out_features == 5 and model.num_classes == 5
    assert model.pretrained_cfg["num_classes"] == 5
    assert model(torch.randn(1, 3, 2, 64, 64)).shape == (1, 5)
    matcher = model.group_matcher()
    assert set(matcher) == {"stem", "blocks"}
    groups = timm.models.group_parameters(model, matcher)
    grouped = {n for names in groups.values() for n in names}
    assert {"cls_token", "blocks.0.attn.qkv.weight", "prompt_blocks.3.conv0_0.weight",
            "ln_post.weight"} <= grouped


def test_every_model_carries_a_pretrained_cfg_new_or_reloaded(tmp_path):
    model = _model(frames=2)
    cfg = model.pretrained_cfg
    assert cfg["input_size"] == (3, 64, 64) and cfg["num_frames"] == 2
    assert len(cfg["mean"]) == 3 and len(cfg["std"]) == 3 and set(RECORD_KEYS) <= set(cfg)
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    again = load_checkpoint(path)
    assert again.pretrained_cfg["input_size"] == [3, 64, 64]
    assert {k: again.pretrained_cfg[k] for k in ("num_frames", "num_classes", "frame_sampling")} \
        == {"num_frames": 2, "num_classes": 3, "frame_sampling": "window"}
    with torch.no_grad():
        video = torch.randn(1, 3, 2, 64, 64)
        assert torch.equal(again.eval()(video), model(video))


def test_a_released_file_gets_the_release_record(tmp_path):
    model = _model(frames=2, classes=7)
    torch.save({"model": model.state_dict()}, tmp_path / "released.pth")
    with pytest.warns(UserWarning, match="landmark"):
        loaded = load_any_checkpoint(tmp_path / "released.pth", "s2d_tiny_patch8_64")
    assert loaded.pretrained_cfg["clip_seconds"] == RELEASED["clip_seconds"]
    assert loaded.pretrained_cfg["label_names"] == RELEASED["label_names"]
    assert loaded.pretrained_cfg["num_frames"] == 2  # what the tensors say wins
    assert read_record(tmp_path / "released.pth")["clip_seconds"] == RELEASED["clip_seconds"]


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
    record = json.loads((tmp_path / "last.json").read_text())["pretrained_cfg"]
    assert record["input_size"] == [3, 64, 64] and record["num_frames"] == 2
    assert record["mean"] == list(model.pretrained_cfg["mean"]) and len(record["std"]) == 3
    assert record["frame_sampling"] == "uniform"
    assert record["clip_seconds"] == pytest.approx(35 / FRAME_RATE)
    assert record["label_names"] == ["calm", "upset"]
    assert record["landmark_hash"] == landmark_hash(model)
    reloaded = load_checkpoint(tmp_path / "last.safetensors")
    assert training_span(reloaded.pretrained_cfg, 2) == (pytest.approx(35 / FRAME_RATE), False)


def test_a_file_written_before_the_record_reads_its_facts_from_the_metadata(tmp_path):
    model = _model(frames=2)
    path = save_checkpoint(model, tmp_path / "old.safetensors",
                           {"frame_sampling": "uniform", "class_names": ["a", "b", "c"]})
    info = json.loads(path.with_suffix(".json").read_text())
    del info["pretrained_cfg"]
    path.with_suffix(".json").write_text(json.dumps(info))
    record = load_checkpoint(path).pretrained_cfg
    assert record["frame_sampling"] == "uniform" and record["label_names"] == ["a", "b", "c"]
    assert record["input_size"] == [3, 64, 64] and record["clip_seconds"] is None
