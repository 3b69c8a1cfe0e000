# Infrastructure: the SAM template's checks, the Lambda builds and deploys.
# Included by the root Makefile, so every target runs from the repository root
# with .venv/bin (cargo-lambda) on PATH. SAM CLI pins its own boto3, so it and
# cfn-lint live in their own venv; cfn-lint 1.58 is inside SAM's accepted
# range, so one venv holds both and moto's cfn-lint in .venv never meets them.

SAM_VENV := .venv-sam
SAM_CLI_VERSION := 1.170.0
CFN_LINT_VERSION := 1.58.0
SAM_TOOLS := $(SAM_VENV)/.sam-$(SAM_CLI_VERSION)-cfn-lint-$(CFN_LINT_VERSION)

# Lambda runs the functions on Graviton (template: Architectures arm64).
LAMBDA_TARGET := aarch64-unknown-linux-gnu
LAMBDA_BINARIES := webhook sender status media callbacks api

# No prompts, no telemetry, no colour codes in CI logs. Every sam command runs
# from infra/: SAM reads samconfig.toml beside the template, resolves
# `CodeUri: ..` to the workspace root and builds into infra/.aws-sam.
SAM := cd infra && SAM_CLI_TELEMETRY=0 SAM_CLI_NO_COLOR=1 $(CURDIR)/$(SAM_VENV)/bin/sam
CFN_LINT := $(CURDIR)/$(SAM_VENV)/bin/cfn-lint

# `make deploy GUIDED=1` forces the guided deploy; without it, the deploy is
# guided only until samconfig.toml holds the stack's deploy parameters.
GUIDED ?= $(if $(shell grep -s '^\[default\.deploy\.parameters\]' infra/samconfig.toml),,1)

.PHONY: test-infra lint-template sam-build sam-build-check build deploy watch rust-target \
	invoke-webhook invoke-sender invoke-status sam-tools

test: test-infra

## test-infra: cfn-lint, sam validate --lint and a debug `sam build` of every function
test-infra: lint-template sam-build-check

## lint-template: cfn-lint (informational findings included) and sam validate --lint
lint-template: $(SAM_TOOLS)
	cd infra && $(CFN_LINT) --include-checks I -- template.yaml
	$(SAM) validate --lint

## sam-build: what `sam deploy` ships: release arm64 binaries built by SAM through cargo-lambda
sam-build: $(SAM_TOOLS) $(CARGO_LAMBDA) rust-target
	$(SAM) build

# What CI proves: the same template, build method, cross toolchain and binary
# names through the same `sam build`, in SAM's debug mode (`cargo lambda build`
# without `--release`: no LTO, one dependency build shared by every function,
# no debug info to link).
# The release build differs only in optimisation and cost CI 15-20 of its
# 31-39 minutes on 2 cores (an LTO build per function); this one costs ~4
# minutes of CPU. Its own build dir, so `sam deploy` never ships a debug binary.
SAM_CHECK_DIR := .aws-sam/check

## sam-build-check: `sam build` in debug mode into infra/.aws-sam/check (what `make test` runs)
sam-build-check: export SAM_BUILD_MODE := debug
sam-build-check: export CARGO_PROFILE_DEV_DEBUG := false
sam-build-check: $(SAM_TOOLS) $(CARGO_LAMBDA) rust-target
	$(SAM) build --build-dir $(SAM_CHECK_DIR)

## build: the release arm64 binaries, in target/lambda/<name>/bootstrap
# The webhook and the API on their own: built with the others, cargo would
# unify features and compile shared's `media` (the S3 SDK) into them too
# (SAM builds each function on its own already).
SMALL_BINARIES := webhook api
build: $(CARGO_LAMBDA) rust-target
	cargo lambda build --release --arm64 $(addprefix --bin ,$(SMALL_BINARIES))
	cargo lambda build --release --arm64 $(addprefix --bin ,$(filter-out $(SMALL_BINARIES),$(LAMBDA_BINARIES)))

## deploy: sam build and sam deploy (guided the first time, or with GUIDED=1)
deploy: sam-build
	$(SAM) deploy $(if $(GUIDED),--guided)

## watch: `cargo lambda watch` with the local queues, table and secret (same as `make dev`)
watch: dev

# `make invoke-<function> [EVENT=events/<file>.json]` sends an event to the
# function running under `make watch` (events/README.md lists the files).
WATCH_ADDRESS := -A 127.0.0.1 -P 9000
EVENT_webhook := events/webhook-post-status.json
EVENT_status := events/status-delivered.json
EVENT_sender := $(firstword $(sort $(wildcard events/sender-*.json)))

invoke-webhook invoke-sender invoke-status: invoke-%: $(CARGO_LAMBDA)
	@event="$(or $(EVENT),$(EVENT_$*))"; \
	test -f "$$event" || { echo "no event for $*: pass EVENT=events/<file>.json" >&2; exit 2; }; \
	cargo lambda invoke $* $(WATCH_ADDRESS) --data-file "$$event"

# cargo-lambda would add the target itself; doing it here names the step.
rust-target:
	@rustup target list --installed | grep -qx '$(LAMBDA_TARGET)' || rustup target add $(LAMBDA_TARGET)

sam-tools: $(SAM_TOOLS)

$(SAM_VENV)/bin/python:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip

$(SAM_TOOLS): $(SAM_VENV)/bin/python
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check \
		'aws-sam-cli==$(SAM_CLI_VERSION)' 'cfn-lint==$(CFN_LINT_VERSION)'
	touch $@
