"""The results as markdown: machine, model steps, ratios, video loading, and the targets."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .loading import LoaderCase
from .steps import Case

__all__ = ["StepResult", "LoaderResult", "Results", "TARGET_FORWARD_FRACTION",
           "TARGET_TRAIN_RATIO", "render"]

#: Targets on the CPU (issue "Benchmarks"): base forward at >= 85 % of the matmul limit, the
#: dynamic training step at most 2.3 x the forward time.
TARGET_FORWARD_FRACTION = 0.85
TARGET_TRAIN_RATIO = 2.3
DASH = "—"


@dataclass
class StepResult:
    """A measured (or failed, or skipped) configuration with its FLOP count and matmul limit."""

    case: Case
    result: dict            # from steps.run_case, or {"error": reason} / {"skipped": reason}
    gflops: float
    limit_gflops_s: float   # matmul limit of the case's device and precision

    @property
    def ok(self) -> bool:
        return "median_s" in self.result

    @property
    def seconds(self) -> float:
        return self.result["median_s"]

    @property
    def clips_per_s(self) -> float:
        return self.case.batch / self.seconds

    @property
    def gflops_per_s(self) -> float:
        return self.gflops / self.seconds

    @property
    def fraction(self) -> float:
        """Achieved GFLOP/s over the matmul limit."""
        return self.gflops_per_s / self.limit_gflops_s


@dataclass
class LoaderResult:
    """Clips per second of one loader configuration (``None`` with ``error`` when it failed)."""

    case: LoaderCase
    clips_per_s: float | None
    error: str = ""


@dataclass
class Results:
    """Everything one run measured."""

    machine: dict[str, str]
    limits: dict[str, float]            # "cpu" / "cuda" / "cuda bf16" -> matmul GFLOP/s
    steps: list[StepResult] = field(default_factory=list)
    loaders: list[LoaderResult] = field(default_factory=list)
    repeats: dict[str, str] = field(default_factory=dict)   # model -> timed repeats
    runtime_s: float = 0.0
    quick: bool = False

    def find(self, model: str, step: str, device: str = "cpu", batch: int = 1,
             **options) -> StepResult | None:
        """The configuration with these options (the reference when none are given)."""
        key = (model, step, device, batch, Case(model, step, **options).option)
        for r in self.steps:
            if (r.case.model, r.case.step, r.case.device, r.case.batch, r.case.option) == key:
                return r
        return None


def _num(x: float, digits: int = 3) -> str:
    """Three significant digits, without scientific notation for the sizes seen here."""
    if x == 0 or not math.isfinite(x):
        return str(x)
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(x)))))
    return f"{x:,.{decimals}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _option(r: StepResult) -> str:
    text = r.case.option
    if r.case.batch != 1:
        text += f", batch {r.case.batch}"
    if "compile_s" in r.result:
        text += f" (compiled in {r.result['compile_s']:.0f} s)"
    return text


def _memory(r: StepResult) -> str:
    peak, step = r.result.get("peak_rss_mib"), r.result.get("step_rss_mib")
    if peak is None:
        return DASH
    return f"{peak:,.0f}" + (f" (+{step:,.0f})" if step is not None else "")


def _step_rows(results: Results) -> tuple[list[str], list[list[str]]]:
    gpu = any(r.case.device == "cuda" for r in results.steps)
    header = ["model", "device", "step", "option", "s / step", "clips/s", "GFLOPs / step",
              "GFLOP/s", "of matmul limit", "speed-up vs reference", "peak RSS MiB (+ step)"]
    if gpu:
        header.append("CUDA max allocated MiB")
    rows = []
    for r in results.steps:
        row = [r.case.model, r.case.device, "training" if r.case.step == "train" else "forward",
               _option(r)]
        if r.ok:
            ref = results.find(r.case.model, r.case.step, r.case.device, r.case.batch)
            speedup = ref.seconds / r.seconds if ref is not None and ref.ok and ref is not r else None
            row += [_num(r.seconds), _num(r.clips_per_s), _num(r.gflops), _num(r.gflops_per_s),
                    f"{100 * r.fraction:.1f}%", DASH if speedup is None else f"{speedup:.2f}×",
                    _memory(r)]
        else:
            reason = r.result.get("skipped") or f"failed: {r.result.get('error', 'unknown')}"
            row += [reason] + [DASH] * 6
        if gpu:
            cuda = r.result.get("cuda_max_allocated_mib")
            row.append(DASH if cuda is None else f"{cuda:,.0f}")
        rows.append(row)
    return header, rows


def _ratio(a: StepResult | None, b: StepResult | None) -> float | None:
    """``a``'s time over ``b``'s, when both were measured."""
    return a.seconds / b.seconds if a is not None and b is not None and a.ok and b.ok else None


def _fmt_ratio(x: float | None) -> str:
    return DASH if x is None else f"{x:.2f}×"


def _ratio_rows(results: Results) -> list[list[str]]:
    models = [m for m in ("tiny", "base") if results.find(m, "forward") or results.find(m, "train")]
    f = results.find
    specs = [
        ("training step / forward time",
         lambda m: _ratio(f(m, "train"), f(m, "forward"))),
        ("landmarks cached: forward speed-up",
         lambda m: _ratio(f(m, "forward"), f(m, "forward", landmarks="cached"))),
        ("landmarks cached: training speed-up",
         lambda m: _ratio(f(m, "train"), f(m, "train", landmarks="cached"))),
        ("fused over math attention: forward speed-up",
         lambda m: _ratio(f(m, "forward", attention="math"), f(m, "forward"))),
        ("fused over math attention: training speed-up",
         lambda m: _ratio(f(m, "train", attention="math"), f(m, "train"))),
        ("torch.compile: forward speed-up",
         lambda m: _ratio(f(m, "forward"), f(m, "forward", compile=True))),
        ("torch.compile: training speed-up",
         lambda m: _ratio(f(m, "train"), f(m, "train", compile=True))),
        ("grad checkpointing: training time ×",
         lambda m: _ratio(f(m, "train", checkpointing=True), f(m, "train"))),
    ]
    rows = [[name] + [_fmt_ratio(fn(m)) for m in models] for name, fn in specs]
    memory = []
    for m in models:
        ref, ckpt = f(m, "train"), f(m, "train", checkpointing=True)
        steps = [r.result.get("step_rss_mib") if r is not None and r.ok else None for r in (ckpt, ref)]
        memory.append(_fmt_ratio(steps[0] / steps[1]) if None not in steps and steps[1] > 0 else DASH)
    rows.append(["grad checkpointing: step memory ×"] + memory)
    return [["ratio"] + models] + rows


def _loader_rows(results: Results) -> list[list[str]]:
    rows = []
    for lr in results.loaders:
        model = "tiny" if lr.case.image_size == 64 else "base"
        train = results.find(model, "train")
        train_cps = train.clips_per_s if train is not None and train.ok else None
        if lr.clips_per_s is None:
            rows.append([lr.case.source, f"{lr.case.image_size}", f"{lr.case.workers}",
                         f"failed: {lr.error}", DASH, DASH])
            continue
        rows.append([lr.case.source, f"{lr.case.image_size}", f"{lr.case.workers}",
                     _num(lr.clips_per_s),
                     DASH if train_cps is None else f"{_num(train_cps)} ({model})",
                     DASH if train_cps is None else f"{lr.clips_per_s / train_cps:.1f}×"])
    return rows


def _why_not(results: Results, *steps: StepResult | None) -> str:
    """Why a target could not be checked: the reason of the first step that was not measured."""
    for r in steps:
        if r is None:
            return "--quick measures the tiny model only" if results.quick else "not run"
        if not r.ok:
            return r.result.get("skipped") or f"failed: {r.result.get('error', 'unknown')}"
    return "not run"


def _target_rows(results: Results) -> list[list[str]]:
    f, rows = results.find, []
    fwd = f("base", "forward")
    if fwd is not None and fwd.ok:
        need = fwd.gflops / (TARGET_FORWARD_FRACTION * fwd.limit_gflops_s)
        met = fwd.fraction >= TARGET_FORWARD_FRACTION
        rows.append(["base forward ≥ 85% of the matmul limit", f"{100 * fwd.fraction:.1f}%",
                     "met" if met else f"missed by {100 * (TARGET_FORWARD_FRACTION - fwd.fraction):.1f} "
                     f"points ({fwd.seconds:.2f} s per clip; {need:.2f} s needed)"])
    else:
        rows.append(["base forward ≥ 85% of the matmul limit", "not measured", _why_not(results, fwd)])
    for model in ("base", "tiny"):
        train, fwd = f(model, "train"), f(model, "forward")
        ratio = _ratio(train, fwd)
        name = f"{model} dynamic training step ≤ 2.3 × the forward time"
        if ratio is None:
            if model == "base":
                rows.append([name, "not measured", _why_not(results, fwd, train)])
            continue
        verdict = "met" if ratio <= TARGET_TRAIN_RATIO else (
            f"missed by {ratio - TARGET_TRAIN_RATIO:.2f}× ({train.seconds:.2f} s; "
            f"{TARGET_TRAIN_RATIO * fwd.seconds:.2f} s allowed)")
        rows.append([name, f"{ratio:.2f}×", verdict])
    for step in ("train", "forward"):
        computed, cached = f("tiny", step), f("tiny", step, landmarks="cached")
        name = f"tiny {'training step' if step == 'train' else 'forward'}: landmark caching saves time"
        if _ratio(cached, computed) is None:
            rows.append([name, "not measured", _why_not(results, computed, cached)])
            continue
        saving = 1 - cached.seconds / computed.seconds
        change = f"{100 * saving:.0f}% saved" if saving > 0 else f"{100 * -saving:.0f}% slower"
        rows.append([name, f"{computed.seconds:.3f} s → {cached.seconds:.3f} s ({change})",
                     "met" if saving > 0 else f"missed by {100 * -saving:.0f}%"])
    return rows


def render(results: Results) -> str:
    """The whole report as markdown."""
    limits = ", ".join(f"{name} {_num(v)} GFLOP/s" for name, v in results.limits.items())
    repeats = ", ".join(f"{m}: median of {n}" for m, n in results.repeats.items())
    lines = ["# S2D benchmarks", "",
             f"`python -m benchmarks{' --quick' if results.quick else ''}` ran in "
             f"{results.runtime_s:.0f} s. Timings: {repeats}, after one untimed warm-up; "
             "16-frame clips, batch 1 unless noted. The training step is the dynamic stage "
             "(frozen ViT, backward through it, AdamW on the trainable parameters). GFLOPs are "
             "counted by `torch.utils.flop_counter` (a multiply-add = 2), the training step's "
             "forward + backward included; the matmul limit is a dense float32 "
             f"{'2048²' if results.quick else '4096²'} `torch.matmul`.", "",
             "## Machine", ""]
    machine = [[k, v] for k, v in results.machine.items()] + [["matmul limit", limits]]
    lines += _table(["", ""], machine)
    header, rows = _step_rows(results)
    lines += ["", "## Model steps", "",
              "Peak RSS is the process's resident memory over the steps (compiling included); "
              "+ step is what the steps add to the resident model and inputs"
              + (" (--quick measures every configuration in one process: indicative only)."
                 if results.quick else "; each configuration runs in a fresh process."), ""]
    lines += _table(header, rows)
    ratios = _ratio_rows(results)
    lines += ["", "## Ratios", "", "Speed-ups are reference time / option time.", ""]
    lines += _table(ratios[0], ratios[1:])
    if results.loaders:
        lines += ["", "## Video loading", "",
                  "Synthetic DFEW fold-1 training clips (random 16-frame window, augmentation, "
                  "normalisation), batch 1, beside the training step of the model of that frame "
                  "size; loader / training above 1× means loading keeps up with training.", ""]
        lines += _table(["source", "frame size", "workers", "loader clips/s",
                         "training step clips/s", "loader / training"], _loader_rows(results))
    lines += ["", "## Targets", ""]
    lines += _table(["target", "measured", "verdict"], _target_rows(results))
    return "\n".join(lines) + "\n"
