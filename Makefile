# Two commands do all set-up: `make demo` (serve a demo event) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_INSTANCE ?= $(CURDIR)/instance/demo
HOST ?= 127.0.0.1
PORT ?= 5000
DEMO_FLAGS ?=

.PHONY: demo test lint chromium clean crash power fuzz bench

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

## chromium: Debian's Chromium (and CJK fonts) for the browser tests, and fuse3 for the
## power-loss tests, if missing
chromium:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi 'Noto Sans CJK' \
		|| [ ! -x /usr/bin/fusermount3 ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-cjk \
			fuse3 >/dev/null; \
	fi

lint: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## test: install what the tests need, then lint and run the whole suite (browser tests included)
test: $(VENV)/.test chromium lint
	$(BIN)/python -m pytest

## crash: 200 crash trials (SIGKILL under load, restart, check); prints a JSON summary
crash: $(VENV)/.test
	$(BIN)/python benchmarks/crash_trials.py --trials 200

## power: power-loss trials on a FUSE layer that drops unsynced writes (FULL vs NORMAL)
power: $(VENV)/.test chromium
	$(BIN)/python benchmarks/power_loss.py --trials 20

## fuzz: 10,000 generated inputs per Socket.IO event, HTTP form and raw frames (hours: docs/performance.md)
fuzz: $(VENV)/.test
	KIOSK_FUZZ_EXAMPLES=10000 $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_fuzz.py

## bench: every benchmark (minutes; loopback only; never part of `make test`). Figures
## move with whatever else runs on the machine: note `uptime` beside them.
## BENCH_FLAGS=--quick for short runs, BENCH_FLAGS="--mode threading" for the other server mode.
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
