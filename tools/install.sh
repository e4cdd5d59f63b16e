#!/usr/bin/env bash
# Installs Pulse's upstream tools into the version-keyed cache ($PULSE_TOOLS_DIR).
#
#   tools/install.sh [all|kubernetes|helm|k6|kubeconform|prometheus|crds|kafka|postgres]...
#   eval "$(tools/install.sh --print-env)"   # PATH, PULSE_TOOLS_DIR, PULSE_CRDS_DIR
#
# Every installer skips a version it has already completed, so running this again is cheap.
# Builds run one after another: the machine has 2 cores.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL_TARGETS=(kubernetes helm k6 kubeconform prometheus crds kafka postgres)

script_for() {
  case "$1" in
    kubernetes | helm | k6 | kubeconform | prometheus) echo "$TOOLS_ROOT_DIR/go/$1.sh" ;;
    crds | kafka | postgres) echo "$TOOLS_ROOT_DIR/$1.sh" ;;
    *) return 1 ;;
  esac
}

print_env() {
  # etcd is built by go/kubernetes.sh; its version has its own cache key.
  local bins=(
    "$(tool_dir kubernetes "$KUBERNETES_VERSION")/bin"
    "$(tool_dir etcd "$ETCD_VERSION")/bin"
    "$(tool_dir helm "$HELM_VERSION")/bin"
    "$(tool_dir k6 "$K6_VERSION")/bin"
    "$(tool_dir kubeconform "$KUBECONFORM_VERSION")/bin"
    "$(tool_dir prometheus "$PROMETHEUS_VERSION")/bin"
    # Debian's package location (see postgres.sh); initdb/pg_ctl are not on PATH by default.
    "/usr/lib/postgresql/$POSTGRES_MAJOR/bin"
  )
  local IFS=:
  printf 'export PULSE_TOOLS_DIR=%q\n' "$PULSE_TOOLS_DIR"
  printf 'export PULSE_CRDS_DIR=%q\n' "$(bash "$TOOLS_ROOT_DIR/crds.sh" --dir)"
  # Kafka has no bin dir: it runs as `java -cp "$PULSE_KAFKA_DIR/libs/*"` (see kafka.sh).
  printf 'export PULSE_KAFKA_DIR=%q\n' "$(tool_dir kafka "$KAFKA_VERSION")"
  # shellcheck disable=SC2016 # $PATH is expanded by the shell that evals this, not here.
  printf 'export PATH=%q:"$PATH"\n' "${bins[*]}"
}

main() {
  if [[ "${1:-}" == "--print-env" ]]; then
    print_env
    return 0
  fi
  local targets=("$@") target script
  [[ ${#targets[@]} -eq 0 || " ${targets[*]} " == *" all "* ]] && targets=("${ALL_TARGETS[@]}")
  for target in "${targets[@]}"; do
    script="$(script_for "$target")" || { log "unknown target: $target"; return 2; }
    log "== $target"
    bash "$script"
  done
}

main "$@"
