#!/usr/bin/env bash
# Ensures the PostgreSQL $POSTGRES_MAJOR server binaries (postgres, initdb, pg_ctl, pg_basebackup)
# exist, installing Debian's postgresql-$POSTGRES_MAJOR with apt when they don't. Pulse runs its
# own clusters under a run dir, so the install must not create or start the packaged "main"
# cluster. Prints nothing; `tools/postgres.sh --bindir` prints the bin dir.
#
# PostgreSQL refuses to run as root: when the harness runs as root it must start initdb, pg_ctl
# and postgres as an unprivileged user (the package creates `postgres`), e.g. `runuser -u postgres --`.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_BINDIR="/usr/lib/postgresql/$POSTGRES_MAJOR/bin"
PG_REQUIRED=(postgres initdb pg_ctl pg_basebackup)

pg_present() {
  local b
  for b in "${PG_REQUIRED[@]}"; do [[ -x "$PG_BINDIR/$b" ]] || return 1; done
}

pkg_installed() { dpkg-query -W -f '${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

install_postgres() {
  local dir; dir="$(tool_dir postgres "$POSTGRES_MAJOR")"
  if ! pg_present; then
    if [[ $EUID -ne 0 ]]; then
      log "PostgreSQL $POSTGRES_MAJOR is missing ($PG_BINDIR); as root run: tools/postgres.sh"
      return 1
    fi
    log "installing postgresql-$POSTGRES_MAJOR with apt"
    export DEBIAN_FRONTEND=noninteractive
    # No service starts during the install: policy-rc.d exit 101 ("action forbidden").
    local policy=/usr/sbin/policy-rc.d own_policy=""
    if [[ ! -e "$policy" ]]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
    fi
    local rc=0
    {
      apt-get update -q &&
        # postgresql-common first: it owns createcluster.conf, which postgresql-N's postinst
        # reads to decide whether to create (and start) the "main" cluster.
        { pkg_installed postgresql-common ||
          apt-get install -y -q --no-install-recommends postgresql-common; } &&
        pg_conftool /etc/postgresql-common/createcluster.conf set create_main_cluster off &&
        apt-get install -y -q --no-install-recommends "postgresql-$POSTGRES_MAJOR"
    } >&2 || rc=$?
    if [[ -n "$own_policy" ]]; then rm -f "$policy"; fi
    [[ $rc -eq 0 ]] || return "$rc"
    pg_present || { log "postgresql-$POSTGRES_MAJOR installed but $PG_BINDIR is incomplete"; return 1; }
  fi
  if [[ ! -f "$dir/bindir" ]] || [[ "$(cat "$dir/bindir")" != "$PG_BINDIR" ]]; then
    mkdir -p "$dir"
    printf '%s\n' "$PG_BINDIR" >"$dir/bindir"
    mark_installed "$dir"
  fi
}

with_lock postgres install_postgres
if [[ "${1:-}" == "--bindir" ]]; then
  printf '%s\n' "$PG_BINDIR"
fi
