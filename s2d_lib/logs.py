"""Where the library's log lines go: ``show_logs()`` sends the ``s2d_lib`` loggers and Python
warnings to one stream as plain lines.

Notebooks call ``show_logs()`` once (standard output, so a saved notebook shows epoch lines as
ordinary text rather than red stderr blocks); command-line tools call ``show_logs(stream=sys.stderr)``
so that their results on standard output stay clean.
"""
from __future__ import annotations

import logging
import re
import sys
from typing import TextIO

__all__ = ["show_logs"]

LOGGER = "s2d_lib"
# ``logging.captureWarnings`` logs "path:line: Category: message\n  source line"; the path is the
# absolute location of some installed package, which tells a reader nothing and leaks a machine's
# folders into saved notebooks, so only "Category: message" is kept.
_WARNING = re.compile(r"^.+?:\d+: (?P<text>\w+: .*?)\s*(?:\n|$)", re.DOTALL)


class _LineFormatter(logging.Formatter):
    """``%(message)s``, with captured warnings shortened to ``Category: message``."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.name == "py.warnings":
            match = _WARNING.match(text)
            if match:
                return match.group("text")
        return text


def _our_handler(logger: logging.Logger) -> logging.StreamHandler | None:
    return next((h for h in logger.handlers if getattr(h, "_s2d_show_logs", False)), None)


def show_logs(level: int = logging.INFO, stream: TextIO | None = None) -> logging.Logger:
    """Write ``s2d_lib`` log records of ``level`` and above, and Python warnings, to ``stream``
    (default ``sys.stdout``) as bare messages; calling it again replaces the stream and level
    instead of adding a second handler. Returns the ``s2d_lib`` logger."""
    stream = sys.stdout if stream is None else stream
    logger = logging.getLogger(LOGGER)
    handler = _our_handler(logger)
    if handler is None:
        handler = logging.StreamHandler(stream)
        handler._s2d_show_logs = True
        handler.setFormatter(_LineFormatter("%(message)s"))
    else:
        handler.setStream(stream)
    logging.captureWarnings(True)
    # one handler object on both loggers: log lines and warnings land on the same stream in order
    for name in (LOGGER, "py.warnings"):
        target = logging.getLogger(name)
        if _our_handler(target) is None:
            target.addHandler(handler)
    logger.setLevel(level)
    return logger
