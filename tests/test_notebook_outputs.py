"""The committed notebooks read cleanly as static pages: no stderr blocks, no progress-bar widget
state, no live widget without a picture beside it (in its cell or the next code cell), no unprocessed bar redraws, no temporary or
cache-hash names and no folders of anyone's machine in printed text, no errors.

The checks look at outputs only (what a rendered page shows), and each is tuned against the
legitimate text the course prints: dataset file names that are hashes by design (AffectNet's
40-hex-digit JPEGs), dataset and model names with hyphens (``RAF-DB``, ``ViT-B/16``), negative
numbers, relative paths."""
from __future__ import annotations

import re

import nbformat
import pytest
from conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WIDGET = "application/vnd.jupyter.widget-view+json"

# a tqdm bar's text: "desc:  45%|####5     | 81/179 [00:05<00:06, 15.2it/s]"
TQDM_BAR = re.compile(r"\d+%\|.*\|\s*\d+/\S+\s*\[")
# folders of a machine (Linux, macOS, Windows) and the system temporary folders
MACHINE_PATH = re.compile(r"(?<![\w.])(/(tmp|work|home|root|Users|private/var|var/folders)/"
                          r"|[A-Za-z]:\\+(Users|Windows|Temp)\\)")
# tempfile.mkdtemp()/mkstemp() names: "tmp" + 8 characters of [a-z0-9_], at least one not a letter
# so that words such as "tmpfilename" pass
TEMP_NAME = re.compile(r"(?<![A-Za-z0-9])tmp(?=[a-z0-9_]{0,7}[0-9_])[a-z0-9_]{8}(?![A-Za-z0-9])")
# a cache key's hash glued to a name with a hyphen: "RAF-DB-c1ad52f5", "-3fa9c2e1b4d5a6f7";
# 8-16 hex digits with both a digit and a letter, so "-12345678" and "-deadline" pass
CACHE_HASH = re.compile(r"-(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{8,16}(?![0-9A-Za-z])")


def output_texts(out: dict) -> list[str]:
    """The text a page renders for one output (streams, text/* data, an error's message)."""
    if out["output_type"] == "stream":
        return [out["text"]]
    if out["output_type"] == "error":
        return [f"{out['ename']}: {out['evalue']}"]
    data = out.get("data", {})
    return [v if isinstance(v, str) else "".join(v) for k, v in data.items() if k.startswith("text/")]


def text_problems(text: str) -> list[str]:
    """Names in ``text`` a static page should not show."""
    found = []
    for label, pattern in (("a machine's folder", MACHINE_PATH), ("a temporary name", TEMP_NAME),
                           ("a cache hash", CACHE_HASH)):
        for match in pattern.finditer(text):
            start = max(0, match.start() - 30)
            found.append(f"{label} {match.group()!r} in {text[start:match.end() + 20]!r}")
    return found


def has_picture(cell: dict | None) -> bool:
    return cell is not None and any("image/png" in o.get("data", {}) or "image/svg+xml" in o.get("data", {})
                                    for o in cell.get("outputs", []))


def cell_problems(cell: dict, next_cell: dict | None = None) -> list[str]:
    """What is wrong with one code cell's outputs as read on a static page (``next_cell``: the
    following code cell, where the static picture of a live widget may stand)."""
    outputs = cell.get("outputs", [])
    pictured = has_picture(cell) or has_picture(next_cell)
    found = []
    for out in outputs:
        kind = out["output_type"]
        if kind == "error":
            found.append(f"error output {out['ename']}: {out['evalue'][:80]}")
        if kind == "stream" and out["name"] == "stderr":
            found.append(f"stderr block {out['text'][:80]!r}")
        if kind == "stream" and "\r" in out["text"]:
            found.append(f"progress redraws (\\r) left in the text {out['text'][:60]!r}")
        if WIDGET in out.get("data", {}):
            shown = "".join(out["data"].get("text/plain", ""))
            if TQDM_BAR.search(shown):
                found.append(f"progress-bar widget state {shown[:60]!r}")
            elif not pictured:
                found.append(f"live widget without a static picture beside it {shown[:60]!r}")
        for text in output_texts(out):
            found += text_problems(text)
    return found


