"""The repository's own promises: one dependency list, the README's commands wired to CI."""
from __future__ import annotations

import tomllib

import yaml

from conftest import REPO


def test_environment_yml_names_the_pyproject_dependencies():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"] and "pip" in env["dependencies"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip
    assert sorted(p for p in pip if p != "-e .") == sorted(deps)


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    assert "make test" in readme and "make reproduce" in readme
    assert "make test" in (REPO / ".ci" / "run").read_text()
