#!/usr/bin/env bash
# Builds kubeconform from its Go module. It fetches schemas from the web by default: callers must
# pass -schema-location pointing at local files (there is no internet here).
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

build_kubeconform() {
  local dir; dir="$(tool_dir kubeconform "$KUBECONFORM_VERSION")"
  installed "$dir" && return 0
  log "building kubeconform v$KUBECONFORM_VERSION"
  mkdir -p "$dir/bin"
  # Upstream's release sets main.version; without it `kubeconform -v` says "development".
  GOBIN="$dir/bin" go install -trimpath -ldflags "-s -w -X main.version=v$KUBECONFORM_VERSION" \
    "github.com/yannh/kubeconform/cmd/kubeconform@v$KUBECONFORM_VERSION"
  mark_installed "$dir"
}

with_lock kubeconform build_kubeconform
