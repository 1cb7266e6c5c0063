"""The authors' released DFER recipe, field by field, and the README's preset table built from
the config (one source): every paper value says whether it is the release's or ours, and why.

``python -m s2d_course.release_recipe`` prints the tables; ``--write README.md`` replaces those
between the README's ``<!-- preset-table PROFILE -->`` markers.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any, Callable, Sequence

from s2d_lib.config import RELEASED_STATIC, TrainConfig, load_config

__all__ = ["RELEASE", "RELEASE_BY_DATASET", "OURS", "ROWS", "release_values", "differences",
           "preset_table", "write_tables", "main"]

#: The release's DFER fine-tuning recipe (its scripts and defaults), as config values.
RELEASE: dict[str, Any] = {
    "model": "s2d_base_patch16_224", "num_frames": 16, "frame_sampling": "window",
    "batch_size": 8, "epochs": 100, "base_lr": 1e-5, "lr": None, "base_min_lr": 1e-8,
    "min_lr": None, "warmup_epochs": 2.0, "weight_decay": 0.05, "betas": (0.9, 0.999),
    "clip_grad": None, "drop_path_rate": 0.0, "drop_rate": 0.5,
    "auto_augment": "rand-m7-n4-mstd0.5-inc1", "crop_scale": (0.08, 1.0), "reprob": 0.25,
    "mixup": 0.8, "cutmix": 1.0, "smoothing": 0.1, "easdl": False, "easdl_top_k": 2,
    "easdl_queue": 16, "easdl_start_epoch": 20, "easdl_ramp": "30:0.01,50:0.1,60:0.5,80:1.0",
    "test_clips": 2, "test_crops": 2, "test_resize": "square", "fresh_tma": False,
    "init": RELEASED_STATIC, "precision": "auto", "class_balanced": False,
    "landmark_cache": False,
}
#: What the release's FERV39k script changes: plain cross-entropy, no head dropout, EASDL.
RELEASE_BY_DATASET: dict[str, dict[str, Any]] = {
    "DFEW": {}, "MAFW": {},
    "FERV39k": {"mixup": 0.0, "cutmix": 0.0, "smoothing": 0.0, "drop_rate": 0.0, "easdl": True},
}
#: Where the paper presets deliberately differ from the release, and why.
OURS: dict[str, str] = {
    "val_fraction": "the release picks its epoch by test WAR; we select on a validation split "
                    "carved from train (stratified) and test once",
    "selection": "UAR, the metric of imbalanced DFER, decides the selected epoch",
    "easdl_queues": "our EASDL queues start empty and the loss switches on once every class "
                    "queue is full; the release starts from random-noise anchors",
}

#: Rows of the README table: (label, how to show a config's value).
ROWS: list[tuple[str, Callable[[TrainConfig], str]]] = [
    ("model", lambda c: f"`{c.model}`"),
    ("data", lambda c: ("synthetic " if c.profile == "tiny" else "") + c.dataset),
    ("frames T / sampling", lambda c: f"{c.num_frames} / {c.frame_sampling}"
     if c.num_frames > 1 else "1"),
    ("batch per process", lambda c: str(c.batch_size)),
    ("epochs", lambda c: str(c.epochs)),
    ("lr", lambda c: f"{c.lr:g}" if c.lr is not None else f"{c.base_lr:g} × batch / 8"),
    ("warm-up, then cosine to", lambda c: f"{c.warmup_epochs:g} ep. from 0, "
     + (f"{c.min_lr:g}" if c.min_lr is not None else f"{c.base_min_lr:g} × batch / 256")),
    ("AdamW betas / weight decay", lambda c: f"{c.betas} / {c.weight_decay:g}"),
    ("RandAugment (timm)", lambda c: c.auto_augment or "–"),
    ("crop scale / erasing", lambda c: f"{c.crop_scale} / {c.reprob:g}"),
    ("mixup / cutmix / smoothing", lambda c: f"{c.mixup:g} / {c.cutmix:g} / {c.smoothing:g}"),
    ("head dropout", lambda c: f"{c.drop_rate:g}"),
    ("EASDL (K, queue, from epoch, ramp)", lambda c: f"K {c.easdl_top_k}, queue {c.easdl_queue}, "
     f"{c.easdl_start_epoch}, {c.easdl_ramp}" if c.easdl else "–"),
    ("EASDL anchors at the start", lambda c: ("empty; loss on once every queue is full"
                                              if c.profile != "release" else "random noise")
     if c.easdl else "–"),
    ("TMAs of the static model", lambda c: "–" if c.stage == "static"
     else ("fresh" if c.fresh_tma else "kept")),
    ("test views / resize", lambda c: f"{c.test_clips} × {c.test_crops} / {c.test_resize}"),
    ("model selection", lambda c: f"val split {c.val_fraction:g}, "
     + ("UAR" if c.dataset in ("DFEW", "FERV39k", "MAFW") else "WAR")),
    ("landmark view", lambda c: "cached" if c.landmark_cache else "on the fly"),
    ("AMP", lambda c: "fp16 (GPU)" if c.precision in ("auto", "fp16") else "–"),
]

#: The columns of each profile's table: its presets, DFER on each video dataset for paper.
COLUMNS: dict[str, list[tuple[str, str, dict]]] = {
    "paper": [("`static_paper`", "static_paper", {}),
              ("`temporal_paper`", "temporal_paper", {}),
              ("`dfer_paper` DFEW", "dfer_paper", {}),
              ("`dfer_paper` FERV39k", "dfer_paper", {"dataset": "FERV39k"}),
              ("`dfer_paper` MAFW", "dfer_paper", {"dataset": "MAFW"})],
    "tiny": [("`static_tiny`", "static_tiny", {}), ("`temporal_tiny`", "temporal_tiny", {}),
             ("`dfer_tiny`", "dfer_tiny", {})],
}


def release_values(dataset: str) -> dict[str, Any]:
    """The release's DFER values for ``dataset`` (DFEW, FERV39k, MAFW)."""
    return {**RELEASE, **RELEASE_BY_DATASET[dataset]}


