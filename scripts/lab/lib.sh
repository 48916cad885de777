# shellcheck shell=bash disable=SC2034
# Shared by build.sh and build-nodes.sh (sourced, not run; they use every variable set here):
# the pinned Kubernetes version, the version stamp its release build puts into every binary,
# and the cache root. Reads go.mod beside this file.

_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
k8s_version=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" { print $3 }' "$_lib_dir/go.mod")
cache_root=${BARELB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/barelb}

# Stamp the Kubernetes version the way its release build does, so /version, kubectl and the
# kubelet's Node status report the real release rather than v0.0.0.
_minor=${k8s_version#v1.}
_minor=${_minor%%.*}
_v=k8s.io/component-base/version
k8s_version_flags="-X $_v.gitVersion=$k8s_version -X $_v.gitMajor=1 -X $_v.gitMinor=$_minor -X $_v.gitTreeState=clean"
k8s_version_flags+=" -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version"
