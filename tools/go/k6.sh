#!/usr/bin/env bash
# Builds k6 (the load generator) from its Go module; no replace lines, so `go install` works.
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

build_k6() {
  local dir; dir="$(tool_dir k6 "$K6_VERSION")"
  installed "$dir" && return 0
  log "building k6 v$K6_VERSION"
  mkdir -p "$dir/bin"
  GOBIN="$dir/bin" go install -trimpath -ldflags "-s -w" "go.k6.io/k6@v$K6_VERSION"
  mark_installed "$dir"
}

with_lock k6 build_k6
