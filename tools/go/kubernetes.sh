#!/usr/bin/env bash
# Builds etcd (3.5.x), kube-apiserver and kube-controller-manager from their Go modules.
#
# k8s.io/kubernetes replaces its staging modules (k8s.io/api, k8s.io/apimachinery, ...) with local
# paths, so `go install` refuses it. A wrapper module requires it and pins each staging module to
# the published v0.Y.Z that equals staging at v1.Y.Z.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

build_kubernetes() {
  local dir; dir="$(tool_dir kubernetes "$KUBERNETES_VERSION")"
  installed "$dir" && return 0
  log "building kube-apiserver and kube-controller-manager v$KUBERNETES_VERSION (first time: 10-20 min)"
  local src="$dir/src"
  mkdir -p "$src" "$dir/bin"
  local minor="${KUBERNETES_VERSION#*.}"; minor="${minor%%.*}"
  local staging="0.${KUBERNETES_VERSION#*.}"
  local upstream_gomod
  upstream_gomod="$(cd "$src" && go mod download -json "k8s.io/kubernetes@v$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  {
    echo "module pulse.local/tools/kubernetes"
    echo
    echo "go $(go env GOVERSION | sed 's/^go//; s/\.[0-9]*$//')"
    echo
    echo "require k8s.io/kubernetes v$KUBERNETES_VERSION"
    echo
    # Every staging module that k8s.io/kubernetes requires at v0.0.0.
    grep -E '^\s*k8s\.io/[a-z0-9-]+ v0\.0\.0(\s|$)' "$upstream_gomod" | awk '{print $1}' | sort -u |
      while read -r mod; do echo "replace $mod => $mod v$staging"; done
  } >"$src/go.mod"
  local ldflags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=v$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  (cd "$src" && go build -trimpath -ldflags "-s -w $ldflags" -o "$dir/bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager)
  mark_installed "$dir"
}

build_etcd() {
  local dir; dir="$(tool_dir etcd "$ETCD_VERSION")"
  installed "$dir" && return 0
  log "building etcd v$ETCD_VERSION"
  # go.etcd.io/etcd/server/v3 carries relative replace lines, which only a wrapper module ignores.
  local src="$dir/src"
  mkdir -p "$src" "$dir/bin"
  cat >"$src/go.mod" <<GOMOD
module pulse.local/tools/etcd

go 1.23

require go.etcd.io/etcd/server/v3 v$ETCD_VERSION
GOMOD
  (cd "$src" && go build -trimpath -ldflags "-s -w" -o "$dir/bin/etcd" go.etcd.io/etcd/server/v3)
  mark_installed "$dir"
}

with_lock etcd build_etcd
with_lock kubernetes build_kubernetes
