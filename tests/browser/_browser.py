"""Shared pieces of the browser tests: the system chromium driven by Playwright, the built book,
and where screenshots go.

Nothing here downloads a browser: Playwright launches Debian's ``chromium`` package
(``apt-get install chromium``). Outside CI a machine without it skips these tests; in CI
(``CI=true``) its absence is a failure, so a broken install step cannot pass unnoticed.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BOOK_DIR = REPO / "book"
BOOK_HTML = BOOK_DIR / "_build" / "html"
SCREENSHOTS = BOOK_DIR / "_build" / "screenshots"
# S2D_CHROMIUM names another Chromium-based browser (e.g. Chrome on a Mac)
CHROMIUM = os.environ.get("S2D_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# quiet on a closed network: no update checks, sync, field trials or QUIC probes
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def in_ci() -> bool:
    """True when running under CI (``CI=true``), where a missing browser must fail."""
    return os.environ.get("CI", "").lower() == "true"


def missing_browser_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not Path(CHROMIUM).is_file():
        return f"chromium not found ({CHROMIUM}); install it with `apt-get install chromium`"
    missing = [m for m in ("playwright", "sphinx", "myst_nb") if importlib.util.find_spec(m) is None]
    if missing:
        return f"{', '.join(missing)} not installed; `pip install -e .[docs]` (make test-browser) adds them"
    return None


def require_browser() -> None:
    """Skip (outside CI) or fail (in CI) when chromium or Playwright is missing."""
    reason = missing_browser_reason()
    if reason:
        if in_ci():
            pytest.fail(f"browser tests cannot run in CI: {reason}")
        pytest.skip(reason)


def launch(playwright, user_data_dir: Path):
    """A headless chromium context with a fresh profile folder."""
    return playwright.chromium.launch_persistent_context(
        str(user_data_dir), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
        viewport={"width": 1280, "height": 900})


@contextmanager
def browser_context(profile_dir: Path):
    """A headless chromium with the fresh profile ``profile_dir`` (skips or fails as
    :func:`require_browser` says when there is none)."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = launch(p, profile_dir)
        yield context
        context.close()


def build_book(source: Path, out: Path) -> None:
    """Build the book of ``source`` (the repository or a folder laid out like it) into ``out``,
    with the configuration in ``book/`` and a warning counted as an error, as ``make book`` does."""
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "-b", "html",
           "-c", str(BOOK_DIR), str(source), str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"book build of {source} failed:\n{result.stdout}\n{result.stderr}")


def screenshot_path(name: str) -> Path:
    """``book/_build/screenshots/<name>.png``, its folder created."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
