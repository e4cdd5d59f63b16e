# Shared helpers for the tool installers. Sourced, not run.
set -euo pipefail

TOOLS_ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$TOOLS_ROOT_DIR/versions.env"

PULSE_TOOLS_DIR="${PULSE_TOOLS_DIR:-$HOME/.cache/pulse/tools}"
mkdir -p "$PULSE_TOOLS_DIR"

# Go builds of upstream tools: the machine's toolchain, static binaries, no VCS stamping.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=mod"

log() { printf '[tools] %s\n' "$*" >&2; }

# tool_dir NAME VERSION -> the version-keyed install directory of a tool.
tool_dir() { printf '%s/%s-%s' "$PULSE_TOOLS_DIR" "$1" "$2"; }

# installed DIR -> true when DIR holds a completed install (the marker is written last).
installed() { [[ -f "$1/.complete" ]]; }

mark_installed() { date -u +%FT%TZ >"$1/.complete"; }

# with_lock NAME CMD... -> run CMD while holding a lock, so that two `make` runs don't build the
# same tool into the same directory at once.
with_lock() {
  local name="$1"; shift
  mkdir -p "$PULSE_TOOLS_DIR/.locks"
  (
    flock 9
    "$@"
  ) 9>"$PULSE_TOOLS_DIR/.locks/$name.lock"
}
