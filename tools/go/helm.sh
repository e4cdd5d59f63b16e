#!/usr/bin/env bash
# Builds helm from its Go module (it has no replace lines, so plain `go install` works).
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

build_helm() {
  local dir; dir="$(tool_dir helm "$HELM_VERSION")"
  installed "$dir" && return 0
  log "building helm v$HELM_VERSION"
  mkdir -p "$dir/bin"
  local minor="${KUBERNETES_VERSION#*.}"; minor="${minor%%.*}"
  # Without these, a module build reports "v3.22" and renders/lints charts for Kubernetes 1.20;
  # pin both to the API server we run so `.Capabilities.KubeVersion` and deprecation checks match.
  local ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION"
  ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  local pkg
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$minor"
  done
  GOBIN="$dir/bin" go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
  mark_installed "$dir"
}

with_lock helm build_helm
