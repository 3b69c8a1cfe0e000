# Chasqui. `make dev` runs it on a laptop; `make test` tests it.
# Every tool is installed here, pinned, into project-local virtualenvs, so a
# fresh machine with Rust and Python needs nothing done by hand.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
MOTO_VERSION := 5.2.5
CARGO_LAMBDA_VERSION := 1.9.2
CARGO_FUZZ_VERSION := 0.13.2
# Seconds per fuzz target: `make fuzz FUZZ_SECONDS=600`.
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 20

export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

MOTO := $(VENV)/.moto-$(MOTO_VERSION)
CARGO_LAMBDA := $(VENV)/.cargo-lambda-$(CARGO_LAMBDA_VERSION)
CARGO_FUZZ := .tools/cargo-fuzz-$(CARGO_FUZZ_VERSION)/bin/cargo-fuzz

.PHONY: test test-rust dev demo bench chaos cost fuzz fuzz-smoke fmt lint tools clean

## test: the whole suite against a local AWS emulator (started and stopped here), and a short fuzz run
test: test-rust fuzz-smoke

# Infrastructure targets (SAM template, its checks, builds and deploys).
-include infra/infra.mk

test-rust: $(MOTO)
	cargo fmt --all -- --check
	cargo fmt --manifest-path fuzz/Cargo.toml -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	scripts/with-moto cargo test --workspace --all-targets --locked

## dev: the whole loop locally: moto with the template's queues, table and secret, the Cloud API sandbox, the functions and their SQS pollers
dev: $(MOTO) $(CARGO_LAMBDA)
	scripts/dev

## demo: the guided tour, against a running `make dev` or a stack started (and stopped) for it
demo: $(MOTO) $(CARGO_LAMBDA)
	scripts/dev demo

## bench: criterion benchmarks and bench binaries (numbers in docs/benchmarks.md): warm cost, sender batch and burst, DynamoDB requests per status, cold start and memory against hello-world Rust and the Python baseline (moto started here)
bench: $(MOTO)
	cargo bench -p chasqui-shared --bench webhook_intake
	cargo bench -p chasqui-sender --bench send_batch
	cargo bench -p chasqui-sender --bench send_burst
	cargo bench -p chasqui-status --bench status_apply
	scripts/with-moto cargo bench -p chasqui-tests --bench status_requests
	scripts/with-moto cargo bench -p chasqui-tests --bench cold_start

## fuzz: each cargo-fuzz target (fuzz/) for FUZZ_SECONDS; prints executions and crashes, fails on a crash
fuzz: $(CARGO_FUZZ)
	CARGO_FUZZ=$(CARGO_FUZZ) fuzz/run $(FUZZ_SECONDS)

## fuzz-smoke: the same, FUZZ_SMOKE_SECONDS per target
fuzz-smoke: $(CARGO_FUZZ)
	CARGO_FUZZ=$(CARGO_FUZZ) fuzz/run $(FUZZ_SMOKE_SECONDS)

## chaos: CHAOS_SENDS (10000) mixed sends through the whole local loop under injected faults, then the crash window; prints a summary table (one moto server per service)
chaos: $(MOTO)
	MOTO_PER_SERVICE=1 scripts/with-moto cargo run --locked --quiet -p chasqui-tests --bin chaos

## cost: AWS requests, DynamoDB write and read units (item sizes by DynamoDB's rule) and log bytes per message, counted through the whole local loop (COST_SENDS, 20); the figures of docs/benchmarks.md "Cost"
cost: $(MOTO)
	scripts/with-moto cargo run --locked --quiet -p chasqui-tests --bin cost

fmt:
	cargo fmt --all
	cargo fmt --manifest-path fuzz/Cargo.toml

## lint: clippy as `make test` runs it
lint:
	cargo clippy --workspace --all-targets --locked -- -D warnings

tools: $(MOTO) $(CARGO_LAMBDA) $(CARGO_FUZZ)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip

$(MOTO): $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'moto[server]==$(MOTO_VERSION)'
	touch $@

$(CARGO_LAMBDA): $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'cargo-lambda==$(CARGO_LAMBDA_VERSION)'
	touch $@

# cargo-fuzz, pinned, in a project-local root (stable toolchain; see fuzz/run).
$(CARGO_FUZZ):
	cargo install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --root .tools/cargo-fuzz-$(CARGO_FUZZ_VERSION)

clean:
	rm -rf $(VENV) .venv-sam target infra/.aws-sam .tools fuzz/target
