"""The claims' world and runs: what each claim compares and across which dose (:data:`CLAIMS`),
the budget every arm gets, where the worlds, the landmark network, the MAE backbone and the runs
are (:class:`Setup`), and one run trained or read back when it is already finished
(:func:`train_run`). Used by the claims engine (:mod:`s2d_course.claims`) and its check
(:mod:`s2d_course.claims.check`); the plan they follow is ``results/claims_plan.md``.

Each claim compares an S2D arm with a control across the levels of one dose (the paper's
mechanism predicts where the part helps more). A run is named by what it trains (its overrides
and its dose), so two claims whose arms coincide at a level share the run: the static reference
(landmark view, all labels) and the video reference (TMA attention, apex over every frame, no
ambiguity, all clips, cross-entropy, from the static checkpoint) are trained once per seed.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from s2d_lib.config import TrainConfig, load_config
from s2d_lib.data.memory import InMemory
from s2d_lib.splits import DataSplits, build_data
from s2d_lib.trainer import fit

from .. import paths
from ..artifacts import run_cache
from ..artifacts.shipped import shipped_run

__all__ = ["WORLD", "WORLDS", "LANDMARKS", "MAE", "RUNS", "FRAME_AVERAGE", "Claim", "CLAIMS",
           "Budget", "Setup", "slug", "train_run", "build_world"]

WORLD = paths.DATA / "claims2"
#: The worlds under :data:`WORLD`: folder -> synthetic preset (``base`` holds RAF-DB and DFEW,
#: the variants DFEW alone; see ``s2d_course.synthetic.suite``).
WORLDS = {"base": "claims2", "apex50": "claims2_apex50", "apex25": "claims2_apex25",
          "ambiguity25": "claims2_ambiguity25", "ambiguity50": "claims2_ambiguity50"}
LANDMARKS = paths.TINY_LANDMARKS  # the shipped network
#: The MAE backbone of the claims' world (:func:`build_world` trains it when missing:
#: :func:`s2d_course.artifacts.mae.ensure_mae`).
MAE = paths.TRAINED / "mae_claims2" / "mae.safetensors"
RUNS = paths.RUNS / "claims2"
#: The arm that is not a training run: the static model of the seed scoring each frame alone,
#: its softmax averaged over the clip.
FRAME_AVERAGE = "frame average of the static model"
#: The overrides that mark the MAE start of a video run (the paper's "without static FER
#: pretraining": the ViT as self-supervised pretraining left it, every other part fresh).
FROM_MAE = {"init": "scratch", "vit_weights": "mae"}


@dataclass(frozen=True)
class Claim:
    """Arms (name -> config overrides) of one claim, measured at each level of its dose.

    ``comparisons`` are the ``(arm, control)`` pairs whose paired difference is the claim; the
    first is the paper's. ``only`` limits an arm (a labelled reference or an arm beyond the
    paper) to some levels. ``dose`` is ``labels`` (the share of the labelled training split),
    ``apex`` (the share of frames showing the expression) or ``ambiguity`` (the share of blended
    clips, with a fifth of it mislabelled)."""

    name: str
    question: str
    stage: str                                  # "static" or "video"
    arms: dict[str, dict]
    comparisons: tuple[tuple[str, str], ...]
    dose: str
    levels: tuple[float, ...]
    prediction: str                             # the plan's predicted direction of the gap
    slope_sign: int = 0                         # the predicted sign of the gap's slope over levels
    only: dict[str, tuple[float, ...]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # arm -> "reference" | "beyond the paper"

    def levels_of(self, arm: str) -> tuple[float, ...]:
        return self.only.get(arm, self.levels)


#: The widened start of the T-Adapters' query / key weights of the arm beyond the paper: the
#: release's 0.02 leaves the attention logits' spread near 1e-3 (uniform attention); this std
#: starts it near 1 (measured on the reference world's test clips, ``tma_attention``).
WIDE_QK_STD = 0.5

CLAIMS: dict[str, Claim] = {c.name: c for c in (
    Claim("landmark_view", "Does the landmark view help, most when labels are scarce?", "static",
          {"landmark view": {}, "no landmark branch": {"landmark_view": False}},
          (("landmark view", "no landmark branch"),), "labels", (0.1, 0.3, 1.0),
          "positive at every level, largest at 10 % of the labels", slope_sign=-1),
    Claim("temporal_attention", "Do the TMAs model time, most when the expression is brief?",
          "video",
          {"TMA attention over frames": {}, "each frame alone": {"temporal_attention": False},
           FRAME_AVERAGE: {}, "TMA, wider q/k start": {"tma_qk_std": WIDE_QK_STD}},
          (("TMA attention over frames", "each frame alone"),
           ("TMA attention over frames", FRAME_AVERAGE),
           ("TMA, wider q/k start", "each frame alone")), "apex", (1.0, 0.5, 0.25),
          "about 0 with the apex over every frame, growing as the expression gets briefer",
          slope_sign=+1, only={"TMA, wider q/k start": (0.25,)},
          labels={"TMA, wider q/k start": "beyond the paper"}),
    Claim("easdl", "Does EASDL help, most when labels are ambiguous?", "video",
          # queues of 2 filled from the first epoch: the loss only starts once every class
          # queue is full, and the rarest class (disgust, 1 % of DFEW) must fill its queue
          # within the budget
          {"cross-entropy + EASDL": {"easdl": True, "easdl_queue": 2, "easdl_start_epoch": 0},
           "cross-entropy": {}},
          (("cross-entropy + EASDL", "cross-entropy"),), "ambiguity", (0.0, 0.25, 0.5),
          "about 0 without ambiguity, positive and growing with it", slope_sign=+1),
    Claim("static_pretraining", "Does static FER pretraining help the video stage, most with "
          "few labelled clips?", "video",
          {"from the static checkpoint": {}, "from the MAE backbone": dict(FROM_MAE)},
          (("from the static checkpoint", "from the MAE backbone"),), "labels",
          # (the 50 % level is cut to fit the budget: claims_plan.md, deviation 9)
          (0.25, 1.0), "positive at every level, largest with the fewest clips",
          slope_sign=-1),
)}


@dataclass(frozen=True)
class Budget:
    """What every run of an arm gets: the same for every arm of a claim (set on validation by
    the calibration of ``results/claims_plan.md``, section 1)."""

    seeds: int = 5
    static_epochs: int = 6         # every label share: the same epochs (validation checks) ...
    static_steps: int = 40         # ... of the same optimiser steps each (batch 32)
    static_batch: int = 32
    static_lr: float = 1e-3
    layer_decay: float | None = 0.75  # MAE fine-tuning's layer-wise lr decay of the ViT blocks
    video_epochs: int = 4
    video_steps: int = 14          # optimiser steps per epoch (batch 16)
    video_batch: int = 16
    warmup_steps: int = 10


@dataclass
class Setup:
    """Where the worlds, the landmark network, the MAE backbone and the runs are."""

    world: Path = WORLD
    landmarks: Path = LANDMARKS
    mae: Path = MAE
    runs: Path = RUNS
    budget: Budget = field(default_factory=Budget)
    #: where the runs keep the landmark view they compute (default: the world's ``cache``); a
    #: process computing on another float path keeps its own, so no run reads another path's
    cache: Path | None = None
    _data: dict = field(default_factory=dict, repr=False)

    @property
    def cache_dir(self) -> str:
        return str(self.cache or self.world / "cache")

    def dataset(self, name: str, folder: str = "base") -> Path:
        return self.world / folder / name

    def dose(self, kind: str, level: float) -> dict:
        """The config overrides of one dose level (empty at the reference level)."""
        if kind == "labels":
            return {} if level == 1 else {"train_fraction": level}
        if kind == "apex":
            return {} if level == 1 else {"data_root": str(self.dataset("DFEW", f"apex{round(100 * level)}"))}
        if kind == "ambiguity":
            return {} if level == 0 else {
                "data_root": str(self.dataset("DFEW", f"ambiguity{round(100 * level)}"))}
        raise ValueError(f"unknown dose {kind!r}")

    def static_config(self, overrides: dict, seed: int) -> TrainConfig:
        b = self.budget
        overrides = dict(overrides)
        name = f"static-{slug(overrides)}-s{seed}"
        base = {"data_root": str(self.dataset("RAF-DB")), "landmark_weights": str(self.landmarks),
                "vit_weights": str(self.mae), "layer_decay": b.layer_decay, "seed": seed,
                "progress": False, "cache_dir": self.cache_dir,
                "epochs": b.static_epochs, "steps_per_epoch": b.static_steps,
                "batch_size": b.static_batch, "lr": b.static_lr,
                "warmup_epochs": b.warmup_steps / b.static_steps, "out_dir": str(self.runs / name)}
        cfg = {**base, **overrides}
        if cfg["vit_weights"] is None:  # a random ViT: no layer decay (nothing pretrained)
            cfg["layer_decay"] = None
        return load_config("static_tiny", cfg)

    def video_config(self, overrides: dict, seed: int) -> TrainConfig:
        b = self.budget
        overrides = dict(overrides)
        name = f"video-{slug(overrides)}-s{seed}"
        if overrides.get("vit_weights") == "mae":
            overrides["vit_weights"] = str(self.mae)
        epochs = b.video_epochs
        base = {"data_root": str(self.dataset("DFEW")), "landmark_weights": str(self.landmarks),
                "init": str(self.static_checkpoint(seed)), "seed": seed, "epochs": epochs,
                "steps_per_epoch": b.video_steps, "batch_size": b.video_batch,
                "warmup_epochs": b.warmup_steps / b.video_steps, "easdl": False,
                "progress": False, "easdl_start_epoch": 1,
                "easdl_ramp": f"{max(epochs - 2, 1)}:0.5,{epochs - 1}:1.0",
                "cache_dir": self.cache_dir, "out_dir": str(self.runs / name)}
        return load_config("dfer_tiny", {**base, **overrides})

    def config(self, claim: Claim, arm: str, level: float, seed: int) -> TrainConfig:
        """The run of ``arm`` of ``claim`` at dose ``level`` for ``seed``."""
        overrides = {**claim.arms[arm], **self.dose(claim.dose, level)}
        return (self.static_config(overrides, seed) if claim.stage == "static"
                else self.video_config(overrides, seed))

    def static_checkpoint(self, seed: int) -> Path:
        return self.static_config({}, seed).run_dir / "best.safetensors"

    def data(self, cfg: TrainConfig) -> DataSplits:
        """The run's datasets, built once per dataset and kept in memory for every run on it."""
        key = (cfg.data_root, cfg.num_frames, cfg.fold)
        if key not in self._data:
            data = build_data(cfg)
            self._data[key] = replace(data, train_eval=InMemory(data.train_eval),
                                      test=InMemory(data.test) if data.test is not None else None)
        return self._data[key]


