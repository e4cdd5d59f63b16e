# The entry points a person types. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

NODE_TSX := node --import tsx
STACK := $(NODE_TSX) test/harness/cli.ts
# Extra local-stack parts for `make up`, e.g. `make up WITH=controlplane`.
WITH ?=
# `make up` and `make bench` can run the replica, the projection server, Kafka and the replicator
# at a niceness (test/harness/process.ts), e.g. BACKGROUND_NICENESS=10. Off by default: with 10, the
# dashboards' p99 in 2026-12-06-full-4 was 33.7 ms (likely: their kept answers are refreshed from
# the projection server) and the POSTs' gained nothing that could be told from the machine's drift.
BACKGROUND_NICENESS ?= 0
# `make bench ONLY=write-load` runs some parts of the suite (bench/profiles.ts lists them).
ONLY ?=
UNIT_TESTS = $(shell find services operator bench test/unit -name '*.test.ts' -not -path '*/node_modules/*' 2>/dev/null | sort)

.PHONY: help deps tools build up down status test test-unit test-integration lint format clean manifests chart-check test-chart bench bench-quick bench-operator simulate

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

node_modules/.package-lock.json: package.json package-lock.json $(wildcard */package.json */*/package.json)
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.package-lock.json ## Install the npm workspaces from the lockfile

tools: ## Build/install every pinned upstream tool into ~/.cache/pulse/tools (cached by version)
	bash tools/install.sh all

build: deps ## Compile every workspace (tsc -b)
	npx tsc -b

up: deps build ## Start the local stack (PostgreSQL primary+replica+projection, Kafka, Prometheus)
	PULSE_BACKGROUND_NICENESS=$(BACKGROUND_NICENESS) $(STACK) up $(if $(WITH),--with $(WITH))

down: deps ## Stop the local stack; leaves no process behind
	$(STACK) down

status: deps ## Show which local-stack processes run
	$(STACK) status

test: lint test-unit test-integration ## Everything CI runs: lint, unit and integration tests

test-unit: deps build ## Fast tests of pure logic
	$(NODE_TSX) --test --test-reporter=spec $(UNIT_TESTS)

test-integration: deps build ## Suites against the real parts (builds missing tools first)
	bash test/run-integration.sh

# tsc -b builds the sources; the unit tests and the bench driver have their own no-emit projects.
TEST_TSCONFIGS = $(wildcard services/*/test/tsconfig.json operator/test/tsconfig.json bench/tsconfig.json)

lint: deps ## Type check, eslint and the format check
	npx tsc -b
	for project in $(TEST_TSCONFIGS); do npx tsc -p $$project || exit 1; done
	npx eslint .
	npx prettier --check .

manifests: deps ## Render charts/pulse/crds and manifests/ from the operator's CRD and the chart
	bash scripts/render-manifests.sh

chart-check: deps ## Fail when charts/pulse/crds or manifests/ are out of date
	bash scripts/render-manifests.sh --check

test-chart: deps ## The Helm chart suite (lint, kubeconform, dry-run and apply on the local control plane)
	$(NODE_TSX) --test --test-reporter=spec --test-timeout=600000 test/integration/chart.test.ts

bench: deps build ## Benchmark suite, full (about 1 h with a 30 min soak): docs/benchmarks/<date>-full.md, latest.json; ONLY=write-load,... for some parts
	PULSE_BACKGROUND_NICENESS=$(BACKGROUND_NICENESS) $(NODE_TSX) bench/run.ts $(if $(ONLY),--only $(ONLY))

bench-quick: deps build ## The same suite, short (a few minutes): docs/benchmarks/<date>-quick.md
	PULSE_BACKGROUND_NICENESS=$(BACKGROUND_NICENESS) $(NODE_TSX) bench/run.ts --quick

bench-operator: deps build ## The operator with 500 ReplicationLags at a 15 s poll, a 5 min window (about 10 min): docs/benchmarks/<date>-operator.md
	$(NODE_TSX) bench/operator.ts

simulate: deps ## Compare the scaling policy with KEDA-style and HPA-on-lag in a model: docs/benchmarks/<date>-scaling-simulation.md
	$(NODE_TSX) operator/simulate/run.ts

format: deps ## Rewrite files in the house format
	npx prettier --write .

clean: ## Remove build output (not the tool cache)
	rm -rf services/*/dist operator/dist test/dist
