"""The paper presets are the authors' released recipe, row by row (or say why not)."""
from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from s2d_lib.config import load_config
from s2d_lib.data.transforms import train_transform
from s2d_lib.precision import autocast_dtype
from s2d_course.release_recipe import RELEASE, differences, preset_table, release_values
from s2d_lib.splits import DataSplits
from s2d_lib.trainer import Trainer

from conftest import REPO


@pytest.mark.parametrize("dataset", ["DFEW", "FERV39k", "MAFW"])
def test_dfer_paper_is_the_release_for_every_dataset(dataset):
    cfg = load_config("dfer_paper", {"dataset": dataset})
    assert differences(cfg) == {}
    # the facts themselves, spelled out once more (a wrong RELEASE entry must not pass unseen)
    assert (cfg.batch_size, cfg.epochs, cfg.base_lr, cfg.base_min_lr, cfg.warmup_epochs) == \
        (8, 100, 1e-5, 1e-8, 2.0)
    assert (cfg.weight_decay, cfg.betas, cfg.clip_grad, cfg.drop_path_rate) == \
        (0.05, (0.9, 0.999), None, 0.0)
    assert (cfg.auto_augment, cfg.crop_scale, cfg.reprob) == \
        ("rand-m7-n4-mstd0.5-inc1", (0.08, 1.0), 0.25)
    assert (cfg.test_clips, cfg.test_crops, cfg.test_resize, cfg.num_frames) == (2, 2, "square", 16)
    assert not cfg.fresh_tma and cfg.precision == "auto" and not cfg.landmark_cache
    if dataset == "FERV39k":
        assert (cfg.mixup, cfg.cutmix, cfg.smoothing, cfg.drop_rate) == (0, 0, 0, 0)
        assert cfg.easdl and (cfg.easdl_top_k, cfg.easdl_queue) == (2, 16)
    else:
        assert (cfg.mixup, cfg.cutmix, cfg.smoothing, cfg.drop_rate) == (0.8, 1.0, 0.1, 0.5)
        assert not cfg.easdl
    assert release_values(dataset)["easdl"] == (dataset == "FERV39k")


def test_temporal_paper_on_ferv39k_keeps_no_easdl():
    assert not load_config("temporal_paper", {"dataset": "FERV39k"}).easdl


def test_readme_tables_are_generated_from_the_config():
    readme = (REPO / "README.md").read_text()
    for profile in ("tiny", "paper"):
        assert f"<!-- preset-table {profile} -->\n{preset_table(profile)}<!-- /preset-table -->" \
            in readme, f"run python -m s2d_course.release_recipe --write README.md ({profile})"
    paper = preset_table("paper")
    ours = [line.split(" | ")[0] for line in paper.splitlines() if "*(ours)*" in line]
    assert ours == ["| EASDL anchors at the start", "| model selection"]
    assert paper.count("*(ours)*") == 4  # selection on each dataset, EASDL's start on FERV39k


def _toy(n=8, frames=2, size=64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, frames, size, size, generator=g)
    y = torch.arange(n) % 2
    ds = TensorDataset(x, y)
    return DataSplits(train=ds, train_eval=ds, test=None, labels=y.tolist(),
                      class_names=["a", "b"], name="toy")


def test_release_schedule_warms_up_from_zero_for_two_epochs_then_cosine_to_the_floor(tmp_path):
    import timm

    cfg = load_config("dfer_paper", dict(model="s2d_tiny_patch8_64", num_frames=2, num_classes=2,
                                         batch_size=2, epochs=4, val_fraction=0, init=None,
                                         landmark_weights=None, out_dir=str(tmp_path),
                                         workers=0, progress=False, device="cpu"))
    model = timm.create_model(cfg.model, num_classes=2, num_frames=2)
    run = Trainer(cfg, _toy(), model, ())
    steps = len(run.loader)  # 4 per epoch
    lr, floor = 1e-5 * 2 / 8, 1e-8 * 2 / 256
    sched = run.scheduler
    assert run.lr == lr and sched._get_lr(0)[0] == 0.0
    assert sched._get_lr(steps)[0] == pytest.approx(lr / 2)     # half-way through the warm-up
    assert sched._get_lr(2 * steps)[0] == pytest.approx(lr)     # end of the 2-epoch warm-up
    assert sched._get_lr(4 * steps)[0] == pytest.approx(floor)  # cosine floor
    groups = {len(g["params"]): g["weight_decay"] for g in run.optimizer.param_groups}
    assert sorted(groups.values()) == [0.0, 0.05]
    no_decay = {n for n, p in model.named_parameters()
                if any(p is q for g in run.optimizer.param_groups if g["weight_decay"] == 0
                       for q in g["params"])}
    assert {"temporal_embedding", "cls_token"} & {n for n, p in model.named_parameters()
                                                  if p.requires_grad} <= no_decay
    assert all(n.endswith("bias") or model.get_parameter(n).ndim <= 1 or n in
               ("temporal_embedding", "cls_token") for n in no_decay)
    # the release's AMP is float16 autocast on a GPU; on a CPU precision=auto decides
    assert autocast_dtype(RELEASE["precision"], torch.device("cuda")) == torch.float16
    assert run.use_amp == (autocast_dtype(cfg.precision, torch.device("cpu")) is not None)


def test_anchors_come_from_the_clean_clips_when_mixup_mixes(tmp_path):
    import timm

    cfg = load_config("dfer_paper", dict(model="s2d_tiny_patch8_64", num_frames=2, num_classes=2,
                                         batch_size=4, epochs=1, val_fraction=0, init=None,
                                         landmark_weights=None, out_dir=str(tmp_path),
                                         workers=0, progress=False, device="cpu", easdl=True,
                                         easdl_start_epoch=0, auto_augment=None, reprob=0.0))
    model = timm.create_model(cfg.model, num_classes=2, num_frames=2)
    run = Trainer(cfg, _toy(), model, ())
    seen = []
    original = run.model.forward_release

    def record(video, landmark_features=None):
        if not run.model.training:
            seen.append(video.clone())
        return original(video, landmark_features)

    run.model.forward_release = record
    batch = next(iter(run.loader))
    x = batch[0]
    run._step(x.clone(), batch[1], None, 0.0, True, {"loss": 0, "ce": 0, "easdl": 0,
                                                      "easdl_steps": 0})
    assert len(seen) == 1 and torch.equal(seen[0], x)  # the anchor pass saw the un-mixed clips


def test_release_augmentation_is_the_configured_one():
    cfg = load_config("dfer_paper")
    names = [type(t).__name__ for t in train_transform(224, cfg.auto_augment, cfg.reprob,
                                                        scale=cfg.crop_scale).transforms]
    assert names == ["ClipRandAugment", "RandomResizedCrop", "RandomHorizontalFlip", "Compose",
                     "ClipRandomErasing"]
