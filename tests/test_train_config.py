"""Training config: presets, key=value and YAML overrides, errors naming the problem."""
from __future__ import annotations

from pathlib import Path

import pytest

from s2d_lib.config import PRESETS, TrainConfig, load_config, parse_overrides
from s2d_lib.train import main


def test_overrides_are_typed_by_the_fields():
    got = parse_overrides(["epochs=3", "lr=1e-3", "init=none", "easdl=false", "betas=0.8,0.9",
                           "auto_augment=rand-m9-n2", "drop_rate=0"])
    assert got == {"epochs": 3, "lr": 1e-3, "init": None, "easdl": False, "betas": (0.8, 0.9),
                   "auto_augment": "rand-m9-n2", "drop_rate": 0.0}
    assert isinstance(got["lr"], float) and isinstance(got["drop_rate"], float)


@pytest.mark.parametrize("item, message", [
    ("epoch=3", "unknown config key 'epoch'.*epochs"),
    ("epochs", "not key=value"),
    ("epochs=three", "cannot read 'three'"),
    ("easdl=maybe", "cannot read 'maybe'"),
])
def test_bad_overrides_name_the_problem(item, message):
    with pytest.raises(ValueError, match=message):
        parse_overrides([item])


def test_every_preset_builds_and_paper_presets_carry_the_release_recipe():
    for name in PRESETS:
        cfg = load_config(name)
        assert f"{cfg.stage}_{cfg.profile}" == name
    cfg = load_config("dfer_paper")
    assert (cfg.num_frames, cfg.batch_size, cfg.epochs, cfg.base_lr, cfg.weight_decay) == \
        (16, 8, 100, 1e-5, 0.05)
    assert (cfg.mixup, cfg.cutmix, cfg.smoothing, cfg.reprob) == (0.8, 1.0, 0.1, 0.25)
    assert (cfg.easdl_top_k, cfg.easdl_queue, cfg.drop_rate) == (2, 16, 0.5)
    assert cfg.auto_augment == "rand-m7-n4-mstd0.5-inc1" and cfg.betas == (0.9, 0.999)
    assert cfg.frame_sampling == "window"  # the release: T contiguous frames
    # tiny: T = 8 of the synthetic clips' 16-40 frames, spread over the whole clip
    assert load_config("dfer_tiny").frame_sampling == load_config("temporal_tiny").frame_sampling \
        == "uniform"
    ferv = load_config("dfer_paper", ["dataset=FERV39k"])
    assert (ferv.drop_rate, ferv.data_root, ferv.classes) == (0.0, None, 7)
    assert load_config("dfer_paper", ["dataset=MAFW"]).classes == 11
    # an explicit override wins over the dataset recipe
    assert load_config("dfer_paper", ["dataset=FERV39k", "drop_rate=0.3"]).drop_rate == 0.3


def test_yaml_file_names_a_preset_and_overrides_it(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("preset: dfer_tiny\nepochs: 2\nlr: 1.0e-4\n")
    cfg = load_config(path, ["batch_size=4"])
    assert (cfg.stage, cfg.epochs, cfg.lr, cfg.batch_size) == ("dfer", 2, 1e-4, 4)
    cfg.save(tmp_path / "saved.yaml")
    assert load_config(tmp_path / "saved.yaml") == cfg
    (tmp_path / "bad.yaml").write_text("epochz: 2\n")
    with pytest.raises(ValueError, match=r"bad.yaml: unknown config keys \['epochz'\]"):
        load_config(tmp_path / "bad.yaml")


def test_invalid_combinations_are_refused():
    with pytest.raises(ValueError, match="num_frames must be 1"):
        TrainConfig(stage="static", num_frames=8)
    with pytest.raises(ValueError, match="trains on videos"):
        load_config("dfer_tiny", ["dataset=RAF-DB"])
    with pytest.raises(ValueError, match="neither a preset"):
        load_config("no_such_preset")
    with pytest.raises(ValueError, match="frame_sampling must be one of"):
        load_config("dfer_tiny", ["frame_sampling=random"])


def test_library_presets_name_no_file_of_the_checkout_and_the_course_adds_the_tiny_ones():
    from s2d_course import presets

    repo = Path(__file__).resolve().parents[1]
    library = {name: values for name, values in PRESETS.items() if name not in presets.TINY_PRESETS}
    assert set(library) == {"static_paper", "temporal_paper", "dfer_paper"}
    for name, values in library.items():
        assert "data_root" not in values and load_config(name).data_root is None, name
        for key, value in values.items():
            assert not (isinstance(value, str) and "/" in value and (repo / value).exists()), (name, key)
    # the course's presets name its own files, which ship with the checkout
    tiny = load_config("static_tiny")
    assert (repo / tiny.vit_weights).is_file() and (repo / tiny.landmark_weights).is_file()
    assert load_config("dfer_tiny").data_root == "data/synthetic/DFEW"


def test_cli_without_a_data_root_names_the_setting_it_needs(capsys):
    with pytest.raises(SystemExit):
        main(["--config", "dfer_paper"])
    assert "no DFEW folder given: add data_root=<folder" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"no RAF-DB folder given: set data_root=<folder>"):
        from s2d_lib.splits import build_split
        build_split(TrainConfig(), "train")


def test_register_preset_checks_its_fields():
    from s2d_lib.config import register_preset

    with pytest.raises(ValueError, match="num_frames must be 1"):
        register_preset("broken", dict(stage="static", num_frames=4))
    assert "broken" not in PRESETS


def test_cli_reports_a_missing_static_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="static checkpoint not found"):
        main(["--config", "dfer_tiny", f"init={tmp_path / 'missing.safetensors'}",
              f"out_dir={tmp_path}", f"data_root={tmp_path}"])
