"""s2d_lib.progress and s2d_lib.logs in a real Jupyter kernel: a bar leaves no widget state and no
stderr in what the kernel sends, closes to one summary line, and sends few output messages however
fast it turns (nbval reads the kernel's output only after the cell, from a bounded queue)."""
from __future__ import annotations

import io
import logging
import warnings

import nbformat
import pytest
from jupyter_client.manager import start_new_kernel

from s2d_lib.logs import show_logs
from s2d_lib.progress import KernelBar, clean_stream_text, progress_bar
from s2d_course.reproduce import clean_outputs

#: The float path changes nothing here (what a Jupyter kernel sends): CI's second pass leaves it out.
pytestmark = pytest.mark.once

WIDGET = "application/vnd.jupyter.widget-view+json"

LOOP = """
import time
from s2d_lib.progress import progress_bar
t0 = time.perf_counter()
for _ in {bar}(range(2000), desc="loop", leave={leave}):
    time.sleep(0.001)
print("seconds %.1f" % (time.perf_counter() - t0))
"""

LOGS = """
import logging, warnings
from s2d_lib.logs import show_logs

show_logs()
logging.getLogger("s2d_lib.trainer").info("epoch 1 loss 0.5")
warnings.warn("an old argument")
"""


def execute(client, code: str) -> tuple[list[dict], dict[str, str]]:
    """The output-channel messages of one execution and its text per stream name."""
    msg_id = client.execute(code)
    messages, streams = [], {"stdout": "", "stderr": ""}
    while True:
        msg = client.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(msg)
        if msg["msg_type"] == "stream":
            streams[msg["content"]["name"]] += msg["content"]["text"]
        if msg["msg_type"] == "error":
            raise AssertionError("\n".join(msg["content"]["traceback"]))
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return messages, streams


def widget_outputs(messages: list[dict]) -> list[dict]:
    return [m for m in messages if WIDGET in m["content"].get("data", {})]


@pytest.fixture(scope="module")
def kernel():
    """A Python kernel (the tests that use it are slow: the kernel imports torch with s2d_lib, and
    the bars are timed on loops of real seconds)."""
    manager, client = start_new_kernel(kernel_name="python3")
    yield client
    client.stop_channels()
    manager.shutdown_kernel(now=True)


@pytest.mark.slow
def test_kernel_bar_is_text_on_stdout_closing_to_one_line(kernel):
    messages, streams = execute(kernel, LOOP.format(bar="progress_bar", leave=True))
    seconds = float(streams["stdout"].split()[-1])
    assert not widget_outputs(messages)
    assert streams["stderr"] == ""
    lines = clean_stream_text(streams["stdout"]).splitlines()
    assert lines[0].startswith("loop: 2000 items in ") and lines[0].endswith(" s"), lines
    assert lines[1:] == [f"seconds {seconds:.1f}"], lines
    # ~10 messages to start and finish a cell, then at most one stream message per redraw
    assert len(messages) <= 10 + seconds / 2 + 2, (len(messages), seconds)


@pytest.mark.slow
def test_kernel_bar_that_does_not_leave_is_erased(kernel):
    messages, streams = execute(kernel, LOOP.format(bar="progress_bar", leave=False))
    assert not widget_outputs(messages) and streams["stderr"] == ""
    assert "loop:" in streams["stdout"]  # it was drawn live
    assert clean_stream_text(streams["stdout"]).splitlines() == [streams["stdout"].split("\r")[-1].strip()]
    assert clean_stream_text(streams["stdout"]).startswith("seconds ")


@pytest.mark.slow
def test_show_logs_in_kernel_writes_logs_and_warnings_to_stdout(kernel):
    _, streams = execute(kernel, LOGS)
    assert streams["stderr"] == ""
    assert streams["stdout"].splitlines() == ["epoch 1 loss 0.5", "UserWarning: an old argument"]


def test_outside_a_kernel_the_bar_is_tqdm_on_stderr():
    bar = progress_bar(range(3))
    bar.close()
    assert not isinstance(bar, KernelBar) and bar.mininterval == 2.0


def test_show_logs_is_idempotent_and_hides_warning_paths():
    logger = logging.getLogger("s2d_lib")
    for name in ("s2d_lib", "py.warnings"):  # a CLI run earlier in this process may have called it
        named = logging.getLogger(name)
        named.handlers = [h for h in named.handlers if not getattr(h, "_s2d_show_logs", False)]
    logging.captureWarnings(False)
    before = list(logger.handlers), logger.level
    first, second = io.StringIO(), io.StringIO()
    try:
        show_logs(stream=first)
        show_logs(logging.DEBUG, stream=second)
        assert len(logger.handlers) == len(before[0]) + 1
        logging.getLogger("s2d_lib.evaluate").debug("detail")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            logging.captureWarnings(True)
            warnings.warn("careful", RuntimeWarning)
    finally:
        for name in ("s2d_lib", "py.warnings"):
            named = logging.getLogger(name)
            named.handlers = [h for h in named.handlers if not getattr(h, "_s2d_show_logs", False)]
        logger.setLevel(before[1])
        logging.captureWarnings(False)
    assert first.getvalue() == ""
    assert second.getvalue() == "detail\nRuntimeWarning: careful\n"


def test_clean_stream_text_keeps_what_a_reader_saw():
    text = "header\n\n\rbar 10%\rbar 90%\r   \repoch 1\n\rbar 50%\r done: 3 items in 1.0 s   \n\rx\r  \r"
    assert clean_stream_text(text) == "header\n\nepoch 1\n done: 3 items in 1.0 s\n"


def test_reproduce_saves_what_a_reader_saw():
    stream = nbformat.v4.new_output
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[
        stream("stream", name="stdout", text="\rtrain  50%|#####\r   \rtrain: 8 items in 1.0 s   \nepoch 1\n"),
        stream("stream", name="stdout", text="\rbar 10%\r    \r"),
        stream("display_data", data={"text/plain": "<Figure>"})])])
    clean_outputs(nb)
    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs] == ["stream", "display_data"]  # the erased bar went
    assert outputs[0].text == "train: 8 items in 1.0 s\nepoch 1\n"
