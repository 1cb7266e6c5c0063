"""Smoke test of ``python -m benchmarks --quick``: every table is written with finite, positive
figures, and the markdown on disk is the one printed. The quick run these tests share takes
well over 10 s, so the whole module is in the slow tier."""
from __future__ import annotations

import math
import re
import subprocess
import sys

import pytest

from conftest import REPO
from s2d_course.synthetic import build_suite

pytestmark = pytest.mark.slow


def _rows(markdown: str, section: str) -> list[list[str]]:
    """Cells of the table under ``## section`` (header and separator dropped)."""
    body = markdown.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in body.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def _number(cell: str) -> float:
    match = re.match(r"[-\d.,]+", cell.strip())
    assert match, f"no number in {cell!r}"
    return float(match.group().replace(",", ""))


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    build_suite(root / "data", "mini", datasets=("DFEW",), progress=False)
    out = root / "RESULTS.md"
    cmd = [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out),
           "--data-root", str(root / "data")]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, out


def test_quick_run_writes_the_printed_table(quick):
    markdown, out = quick
    assert out.read_text().strip() == markdown.strip()
    for section in ("Machine", "Model steps", "Ratios", "Video loading", "Targets"):
        assert f"## {section}\n" in markdown


def test_model_steps_are_measured_with_positive_finite_figures(quick):
    rows = _rows(quick[0], "Model steps")
    options = {(r[2], r[3]) for r in rows}
    for step in ("forward", "training"):
        for option in ("reference", "math attention", "landmarks cached"):
            assert (step, option) in options
    assert ("training", "grad checkpointing") in options
    measured = [r for r in rows if not r[4].startswith("skipped")]
    assert len(measured) == 7, [r[4] for r in rows]  # all but the two torch.compile rows
    for r in measured:
        seconds, clips, gflops, rate, fraction = (_number(c) for c in r[4:9])
        for x in (seconds, clips, gflops, rate, fraction):
            assert math.isfinite(x) and x > 0, r
        assert clips == pytest.approx(1 / seconds, rel=0.02)
        assert rate == pytest.approx(gflops / seconds, rel=0.02)
        assert _number(r[10]) > 0  # peak RSS MiB
    # The training step counts forward and backward, so it does more work than the forward.
    gflops = {(r[2], r[3]): _number(r[6]) for r in measured}
    assert gflops[("training", "reference")] > gflops[("forward", "reference")]
    assert gflops[("forward", "landmarks cached")] < gflops[("forward", "reference")]


def test_loader_and_matmul_limit_are_positive(quick):
    markdown = quick[0]
    rows = _rows(markdown, "Video loading")
    assert {(r[0], r[1], r[2]) for r in rows} == {
        (source, size, workers) for source in ("frames", "mp4") for size in ("64", "224")
        for workers in ("0", "2")}
    for r in rows:
        assert math.isfinite(_number(r[3])) and _number(r[3]) > 0, r
    limit = dict(_rows(markdown, "Machine"))["matmul limit"]
    assert _number(limit.split("cpu ", 1)[1]) > 0


def test_targets_report_tiny_landmark_caching_and_ratio(quick):
    targets = {r[0]: r for r in _rows(quick[0], "Targets")}
    _, measured, verdict = targets["tiny training step: landmark caching saves time"]
    computed, cached = (_number(part) for part in measured.split("→"))
    assert computed > 0 and cached > 0
    assert (verdict == "met") == (cached < computed), (measured, verdict)
    _, ratio, verdict = targets["tiny dynamic training step ≤ 2.3 × the forward time"]
    assert (verdict == "met") == (_number(ratio) <= 2.3), (ratio, verdict)
    assert targets["base forward ≥ 85% of the matmul limit"][1] == "not measured"


