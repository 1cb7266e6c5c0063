"""``python -m benchmarks.inference [--quick] [--out benchmarks/RESULTS.md]``: video inference speed.

Times the predictor's model stage (crop, normalise, landmark view once per frame, the model
once per window; :func:`s2d_lib.predict.engine.window_probs`) for the tiny and the base model,
with each precision option on the same windows, and the largest change of any class probability
against fp32. Seconds per video-second = seconds per window x windows per video-second: 6.25
for the previous default (T consecutive frames every 4 frames at 25 fps), 1 / stride for span
windows. Face detection is not included (it does not depend on the model). The section
"Video inference" of ``--out`` is replaced (or appended); the rest of the file is kept.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import timm
import torch

from s2d_lib.checkpoints import checkpoint_metadata, load_any_checkpoint, load_landmark_weights
from s2d_lib.predict.engine import (PROBABILITY_TOLERANCE, prepare_model, resolve_precision,
                                    window_probs)
from s2d_lib.predict.windows import Windows, plan_windows, training_span
from s2d_lib.data.video import FRAME_RATE
from s2d_course.paths import REPO

from .machine import describe, use_all_cores

SECTION = "## Video inference"
FPS, OLD_STRIDE = FRAME_RATE, 4
OPTIONS = ("fp32", "bf16", "int8", "compile")


@dataclass
class Row:
    model: str
    windows: str
    option: str
    seconds_per_window: float
    windows_per_second: float
    max_change: float
    note: str = ""

    @property
    def per_video_second(self) -> float:
        return self.seconds_per_window * self.windows_per_second


def _random_released(reference: Path) -> tuple[torch.nn.Module, str]:
    """The base model with random values in the released format (names and shapes of the
    reference file), its landmark network likewise."""
    shapes = json.loads((reference / "official_state_dict_shapes.json").read_text())
    g = torch.Generator().manual_seed(0)

    def state(keys: dict) -> dict:
        return {k: torch.zeros(s, dtype=torch.long) if k.endswith("num_batches_tracked")
                else torch.rand(s, generator=g) + 0.5 if k.endswith("running_var")
                else torch.randn(s, generator=g) * 0.02 for k, s in keys.items()}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "DFEW-random.pth"
        torch.save({"model": state(shapes["s2d_base_patch16_224_T16"])}, path)
        with warnings.catch_warnings():  # no landmark file: loaded below from the same shapes
            warnings.simplefilter("ignore")
            model = load_any_checkpoint(path)
    load_landmark_weights(model, state(shapes["mobilefacenet_112_136"]))
    return model, "`s2d_base_patch16_224`, 16 frames: released format, random values from the " \
        "reference shapes (the authors' file and its MobileFaceNet)"


def _frames(num: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (num, size, size, 3), dtype=np.uint8)


def _time(model, precision: str, frames: np.ndarray, windows: Windows, repeats: int
          ) -> tuple[float, np.ndarray, float]:
    """Median seconds per window over ``repeats`` runs (after one untimed run that also
    compiles), the probabilities, and the untimed first run's seconds."""
    cpu = torch.device("cpu")
    boxes = np.tile([0, 0, frames.shape[2], frames.shape[1]], (len(frames), 1)).astype(float)
    run = prepare_model(model, precision, cpu)
    read = lambda idx: frames[list(idx)]  # noqa: E731

    def once() -> np.ndarray:
        return window_probs(model, run, read, boxes, windows.frames, 4, cpu, progress=False)
    start = time.perf_counter()
    probs = once()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        probs = once()
        times.append((time.perf_counter() - start) / len(windows))
    return statistics.median(times), probs, first


def measure(name: str, model, metadata: dict, num_windows: int, repeats: int,
            options=OPTIONS) -> list[Row]:
    """Each option on the previous default's windows, then the new default windows."""
    T, size = model.num_frames, model.config["img_size"]
    old = plan_windows(T + OLD_STRIDE * (num_windows - 1), FPS, T, consecutive=True,
                       stride_seconds=OLD_STRIDE / FPS)
    span, consecutive = training_span(metadata, T)
    frames = _frames(int(round((span or T / FPS) * FPS)) * 3, size)
    new = plan_windows(len(frames), FPS, T, span, None, consecutive)
    new = Windows(new.frames[:num_windows], new.step, new.stride, new.consecutive)
    rows, ref = [], None
    for option in options:
        print(f"[inference] {name} {option} ...", file=sys.stderr, flush=True)
        try:
            seconds, probs, first = _time(model, option, frames, old, repeats)
        except Exception as exc:  # reported in the table; the other options still count
            rows.append(Row(name, "old", option, float("nan"), FPS / OLD_STRIDE, float("nan"),
                            f"failed: {type(exc).__name__}"))
            continue
        ref = probs if option == "fp32" else ref
        note = f"compiled in {first:.0f} s" if option == "compile" else ""
        rows.append(Row(name, f"{T} consecutive frames every {OLD_STRIDE} frames", option,
                        seconds, FPS / OLD_STRIDE, float(np.abs(probs - ref).max()), note))
    best = min((r for r in rows if r.max_change <= PROBABILITY_TOLERANCE
                and np.isfinite(r.seconds_per_window)), key=lambda r: r.seconds_per_window)
    best.note = (best.note + "; " if best.note else "") + "fastest within the tolerance"
    default = resolve_precision("auto", torch.device("cpu"))  # what the predictor uses
    for option in dict.fromkeys(("fp32", default)):
        seconds, probs, _ = _time(model, option, frames, new, repeats)
        rows.append(Row(name, f"{T} frames over {new.span:.2f} s every {new.stride_seconds:.2f} s",
                        option, seconds, 1 / new.stride_seconds, float("nan"), "new default"
                        if option == default else ""))
    return rows


