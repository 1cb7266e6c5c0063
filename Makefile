# The README's commands. Each one creates .venv and installs the package when missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.s2d-installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

.PHONY: help install test test-unit test-notebooks reproduce student lab bench clean

help:
	@echo "make reproduce  execute every notebook (tiny profile) and regenerate figures/"
	@echo "make test       unit tests, then the notebooks under nbval"
	@echo "make student    the notebooks without their reference solutions -> student/"
	@echo "make lab        open JupyterLab"
	@echo "make bench      speed / memory / FLOPs table -> benchmarks/RESULTS.md"

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $@

install: $(STAMP)

test: test-unit test-notebooks

test-unit: $(STAMP)
	$(PY) -m pytest -q tests

test-notebooks: $(STAMP)
ifneq ($(NOTEBOOKS),)
	$(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env $(NOTEBOOKS)
else
	@echo "no notebooks yet"
endif

reproduce: $(STAMP)
	$(PY) -m s2d_lib.reproduce $(NOTEBOOKS)

student: $(STAMP)
	$(PY) -m s2d_lib.student $(NOTEBOOKS)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) data/synthetic data/cache .pytest_cache student