def notebook_problems(nb: dict) -> list[str]:
    """Every problem of every code cell, as ``cell <index> (In [n]): problem``."""
    code = [(index, cell) for index, cell in enumerate(nb["cells"]) if cell["cell_type"] == "code"]
    found = []
    for k, (index, cell) in enumerate(code):
        following = code[k + 1][1] if k + 1 < len(code) else None
        found += [f"cell {index} (In [{cell.get('execution_count')}]): {p}"
                  for p in cell_problems(cell, following)]
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_outputs_read_cleanly(path):
    problems = notebook_problems(nbformat.read(path, as_version=4))
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


LEGITIMATE = """\
RAF-DB 12271 train / 3068 test; AffectNet-7, ViT-B/16, MobileFaceNet, fold-1, T-Adapter
AffectNet/Manually_Annotated_Images/1/00116e45d0de465d8f735f84e373e0a50e0d184b.jpg
loss -0.1234, delta -12345678, 2023-12-05, deadline-exceeded, cafebabe
data/synthetic/DFEW/Clip/clip_224x224/00001, runs/static_tiny/metrics.csv, notebooks/figures
tmp files are removed; tmpfilename; see https://github.com/home/ and the site's /homepage
eval: 70 items in 3.1 s
"""


def code_cell(*outputs) -> dict:
    return nbformat.v4.new_code_cell("x", outputs=list(outputs), execution_count=1)


def test_no_false_positives_on_legitimate_text():
    out = nbformat.v4.new_output("stream", name="stdout", text=LEGITIMATE)
    html = nbformat.v4.new_output("display_data", data={"text/html": "<td>-0.5</td>",
                                                        "text/plain": LEGITIMATE})
    assert cell_problems(code_cell(out, html)) == []


@pytest.mark.parametrize("text, label", [
    ("saved to /tmp/pytest-of-me/pytest-3/test_x0/run", "a machine's folder"),
    ("checkpoint /work/main/runs/static_tiny/best.pth", "a machine's folder"),
    ("C:\\Users\\me\\s2d\\runs", "a machine's folder"),
    ("cache in data/cache/tmpk2_9xq3a/feats.pt", "a temporary name"),
    ("landmark cache RAF-DB-c1ad52f5-fold1-64px: 90 items in 2.0 s", "a cache hash"),
    ("run dfer-3fa9c2e1b4d5a6f7 done", "a cache hash"),
])
def test_each_bad_name_is_found(text, label):
    out = nbformat.v4.new_output("stream", name="stdout", text=text + "\n")
    problems = cell_problems(code_cell(out))
    assert len(problems) == 1 and problems[0].startswith(label), problems


def test_stderr_errors_widgets_and_redraws_are_found():
    bar = nbformat.v4.new_output("display_data", data={
        WIDGET: {"model_id": "m"}, "text/plain": "landmark cache:   0%|          | 0/179 [00:00<?, ?it/s]"})
    explorer = nbformat.v4.new_output("display_data", data={
        WIDGET: {"model_id": "e"}, "text/plain": "VBox(children=(HBox(children=(Dropdown(..."})
    picture = nbformat.v4.new_output("display_data", data={"image/png": "iVBOR", "text/plain": "<Figure>"})
    stderr = nbformat.v4.new_output("stream", name="stderr", text="epoch 1 loss 0.5\n")
    redraw = nbformat.v4.new_output("stream", name="stdout", text="\rx  10%\rx 100%\n")
    error = nbformat.v4.new_output("error", ename="ValueError", evalue="bad", traceback=[])
    kinds = [p.split(" ")[0] for p in cell_problems(code_cell(bar, explorer, stderr, redraw, error))]
    assert sorted(kinds) == ["error", "live", "progress", "progress-bar", "stderr"]
    # a live widget with its static picture in the same cell or the next is what a static page needs
    assert cell_problems(code_cell(explorer, picture)) == []
    assert cell_problems(code_cell(explorer), code_cell(picture)) == []
    nb = nbformat.v4.new_notebook(cells=[code_cell(explorer), nbformat.v4.new_markdown_cell("text"),
                                         code_cell(picture)])
    assert notebook_problems(nb) == []
    nb.cells.pop()
    assert notebook_problems(nb)[0].startswith("cell 0 (In [1]): live widget without a static picture")
