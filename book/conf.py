"""Sphinx configuration of the course book: the README and the executed notebooks as HTML.

Built by ``make book``: ``sphinx-build -W --keep-going -c book . book/_build/html``. The source
folder is the repository root, so the README's own relative links (``notebooks/*.ipynb``,
``figures/*.png``) resolve unchanged; only this folder holds book-specific files.

Why plain Sphinx + MyST-NB rather than Jupyter Book: Jupyter Book 1.x is a wrapper that turns a
``_config.yml`` into exactly this Sphinx configuration (MyST-NB, sphinx-book-theme), pins older
releases of them and is in maintenance; Jupyter Book 2 needs Node and another toolchain. Calling
the stack directly keeps one Python config in which the three things the course needs (solutions
folded, the README as landing page with the notebooks as chapters, math offline) are a few lines.

Math is rendered by MathJax 3 served from the build itself (``sphinx-mathjax-offline`` copies it
to ``_static/mathjax``): the book opens from disk or on a closed network, with no CDN.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform

project = "S2D notebooks"
author = "the s2d-notebooks authors"
copyright = "the s2d-notebooks authors, Apache-2.0"

extensions = ["myst_nb", "sphinx-mathjax-offline"]

root_doc = "README"
# Only the landing page, the numbered notebooks, the architecture page the library cites and the
# benchmark table (the README links it) are pages; the rest of the repository (library, data, runs, virtual environment) is never read.
include_patterns = ["README.md", "notebooks/[0-9][0-9]_*.ipynb", "benchmarks/RESULTS.md",
                    "book/architecture.md"]
exclude_patterns = [".venv", ".git", "book/_build", "data", "runs", "**/.ipynb_checkpoints"]

html_theme = "sphinx_book_theme"
html_title = "S2D course"
html_theme_options = {
    "show_toc_level": 2,
    "home_page_in_toc": True,
}
html_show_sourcelink = False
html_copy_source = False  # the notebooks are in the repository; no second copy in the site
html_last_updated_fmt = None

myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# The committed notebooks are executed with outputs (make reproduce); the book only renders them.
nb_execution_mode = "off"
# Widget views would need the ipywidgets embed scripts from a CDN; the notebooks show a static
# figure beside every live widget, so the book loads no widget JavaScript.
nb_ipywidgets_js: dict = {}

SOLUTION_TAG = "solution"
# The landing page lists the notebooks (then the architecture page and the benchmark table) as chapters; injected at build time so that the README
# keeps reading as plain Markdown on a repository page.
COURSE_TOCTREE = """

```{toctree}
:hidden:
:caption: The course
:glob:

notebooks/[0-9][0-9]_*
book/architecture
benchmarks/RESULTS
```
"""


class FoldSolutions(SphinxPostTransform):
    """Fold every code cell tagged ``solution`` behind a "Show solution" toggle.

    Runs just before MyST-NB's own ``HideInputCells`` (priority 199), which turns cells marked
    this way into ``<details>`` elements, so the exercises show the question and hide the answer.
    """

    default_priority = 198
    formats = ("html",)

    def run(self, **kwargs) -> None:
        for node in self.document.findall(nodes.container):
            if node.get("nb_element") == "cell_code" and f"tag_{SOLUTION_TAG}" in node["classes"]:
                node["hide_mode"] = "all"
                node["prompt_show"] = "Show solution"
                node["prompt_hide"] = "Hide solution"


# MyST-NB's markup for a folded cell, so that folded text and folded code look alike
FOLDED_MARKDOWN = """<div class="cell tag_{tag} docutils container"><details class="admonition hide above-input">
<summary aria-label="Toggle hidden content"><p class="collapsed admonition-title">Show solution</p>
<p class="expanded admonition-title">Hide solution</p></summary>

{source}

</details></div>"""


def fold_markdown_solutions(app: Sphinx, docname: str, source: list[str]) -> None:
    """Fold the markdown cells tagged ``solution`` too.

    MyST-NB keeps no metadata of markdown cells (their headings join the page's outline), so
    the fold is written into the notebook's JSON before it is parsed: the cell's Markdown, still
    parsed as Markdown, between the HTML of a closed ``<details>``.
    """
    if not str(app.env.doc2path(docname)).endswith(".ipynb"):
        return
    nb = json.loads(source[0])
    cells = [c for c in nb["cells"]
             if c["cell_type"] == "markdown" and SOLUTION_TAG in c.get("metadata", {}).get("tags", [])]
    for cell in cells:
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        cell["source"] = FOLDED_MARKDOWN.format(tag=SOLUTION_TAG, source=text)
    if cells:
        source[0] = json.dumps(nb)


def add_course_toctree(app: Sphinx, docname: str, source: list[str]) -> None:
    """Append the chapters' (hidden) table of contents to the landing page."""
    if docname == app.config.root_doc:
        source[0] += COURSE_TOCTREE


def copy_landing_page(app: Sphinx, exception: Exception | None) -> None:
    """Serve the landing page as ``index.html`` too, the page a browser or a web server opens."""
    if exception is None and app.builder.format == "html":
        out = Path(app.outdir)
        shutil.copyfile(out / f"{app.config.root_doc}.html", out / "index.html")


def setup(app: Sphinx) -> dict:
    app.add_post_transform(FoldSolutions)
    app.connect("source-read", add_course_toctree)
    app.connect("source-read", fold_markdown_solutions)
    app.connect("build-finished", copy_landing_page)
    return {"parallel_read_safe": True}