def render(rows: list[Row], models: dict[str, str], repeats: int, runtime: float,
           info: dict[str, str], shared: bool) -> str:
    """The section: machine and method, the models, one table row per measurement."""
    lines = [SECTION, "",
             f"`python -m benchmarks.inference` ran in {runtime:.0f} s on {info['CPU']} "
             f"({info['torch']}; load average at start {info['load average at start']}"
             f"{': the machine was shared' if shared else ''}; times are the median of "
             f"{repeats} runs after an untimed one). "
             "The model stage of `s2d_lib.predict` (crop, normalisation, the landmark view once per "
             "frame, the model once per window, batch 4); face detection excluded. Seconds per "
             "video-second = seconds per window x windows per video-second. Max change = largest "
             "difference of any class probability from fp32 on the same windows (tolerance "
             f"{PROBABILITY_TOLERANCE}).", ""]
    lines += [f"- {m}: {what}" for m, what in models.items()] + [""]
    lines += ["| model | windows | option | s / window | windows / video-s | s / video-second | "
              "speed-up vs before | max change vs fp32 | note |", "|" + "---|" * 9]
    before = {r.model: r.per_video_second for r in rows if r.option == "fp32"
              and "consecutive" in r.windows}
    for r in rows:
        change = "—" if not np.isfinite(r.max_change) else f"{r.max_change:.2g}"
        lines.append(f"| {r.model} | {r.windows} | {r.option} | {r.seconds_per_window:.3g} | "
                     f"{r.windows_per_second:.2f} | {r.per_video_second:.3g} | "
                     f"{before[r.model] / r.per_video_second:.2f}× | {change} | {r.note} |")
    return "\n".join(lines) + "\n"


def write_section(out: Path, section: str, title: str = SECTION) -> None:
    """Replace the section ``title`` (``## ...``) of ``out`` with ``section`` (or append it)."""
    text = out.read_text() if out.is_file() else ""
    pattern = re.compile(rf"{re.escape(title)}\n.*?(?=\n## |\Z)", re.S)
    text = pattern.sub(lambda _: section.rstrip("\n"), text) if pattern.search(text) \
        else text.rstrip("\n") + "\n\n" + section
    out.write_text(text if text.endswith("\n") else text + "\n")


def main(argv: list[str] | None = None) -> str:
    """Measure, write the section into ``--out`` and print it."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inference",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny only, one repeat, no compile")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    parser.add_argument("--tiny-checkpoint", type=Path,
                        default=REPO / "runs" / "dfer_tiny_DFEW" / "best.safetensors")
    parser.add_argument("--reference", type=Path, default=REPO.parent / "shared" / "reference")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    # the machine before the measurement: other work running (1-minute load above half the cores)
    shared = os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1)
    use_all_cores()
    info = describe()
    repeats = 1 if args.quick else args.repeats
    models, rows = {}, []
    if args.tiny_checkpoint.is_file():
        tiny = load_any_checkpoint(args.tiny_checkpoint)
        meta = checkpoint_metadata(args.tiny_checkpoint)  # the facts the checkpoint carries
        models["tiny"] = f"trained DFEW model `{args.tiny_checkpoint.relative_to(REPO)}`"
    else:
        tiny, meta = timm.create_model("s2d_tiny_patch8_64", num_frames=8).eval(), {}
        models["tiny"] = "random values (no trained checkpoint found)"
    options = OPTIONS[:3] if args.quick else OPTIONS
    rows += measure("tiny", tiny, meta, 4 if args.quick else 16, repeats, options)
    if not args.quick and (args.reference / "official_state_dict_shapes.json").is_file():
        base, models["base"] = _random_released(args.reference)
        rows += measure("base", base, {}, 4, repeats, options)
    section = render(rows, models, repeats, time.perf_counter() - start, info, shared)
    write_section(args.out, section)
    print(section)
    return section


if __name__ == "__main__":
    main()
