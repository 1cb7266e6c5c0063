"""The trained weights that ship with the repository, so that every machine shows the same numbers.

Seeded training repeats exactly only on the CPU type that ran it (:mod:`s2d_course.float_path`):
on another laptop the course's runs end a few points elsewhere. So what the notebooks show
from a trained model comes from ``trained/``: seed 0 of each run of the tiny course (the
landmark network, the static model, the temporal and the DFER video model), its selected
checkpoint stored in float16 beside its training log. ``trained/manifest.json`` records each
file's SHA-256, the recipe, the test metrics of the shipped float16 weights, and the same
metrics for every seed of the recipe: the spread that a run on another machine falls in.

``python -m s2d_course.artifacts.regenerate`` (``make weights``) trains every seed and rewrites the folder;
run it when the pipeline changes, and commit the result.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy import stats

from .. import paths
from ..paths import file_sha256

__all__ = ["TRAINED", "RUNS", "MAE_RUN", "METRICS", "ShippedError", "manifest", "shipped_run", "spread",
           "band", "summary", "compare", "report", "test_metrics", "readme_table",
           "write_readme_table"]

TRAINED = paths.TRAINED
MANIFEST = "manifest.json"
#: Each shipped run: its folder (named as ``runs/`` names it) and the files that ship.
RUNS = {
    "landmarks": ("landmarks_tiny", ("mobilefacenet.safetensors", "mobilefacenet.json", "report.json")),
    "static": ("static_tiny_RAF-DB", ("best.safetensors", "best.json", "config.yaml", "metrics.csv",
                                      "metrics.json", "results.json")),
    "temporal": ("temporal_tiny_DFEW", ("best.safetensors", "best.json", "config.yaml", "metrics.csv",
                                        "metrics.json", "results.json")),
    "dfer": ("dfer_tiny_DFEW", ("best.safetensors", "best.json", "config.yaml", "metrics.csv",
                                "metrics.json", "results.json")),
}
#: The tiny ViT's MAE stage, trained once (seed 0; not per seed, like the paper's public MAE
#: weights) and shipped in float16: the encoder every static run starts from, and the decoder
#: that shows its reconstructions (``s2d_lib.mae``).
MAE_RUN = ("mae_tiny", ("mae.safetensors", "decoder.safetensors", "mae.json"))
#: What each run is measured by on its test split (``nme``: lower is better).
METRICS = {"landmarks": ("nme",), "static": ("uar", "war"), "temporal": ("uar", "war"),
           "dfer": ("uar", "war")}


class ShippedError(RuntimeError):
    """A shipped file is missing or not the one the manifest records."""


def manifest(folder: Path = TRAINED) -> dict:
    """``trained/manifest.json``."""
    path = folder / MANIFEST
    if not path.is_file():
        raise ShippedError(f"{path} is missing: the shipped weights are made by "
                           "`python -m s2d_course.artifacts.regenerate` (make weights)")
    return json.loads(path.read_text())


def shipped_run(stage: str, folder: Path = TRAINED) -> Path:
    """The shipped run folder of ``stage`` (``landmarks``, ``mae``, ``static``, ``temporal``,
    ``dfer``), after checking every file against the manifest's SHA-256."""
    entry = manifest(folder)["runs"][stage]
    run = folder / entry["folder"]
    for name, digest in entry["files"].items():
        path = run / name
        if not path.is_file():
            raise ShippedError(f"{path} is missing (the manifest lists it); restore it with git "
                               "or rebuild the folder with `python -m s2d_course.artifacts.regenerate`")
        if file_sha256(path) != digest:
            raise ShippedError(f"{path}: its SHA-256 is not the manifest's {digest[:12]}...: the file "
                               "was changed; restore it with git or rebuild with "
                               "`python -m s2d_course.artifacts.regenerate`")
    return run


def spread(stage: str, metric: str, folder: Path = TRAINED) -> dict:
    """``metric`` of ``stage`` over the recipe's seeds: mean, std, min, max, n and the values."""
    values = np.array([s[metric] for s in manifest(folder)["runs"][stage]["seeds"]], float)
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "min": float(values.min()), "max": float(values.max()), "n": len(values),
            "values": values.tolist()}


def band(values: Sequence[float], level: float = 0.99, n: int | None = None) -> tuple[float, float]:
    """Where one more run falls with probability ``level`` when runs vary as ``values`` do (seeds
    on one machine, or machines: both reshuffle the rounding): the t prediction interval
    mean ± t(level, n-1) · std · sqrt(1 + 1/n). ``n`` is the number of independent draws among
    ``values`` (default: all of them; fewer when, say, each seed ran on two float paths, whose
    runs of one seed are close)."""
    values = np.asarray(values, float)
    n = len(values) if n is None else n
    if n < 2:
        raise ValueError(f"a band needs at least two runs, got {n}")
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) * np.sqrt(1 + 1 / n))
    return float(values.mean()) - half, float(values.mean()) + half


