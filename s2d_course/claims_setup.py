"""The claims' world and runs: what each claim compares (:data:`CLAIMS`), the budget every arm
gets, where the data, the landmark network and the runs are (:class:`Setup`), and one run trained
or read back when it is already finished (:func:`train_run`). Used by the claims engine
(:mod:`s2d_course.claims`) and its check (:mod:`s2d_course.claims_check`)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from s2d_lib.config import TrainConfig, load_config
from s2d_lib.data.memory import InMemory
from s2d_lib.splits import DataSplits, build_data
from s2d_lib.trainer import fit

from . import paths, run_cache
from .shipped import shipped_run

__all__ = ["WORLD", "LANDMARKS", "RUNS", "Claim", "CLAIMS", "Budget", "Setup", "slug", "train_run",
           "build_world"]

WORLD = paths.DATA / "claims"
LANDMARKS = paths.TINY_LANDMARKS  # the shipped network
RUNS = paths.RUNS / "claims"


@dataclass(frozen=True)
class Claim:
    """Arms (name -> config overrides; the first is the reference) of one claim."""

    name: str
    question: str
    stage: str                                  # "static" or "video"
    arms: dict[str, dict]
    fractions: tuple[float, ...] = (1.0,)       # shares of the labelled train split


CLAIMS: dict[str, Claim] = {c.name: c for c in (
    Claim("landmark_view", "Does the landmark view help, most when labels are scarce?", "static",
          {"landmark view": {}, "no landmark branch": {"landmark_view": False}},
          fractions=(0.1, 0.3, 1.0)),
    Claim("temporal_attention", "Do the TMAs model time?", "video",
          {"TMA attention over frames": {}, "each frame alone": {"temporal_attention": False}}),
    Claim("easdl", "Does EASDL help over cross-entropy alone?", "video",
          # queues of 2 filled from the first epoch: the loss only starts once every class
          # queue is full, and the rarest class (disgust, 1 % of DFEW) must fill its queue
          # within the budget's three short epochs, or the arm would be cross-entropy alone
          {"cross-entropy": {}, "cross-entropy + EASDL": {"easdl": True, "easdl_queue": 2,
                                                          "easdl_start_epoch": 0}}),
    Claim("static_pretraining", "Does static FER pretraining help the video stage?", "video",
          {"from the static checkpoint": {}, "without static pretraining": {"init": "scratch"}}),
)}


@dataclass(frozen=True)
class Budget:
    """What every run of an arm gets: the same for both arms of a claim."""

    seeds: int = 5
    static_epochs: int = 5         # every label share: the same epochs (validation checks) ...
    static_steps: int = 27         # ... of the same optimiser steps each (batch 32)
    static_batch: int = 32
    video_epochs: int = 3
    video_steps: int = 14          # optimiser steps per epoch (batch 16): 1/3 of the fold's clips
    video_batch: int = 16
    warmup_steps: int = 10


@dataclass
class Setup:
    """Where the data, the landmark network and the runs are."""

    world: Path = WORLD
    landmarks: Path = LANDMARKS
    runs: Path = RUNS
    budget: Budget = field(default_factory=Budget)
    _data: dict = field(default_factory=dict, repr=False)

    def static_config(self, overrides: dict, fraction: float, seed: int) -> TrainConfig:
        b = self.budget
        name = f"static-{slug(overrides)}-f{fraction:g}-s{seed}"
        base = {"data_root": str(self.world / "RAF-DB"), "landmark_weights": str(self.landmarks),
                "seed": seed, "train_fraction": fraction, "progress": False,
                "cache_dir": str(self.world / "cache"), "epochs": b.static_epochs,
                "steps_per_epoch": b.static_steps, "batch_size": b.static_batch,
                "warmup_epochs": b.warmup_steps / b.static_steps, "out_dir": str(self.runs / name)}
        return load_config("static_tiny", {**base, **overrides})

    def video_config(self, overrides: dict, seed: int) -> TrainConfig:
        epochs = self.budget.video_epochs
        base = {"data_root": str(self.world / "DFEW"), "landmark_weights": str(self.landmarks),
                "init": str(self.static_checkpoint(seed)), "seed": seed, "epochs": epochs,
                "steps_per_epoch": self.budget.video_steps, "batch_size": self.budget.video_batch,
                "warmup_epochs": self.budget.warmup_steps / self.budget.video_steps, "easdl": False, "progress": False,
                "easdl_start_epoch": 1, "easdl_ramp": f"{max(epochs - 2, 1)}:0.5,{epochs - 1}:1.0",
                "cache_dir": str(self.world / "cache"),
                "out_dir": str(self.runs / f"video-{slug(overrides)}-s{seed}")}
        return load_config("dfer_tiny", {**base, **overrides})

    def static_checkpoint(self, seed: int) -> Path:
        return self.runs / f"static-{slug({})}-f1-s{seed}" / "best.safetensors"

    def data(self, cfg: TrainConfig) -> DataSplits:
        """The run's datasets, built once per dataset and kept in memory for every run on it."""
        key = (cfg.data_root, cfg.num_frames, cfg.fold)
        if key not in self._data:
            data = build_data(cfg)
            self._data[key] = replace(data, train_eval=InMemory(data.train_eval),
                                      test=InMemory(data.test) if data.test is not None else None)
        return self._data[key]


def slug(overrides: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in sorted(overrides.items())) or "reference"


def train_run(setup: Setup, cfg: TrainConfig) -> dict:
    """One run (or its finished result from disk): test UAR / WAR / size and seconds."""
    done = cfg.run_dir / "results.json"
    if run_cache.reusable(cfg):
        result = json.loads(done.read_text())
    else:
        if done.is_file():  # another config's run: its saved state must not be resumed
            cfg = run_cache.afresh(cfg)
        start = time.perf_counter()
        result = fit(cfg, setup.data(cfg))
        result["seconds"] = time.perf_counter() - start
        # epochs in which the EASDL term was on (0 for every arm without it)
        result["easdl_epochs"] = sum(h.get("easdl_weight", 0) > 0 for h in result["history"])
        done.write_text(json.dumps({k: v for k, v in result.items() if k != "history"}, indent=1))
        run_cache.remember(cfg)
    test = result["test"]
    return {"uar": test["uar"], "war": test["war"], "n": int(sum(test["support"]))
            if "support" in test else None, "seconds": result.get("seconds"),
            "best_val": result.get("best_val_uar", result.get("best_val_war")),
            "easdl_epochs": result.get("easdl_epochs")}


def build_world(setup: Setup) -> dict:
    """The claims world (synthetic RAF-DB and DFEW, ``claims`` preset), built when missing; the
    runs see it through the shipped tiny landmark network (the same on every machine)."""
    from .synthetic import build_suite

    status = build_suite(setup.world, "claims", seed=0, datasets=("RAF-DB", "DFEW"))
    if setup.landmarks == LANDMARKS:
        shipped_run("landmarks")  # checks the shipped network against its recorded SHA-256
    return {"path": str(setup.world.relative_to(paths.REPO)) if setup.world.is_relative_to(paths.REPO)
            else str(setup.world), "preset": "claims", "seed": 0, "status": status,
            "landmarks_sha256": paths.file_sha256(setup.landmarks)}
