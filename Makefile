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

# Notebooks 05 and 06 use NVIDIA ModelOpt, which needs its own virtual environment (.venv-modelopt, about 6.5 GB
# more). It is opt-in: `make tutorial MODELOPT=1` / `make test MODELOPT=1` (CI does) create it first; without it
# notebook 05 shows the committed comparison and notebook 06 skips ModelOpt's route, each saying why.
MODELOPT ?= 0
ifeq ($(MODELOPT),1)
MODELOPT_SETUP := modelopt-setup
endif

# The notebook tests run notebook 04's TensorRT steps against the contract-checking test double of TensorRT and
# pycuda (tests/trt_double), so every engine line runs in CI; nothing the double makes leaves the test run.
TRT_DOUBLE := PYTHONPATH=$(CURDIR)/tests/trt_double:$(CURDIR)/tests TRT_CONTRACT_DOUBLE=1 TRT_DOUBLE_RELEASE=11

.PHONY: setup tutorial executed-notebooks learner-notebooks test unit-tests notebook-tests renders modelopt-setup \
	mutation tensorrt-notebook times clean

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
## record written to results/executed-full-profile/ (the README links them; notebooks/ stays stripped).
executed-notebooks: setup $(MODELOPT_SETUP)
	TUTORIAL_PROFILE=full $(PY) tools/run_notebooks.py --executed-to results/executed-full-profile

## The learner's copy of every notebook (lesson cells to write, exercises without solutions): learner-notebooks/.
learner-notebooks: setup
	$(PY) tools/make_learner_notebooks.py

## Unit tests, then every notebook once, end to end under nbval (the test profile: the laptop path cut to what its checks
## need; offline data, exercise solutions in
## place, notebook 04 against the TensorRT test double), each cell's outputs checked (tests/notebook_outputs.py).
## The two run side by side (two jobs); each one's log appears when it ends. On 2 cores both are CPU-bound, so this
## saves little there (results/laptop-path/ci_run.json); a machine with more cores gains more.
test: setup $(MODELOPT_SETUP)
	@echo "unit tests and notebook tests run side by side; each log appears when its tests end"
	@$(MAKE) --no-print-directory -j2 --output-sync=target unit-tests notebook-tests

unit-tests: setup $(MODELOPT_SETUP)
	@TIMEFORMAT='unit tests took %0R s'; time $(PY) -m pytest tests

notebook-tests: setup $(MODELOPT_SETUP)
	rm -rf $(TEST_ARTIFACTS)
	@TIMEFORMAT='notebook tests took %0R s'; time $(TRT_DOUBLE) TUTORIAL_PROFILE=test TUTORIAL_ARTIFACTS=$(TEST_ARTIFACTS) \
		TQDM_DISABLE=1 $(PY) -m pytest -p notebook_outputs --nbval-lax --nbval-current-env --nbval-cell-timeout=1200 \
		-p no:cacheprovider notebooks

## Copy the times of the committed run records into the notebook headers, README and WORKSHOP.md.
times: setup
	$(PY) tools/sync_times.py

## The Netron figures stored in notebooks/figures/ (needs Chromium; run after `make tutorial`).
renders: setup
	$(PY) tools/render_graphs.py --committed 03 05

## Notebook 04 alone, on a machine with TensorRT and pycuda (runs 01-03 first if their files are missing);
## writes artifacts/<profile>/tensorrt_notebook_run.json with provenance (README: "Run notebook 04 with TensorRT").
tensorrt-notebook: setup
	$(PY) tools/run_tensorrt_notebook.py

## NVIDIA ModelOpt's own virtual environment (notebooks 05 and 06).
modelopt-setup: setup
	$(PY) tools/run_modelopt.py setup

## Mutation testing of the lesson code in helpers/; writes results/mutation/mutation_report.md. Long (see the
## report for its time on 2 cores), so not part of `make test` or CI.
mutation: $(VENV)/.mutation-installed
	$(PY) tools/mutation_testing.py

$(VENV)/.mutation-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[test,mutation]'
	touch $@

clean:
	rm -rf artifacts .mutation
