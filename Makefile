# The README's commands. Each one creates .venv and installs the package when missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.s2d-installed
# the reference notebooks in teaching order, then the labs (notebooks/labs/L1_... to L4_...)
LABS := $(sort $(wildcard notebooks/labs/L[0-9]_*.ipynb))
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb)) $(LABS)
# every extra of pyproject.toml: JupyterLab and the face detector of notebook 06, the tests, the book and browser tests
EXTRAS := notebooks,dev,docs
BOOK_OUT := book/_build/html

# S2D_FLOAT=other make <target>: every process computes as on another CPU type (other vector
# kernels, BLAS and convolution code paths, so other float rounding; s2d_course/float_path.py). The
# libraries read these variables once, when they first compute, so they are set here, before
# any process starts.
# Tests marked `once` come out the same on every float path (files, text, imports, a part broken
# on purpose): this mode leaves them out of the unit tests.
ifeq ($(S2D_FLOAT),other)
$(foreach kv,$(shell $(PYTHON) s2d_course/float_path.py --env),$(eval export $(kv)))
UNIT_MARKS := -m "not once"
endif

.PHONY: help install test test-fast test-unit test-notebooks test-claims test-browser book reproduce \
        student lab bench claims weights clean

help:
	@echo "make reproduce  execute every notebook (tiny profile) and regenerate figures/"
	@echo "make test       unit tests, the notebooks under nbval, the claims check, the browser tests (what CI runs)"
	@echo "make test-fast  the unit tests under 10 s each (about a minute)"
	@echo "make book       the course as a static HTML book -> $(BOOK_OUT)/index.html"
	@echo "make student    the notebooks with answer cells for their solutions, the labs with skeletons -> student/"
	@echo "make lab        open JupyterLab"
	@echo "make bench      speed / memory / FLOPs table -> benchmarks/RESULTS.md"
	@echo "make claims     the paper's ablations in miniature -> results/claims.json, figures/claims.png"
	@echo "make weights    re-train the shipped tiny runs (5 seeds) -> trained/ (after a pipeline change)"
	@echo "S2D_FLOAT=other make test   the same tests computing as on another CPU type"

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[$(EXTRAS)]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $@

install: $(STAMP)

# the claims check (test-claims) runs inside the unit tests, with its own sabotage tests
test: test-unit test-notebooks test-browser

test-unit: $(STAMP)
	$(PY) -m pytest -q $(UNIT_MARKS) tests --ignore=tests/browser

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" tests --ignore=tests/browser

test-notebooks: $(STAMP)
ifneq ($(NOTEBOOKS),)
	$(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env $(NOTEBOOKS)
else
	@echo "no notebooks yet"
endif

# the claims' two reference runs re-trained and compared with their calibration seeds (make test
# runs the same check in tests/test_claims_check.py, beside the runs that must fail it)
test-claims: $(STAMP)
	$(PY) -m s2d_course.claims --check

claims: $(STAMP)
	$(PY) -m s2d_course.claims

weights: $(STAMP)
	$(PY) -m s2d_course.artifacts.regenerate

# the browser tests open the built book and run notebook 05 in JupyterLab (needs chromium)
test-browser: book
	$(PY) -m pytest -q -p no:cacheprovider tests/browser

# renders the executed notebooks as they are (no re-run); -W: a warning fails the build
book: $(STAMP)
	$(PY) -m sphinx -W --keep-going -E -q -b html -c book . $(BOOK_OUT)
	@echo "the book: $(BOOK_OUT)/index.html"

reproduce: $(STAMP)
	$(PY) -m s2d_course.reproduce $(NOTEBOOKS)

student: $(STAMP)
	$(PY) -m s2d_course.student $(NOTEBOOKS)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) data/synthetic data/cache .pytest_cache student book/_build
