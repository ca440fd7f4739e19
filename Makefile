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

.PHONY: setup check tutorial executed-notebooks learner-notebooks test unit-tests notebook-tests notebook-tests-chained \
	notebook-tests-alone unit-tests-then-alone renders modelopt-setup \
	mutation tensorrt-notebook times clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

## What this machine has for the series and what each missing piece costs (notebook 00 shows the same); exits 1
## when a piece notebooks 01-03 need is missing: the instructor's check of each laptop before a workshop.
check: setup
	$(PY) tools/check_environment.py

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

## Unit tests and every notebook once, end to end under nbval (the test profile: the laptop path cut to what its checks
## need; offline data, exercise solutions in place, notebook 04 against the TensorRT test double), each cell's outputs
## checked (tests/notebook_outputs.py). Two jobs side by side, each log appearing when its job ends: notebooks 00-06
## (they read each other's files, so one after another), and the unit tests followed by the notebooks that read nothing
## another notebook wrote (07). OMP_WAIT_POLICY=PASSIVE: torch's idle threads sleep instead of spinning, so the two
## jobs do not steal each other's cores; in `make test` each job gets half of the cores (OMP_NUM_THREADS, which
## PyTorch and helpers/onnx_runtime.py follow). The README's table gives the time CI measured.
NOTEBOOKS_ALONE := notebooks/07_when_ptq_is_not_enough.ipynb
NOTEBOOKS_CHAINED := $(filter-out $(NOTEBOOKS_ALONE),$(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb)))
NBVAL := $(TRT_DOUBLE) TUTORIAL_PROFILE=test TQDM_DISABLE=1 $(PY) -m pytest -p notebook_outputs --nbval-lax \
	--nbval-current-env --nbval-cell-timeout=1200 -p no:cacheprovider
test unit-tests notebook-tests notebook-tests-chained notebook-tests-alone unit-tests-then-alone: export OMP_WAIT_POLICY = PASSIVE
TEST_THREADS := $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n > 1 ? n / 2 : 1 )))
test: export OMP_NUM_THREADS = $(TEST_THREADS)

test: setup $(MODELOPT_SETUP)
	@echo "notebooks 00-06, and the unit tests then notebook 07, run side by side; each log appears when its job ends"
	@$(MAKE) --no-print-directory -j2 --output-sync=target notebook-tests-chained unit-tests-then-alone

UNIT_TESTS = TIMEFORMAT='unit tests took %0R s'; time $(PY) -m pytest tests
ALONE_TESTS = rm -rf $(TEST_ARTIFACTS)-alone; TIMEFORMAT='notebook tests (07) took %0R s'; \
	time TUTORIAL_ARTIFACTS=$(TEST_ARTIFACTS)-alone $(NBVAL) $(NOTEBOOKS_ALONE)

unit-tests: setup $(MODELOPT_SETUP)
	@$(UNIT_TESTS)

## Every notebook, one after another, in one job.
notebook-tests: setup $(MODELOPT_SETUP)
	rm -rf $(TEST_ARTIFACTS)
	@TIMEFORMAT='notebook tests took %0R s'; time TUTORIAL_ARTIFACTS=$(TEST_ARTIFACTS) $(NBVAL) notebooks

notebook-tests-chained: setup $(MODELOPT_SETUP)
	rm -rf $(TEST_ARTIFACTS)
	@TIMEFORMAT='notebook tests (00-06) took %0R s'; time TUTORIAL_ARTIFACTS=$(TEST_ARTIFACTS) $(NBVAL) $(NOTEBOOKS_CHAINED)

notebook-tests-alone: setup $(MODELOPT_SETUP)
	@$(ALONE_TESTS)

# One recipe, so notebook 07 starts only when the unit tests end; it runs even when a unit test failed, and the target
# fails if either did.
unit-tests-then-alone: setup $(MODELOPT_SETUP)
	@$(UNIT_TESTS); unit=$$?; $(ALONE_TESTS); alone=$$?; exit $$(( unit || alone ))

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
# A file target: once the environment holds tools/run_modelopt.py's requirements (the tool writes the marker, make
# touches it), make skips the check until the tool changes.
MODELOPT_MARKER := $(or $(MODELOPT_VENV),.venv-modelopt)/.modelopt-installed
modelopt-setup: $(MODELOPT_MARKER)

$(MODELOPT_MARKER): tools/run_modelopt.py | setup
	$(PY) tools/run_modelopt.py setup
	touch $@

## Mutation testing of the lesson code in helpers/; writes results/mutation/mutation_report.md. Long (see the
## report for its time on 2 cores), so not part of `make test` or CI.
mutation: $(VENV)/.mutation-installed
	$(PY) tools/mutation_testing.py

$(VENV)/.mutation-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[test,mutation]'
	touch $@

clean:
	rm -rf artifacts .mutation
