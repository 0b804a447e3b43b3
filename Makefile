# Loopwise: build / test / bench / demo.  Everything runs inside ./.venv, created on demand.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: build demo test test-rust test-py stubtest bench wheel clean proto

$(VENV)/bin/maturin:
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "maturin>=1.9,<2.0"

# Compiles statcore in release mode into ./statcore and installs every dependency (incl. dev, train).
# flock serialises concurrent builds that share target/.
build: $(VENV)/bin/maturin
	@mkdir -p target
	flock target/.build.lock maturin develop --release --extras dev,train -q

# The main job on embedded defaults (SQLite registry, safetensors artifacts, statcore in-process).
# DEMO_ARGS passes options through, e.g. make demo DEMO_ARGS="--stall-s 600" on a busy machine.
DEMO_ARGS ?=
demo: build
	$(PY) -m learner.demo $(DEMO_ARGS)

test: build test-rust stubtest test-py

test-rust:
	cargo fmt --all --check
	cargo test -p statcore-core --release -q

stubtest: build
	$(PY) -m mypy.stubtest statcore._statcore --allowlist statcore/stubtest-allowlist.txt

test-py: build
	$(PY) -m pytest -q

bench: build
	cargo bench -p statcore-core
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

wheel: $(VENV)/bin/maturin
	maturin build --release -o dist

clean:
	rm -rf target dist statcore/_statcore*.so

# Regenerates loopwise_proto/v1 from proto/loopwise/v1 (the generated code is committed).
proto: build
	$(PY) -m loopwise_proto.codegen
