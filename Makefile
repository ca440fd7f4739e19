# The two commands of the README's quickstart are `make tutorial` and `make test`.
# Both create (or reuse) the virtual environment .venv with pip first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

# Offline CIFAR-10: use the project's shared copy when it sits beside the checkout (CI, the
# workshop machines of this project). Elsewhere torchvision downloads CIFAR-10.
SHARED_ARCHIVE := $(wildcard $(CURDIR)/../shared/data/cifar10-jpeg.tar.xz)
ifneq ($(SHARED_ARCHIVE),)
export CIFAR10_ARCHIVE ?= $(abspath $(SHARED_ARCHIVE))
endif

# Notebook tests write to their own artifacts folder, so they never touch a learner's run.
TEST_ARTIFACTS ?= $(CURDIR)/artifacts/test-run

# Notebook 05 compares with NVIDIA ModelOpt, which needs its own virtual environment (.venv-modelopt,
# about 6.5 GB more). It is opt-in: `make tutorial MODELOPT=1` / `make test MODELOPT=1` (CI does) create it
# first; without it notebook 05 says why it skipped the comparison.
MODELOPT ?= 0
ifeq ($(MODELOPT),1)
MODELOPT_SETUP := modelopt-setup
endif

.PHONY: setup tutorial executed-notebooks test unit-tests notebook-tests check-notebooks renders modelopt-setup modelopt-compare mutation tensorrt-notebook clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

## Run every notebook in order, headless; executed copies land in artifacts/<profile>/executed/.
tutorial: setup $(MODELOPT_SETUP)
	$(PY) tools/run_notebooks.py

## On a GPU machine: the whole series with the full profile, executed copies (outputs included) and the run's
## provenance written to results/executed-full-profile/ (the README links them; notebooks/ stays stripped).
executed-notebooks: setup $(MODELOPT_SETUP)
	TUTORIAL_PROFILE=full $(PY) tools/run_notebooks.py --executed-to results/executed-full-profile

## Unit tests, then every notebook end to end under nbval (quick profile, offline data).
test: unit-tests notebook-tests

unit-tests: setup $(MODELOPT_SETUP)
	$(PY) -m pytest tests

notebook-tests: setup $(MODELOPT_SETUP)
	rm -rf $(TEST_ARTIFACTS)
	TUTORIAL_PROFILE=quick TUTORIAL_ARTIFACTS=$(TEST_ARTIFACTS) TQDM_DISABLE=1 \
		$(PY) -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=1200 -p no:cacheprovider notebooks

## Fail if a committed notebook holds outputs (they are stored stripped; see README).
check-notebooks: setup
	$(PY) -m pytest tests/test_notebooks_clean.py

## The Netron figures stored in notebooks/figures/ (needs Chromium; run after `make tutorial`).
renders: setup
	$(PY) tools/render_graphs.py
	$(PY) tools/render_graphs.py --notebook 05

## Notebook 04 alone, on a machine with TensorRT and pycuda (runs 01-03 first if their files are missing);
## writes artifacts/<profile>/tensorrt_notebook_run.json with provenance (README: "Run notebook 04 with TensorRT").
tensorrt-notebook: setup
	$(PY) tools/run_tensorrt_notebook.py

## NVIDIA ModelOpt's own virtual environment (notebook 05).
modelopt-setup: setup
	$(PY) tools/modelopt_compare.py --setup-only

## The ModelOpt comparison table alone (needs notebooks 01-03 of the same profile; the tool creates ModelOpt's venv itself).
modelopt-compare: setup
	$(PY) tools/modelopt_compare.py

## Mutation testing of helpers/surgery.py, qdq_rules.py and quantization.py, each against its own test file; writes
## results/mutation/mutation_report.md. About 14 minutes on 2 cores, so not part of `make test` or CI.
mutation: $(VENV)/.mutation-installed
	$(PY) tools/mutation_testing.py

$(VENV)/.mutation-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[test,mutation]'
	touch $@

clean:
	rm -rf artifacts .mutation
