"""A core install (``pip install -e .`` without extras) trains, predicts and runs the claims
engine; the optional parts fail on import with a message naming the extra. The extras are
blocked in a fresh interpreter, as if they were not installed."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

#: The float path changes nothing here (what imports and runs without the extras): CI's second pass leaves it out.
pytestmark = pytest.mark.once

REPO = Path(__file__).resolve().parents[1]
#: What the extras bring (notebooks: dlib among them) and the core must never need.
EXTRAS = ("ipywidgets", "pytorch_grad_cam", "jupyterlab", "nbformat", "nbclient", "dlib")

BLOCK = f"""
import importlib.abc, sys
class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {EXTRAS!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: core install)")
        return None
sys.meta_path.insert(0, Blocked())
"""

CORE = """
import sys
from pathlib import Path

import numpy as np
import timm
import torch
from PIL import Image
from torch.utils.data import TensorDataset

import s2d_lib
from s2d_lib.config import load_config
from s2d_lib.predict import predict_video
from s2d_lib.splits import DataSplits
from s2d_lib.trainer import fit
import s2d_lib.viz  # the core plots import without the extras
import s2d_course.claims.__main__, s2d_course.claims.budget, s2d_course.claims.plot  # the claims engine too


torch.manual_seed(0)
out = Path(sys.argv[1])  # the test's own folder: pytest removes it
x, y = torch.randn(4, 3, 2, 64, 64), torch.tensor([0, 1, 0, 1])
data = DataSplits(train=TensorDataset(x, y), train_eval=TensorDataset(x, y), test=None,
                  labels=y.tolist(), class_names=["a", "b"], name="toy")
cfg = load_config("dfer_tiny", dict(num_classes=2, num_frames=2, batch_size=4, epochs=1,
                                    steps_per_epoch=1, val_fraction=0, init="scratch",
                                    landmark_weights=None, landmark_cache=False, easdl=False,
                                    out_dir=str(out / "run"), progress=False, device="cpu"))
model = timm.create_model(cfg.model, num_classes=2, num_frames=2)
fit(cfg, data, model)
frames = out / "clip"
frames.mkdir()
for t in range(6):
    Image.fromarray(np.random.default_rng(t).integers(0, 255, (64, 64, 3), np.uint8)).save(
        frames / f"{t:03d}.png")
prediction = predict_video(frames, model.eval(), consecutive=True, detector="none", fps=25,
                           device="cpu", precision="fp32", smooth=1)
assert prediction.probs.shape[1] == 2, prediction.probs.shape
for name in ("s2d_lib.viz.explorer", "s2d_lib.viz.cam"):
    try:
        __import__(name)
    except ImportError as exc:
        assert 's2d-notebooks[notebooks]' in str(exc), exc
    else:
        raise AssertionError(f"{name} imported without its extra")
try:
    s2d_lib.viz.Explorer
except ImportError as exc:
    assert 's2d-notebooks[notebooks]' in str(exc), exc
else:
    raise AssertionError("viz.Explorer without ipywidgets")
print("core install ok")
"""


def test_the_core_install_trains_predicts_and_runs_the_claims_engine(tmp_path):
    run = subprocess.run([sys.executable, "-c", BLOCK + textwrap.dedent(CORE), str(tmp_path)],
                         cwd=REPO,
                         capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0 and "core install ok" in run.stdout, run.stderr[-3000:]


def test_no_core_module_imports_an_extra_at_the_top():
    """Cheap twin of the test above: importing every module of the core with the extras blocked."""
    code = BLOCK + textwrap.dedent("""
        import importlib, pkgutil
        import s2d_lib, s2d_course
        optional = {"s2d_lib.viz.explorer", "s2d_lib.viz.cam", "s2d_course.student",
                    "s2d_course.reproduce"}  # each says which extra it needs (tested above)
        bad = []
        for pkg in (s2d_lib, s2d_course):
            for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
                if m.name in optional or m.name.endswith("__main__"):
                    continue
                try:
                    importlib.import_module(m.name)
                except ImportError as exc:
                    bad.append(f"{m.name}: {exc}")
        assert not bad, bad
        print("ok")
        """)
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr[-3000:]
