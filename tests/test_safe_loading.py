"""A checkpoint is untrusted input: loading one runs no code from it.

A ``.pth`` is read weights-only with a short allowlist (the training script's ``argparse``
options, NumPy scalars, dtypes and arrays); anything else is refused with the file and the global
named, through every public loader and the command lines, unless the user opts in for a file
they trust (``trust=True``, ``trusted_checkpoints()``, ``--trust-checkpoint``)."""
from __future__ import annotations

import argparse
import collections
import datetime
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image

import s2d_lib  # noqa: F401  (registers the s2d_* models)
from s2d_course.synthetic.writers import write_mp4
from s2d_lib.build import build_model
from s2d_lib.checkpoints import (UnsafeCheckpointError, inflate, load_any_checkpoint,
                                 load_landmark_weights, load_released, load_vit_backbone,
                                 trusted_checkpoints)
from s2d_lib.config import load_config
from s2d_lib.evaluate import evaluate_checkpoint
from s2d_lib.landmarks import MobileFaceNet
from s2d_lib.seeding import rng_state, set_rng_state
from s2d_lib.checkpoints import SAFE_GLOBALS, load_torch_file, read_state_dict

from conftest import REPO

MODEL, T = "s2d_tiny_patch8_64", 4


class Payload:
    """Pickles as a call of ``os.system`` that creates ``marker``: what a hostile file carries."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class Options(collections.OrderedDict):
    """A class of the checkpoint's own: harmless here, but not on the allowlist."""


@pytest.fixture(scope="module")
def tiny_state():
    """The released layout's tensors of a tiny T-frame S2D (seed 0)."""
    torch.manual_seed(0)
    model = timm.create_model(MODEL, num_classes=7, num_frames=T)
    return {k: v.clone() for k, v in model.state_dict().items()}


def training_checkpoint(tiny_state) -> dict:
    """What the authors' training script saves: model, optimizer, epoch, scaler, ``args`` (an
    ``argparse.Namespace``) and ``model_ema``, with NumPy numbers where such scripts have them."""
    args = argparse.Namespace(model=MODEL, batch_size=8, blr=np.float64(5e-4), lr=np.float32(1e-3),
                              epochs=100, seed=np.int64(0), dist_eval=np.bool_(True),
                              betas=(0.9, 0.999), output_dir="output/dfew", nb_classes=7)
    return {"model": tiny_state, "model_ema": dict(tiny_state), "epoch": np.int64(99),
            "optimizer": {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(2)}},
                          "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0]}]},
            "scaler": {"scale": 65536.0, "growth_factor": 2.0, "_growth_tracker": 0},
            "args": args, "numpy_rng": np.random.RandomState(0).get_state()}


@pytest.fixture
def files(tiny_state, tmp_path):
    """A hostile file, one with a class off the allowlist, one with a datetime, and a real
    training checkpoint; ``marker`` appears only if the payload ran."""
    marker = tmp_path / "PWNED"
    paths = {name: tmp_path / f"{name}.pth" for name in ("evil", "own_class", "datetime", "ok")}
    torch.save({"model": tiny_state, "extra": Payload(marker)}, paths["evil"])
    torch.save({"model": tiny_state, "options": Options(lr=1e-3)}, paths["own_class"])
    torch.save({"model": tiny_state, "saved": datetime.datetime(2023, 5, 1)}, paths["datetime"])
    torch.save(training_checkpoint(tiny_state), paths["ok"])
    return paths, marker


def _model():
    return timm.create_model(MODEL, num_classes=7, num_frames=T)


@pytest.mark.parametrize("loader", ["read_state_dict", "load_torch_file", "load_released",
                                    "load_any_checkpoint", "inflate", "load_vit_backbone",
                                    "load_landmark_weights", "evaluate_checkpoint"])
def test_the_payload_never_runs_through_a_library_call(files, loader, tmp_path):
    paths, marker = files
    calls = {"read_state_dict": lambda p: read_state_dict(p),
             "load_torch_file": lambda p: load_torch_file(p),
             "load_released": lambda p: load_released(_model(), p),
             "load_any_checkpoint": lambda p: load_any_checkpoint(p, MODEL),
             "inflate": lambda p: inflate(_model(), p),
             "load_vit_backbone": lambda p: load_vit_backbone(_model(), p),
             "load_landmark_weights": lambda p: load_landmark_weights(MobileFaceNet(64), p),
             "evaluate_checkpoint": lambda p: evaluate_checkpoint(p, "DFEW", str(tmp_path))}
    before = torch.serialization.get_safe_globals()
    with pytest.raises(UnsafeCheckpointError) as err:
        calls[loader](paths["evil"])
    message = str(err.value)
    assert message.startswith(f"{paths['evil']}: refused") and "posix.system" in message
    assert "trust=True" in message and "--trust-checkpoint" in message
    assert not marker.exists()
    # the allowlist was added for the load only, not to the process's own
    added = set(torch.serialization.get_safe_globals()) - set(before)
    assert not added & set(SAFE_GLOBALS)


