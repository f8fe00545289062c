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

# More pytest arguments for test-python and test-wheel, e.g. PYTEST_ARGS="tests/test_cli.py -x".
PYTEST_ARGS ?=
# make demo's dashboard port; when something else listens there, the next free one.
DEMO_PORT ?= 8000

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

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
test-python: dev services browser ## quick pytest run against the editable build in .venv while developing (make test tests the wheel)
	$(PY) -m pytest -q $(PYTEST_ARGS)

.PHONY: lint
lint: lint-static dev ## lint-static, then stubtest of _core.pyi against the dev build
	$(PY) -m mypy.stubtest fastscheduler._core

.PHONY: lint-static
lint-static: $(VENV)/.deps ## cargo fmt/clippy, ruff, mypy (strict): the lint that needs no build
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(PY) -m ruff check python tests benches
	$(PY) -m ruff format --check python tests benches
	$(PY) -m mypy

.PHONY: test
test: lint-static test-rust test-sdist test-wheel ## what CI runs: lint, cargo tests, the sdist built from source, then stubtest and pytest once, against the manylinux2014 wheel in a clean venv

WHEEL_VENV := .venv-wheel
SDIST_VENV := .venv-sdist
BASE_PYTHON = $$($(PY) -c 'import sys; print(sys._base_executable)')

