# The two commands of a fresh machine: `make demo` and `make test`.
# Everything they need is installed here, into .venv, from the package registries.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8080
export PYTHONDONTWRITEBYTECODE = 1

.PHONY: help venv examples demo test test-fast test-containers bench lint clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): setup.cfg setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[all,test]'
	touch $(STAMP)

venv: $(STAMP)  ## create .venv with veneer and every extra installed

examples: $(STAMP)  ## build the example legacy models (reproducible scripts)
	$(BIN)/python examples/legacy_models/build_all.py

demo: examples  ## serve the example legacy models with auth and metrics on 127.0.0.1:8080
	$(BIN)/python examples/demo.py --host $(HOST) --port $(PORT)

test: examples  ## run the whole test suite (containers included when podman can run)
	bash scripts/setup-system.sh
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test-fast: examples  ## the suite without the slow server and container tests
	$(BIN)/python -m pytest -q -m "not slow and not containers" $(PYTEST_ARGS)

bench: examples  ## throughput and latency against a hand-written Flask app (needs wrk)
	bash scripts/setup-system.sh bench
	$(BIN)/python bench/run.py $(BENCH_ARGS)

test-containers: examples  ## only the podman image, sidecar pair and kube play tests
	bash scripts/containers/setup-podman.sh
	$(BIN)/python -m pytest -q -m containers tests/containers $(PYTEST_ARGS)

clean:  ## remove the venv and built example artifacts
	rm -rf $(VENV) examples/legacy_models/build