def summary(stage: str, folder: Path = TRAINED) -> str:
    """Where the shipped run of ``stage`` sits among the recipe's seeds, in words."""
    info = manifest(folder)
    entry = info["runs"][stage]
    parts = []
    for metric in METRICS[stage]:
        s = spread(stage, metric, folder)
        parts.append(f"test {metric.upper()} {100 * entry['shipped'][metric]:.1f} % (the recipe over "
                     f"{s['n']} seeds: {100 * s['mean']:.1f} ± {100 * s['std']:.1f} %, range "
                     f"{100 * s['min']:.1f}-{100 * s['max']:.1f})")
    return (f"shipped {stage} run: seed 0, trained on {info['machine']['cpu']} ({info['machine']['kernels']} "
            f"kernels), float16 weights: {'; '.join(parts)}. Training it on another CPU type gives "
            "another draw from the seeds' spread; TRAIN = True (or S2D_TRAIN=1) trains your own.")


def compare(stage: str, got: dict, folder: Path = TRAINED) -> str:
    """How a run trained here (``got``: its test metrics) compares with the shipped run and with
    the recipe's seed spread; raises :class:`AssertionError` when it falls outside the 99 %
    band of the seeds (then something in the pipeline changed, not just the rounding)."""
    entry = manifest(folder)["runs"][stage]
    lines, outside = [], []
    for metric in METRICS[stage]:
        s = spread(stage, metric, folder)
        low, high = band(s["values"])
        lines.append(f"{metric.upper()}: your run {100 * got[metric]:.1f} % | shipped (seed 0) "
                     f"{100 * entry['shipped'][metric]:.1f} % | {s['n']} seeds {100 * s['mean']:.1f} ± "
                     f"{100 * s['std']:.1f} % (range {100 * s['min']:.1f}-{100 * s['max']:.1f}; 99 % band "
                     f"{100 * low:.1f}-{100 * high:.1f})")
        if not low <= got[metric] <= high:
            outside.append(metric)
    lines.append("Another CPU type rounds differently, so a run trained here is another draw from "
                 "the seed spread, not a copy of the shipped run.")
    text = "\n".join(lines)
    if outside:
        raise AssertionError(f"{stage}: {', '.join(outside)} outside the seeds' 99 % band:\n{text}")
    return text


def report(stage: str, run: str | Path, folder: Path = TRAINED) -> str:
    """:func:`summary` when ``run`` is the shipped folder of ``stage``, else :func:`compare` of the
    run trained here (its recorded test metrics) with the shipped run and the seed spread."""
    if Path(run).resolve() == (folder / RUNS[stage][0]).resolve():
        return summary(stage, folder)
    return compare(stage, test_metrics(stage, Path(run)), folder)


def test_metrics(stage: str, run: Path) -> dict:
    """Test metrics of a run folder's selected weights, as the trainer scored them."""
    if stage == "landmarks":
        return {"nme": json.loads((run / "report.json").read_text())["nme_after"]}
    test = json.loads((run / "results.json").read_text())["test"]
    return {"uar": test["uar"], "war": test["war"], "n": int(sum(test["support"]))}


#: What each run is, for the README's table.
DESCRIPTIONS = {
    "landmarks": ("landmark network (`train_landmarks`, 2 epochs)", "MobileFaceNet", "held-out NME"),
    "static": ("static (`static_tiny`, 7 epochs)", "ViT (MAE start) + MCP", "RAF-DB test UAR"),
    "temporal": ("temporal (`temporal_tiny`, 6 epochs)", "dynamic groups", "DFEW fold 1 test UAR"),
    "dfer": ("DFER (`dfer_tiny`, 8 epochs, EASDL)", "dynamic groups", "DFEW fold 1 test UAR"),
}
TABLE_MARK = "<!-- shipped-table -->"


def readme_table(folder: Path = TRAINED) -> str:
    """The README's table of the shipped runs and their seed spread (from the manifest)."""
    info = manifest(folder)
    rows = ["| stage | what trains | measured by | shipped (seed 0, float16) | "
            f"{len(info['runs']['static']['seeds'])} seeds: mean ± std (range) |",
            "|---|---|---|---|---|"]
    for stage, (name, trains, measure) in DESCRIPTIONS.items():
        metric = METRICS[stage][0]
        s = spread(stage, metric, folder)
        rows.append(f"| {name} | {trains} | {measure} | {100 * info['runs'][stage]['shipped'][metric]:.1f} % | "
                    f"{100 * s['mean']:.1f} ± {100 * s['std']:.1f} % ({100 * s['min']:.1f}-{100 * s['max']:.1f}) |")
    machine = info["machine"]
    rows.append(f"\nTrained by `{info['made_by']}` on {machine['cpu']} ({machine['kernels']} kernels, "
                f"{machine['threads']} threads, torch {machine['torch']}).")
    return "\n".join(rows)


def write_readme_table(readme: Path) -> None:
    """Put :func:`readme_table` between the two ``<!-- shipped-table -->`` marks of ``readme``."""
    text = readme.read_text()
    parts = text.split(TABLE_MARK)
    if len(parts) != 3:
        raise ValueError(f"{readme}: needs exactly two {TABLE_MARK} marks around the table")
    readme.write_text(f"{parts[0]}{TABLE_MARK}\n{readme_table()}\n{TABLE_MARK}{parts[2]}")
