#!/usr/bin/env bash
# Builds Prometheus v3 (server and promtool) from its Go module.
#
# Prometheus v3.N.M is published as the Go module version v0.3NN.M. Its go.mod may carry
# `replace`/`exclude` lines, which `go install pkg@version` refuses, so we build from a wrapper
# module that requires it and repeats those lines (only the module-to-module ones: path replaces
# point into upstream's own tree).
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# upstream_directives GOMOD -> the replace/exclude lines of GOMOD, one per line, blocks flattened.
upstream_directives() {
  awk '
    /^(replace|exclude)[ \t]*\($/ { block = $1; next }
    block != "" && /^\)/          { block = ""; next }
    block != ""                   { sub(/^[ \t]+/, ""); print block " " $0; next }
    /^(replace|exclude)[ \t]/     { print }
  ' "$1" | sed 's://.*$::' | grep -Ev '=>[[:space:]]*\.{0,2}/' || true
}

build_prometheus() {
  local dir; dir="$(tool_dir prometheus "$PROMETHEUS_VERSION")"
  installed "$dir" && return 0
  log "building prometheus and promtool v$PROMETHEUS_VERSION (module v$PROMETHEUS_MODULE_VERSION)"
  local src="$dir/src" mod="github.com/prometheus/prometheus"
  mkdir -p "$src" "$dir/bin"
  local upstream_gomod
  upstream_gomod="$(cd "$src" && go mod download -json "$mod@v$PROMETHEUS_MODULE_VERSION" |
    sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  {
    echo "module pulse.local/tools/prometheus"
    echo
    # The dependencies need at least upstream's language version.
    grep -E '^go [0-9.]+$' "$upstream_gomod"
    echo
    echo "require $mod v$PROMETHEUS_MODULE_VERSION"
    echo
    upstream_directives "$upstream_gomod"
  } >"$src/go.mod"
  local v="github.com/prometheus/common/version"
  local ldflags="-s -w -X $v.Version=$PROMETHEUS_VERSION -X $v.Revision=gomod-v$PROMETHEUS_MODULE_VERSION"
  ldflags+=" -X $v.Branch=HEAD -X $v.BuildUser=pulse-tools -X $v.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)"
  # remove_all_sd keeps only static, file and http service discovery (all Pulse uses) and drops
  # the cloud SDKs. No builtinassets tag: the web UI is left out (its assets are not in the module
  # zip), the HTTP API, /-/ready and the OTLP receiver still work.
  # promtool (config and rule checks, rule unit tests) adds about a minute to the first build.
  (cd "$src" && go build -trimpath -tags remove_all_sd,netgo -ldflags "$ldflags" -o "$dir/bin/" \
    "$mod/cmd/prometheus" "$mod/cmd/promtool")
  mark_installed "$dir"
}

with_lock prometheus build_prometheus
