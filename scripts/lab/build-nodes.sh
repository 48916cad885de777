#!/usr/bin/env bash
# Builds what a real lab node runs (`barelb lab up --kubelet`), from pinned Go modules:
#   kubelet, kube-proxy, kube-controller-manager, kube-scheduler  k8s.io/kubernetes (go.mod beside this script)
#   containerd, containerd-shim-runc-v2, ctr                      github.com/containerd/containerd/v2 @ $containerd_version
#   runc                                                          github.com/opencontainers/runc @ $runc_version
# The binaries are cached outside the work tree, keyed by the versions, like build.sh's.
# Needs Go, gcc, pkg-config and libseccomp-dev (runc links libseccomp; the rest is CGO_ENABLED=0).
#
# Prints the directory that holds the binaries on its last line of stdout.
# Environment:
#   BARELB_CACHE_DIR   cache root (default: $XDG_CACHE_HOME/barelb or ~/.cache/barelb)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# containerd 2.x: Kubernetes 1.36 no longer supports 1.x. runc at or above what this containerd
# release recommends (its script/setup/runc-version).
containerd_version=v2.4.2
runc_version=v1.5.3

if ! command -v go >/dev/null 2>&1; then
  echo "barelb: the Go toolchain is needed to build the lab's node binaries." >&2
  exit 127
fi

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
key="k8s-${k8s_version}_containerd-${containerd_version}_runc-${runc_version}_$(go env GOOS)-$(go env GOARCH)"
out="$cache_root/nodes/$key"
bins=(kubelet kube-proxy kube-controller-manager kube-scheduler containerd containerd-shim-runc-v2 ctr runc)

complete() {
  [[ -f "$out/.complete" ]] || return 1
  local b
  for b in "${bins[@]}"; do [[ -x "$out/$b" ]] || return 1; done
}
if complete; then
  echo "$out"
  exit 0
fi

mkdir -p "$out"
start=$(date +%s)
echo "barelb: building kubelet, kube-proxy, kube-controller-manager, kube-scheduler $k8s_version," >&2
echo "        containerd $containerd_version and runc $runc_version into $out (a cold build takes minutes)" >&2

# Kubernetes: the same pinned module and version stamp as build.sh.
for cmd in kubelet kube-proxy kube-controller-manager kube-scheduler; do
  [[ -x "$out/$cmd" ]] && continue
  (cd "$here" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -buildvcs=false \
    -ldflags "-s -w $k8s_version_flags" -o "$out/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd")
  mv "$out/$cmd.tmp" "$out/$cmd"
done

# Builds a command of a module at a pinned version inside the module's own directory (so its
# go.mod, replace lines included, is the one in force), into $out.
module_dir() {
  go mod download -json "$1@$2" | awk -F'"' '$2 == "Dir" { print $4 }'
}

ctrd_dir=$(module_dir github.com/containerd/containerd/v2 "$containerd_version")
ctrd_flags="-X github.com/containerd/containerd/v2/version.Version=$containerd_version"
for cmd in containerd containerd-shim-runc-v2 ctr; do
  [[ -x "$out/$cmd" ]] && continue
  # btrfs is the only part that needs cgo; the shim is built static as upstream does.
  (cd "$ctrd_dir" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -buildvcs=false \
    -tags no_btrfs -ldflags "-s -w $ctrd_flags" -o "$out/$cmd.tmp" "./cmd/$cmd")
  mv "$out/$cmd.tmp" "$out/$cmd"
done

if [[ ! -x "$out/runc" ]]; then
  runc_dir=$(module_dir github.com/opencontainers/runc "$runc_version")
  (cd "$runc_dir" && CGO_ENABLED=1 GOFLAGS=-mod=mod go build -trimpath -buildvcs=false \
    -tags seccomp -ldflags "-s -w -X main.version=${runc_version#v}" -o "$out/runc.tmp" .)
  mv "$out/runc.tmp" "$out/runc"
fi

printf 'kubernetes %s\ncontainerd %s\nrunc %s\nbuilt_seconds %s\n' "$k8s_version" \
  "$containerd_version" "$runc_version" "$(($(date +%s) - start))" >"$out/.complete"
echo "barelb: node binaries built in $(($(date +%s) - start)) s" >&2
echo "$out"