def test_inference_quick_measures_each_option_and_replaces_only_its_section(tmp_path):
    """``python -m benchmarks.inference --quick`` (tiny model, fp32 / bf16 / int8): every option
    timed on the same windows with its largest probability change, a new default within the
    tolerance, and only the "Video inference" section of the file rewritten."""
    import torch

    from s2d_lib.predict.engine import PROBABILITY_TOLERANCE, resolve_precision

    out = tmp_path / "RESULTS.md"
    out.write_text("# S2D benchmarks\n\n## Video inference\n\nold\n\n## Kept\n\nthis stays\n")
    cmd = [sys.executable, "-m", "benchmarks.inference", "--quick", "--out", str(out),
           "--tiny-checkpoint", str(tmp_path / "none.safetensors")]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    text = out.read_text()
    assert "\nold\n" not in text and text.endswith("## Kept\n\nthis stays\n")
    rows = _rows(text, "Video inference")
    same = [r for r in rows if "consecutive" in r[1]]
    assert [r[2] for r in same] == ["fp32", "bf16", "int8"]
    assert all(_number(r[3]) > 0 and math.isfinite(_number(r[3])) for r in rows)
    assert float(same[0][7]) == 0
    assert all(float(r[7]) <= PROBABILITY_TOLERANCE for r in same)
    default = [r for r in rows if r[8] == "new default"]
    assert len(default) == 1 and default[0][2] == resolve_precision("auto", torch.device("cpu"))
    assert sum("fastest within the tolerance" in r[8] for r in rows) == 1


def test_claims_runs_section_gives_each_way_against_make_claims_way(tmp_path):
    from benchmarks import claims_runs
    from benchmarks.inference import write_section
    from s2d_course.claims.setup import Budget

    rows = [("static", claims_runs.WAYS[0], 135, 40.0), ("static", claims_runs.WAYS[2], 135, 60.0)]
    info = {"CPU": "a CPU", "torch": "torch", "load average at start": "0.1"}
    section = claims_runs.render(rows, info, 100.0, Budget())
    table = _rows(section, "Claims runs")
    assert [r[1] for r in table] == list(claims_runs.WAYS[::2])
    assert table[0][5] == "—" and table[1][5] == "1.50× faster"
    assert _number(table[1][4]) == pytest.approx(60 / 135, abs=1e-3)
    out = tmp_path / "RESULTS.md"
    out.write_text("# x\n\n## Claims runs\n\nold\n")
    write_section(out, section, claims_runs.SECTION)
    assert "old" not in out.read_text() and "1.50× faster" in out.read_text()


def test_training_steps_section_gives_speed_ups_and_bit_identity_against_the_reference():
    from benchmarks import training_steps

    ref = {"s_per_step": 0.2, "first_s": 0.3, "loss": 1.5, "weights": "aaaa",
           "profile": [("aten::mm", 0.4, 0.08, 89)]}
    rows = {"reference": ref,
            "foreach AdamW": {**ref, "s_per_step": 0.19, "profile": []},
            "bf16 + math attention": {**ref, "s_per_step": 0.1, "loss": 1.49, "weights": "bbbb"},
            "torch.compile": {"error": "no compiler"}}
    info = {"CPU": "a CPU", "torch": "torch", "load average at start": "0.1"}
    section = training_steps.render({"static": rows}, {"static": 20.0}, 200.0, info, 10.0)
    table = [r for r in _rows(section, "Training steps") if r[0] in rows]
    assert [r[0] for r in table] == list(rows)
    assert table[0][4] == "1.00×" and table[2][4] == "2.00×"
    assert _number(table[2][2]) == pytest.approx(200) and table[2][3] == "100%"
    assert [r[7] for r in table[:3]] == ["yes", "yes", "no"]
    assert "failed: no compiler" in table[3][1]
    assert "| `aten::mm` | 40.0% | 80.0 | 89 |" in section


def test_top_ops_gives_shares_of_the_self_time_largest_first():
    import torch
    from torch.profiler import ProfilerActivity, profile

    from benchmarks.machine import top_ops

    a = torch.randn(256, 256)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            (a @ a).relu_()
    ops = top_ops(prof)
    shares = [share for _, share, _, _ in ops]
    assert shares == sorted(shares, reverse=True) and sum(shares) == pytest.approx(1.0)
    assert {"aten::mm", "aten::relu_"} <= {key for key, *_ in ops}
    assert dict((k, n) for k, _, _, n in ops)["aten::mm"] == 3
