"""The other-CPU mode: it picks another code path than the machine's own, and that path really
rounds differently (a short training run ends on other bits)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import REPO

from s2d_course import float_path


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\nmodel name\t: X\n")
    assert {"avx2", "avx512f"} <= float_path.cpu_flags(info)
    assert float_path.cpu_flags(tmp_path / "missing") == set()


def test_other_cpu_is_one_vector_width_down():
    wide = float_path.other_cpu_env({"avx2", "avx512f"})
    narrow = float_path.other_cpu_env({"avx2"})
    assert wide["ATEN_CPU_CAPABILITY"] == "avx2" and wide["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert narrow["ATEN_CPU_CAPABILITY"] == "default" and narrow["ONEDNN_MAX_CPU_ISA"] == "SSE41"
    assert (wide["MKL_CBWR"], narrow["MKL_CBWR"]) == ("AVX2", "AVX")  # one width down
    assert set(wide) == set(float_path.OTHER_CPU_VARIABLES)


def test_the_command_prints_what_the_makefile_exports():
    out = subprocess.run([sys.executable, str(REPO / "s2d_course" / "float_path.py"), "--env"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert dict(kv.split("=", 1) for kv in out) == float_path.other_cpu_env(float_path.cpu_flags())
    bad = subprocess.run([sys.executable, str(REPO / "s2d_course" / "float_path.py")], capture_output=True, text=True)
    assert bad.returncode == 2 and "usage" in bad.stderr


TRAIN_STEPS = """
import hashlib, torch, timm, s2d_lib
from s2d_course import float_path
torch.set_num_threads(1)
torch.manual_seed(0)
m = timm.create_model("s2d_tiny_patch8_64", num_classes=7, num_frames=2)
opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
x, y = torch.randn(4, 3, 2, 64, 64), torch.randint(0, 7, (4,))
for _ in range(3):
    loss = torch.nn.functional.cross_entropy(m(x), y)
    opt.zero_grad(); loss.backward(); opt.step()
print(float_path.describe()["kernels"], hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in m.parameters())).hexdigest())
"""


@pytest.mark.slow
@pytest.mark.once  # it runs both float paths itself
def test_the_other_cpu_mode_changes_the_rounding_of_training():
    """Three optimiser steps of the tiny video model: the same bits twice on this machine's own
    path, other bits on the other CPU's path (which is what makes the mode a real test)."""
    own_env = {k: v for k, v in os.environ.items() if k not in float_path.OTHER_CPU_VARIABLES}
    other_env = {**own_env, **float_path.other_cpu_env(float_path.cpu_flags())}

    def run(env):
        return subprocess.run([sys.executable, "-c", TRAIN_STEPS], env=env, capture_output=True,
                              text=True, check=True).stdout.split()

    own, again, other = run(own_env), run(own_env), run(other_env)
    assert own == again
    assert other[0] == float_path.other_cpu_env(float_path.cpu_flags())["ATEN_CPU_CAPABILITY"].upper()
    assert other[1] != own[1]
