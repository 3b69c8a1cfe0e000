# Chasqui. `make dev` runs it on a laptop; `make test` tests it.
# Every tool is installed here, pinned, into project-local virtualenvs, so a
# fresh machine with Rust and Python needs nothing done by hand.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
MOTO_VERSION := 5.2.5
CARGO_LAMBDA_VERSION := 1.9.2

export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

MOTO := $(VENV)/.moto-$(MOTO_VERSION)
CARGO_LAMBDA := $(VENV)/.cargo-lambda-$(CARGO_LAMBDA_VERSION)

.PHONY: test test-rust dev demo bench fmt lint tools clean

## test: the whole suite against a local AWS emulator (started and stopped here)
test: test-rust

# Infrastructure targets (SAM template, its checks, builds and deploys).
-include infra/infra.mk

test-rust: $(MOTO)
	cargo fmt --all -- --check
	scripts/with-moto cargo test --workspace --all-targets --locked

## dev: the whole loop locally: moto with the template's queues, table and secret, the Cloud API sandbox, the functions and their SQS pollers
dev: $(MOTO) $(CARGO_LAMBDA)
	scripts/dev

## demo: the guided tour, against a running `make dev` or a stack started (and stopped) for it
demo: $(MOTO) $(CARGO_LAMBDA)
	scripts/dev demo

## bench: criterion benchmarks and bench binaries (numbers in docs/benchmarks.md); the DynamoDB request counts against moto
bench: $(MOTO)
	cargo bench -p chasqui-shared --bench webhook_intake
	cargo bench -p sender --bench send_batch
	cargo bench -p sender --bench send_burst
	cargo bench -p status --bench status_apply
	scripts/with-moto cargo bench -p status --bench status_requests

fmt:
	cargo fmt --all

lint:
	cargo clippy --workspace --all-targets -- -D warnings

tools: $(MOTO) $(CARGO_LAMBDA)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip

$(MOTO): $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'moto[server]==$(MOTO_VERSION)'
	touch $@

$(CARGO_LAMBDA): $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'cargo-lambda==$(CARGO_LAMBDA_VERSION)'
	touch $@

clean:
	rm -rf $(VENV) .venv-sam target infra/.aws-sam