def slug(overrides: dict) -> str:
    """A run's folder name from what it changes (paths by their last two parts)."""
    def short(v):
        return "-".join(Path(v).parts[-2:]) if isinstance(v, str) and "/" in v else v
    return "-".join(f"{k}={short(v)}" for k, v in sorted(overrides.items())) or "reference"


def train_run(setup: Setup, cfg: TrainConfig) -> dict:
    """One run (or its finished result from disk): test UAR / WAR / size, seconds, and what
    moved while it trained (:func:`s2d_course.claims.moved.what_moved`)."""
    from .moved import what_moved

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
        result["moved"] = what_moved(cfg, result["history"], setup.data(cfg).test)
        done.write_text(json.dumps({k: v for k, v in result.items() if k != "history"}, indent=1))
        run_cache.remember(cfg)
    test = result["test"]
    return {"uar": test["uar"], "war": test["war"], "n": int(sum(test["support"]))
            if "support" in test else None, "seconds": result.get("seconds"),
            "best_val": result.get("best_val_uar", result.get("best_val_war")),
            "easdl_epochs": result.get("easdl_epochs"), "moved": result.get("moved")}


def build_world(setup: Setup, progress: bool = True, folders: tuple[str, ...] = tuple(WORLDS)) -> dict:
    """The claims' worlds (``folders`` of :data:`WORLDS`; the check needs ``base`` alone), built
    when missing, and the MAE backbone trained on the base world's unlabelled training images
    when missing; the runs see the worlds through the shipped tiny landmark network (the same on
    every machine)."""
    from ..synthetic import build_suite

    status = {}
    for folder in folders:
        preset = WORLDS[folder]
        datasets = ("RAF-DB", "DFEW") if folder == "base" else ("DFEW",)
        status[folder] = build_suite(setup.world / folder, preset, seed=0, datasets=datasets,
                                     progress=progress)
    if setup.landmarks == LANDMARKS:
        shipped_run("landmarks")  # checks the shipped network against its recorded SHA-256
    from ..artifacts.mae import ensure_mae
    mae = ensure_mae(setup.mae, setup.world / "base", progress=progress)
    where = (str(setup.world.relative_to(paths.REPO)) if setup.world.is_relative_to(paths.REPO)
             else str(setup.world))
    return {"path": where, "presets": WORLDS, "seed": 0, "status": status,
            "landmarks_sha256": paths.file_sha256(setup.landmarks), "mae": mae}
