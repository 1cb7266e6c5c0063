"""Optional dependencies: imported where they are used, with an error that names the extra."""
from __future__ import annotations

from importlib import import_module
from types import ModuleType

__all__ = ["require"]


def require(module: str, extra: str, what: str) -> ModuleType:
    """``import module``, or an ``ImportError`` saying which extra of the package brings it."""
    try:
        return import_module(module)
    except ImportError as exc:
        raise ImportError(f"{what} needs {module.split('.')[0]}, which a core install leaves out: "
                          f'pip install "s2d-notebooks[{extra}]"') from exc
