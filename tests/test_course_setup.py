"""The notebooks' first lines (:mod:`s2d_course.setup`): where the course is installed they do
nothing; where ``s2d_lib`` is missing (a fresh Colab) they pip-install the checkout with its
``notebooks`` extra and make it importable; each notebook opens with an *Open in Colab* link and
the clone line, both naming the one repository address."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO
from s2d_course import setup as course_setup

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_an_installed_course_is_left_as_it_is():
    calls = []
    assert course_setup.setup_notebook(REPO, run=lambda *a, **k: calls.append(a)) == REPO
    assert calls == []


def test_a_missing_library_is_installed_from_the_checkout(monkeypatch, tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    monkeypatch.setattr(course_setup.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(sys, "path", list(sys.path))
    calls = []
    course_setup.setup_notebook(tmp_path, run=lambda args, check: calls.append((args, check)))
    assert calls == [([sys.executable, "-m", "pip", "install", "-q", "-e", f"{tmp_path}[notebooks]"], True)]
    assert sys.path[0] == str(tmp_path)
    assert "s2d_lib is missing" in capsys.readouterr().out


def test_a_folder_that_is_no_checkout_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr(course_setup.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pyproject.toml not found"):
        course_setup.setup_notebook(tmp_path, run=subprocess.run)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_opens_in_colab_and_installs_in_one_call(path):
    cells = json.loads(path.read_text())["cells"]
    title, params = "".join(cells[0]["source"]), "".join(cells[2]["source"])
    assert f"]({course_setup.colab_url('notebooks/' + path.name)})" in title, "no Open in Colab link"
    first = params.splitlines()[:2]
    assert first[0].startswith("!test -d ../s2d_course") and course_setup.REPOSITORY_URL in first[0]
    assert first[1].endswith("from s2d_course.setup import setup_notebook; setup_notebook()")
    assert "pip" not in params and "subprocess" not in params, "an install cell besides the course's call"