def test_the_payload_never_runs_through_the_command_line(files, tmp_path):
    paths, marker = files
    frames = np.random.default_rng(0).integers(0, 256, (T, 64, 64, 3), dtype=np.uint8)
    clip = tmp_path / "clip.mp4"
    write_mp4(clip, [Image.fromarray(f) for f in frames])
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "s2d_lib.predict", str(clip), "--checkpoint",
                          str(paths["evil"]), "--model", MODEL, "--out", str(out),
                          "--no-progress"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    assert f"error: {paths['evil']}: refused" in run.stderr and "posix.system" in run.stderr
    assert "--trust-checkpoint" in run.stderr
    assert not marker.exists() and not out.exists()


@pytest.mark.parametrize("name, offending", [("own_class", f"{__name__}.Options"),
                                             ("datetime", "datetime.datetime")])
def test_a_class_off_the_allowlist_is_refused_by_name(files, name, offending):
    paths, _ = files
    with pytest.raises(UnsafeCheckpointError, match=f"refused.*\\({offending}\\)"):
        load_released(_model(), paths[name])


def test_a_legacy_file_is_refused_by_name_too(tiny_state, tmp_path):
    """Files from before PyTorch 1.6 are not zip archives: the refused load names the global."""
    marker, path = tmp_path / "PWNED", tmp_path / "legacy.pth.tar"
    torch.save({"state_dict": tiny_state, "x": Payload(marker)}, path,
               _use_new_zipfile_serialization=False)
    with pytest.raises(UnsafeCheckpointError, match="legacy.pth.tar: refused.*posix.system"):
        read_state_dict(path)
    assert not marker.exists()


def test_object_arrays_are_refused(tiny_state, tmp_path):
    """NumPy arrays of numbers load; an object array would hold any Python object."""
    path = tmp_path / "objects.pth"
    torch.save({"model": tiny_state, "ids": np.array(["a", 1], dtype=object)}, path)
    with pytest.raises(UnsafeCheckpointError, match="ObjectDType"):
        read_state_dict(path)


def test_a_training_checkpoint_with_namespace_args_and_numpy_numbers_loads(files, tiny_state):
    paths, _ = files
    loaded = load_torch_file(paths["ok"])
    expected = training_checkpoint(tiny_state)
    assert loaded["args"] == expected["args"] and isinstance(loaded["args"], argparse.Namespace)
    assert type(loaded["args"].blr) is np.float64 and type(loaded["args"].lr) is np.float32
    assert loaded["epoch"] == 99 and loaded["scaler"] == expected["scaler"]
    state = loaded["numpy_rng"]
    assert state[0] == "MT19937" and np.array_equal(state[1], expected["numpy_rng"][1])
    with pytest.warns(UserWarning, match="hold no landmark network"):
        model = load_any_checkpoint(paths["ok"], MODEL)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in tiny_state.items())
    report = load_released(_model(), paths["ok"])
    assert report.ok and report.loaded == len(tiny_state)


def test_the_resume_state_round_trips_weights_only(tmp_path):
    """``last_state.pt`` holds every generator's state (Python's tuple, NumPy's array): read
    weights-only, it restores the same random streams."""
    path = tmp_path / "last_state.pt"
    random.seed(3), np.random.seed(3), torch.manual_seed(3)
    torch.save({"rng": [rng_state()], "epoch": 1}, path)
    expected = (random.random(), np.random.rand(3), torch.rand(3))
    set_rng_state(load_torch_file(path)["rng"][0])
    drawn = (random.random(), np.random.rand(3), torch.rand(3))
    assert drawn[0] == expected[0] and np.array_equal(drawn[1], expected[1])
    assert torch.equal(drawn[2], expected[2])


def test_a_trusted_file_loads(files, tiny_state):
    paths, _ = files
    for name in ("datetime", "own_class"):
        assert load_released(_model(), paths[name], trust=True).ok
        with pytest.warns(UserWarning, match="hold no landmark network"):
            loaded = load_any_checkpoint(paths[name], MODEL, trust=True)
        assert torch.equal(loaded.state_dict()["head.fc_cls.weight"],
                           tiny_state["head.fc_cls.weight"])
    with trusted_checkpoints():
        assert read_state_dict(paths["datetime"])[0].keys() == tiny_state.keys()
    with pytest.raises(UnsafeCheckpointError):  # the block ended: refused again
        read_state_dict(paths["datetime"])


def test_training_init_is_refused_unless_trusted(files, tiny_state):
    """``init=`` (a static checkpoint to inflate) goes through the same reader; the training
    command's ``--trust-checkpoint`` is ``trusted_checkpoints()`` around the run."""
    paths, marker = files
    cfg = load_config("temporal_tiny", {"num_classes": 7, "num_frames": T, "landmark_weights": None,
                                        "init": str(paths["evil"])})
    with pytest.raises(UnsafeCheckpointError, match="posix.system"):
        build_model(cfg)
    assert not marker.exists()
    cfg = load_config(cfg, {"init": str(paths["datetime"])})
    with pytest.raises(UnsafeCheckpointError, match="datetime.datetime"):
        build_model(cfg)
    with trusted_checkpoints():
        model = build_model(cfg)
    assert torch.equal(model.state_dict()["blocks.0.attn.qkv.weight"],
                       tiny_state["blocks.0.attn.qkv.weight"])
