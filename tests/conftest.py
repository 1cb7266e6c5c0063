"""Shared fixtures: one compute thread, the read-only reference folder beside the repository,
and the mini synthetic suite."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from threadpoolctl import threadpool_limits

import s2d_course  # noqa: F401  (registers the course's tiny presets the tests start from)

REPO = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = REPO.parent / "shared" / "reference"
#: torch's thread count before the tests limit it.
CPU_THREADS = torch.get_num_threads()


def pytest_report_header(config):
    from s2d_course import float_path

    path = float_path.describe()
    mode = "another CPU type's (S2D_FLOAT=other)" if float_path.is_other_cpu() else "this machine's own"
    return (f"float path: {mode}: {path['cpu']}, kernels {path['kernels']}, "
            f"MKL_CBWR={path['mkl_cbwr'] or '-'}, ONEDNN_MAX_CPU_ISA={path['onednn_isa'] or '-'}")


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """The tests compute on small tensors: on a shared CPU, handing each op to another thread
    (torch's or BLAS's) costs more than the op, and a thread that waits for a descheduled one
    spins (a training test took 100 s instead of 10 on a loaded two-core machine)."""
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(CPU_THREADS)


@pytest.fixture
def all_threads():
    """Every thread torch would use: for the base model at full size (large matrix products that
    do share out well), and for a training run whose outcome was tuned with them (the order of
    float sums depends on the thread count, and a short training run can follow it elsewhere)."""
    torch.set_num_threads(CPU_THREADS)
    yield
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``../shared/reference``; tests that need it skip on a clone without it."""
    if not SHARED_REFERENCE.is_dir():
        pytest.skip(f"reference files absent ({SHARED_REFERENCE}); they sit beside the repo in CI")
    return SHARED_REFERENCE


@pytest.fixture(scope="session")
def mini_suite(tmp_path_factory) -> Path:
    """The ``mini`` synthetic suite (seed 0), built once for every module that reads it; a test
    that damages files works on a copy."""
    from s2d_course.synthetic import build_suite

    out = tmp_path_factory.mktemp("synthetic")
    build_suite(out, "mini", seed=0, workers=2, progress=False)
    return out


@pytest.fixture(scope="session")
def released_shapes(reference_dir: Path) -> dict:
    """Key -> shape of the released state dicts."""
    return json.loads((reference_dir / "official_state_dict_shapes.json").read_text())


def random_state_dict(shapes: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with exactly the given names and shapes and random values."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            out[key] = torch.zeros(shape, dtype=torch.long)
        elif key.endswith("running_var"):
            out[key] = torch.rand(shape, generator=g) + 0.5
        else:
            out[key] = torch.randn(shape, generator=g) * 0.02
    return out
