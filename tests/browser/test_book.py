"""The built book in a real browser: pages load offline, figures decode, MathJax typesets every
equation, and exercise solutions stay folded until asked for."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from _browser import BOOK_HTML, REPO, browser_context, build_book, screenshot_path

# the landing page (README: figures) and two notebooks with both figures and equations
PAGES = [
    ("index.html", False),
    ("notebooks/02_static_fer_pretraining.html", True),
    ("notebooks/05_attention_and_landmark_visualization.html", True),
]
IMAGES_JS = """() => [...document.querySelectorAll('article img')].map(
    i => ({src: i.getAttribute('src'), complete: i.complete, width: i.naturalWidth}))"""
# the typeset size of every inline and display equation in the page body
MATH_JS = """async () => {
    await window.MathJax.startup.promise;
    return [...document.querySelectorAll('article .math')].map(m => {
        const c = m.querySelector('mjx-container');
        const r = c ? c.getBoundingClientRect() : {width: 0, height: 0};
        return {tex: m.textContent.slice(0, 60), width: r.width, height: r.height,
                error: !!(c && c.querySelector('mjx-merror'))};
    });
}"""
FOLDED_JS = """() => [...document.querySelectorAll('.tag_solution')].map(
    s => { const d = s.querySelector('details'); return d ? d.open : null; })"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One headless chromium for the module, with a fresh profile."""
    with browser_context(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.fixture(scope="module")
def book() -> Path:
    """The built book (``make book`` builds it first; built here when missing)."""
    if not (BOOK_HTML / "index.html").is_file():
        build_book(REPO, BOOK_HTML)
    return BOOK_HTML


def open_offline(browser, path: Path):
    """Open a local page; return it with every URL it requested and every request that failed."""
    page = browser.new_page()
    requested, failed = [], []
    page.on("request", lambda r: requested.append(r.url))
    page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
    page.goto(path.as_uri(), wait_until="load")
    return page, requested, failed


@pytest.mark.parametrize("name, has_math", PAGES, ids=[p for p, _ in PAGES])
def test_page_renders_figures_and_math_offline(browser, book, name, has_math):
    path = book / name
    assert path.is_file(), f"{path} is not in the built book"
    page, requested, failed = open_offline(browser, path)
    try:
        images = page.evaluate(IMAGES_JS)
        assert images, f"{name}: no figure in the page body"
        broken = [i["src"] for i in images if not (i["complete"] and i["width"] > 0)]
        assert not broken, f"{name}: figures that did not load: {broken}"

        if has_math:
            equations = page.evaluate(MATH_JS)
            assert equations, f"{name}: no equation in the page body"
            unrendered = [e["tex"] for e in equations
                          if e["error"] or e["width"] <= 0 or e["height"] <= 0]
            assert not unrendered, f"{name}: equations MathJax did not typeset: {unrendered[:5]}"

        folded = page.evaluate(FOLDED_JS)
        assert all(state is False for state in folded), \
            f"{name}: solution cells not folded (None: no toggle, True: open): {folded}"

        remote = [u for u in requested if not u.startswith(("file:", "data:", "blob:"))]
        assert not remote, f"{name}: the page reaches outside the build: {remote}"
        assert not failed, f"{name}: requests that failed: {failed}"
        page.locator("article img").first.scroll_into_view_if_needed()  # a figure in the shot
        page.screenshot(path=screenshot_path("book_" + Path(name).stem))
    finally:
        page.close()


def fixture_course(root: Path) -> None:
    """A course laid out like the repository: a landing page, a benchmark page, the architecture
    page and one executed notebook with an exercise whose solution is a code cell and a markdown
    cell, both tagged ``solution``."""
    for folder in ("notebooks", "benchmarks", "book"):
        (root / folder).mkdir(parents=True)
    (root / "book" / "architecture.md").write_text("# Architecture\n\nThe model, part by part.\n")
    (root / "README.md").write_text("# Fixture course\n\nSee [the exercise](notebooks/00_exercise.ipynb).\n")
    (root / "benchmarks" / "RESULTS.md").write_text("# Benchmarks\n\nNone measured.\n")
    nb = nbformat.v4.new_notebook(metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})
    question = nbformat.v4.new_code_cell("print('question asked')", execution_count=1, outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="question asked\n")])
    solution = nbformat.v4.new_code_cell("print(6 * 7)", execution_count=2, outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="42\n")])
    solution.metadata["tags"] = ["solution"]
    explained = nbformat.v4.new_markdown_cell("Six sevens make **forty-two**: $6 \\times 7 = 42$.")
    explained.metadata["tags"] = ["solution"]
    nb.cells = [nbformat.v4.new_markdown_cell("# 00 · Exercise\n\n**Exercise 1** ★ Multiply 6 by 7."),
                question, solution, explained]
    nbformat.write(nb, root / "notebooks" / "00_exercise.ipynb")


def test_solution_cells_are_folded_until_opened(browser, tmp_path):
    fixture_course(tmp_path / "src")
    build_book(tmp_path / "src", tmp_path / "html")
    page, _, _ = open_offline(browser, tmp_path / "html" / "notebooks" / "00_exercise.html")
    try:
        question = page.locator(".cell:not(.tag_solution) .cell_output")
        assert question.is_visible() and "question asked" in question.inner_text()
        solutions = page.locator(".tag_solution")
        assert solutions.count() == 2, "a solution cell is missing from the page"
        answers = [solutions.nth(0).locator(".cell_output"), solutions.nth(1).locator("strong")]
        for answer in answers:
            assert answer.count() == 1 and not answer.is_visible(), \
                "a solution shows before it is asked for"
        for i, answer in enumerate(answers):
            toggle = solutions.nth(i).locator("summary")
            assert toggle.locator(".collapsed").inner_text() == "Show solution"
            toggle.click()
            answer.wait_for(state="visible", timeout=5000)
        assert answers[0].inner_text().strip() == "42"
        assert answers[1].inner_text() == "forty-two"
        assert solutions.nth(1).locator("mjx-container").count() == 1, "math in a folded cell"
        # the unfolding fades in; the screenshot shows it finished
        page.wait_for_function("() => document.getAnimations().every(a => a.playState !== 'running')")
        page.screenshot(path=screenshot_path("book_solution_unfolded"))
    finally:
        page.close()
