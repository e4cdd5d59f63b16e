#!/usr/bin/env bash
# Copies the upstream CRDs that the chart's custom resources need out of released Go module zips,
# so the chart can be validated and applied with no internet (the module proxy is reachable).
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# module_dir MOD VERSION -> the module's unpacked (read-only) directory in the Go module cache.
module_dir() {
  local json dir
  # Outside any module, so no go.mod of ours is consulted or changed.
  json="$(cd / && go mod download -json "$1@v$2")" || {
    log "go mod download $1@v$2 failed: $(sed -n 's/.*"Error": "\(.*\)".*/\1/p' <<<"$json")"
    return 1
  }
  dir="$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' <<<"$json")"
  [[ -d "$dir" ]] || { log "no Dir for $1@v$2"; return 1; }
  printf '%s' "$dir"
}

crds_key() {
  printf 'cnpg%s-promop%s-k6op%s' "$CNPG_VERSION" "$PROMETHEUS_OPERATOR_VERSION" "$K6_OPERATOR_VERSION"
}

fetch_crds() {
  local dir; dir="$(tool_dir crds "$(crds_key)")"
  installed "$dir" && return 0
  log "fetching CRDs into $dir"
  mkdir -p "$dir"
  local src name
  src="$(module_dir github.com/cloudnative-pg/cloudnative-pg "$CNPG_VERSION")"
  cp "$src/config/crd/bases/postgresql.cnpg.io_clusters.yaml" "$dir/"
  src="$(module_dir github.com/prometheus-operator/prometheus-operator "$PROMETHEUS_OPERATOR_VERSION")"
  for name in servicemonitors podmonitors prometheusrules; do
    cp "$src/example/prometheus-operator-crd/monitoring.coreos.com_$name.yaml" "$dir/"
  done
  src="$(module_dir github.com/grafana/k6-operator "$K6_OPERATOR_VERSION")"
  cp "$src/config/crd/bases/k6.io_testruns.yaml" "$dir/"
  # The module cache is read-only; copies keep that mode and would block a later rm -rf.
  chmod u+w "$dir"/*.yaml
  mark_installed "$dir"
}

# install.sh --print-env uses this to find the directory without fetching.
if [[ "${1:-}" == "--dir" ]]; then
  tool_dir crds "$(crds_key)"
  exit 0
fi

with_lock crds fetch_crds