def differences(cfg: TrainConfig) -> dict[str, tuple[Any, Any]]:
    """``field: (ours, release's)`` for every release field where the DFER config ``cfg``
    differs (empty for the paper presets)."""
    release = release_values(cfg.dataset)
    return {k: (getattr(cfg, k), v) for k, v in release.items() if getattr(cfg, k) != v}


class _Release(TrainConfig):
    """The release's values in a config's shape, so that the table renders them alike."""

    def __post_init__(self) -> None:  # "release" is no profile of ours: skip the checks
        pass


def _release_config(dataset: str) -> TrainConfig:
    return _Release(stage="dfer", profile="release", dataset=dataset, **release_values(dataset))


def preset_table(profile: str = "paper") -> str:
    """The README's table of ``profile``'s presets. The paper table adds the release's value of
    every row and marks *(ours)* every ``dfer_paper`` value that is not the release's."""
    columns = COLUMNS[profile]
    configs = [load_config(name, over) for _, name, over in columns]
    paper = profile == "paper"
    lines = ["| | " + " | ".join(c[0] for c in columns) + (" | the release (DFER) |" if paper
                                                           else " |"),
             "|" + "---|" * (len(columns) + 1 + paper)]
    for label, render in ROWS:
        cells = []
        for (_, name, _), cfg in zip(columns, configs):
            value = render(cfg)
            if name == "dfer_paper" and (label == "model selection"
                                         or value != render(_release_config(cfg.dataset))):
                value += " *(ours)*"
            cells.append(value)
        if paper:
            dfew, ferv = (render(_release_config(d)) for d in ("DFEW", "FERV39k"))
            cells.append(dfew if dfew == ferv else f"{dfew} (FERV39k: {ferv})")
            if label == "model selection":
                cells[-1] = "best epoch by WAR on the **test** split"
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


_MARKERS = re.compile(r"(<!-- preset-table (\w+) -->\n).*?(<!-- /preset-table -->)", re.DOTALL)


def write_tables(readme: str | Path) -> None:
    """Replace every ``<!-- preset-table PROFILE -->`` ... ``<!-- /preset-table -->`` block of
    ``readme`` with the generated table."""
    path = Path(readme)
    text = path.read_text()
    if not _MARKERS.search(text):
        raise ValueError(f"{path}: no <!-- preset-table PROFILE --> ... <!-- /preset-table --> "
                         "markers")
    path.write_text(_MARKERS.sub(lambda m: m.group(1) + preset_table(m.group(2)) + m.group(3),
                                 text))


def main(argv: Sequence[str] | None = None) -> None:
    """Print the tables, or write them into a README between their markers."""
    parser = argparse.ArgumentParser(prog="python -m s2d_course.release_recipe",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", metavar="README", default=None)
    args = parser.parse_args(argv)
    if args.write:
        write_tables(args.write)
    else:
        for profile in COLUMNS:
            print(preset_table(profile))


if __name__ == "__main__":
    main()
