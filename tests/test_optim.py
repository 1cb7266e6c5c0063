"""AdamW's groups: the release's two groups by default, bit-identical training without layer
decay, and MAE fine-tuning's layer-wise decay over S2D's layers (prompters with their block,
the classifier on top)."""
from __future__ import annotations

import pytest
import timm
import torch
from timm.optim import param_groups_weight_decay
from torch.utils.data import TensorDataset

from s2d_lib.config import TrainConfig, load_config
from s2d_lib.model import set_trainable
from s2d_lib.optim import layer_ids, param_groups
from s2d_lib.splits import DataSplits
from s2d_lib.trainer import Trainer

DECAY = 0.75
DEPTH = 4  # s2d_tiny_patch8_64


def _data(n: int = 12) -> DataSplits:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, 3, 64, 64, generator=g), torch.arange(n) % 3
    ds = TensorDataset(x, y)
    return DataSplits(ds, ds, None, y.tolist(), ["a", "b", "c"], name="toy")


def _config(tmp_path, **changes) -> TrainConfig:
    return load_config("static_tiny", dict(
        num_classes=3, epochs=1, steps_per_epoch=3, batch_size=4, warmup_epochs=0,
        val_fraction=0.0, landmark_cache=False, landmark_weights=None, progress=False,
        device="cpu", out_dir=str(tmp_path / "run"), **changes))


def _trained(cfg: TrainConfig) -> dict[str, torch.Tensor]:
    run = Trainer(cfg, _data(), None, ())
    run.fit()
    return run.model.state_dict()


def _model():
    model = timm.create_model("s2d_tiny_patch8_64", num_classes=3, num_frames=1)
    set_trainable(model, "static")
    return model


def test_layer_decay_is_none_or_in_zero_to_one():
    assert TrainConfig().layer_decay is None
    assert load_config("static_tiny", ["layer_decay=0.65"]).layer_decay == 0.65
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="layer_decay must be None or in"):
            TrainConfig(layer_decay=bad)


def test_without_layer_decay_the_groups_are_the_release_ones():
    model = _model()
    ours = param_groups(model, TrainConfig())
    release = param_groups_weight_decay(model, 0.05, no_weight_decay_list=model.no_weight_decay())
    assert len(ours) == len(release) == 2
    for a, b in zip(ours, release):
        assert a.keys() == b.keys() == {"params", "weight_decay"}
        assert a["weight_decay"] == b["weight_decay"]
        assert len(a["params"]) == len(b["params"]) and all(
            p is q for p, q in zip(a["params"], b["params"]))


def test_layer_decay_one_trains_bit_identically_to_none_and_below_one_does_not(tmp_path):
    ours = _trained(_config(tmp_path / "a", layer_decay=None))
    one = _trained(_config(tmp_path / "b", layer_decay=1.0))  # every lr_scale 1: same updates
    decayed = _trained(_config(tmp_path / "c", layer_decay=DECAY))
    assert all(torch.equal(one[k], ours[k]) for k in ours)
    assert not torch.equal(decayed["blocks.0.attn.qkv.weight"], ours["blocks.0.attn.qkv.weight"])


def test_layer_decay_scales_the_lr_from_the_stem_up_to_the_classifier(tmp_path):
    run = Trainer(_config(tmp_path, layer_decay=DECAY), _data(), None, ())
    model = run.model
    scale = {name: g["lr_scale"] for g in run.optimizer.param_groups for p in g["params"]
             for name, q in model.named_parameters() if p is q}
    top = DEPTH + 1  # stem 0, block i at i + 1, classifier alone above the last block
    # the pretrained ViT decays layer by layer; S2D's own parts train at the base rate
    expected = {"patch_embed.proj.weight": top, "cls_token": top, "temporal_embedding": 0,
                "patch_embed_prompt.proj.weight": 0, "blocks.0.attn.qkv.weight": top - 1,
                "prompt_blocks.0.conv0_0.weight": 0, "prompt_norms.0.weight": 0,
                "blocks.3.mlp.fc2.weight": 1, "prompt_blocks.3.conv0_0.weight": 0,
                "ln_post.weight": 1, "head.fc_cls.weight": 0, "head.fc_cls.bias": 0}
    for name, below in expected.items():
        assert scale[name] == pytest.approx(DECAY ** below), name
    assert max(layer_ids(model).values()) == top and layer_ids(model)["head.fc_cls.weight"] == top
    # only what trains is in a group (the fixed pos_embed and the unused last prompt norm are not)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(scale) == trainable and "pos_embed" not in scale
    assert f"prompt_norms.{DEPTH - 1}.weight" not in scale
    # weight decay as without layer decay: none on 1-D tensors and model.no_weight_decay()
    decays = {name: g["weight_decay"] for g in run.optimizer.param_groups for p in g["params"]
              for name, q in model.named_parameters() if p is q}
    assert decays["cls_token"] == decays["blocks.0.norm1.weight"] == decays["head.fc_cls.bias"] == 0
    assert decays["blocks.0.attn.qkv.weight"] == decays["head.fc_cls.weight"] == 0.05
    # timm's scheduler multiplies every lr it sets by the group's lr_scale, from the first step
    for step in (0, 2):
        run.scheduler.step_update(step)
        lr = run.scheduler._get_lr(step)[0]
        assert all(g["lr"] == pytest.approx(lr * g["lr_scale"]) for g in run.optimizer.param_groups)
