"""s2d_lib.progress: a bar in a Jupyter kernel sends few output messages however fast it turns,
so a long training cell stays far below what a notebook tester can queue (nbval reads the
kernel's output only after the cell)."""
from __future__ import annotations

from jupyter_client.manager import start_new_kernel

LOOP = """
import time
from tqdm.auto import tqdm
from s2d_lib.progress import progress_bar
t0 = time.perf_counter()
for _ in {bar}(range(2000)):
    time.sleep(0.001)
print("seconds %.1f" % (time.perf_counter() - t0))
"""


def output_messages(client, code: str) -> tuple[int, str]:
    """Number of output-channel messages of one execution, and its printed text."""
    msg_id = client.execute(code)
    count, text = 0, ""
    while True:
        msg = client.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        count += 1
        if msg["msg_type"] == "stream":
            text += msg["content"]["text"]
        if msg["msg_type"] == "error":
            raise AssertionError("\n".join(msg["content"]["traceback"]))
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return count, text


def test_widget_bar_redraws_at_most_every_two_seconds():
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        ours, text = output_messages(client, LOOP.format(bar="progress_bar"))
        seconds = float(text.split()[-1])
        plain, _ = output_messages(client, LOOP.format(bar="tqdm"))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    # a widget bar costs ~15 messages to open and close, then ~6 per redraw
    assert ours <= 20 + 6 * (seconds / 2 + 1), (ours, seconds)
    assert plain > 2 * ours, "tqdm's own default redraws ten times a second"
