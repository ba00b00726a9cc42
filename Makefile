# Two commands do all set-up: `make demo` (serve a demo event) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_INSTANCE ?= $(CURDIR)/instance/demo
HOST ?= 127.0.0.1
PORT ?= 5000
DEMO_FLAGS ?=

.PHONY: demo test lint chromium clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.test: $(VENV)/.runtime
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

## demo: create the venv, install, create the demo event (embedded SQLite) and serve it
demo: $(VENV)/.runtime
	KIOSK_INSTANCE_PATH=$(DEMO_INSTANCE) $(BIN)/kiosk demo --host $(HOST) --port $(PORT) $(DEMO_FLAGS)

## chromium: Debian's Chromium (and CJK fonts) for the browser tests, if missing
chromium:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi 'Noto Sans CJK'; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	fi

lint: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## test: install what the tests need, then lint and run the whole suite (browser tests included)
test: $(VENV)/.test chromium lint
	$(BIN)/python -m pytest

## bench: every benchmark (minutes; loopback only; never part of `make test`). Figures
## move with whatever else runs on the machine: note `uptime` beside them.
## BENCH_FLAGS=--quick for short runs, BENCH_FLAGS="--mode gevent" for the other server mode.
BENCH_FLAGS ?=
bench: $(VENV)/.bench
	uptime
	$(BIN)/python benchmarks/load.py $(BENCH_FLAGS)
	$(BIN)/python benchmarks/verify_bundle.py
	uptime

$(VENV)/.bench: $(VENV)/.test
	$(BIN)/python -m pip install -q -e '.[bench]'
	touch $@

clean:
	rm -rf $(VENV) instance .pytest_cache
