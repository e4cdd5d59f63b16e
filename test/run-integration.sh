#!/usr/bin/env bash
# Runs the integration suites against one shared local stack (with the control plane), and stops
# it afterwards whatever happened. A suite that needs to break things starts its own isolated stack.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install.sh all
export PULSE_TEST_STACK_DIR="${PULSE_TEST_STACK_DIR:-$PWD/.pulse-test}"
stack() { node --import tsx test/harness/cli.ts "$@" --run-dir "$PULSE_TEST_STACK_DIR"; }

stack down >/dev/null
rm -rf "$PULSE_TEST_STACK_DIR"
trap 'stack down >/dev/null || true' EXIT
stack up --base-port "${PULSE_TEST_BASE_PORT:-17400}" --with controlplane --infra-only

mapfile -t suites < <(find test/integration -name '*.test.ts' | sort)
node --import tsx --test --test-reporter=spec --test-concurrency=1 --test-timeout=600000 "${suites[@]}"
