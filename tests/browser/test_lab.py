"""Notebook 05 in JupyterLab in a real browser: run it up to the widget explorer, change a
control, and see the figure redrawn by the live kernel.

JupyterLab serves a copy of the notebook from a temporary folder, so nothing the browser does
(running cells, a save) can touch the committed file; the kernel imports this checkout's
``s2d_lib`` (``PYTHONPATH``), whose paths are anchored at the repository, so the copy finds
``runs/`` and ``data/`` as the original does. Notebook 05 loads the trained tiny DFER run from
``runs/`` (the notebook tests before this one leave it there) or trains it when it is missing.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from _browser import REPO, browser_context, require_browser, screenshot_path

NOTEBOOK = REPO / "notebooks" / "05_attention_and_landmark_visualization.ipynb"
RUN_TIMEOUT_S = 600  # cells above the explorer: load-or-train, attention, Grad-CAM, t-SNE
# user settings of this JupyterLab only: every cell stays in the page (no virtual scrolling),
# no autosave, and no news or update prompt over the notebook on a closed network
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"checkForUpdates": False, "fetchNews": "false"},
}
# the notebook's kernel has started and answers (the toolbar's indicator turns idle earlier)
KERNEL_IDLE_JS = """() => { const nb = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    return !!(nb && nb.sessionContext && nb.sessionContext.kernelDisplayStatus === "idle"); }"""
# resolves to what the command's promise gives (the notebook actions: false after an error),
# or to "timeout"
RUN_COMMAND_JS = """([command, ms]) => Promise.race([
    window.jupyterapp.commands.execute(command),
    new Promise(resolve => setTimeout(() => resolve("timeout"), ms))])"""


def explorer_cell_index(path: Path) -> int:
    """Index of the code cell that builds ``viz.Explorer``."""
    for i, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] == "code" and "Explorer(" in "".join(cell["source"]):
            return i
    raise AssertionError(f"{path}: no code cell builds viz.Explorer")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 90) -> None:
    """Poll the server's status API until it answers; fail with its log if it dies or stalls."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"JupyterLab did not answer within {timeout_s} s:\n{log.read_text()}")


def stop_server(base: str, token: str, proc: subprocess.Popen) -> None:
    """Shut the server down through its API (kernels included); terminate it if that fails."""
    try:
        request = urllib.request.Request(f"{base}/api/shutdown", method="POST",
                                         headers={"Authorization": f"token {token}"})
        urllib.request.urlopen(request, timeout=10).close()
        proc.wait(timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def browser(tmp_path_factory):
    """A headless chromium with a fresh profile."""
    with browser_context(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on a free local port with a random token, serving a copy of notebook 05;
    yields the notebook's URL."""
    require_browser()
    root = tmp_path / "lab"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(NOTEBOOK, root / "notebooks" / NOTEBOOK.name)
    settings = tmp_path / "lab-settings"
    for plugin, values in LAB_SETTINGS.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ,
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
               JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "ws"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_CONFIG_DIR=str(tmp_path / "config"))
    log = tmp_path / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
           "--ServerApp.allow_root=True",  # CI runs as root
           "--LabApp.expose_app_in_browser=True",  # the test runs notebook commands by name
           # nothing asks the package index or the news feed: the network is closed
           "--LabApp.extension_manager=readonly",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_up(f"{base}/api/status?token={token}", proc, log)
        yield f"{base}/lab/tree/notebooks/{NOTEBOOK.name}?reset&token={token}"
    finally:
        stop_server(base, token, proc)


def errors_shown(page) -> list[str]:
    """The text of every traceback in the notebook's outputs."""
    outputs = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    return [t for t in outputs.all_inner_texts() if "Traceback" in t or "Error" in t]


def run_command(page, command: str) -> None:
    """Run a JupyterLab command and wait for it; fail with the notebook's errors."""
    result = page.evaluate(RUN_COMMAND_JS, [command, RUN_TIMEOUT_S * 1000])
    if result is not True:
        page.screenshot(path=screenshot_path("lab_failed"))
        raise AssertionError(f"{command} gave {result!r}; errors shown: {errors_shown(page)}")


def test_explorer_figure_follows_its_controls(browser, lab):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    index = explorer_cell_index(NOTEBOOK)
    page = browser.new_page()
    page.goto(lab)
    page.wait_for_function(KERNEL_IDLE_JS, timeout=120_000)
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.locator(".jp-InputPrompt").click()  # select the explorer cell, as a reader would
    run_command(page, "notebook:run-all-above")
    run_command(page, "notebook:run-cell")

    figure = cell.locator(".widget-output img")
    try:
        figure.wait_for(state="visible", timeout=60_000)
    except PlaywrightTimeout:
        page.screenshot(path=screenshot_path("lab_failed"))
        shown = cell.locator(".widget-output").all_inner_texts()
        raise AssertionError(f"the explorer shows no figure image; its output holds {shown}") from None
    assert figure.evaluate("img => img.naturalWidth") > 0, "the explorer's figure did not decode"
    src_before = figure.get_attribute("src")
    pixels_before = figure.screenshot(path=screenshot_path("lab_explorer_before"))
    page.screenshot(path=screenshot_path("lab_notebook_05"))

    method = cell.locator(".widget-dropdown", has_text="method").locator("select")
    method.select_option(label="rollout")
    expect(figure).not_to_have_attribute("src", src_before, timeout=60_000)
    assert figure.evaluate("img => img.naturalWidth") > 0, "the redrawn figure did not decode"
    pixels_after = figure.screenshot(path=screenshot_path("lab_explorer_after"))
    assert pixels_after != pixels_before, "the figure's pixels did not change with the method"
    assert not errors_shown(page), f"errors in the notebook: {errors_shown(page)}"
    page.close()
