"""The library reports through ``logging`` (logger ``s2d_lib.*``); ``show_logs`` shows it."""
from __future__ import annotations

import logging
import sys
from typing import TextIO

__all__ = ["show_logs"]


def show_logs(level: int = logging.INFO, stream: TextIO | None = None) -> logging.Logger:
    """Print the library's log records (and Python warnings) as plain lines on ``stream``
    (default stdout: notebooks keep them out of red stderr blocks). Calling it again only
    changes the level and stream."""
    logger = logging.getLogger("s2d_lib")
    stream = stream or sys.stdout
    handler = next((h for h in logger.handlers if getattr(h, "_s2d", False)), None)
    if handler is None:
        handler = logging.StreamHandler(stream)
        handler._s2d = True
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    else:
        handler.setStream(stream)
    logger.setLevel(level)
    logging.captureWarnings(True)
    warnings_logger = logging.getLogger("py.warnings")
    if handler not in warnings_logger.handlers:
        warnings_logger.addHandler(handler)
    return logger