# Each run starts from nothing: a fresh wheel, sdist (make wheel) and venv. scripts/clean-env.sh
# runs the commands under env -i with no Rust on PATH (it checks), passing FASTSCHEDULER_* through.
.PHONY: test-wheel
test-wheel: wheel services browser ## build the wheel + sdist (make wheel), install the wheel into a clean venv with no Rust on PATH, run stubtest and pytest against it
	rm -rf $(WHEEL_VENV)
	$(BASE_PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/python -m pip install -q --upgrade "pip>=25.1"
	$(WHEEL_VENV)/bin/python -m pip install -q dist/*.whl --group dev
	bash scripts/clean-env.sh $(WHEEL_VENV) python -m mypy.stubtest fastscheduler._core
	bash scripts/clean-env.sh $(WHEEL_VENV) python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

.PHONY: bench
bench: dev ## benchmarks against croniter, cronsim, APScheduler 3 and fastscheduler 0.2.1 (one report, ratios in one run)
	$(PY) -m pytest benches -q --benchmark-enable --benchmark-only --benchmark-columns=median,ops,rounds --benchmark-sort=name
	$(VENV)/bin/fastscheduler bench --quick

.PHONY: bench-cluster
bench-cluster: dev services ## cluster dispatch throughput: claims per second with 1, 2 and 4 instances (PostgreSQL, MariaDB)
	eval "$$(bash scripts/services.sh env)" && $(PY) benches/cluster_report.py

# make demo's own venv: the package (a wheel built here) and the dashboard's dependencies
# (fastscheduler[fastapi]) with maturin to build it, some 70 MB; not the dev group's test and
# benchmark tools (over 600 MB). `maturin develop` would install the dev group too: it is not used.
DEMO_VENV := .venv-demo

$(DEMO_VENV)/.deps: pyproject.toml
	@echo "demo: making $(DEMO_VENV) with maturin, to build the package with its fastapi extra"
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/python -m pip install --progress-bar on --upgrade "pip>=25.1" "maturin>=1.7,<2"
	touch $@

.PHONY: demo
demo: $(DEMO_VENV)/.deps ## run the product: example jobs and the live dashboard at http://127.0.0.1:8000/scheduler/ (or the next free port)
	@echo "demo: building the wheel (release; the first build takes a few minutes)"
	rm -rf $(DEMO_VENV)/wheel
	$(DEMO_VENV)/bin/maturin build --release --compatibility linux --interpreter $(DEMO_VENV)/bin/python --out $(DEMO_VENV)/wheel
	@echo "demo: installing it with the dashboard's dependencies (fastscheduler[fastapi])"
	$(DEMO_VENV)/bin/python -m pip install --progress-bar on "$$(ls $(DEMO_VENV)/wheel/*.whl)[fastapi]"
	$(DEMO_VENV)/bin/python -m pip install --force-reinstall --no-deps $(DEMO_VENV)/wheel/*.whl
	port=$$(bash scripts/free-port.sh $(DEMO_PORT)) && \
	if [[ $$port != $(DEMO_PORT) ]]; then \
		echo "demo: 127.0.0.1:$(DEMO_PORT) is in use by another program$$(bash scripts/free-port.sh --who $(DEMO_PORT)), the dashboard takes $$port (DEMO_PORT=... to choose)"; \
	fi && \
	exec $(DEMO_VENV)/bin/fastscheduler demo --host 127.0.0.1 --port $$port

.PHONY: browser
browser: ## install headless Chromium from Debian for the browser test
	bash scripts/browser.sh

.PHONY: services
services: ## start PostgreSQL and MariaDB on 127.0.0.1 for the tests (ports and URLs: scripts/services.sh)
	bash scripts/services.sh

# The fallback where no wheel fits (pip install of the sdist, with Rust): built from source in a
# clean venv, then checked under clean-env.sh (one version everywhere, a fire time computed).
# Its cargo build keeps target/sdist (CARGO_TARGET_DIR), so a second run reuses the compiled
# dependencies; our own two crates are cleaned first, because the sdist's files all carry one
# fixed old mtime and cargo would take a previous build of them as up to date. --no-cache-dir:
# pip would otherwise reuse the wheel it built from an earlier sdist of the same name.
SDIST_TARGET := target/sdist
.PHONY: test-sdist
test-sdist: wheel ## pip install the sdist from dist/ into a clean venv (a build from source, Rust on PATH) and check the installed package
	rm -rf $(SDIST_VENV)
	$(BASE_PYTHON) -m venv $(SDIST_VENV)
	$(SDIST_VENV)/bin/python -m pip install -q --upgrade "pip>=25.1"
	cargo clean --release -q -p fastscheduler-core -p fastscheduler-py --target-dir $(SDIST_TARGET)
	CARGO_TARGET_DIR=$(abspath $(SDIST_TARGET)) $(SDIST_VENV)/bin/python -m pip install -q --no-cache-dir dist/*.tar.gz
	bash scripts/clean-env.sh $(SDIST_VENV) python scripts/check_install.py

$(VENV)/.wheel-deps: $(VENV)/.deps pyproject.toml
	$(PY) -m pip install -q --group wheel
	touch $@

# One x86_64 wheel for every glibc Linux since 2014: zig (ziglang from PyPI, the `wheel` dependency
# group) links against glibc 2.17, whatever glibc this machine has; scripts/check_wheel.py runs
# auditwheel and fails unless the policy is manylinux_2_17 and no symbol needs a newer glibc.
.PHONY: wheel
wheel: $(VENV)/.wheel-deps ## build the abi3 manylinux2014 wheel (zig) and the sdist into a fresh dist/, and check the wheel (auditwheel)
	rm -rf dist
	$(PY) -m maturin build --release --zig --compatibility manylinux2014 --out dist
	$(PY) -m maturin sdist --out dist
	$(PY) scripts/check_wheel.py dist/*.whl

# Linux aarch64, cross-built here with zig. It needs the target's Rust standard library from rustup
# (`rustup target add`), which is not a package registry, so make test does not depend on it; the
# release workflow builds every platform (docs/releasing.md). Run it after make wheel: it adds to dist/.
.PHONY: wheel-aarch64
wheel-aarch64: $(VENV)/.wheel-deps ## cross-build the Linux aarch64 manylinux2014 wheel into dist/ with zig (rustup target add), and check it
	rustup target add aarch64-unknown-linux-gnu
	$(PY) -m maturin build --release --zig --target aarch64-unknown-linux-gnu --compatibility manylinux2014 --out dist
	$(PY) scripts/check_wheel.py dist/*-manylinux2014_aarch64.*.whl

.PHONY: fmt
fmt: $(VENV)/.deps ## format Rust and Python sources
	cargo fmt --all
	$(PY) -m ruff format python tests benches
	$(PY) -m ruff check --fix python tests benches

.PHONY: clean
clean: ## remove build outputs (target/, .venv/, dist/)
	rm -rf target $(VENV) $(WHEEL_VENV) $(SDIST_VENV) dist .pytest_cache .ruff_cache .mypy_cache .hypothesis .benchmarks
