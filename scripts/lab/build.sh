#!/usr/bin/env bash
# Builds the pinned kube-apiserver, etcd and kubectl of `barelb lab` (src/lab/controlplane.ts,
# which barelb's integration tests use too), from the Go modules pinned in go.mod/go.sum
# beside this script. The binaries are cached outside the work tree, keyed by the pinned
# versions only (not by this directory), so a second run (or CI on the same machine) reuses
# them.
#
# Prints the directory that holds the binaries on its last line of stdout.
# Environment:
#   BARELB_CACHE_DIR   cache root (default: $XDG_CACHE_HOME/barelb or ~/.cache/barelb)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if ! command -v go >/dev/null 2>&1; then
  echo "barelb: the Go toolchain is needed to build the lab's control plane (kube-apiserver, etcd)." >&2
  echo "        Install Go >= 1.26 (only the lab and the tests need it; barelb itself is TypeScript)." >&2
  exit 127
fi

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"
etcd_version=$(go -C "$here" list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
key="k8s-${k8s_version}_etcd-${etcd_version}_$(go env GOOS)-$(go env GOARCH)"
out="$cache_root/controlplane/$key"

if [[ -x "$out/kube-apiserver" && -x "$out/etcd" && -x "$out/kubectl" && -f "$out/.complete" ]]; then
  echo "$out"
  exit 0
fi

mkdir -p "$out"
start=$(date +%s)
echo "barelb: building kube-apiserver $k8s_version, kubectl $k8s_version and etcd $etcd_version into $out" >&2
echo "barelb: (a cold build takes several minutes; later runs reuse the cache)" >&2

# -trimpath and no VCS stamping: the result depends only on the pinned modules.
build() {
  local pkg=$1 name=$2
  (cd "$here" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -buildvcs=false \
    -ldflags "-s -w $k8s_version_flags" -o "$out/$name.tmp" "$pkg")
  mv "$out/$name.tmp" "$out/$name"
}
build go.etcd.io/etcd/server/v3 etcd
build k8s.io/kubernetes/cmd/kube-apiserver kube-apiserver
build k8s.io/kubernetes/cmd/kubectl kubectl

printf 'kubernetes %s\netcd %s\nbuilt_seconds %s\n' "$k8s_version" "$etcd_version" \
  "$(($(date +%s) - start))" >"$out/.complete"
echo "barelb: control plane built in $(($(date +%s) - start)) s" >&2
echo "$out"
