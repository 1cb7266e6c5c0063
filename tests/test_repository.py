"""The repository's own promises: one dependency list, the README's commands wired to CI."""
from __future__ import annotations

import re
import tomllib

import pytest
import yaml

from conftest import REPO

#: The float path changes nothing here (the repository's files): CI's second pass leaves it out.
pytestmark = pytest.mark.once


def test_environment_yml_installs_the_package_as_the_makefile_does():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"] and "pip" in env["dependencies"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    extras = re.search(r"^EXTRAS := (.+)$", (REPO / "Makefile").read_text(), re.M).group(1)
    assert set(extras.split(",")) == set(project["optional-dependencies"])  # every extra
    assert pip == ["-c constraints.txt", f"-e .[{extras}]"]
    assert project["requires-python"] == ">=3.11"  # the tests read TOML with tomllib


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    assert "make test" in readme and "make reproduce" in readme
    assert "make test" in (REPO / ".ci" / "run").read_text()
