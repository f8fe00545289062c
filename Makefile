# fastscheduler developer commands. `make help` lists them; `make test` is what CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(VENV))/bin:$(PATH)
# Never let a stray user-site or PYTHONPATH shadow the package under test.
export PYTHONNOUSERSITE := 1

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(VENV)/.deps: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=25.1"
	$(PY) -m pip install -q --group dev
	touch $@

.PHONY: venv
venv: $(VENV)/.deps ## create .venv with the dev dependencies

.PHONY: dev
dev: $(VENV)/.deps ## build the Rust extension (release) and install the package into .venv, editable
	$(PY) -m maturin develop --release -q

.PHONY: test-rust
test-rust: ## cargo tests of the pure-Rust core (no Python needed)
	cargo test -p fastscheduler-core -p fastscheduler-py

.PHONY: test-python
test-python: dev services browser ## pytest suite against the installed extension (starts the test servers)
	$(PY) -m pytest -q

.PHONY: lint
lint: dev ## cargo fmt/clippy, ruff, mypy and stubtest of _core.pyi
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(PY) -m ruff check python tests benches
	$(PY) -m ruff format --check python tests benches
	$(PY) -m mypy
	$(PY) -m mypy.stubtest fastscheduler._core

.PHONY: test
test: lint test-rust test-python test-wheel ## everything CI runs: lint, cargo tests, pytest, the wheel

WHEEL_VENV := .venv-wheel
# The clean environment of test-wheel: the interpreter's own bin, the system's, and nothing of
# Rust's (cargo and rustc live in ~/.cargo/bin), so the tests prove the wheel needs no toolchain.
CLEAN_PATH := $(abspath $(WHEEL_VENV))/bin:/usr/local/bin:/usr/bin:/bin

.PHONY: test-wheel
test-wheel: $(VENV)/.deps services browser ## build the abi3 wheel + sdist, install the wheel into a clean venv with no Rust on PATH, run pytest against it
	rm -rf dist $(WHEEL_VENV)
	$(PY) -m maturin build --release --out dist
	$(PY) -m maturin sdist --out dist
	$$($(PY) -c 'import sys; print(sys._base_executable)') -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/python -m pip install -q --upgrade "pip>=25.1"
	$(WHEEL_VENV)/bin/python -m pip install -q dist/*.whl
	$(WHEEL_VENV)/bin/python -m pip install -q --group dev
	env -i HOME="$$HOME" PATH="$(CLEAN_PATH)" LANG=C.UTF-8 CI="$${CI:-}" bash -c '\
		! command -v cargo && ! command -v rustc && \
		python -c "import fastscheduler, sys; f = fastscheduler._core.__file__; print(\"testing\", f); assert \"$(WHEEL_VENV)/\" in f" && \
		python -m pytest -q -p no:cacheprovider'

.PHONY: bench
bench: dev ## benchmarks against croniter, cronsim, APScheduler 3 and fastscheduler 0.2.1 (one report, ratios in one run)
	$(PY) -m pytest benches -q --benchmark-enable --benchmark-only --benchmark-columns=median,ops,rounds --benchmark-sort=name
	$(VENV)/bin/fastscheduler bench --quick

.PHONY: bench-cluster
bench-cluster: dev services ## cluster dispatch throughput: claims per second with 1, 2 and 4 instances (PostgreSQL, MariaDB)
	$(PY) benches/cluster_report.py

.PHONY: demo
demo: dev ## run the product: example jobs and the live dashboard at http://127.0.0.1:8000/scheduler/
	$(VENV)/bin/fastscheduler demo --host 127.0.0.1 --port 8000

.PHONY: browser
browser: ## install headless Chromium from Debian for the browser test
	bash scripts/browser.sh

.PHONY: services
services: ## start PostgreSQL and MariaDB on 127.0.0.1 for the tests
	bash scripts/services.sh

.PHONY: wheel
wheel: $(VENV)/.deps ## build the abi3 wheel and the sdist into dist/
	$(PY) -m maturin build --release --out dist
	$(PY) -m maturin sdist --out dist

.PHONY: fmt
fmt: $(VENV)/.deps ## format Rust and Python sources
	cargo fmt --all
	$(PY) -m ruff format python tests benches
	$(PY) -m ruff check --fix python tests benches

.PHONY: clean
clean: ## remove build outputs (target/, .venv/, dist/)
	rm -rf target $(VENV) $(WHEEL_VENV) dist .pytest_cache .ruff_cache .mypy_cache .hypothesis .benchmarks
