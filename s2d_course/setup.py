"""A notebook's first cell: make the course importable wherever the notebook runs.

Every notebook starts with the same two lines::

    !test -d ../s2d_course || test -d s2d-notebooks || git clone -q --depth 1 <REPOSITORY_URL>
    import sys; sys.path += ["..", "s2d-notebooks"]; from s2d_course.setup import setup_notebook; setup_notebook()

In a clone (``make lab``, Binder, a JupyterHub) the first line does nothing; on Google Colab,
where a notebook opened from GitHub comes alone, it fetches the repository next to it. Then
:func:`setup_notebook` pip-installs the repository with its ``notebooks`` extra when ``s2d_lib``
is missing. This module uses only the standard library: it runs before anything is installed.
"""
from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

__all__ = ["REPOSITORY", "REPOSITORY_URL", "colab_url", "setup_notebook"]

#: Where the course is hosted, ``owner/name`` on GitHub: the notebooks' *Open in Colab* links and
#: their clone line name it (README, "Open the course": change it here and there when you host a copy).
REPOSITORY = "OWNER/s2d-notebooks"
REPOSITORY_URL = f"https://github.com/{REPOSITORY}"
#: The checkout this file belongs to.
ROOT = Path(__file__).resolve().parents[1]


def colab_url(notebook: str, branch: str = "main") -> str:
    """The address that opens ``notebook`` (a path under the repository) in Google Colab."""
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{branch}/{notebook}"


def setup_notebook(root: str | Path = ROOT, run=subprocess.run) -> Path:
    """Install the course from ``root`` (``pip install -e "root[notebooks]"``: both packages,
    PyTorch, the widgets and grad-cam) when ``s2d_lib`` cannot be imported, and make it importable
    at once, without restarting the kernel; do nothing when it is installed. Return ``root``."""
    root = Path(root)
    if importlib.util.find_spec("s2d_lib") is not None:
        return root
    if not (root / "pyproject.toml").is_file():
        raise FileNotFoundError(f"{root / 'pyproject.toml'} not found: open the notebook from the "
                                f"notebooks/ folder of a clone of {REPOSITORY_URL}")
    print(f"s2d_lib is missing: pip install -e \"{root}[notebooks]\" (PyTorch included, a few minutes) ...",
          flush=True)
    run([sys.executable, "-m", "pip", "install", "-q", "-e", f"{root}[notebooks]"], check=True)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    print("s2d_lib installed.")
    return root
