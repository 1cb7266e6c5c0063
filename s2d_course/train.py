"""Train with the course's presets: ``python -m s2d_course.train --config static_tiny``.

:func:`s2d_lib.train.main` with the tiny presets of :mod:`s2d_course.presets` registered; any
``key=value`` override of :class:`s2d_lib.config.TrainConfig` applies as there."""
from __future__ import annotations

from typing import Sequence

from s2d_lib.train import main as _library_main

from . import presets  # noqa: F401  (registers the tiny presets)

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> dict:
    """Command line entry point (the library's, with the course's presets)."""
    return _library_main(argv, prog="python -m s2d_course.train")


if __name__ == "__main__":
    main()
