# The README's commands. Each one creates .venv and installs the package when missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.s2d-installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
DOCS_STAMP := $(VENV)/.s2d-docs-installed
BOOK_OUT := book/_build/html

.PHONY: help install test test-unit test-notebooks test-browser book reproduce lab bench clean

help:
	@echo "make reproduce  execute every notebook (tiny profile) and regenerate figures/"
	@echo "make test       unit tests, the notebooks under nbval, then the browser tests"
	@echo "make book       the course as a static HTML book -> $(BOOK_OUT)/index.html"
	@echo "make lab        open JupyterLab"
	@echo "make bench      speed / memory / FLOPs table -> benchmarks/RESULTS.md"

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $@

install: $(STAMP)

# the book and the browser tests need the docs extra on top
$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install -q -c constraints.txt -e '.[docs]'
	@touch $@

test: test-unit test-notebooks test-browser

test-unit: $(STAMP)
	$(PY) -m pytest -q tests --ignore=tests/browser

test-notebooks: $(STAMP)
ifneq ($(NOTEBOOKS),)
	$(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env $(NOTEBOOKS)
else
	@echo "no notebooks yet"
endif

# the browser tests open the built book and run notebook 05 in JupyterLab (needs chromium)
test-browser: book
	$(PY) -m pytest -q -p no:cacheprovider tests/browser

# renders the executed notebooks as they are (no re-run); -W: a warning fails the build
book: $(DOCS_STAMP)
	$(PY) -m sphinx -W --keep-going -E -q -b html -c book . $(BOOK_OUT)
	@echo "the book: $(BOOK_OUT)/index.html"

reproduce: $(STAMP)
	$(PY) -m s2d_lib.reproduce $(NOTEBOOKS)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) data/synthetic data/cache .pytest_cache book/_build
