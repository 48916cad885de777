#!/usr/bin/env bash
# Builds the Pod sandbox image containerd needs, registry.k8s.io/pause:3.10.2, without a
# container registry: build/pause/linux/pause.c of the Go module k8s.io/kubernetes@v1.36.3
# (downloaded through the Go module proxy if it is not in the module cache yet), compiled as
# upstream's build/pause/Makefile does (gcc -Os -Wall -Werror -static, stripped) into a
# FROM scratch image with /pause as its entrypoint and user 65535:65535, as upstream's
# Dockerfile has it. For the machine's own platform only.
#
#   scripts/image/pause.sh
#
# Writes a docker-archive for `ctr -n k8s.io images import` to
#   ${BARELB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/barelb}/image/pause-3.10.2-<arch>-<hash>.tar
# (<hash>: of pause.c and this script) and reuses it while they are unchanged (older ones
# go). Last line of stdout: ARCHIVE=<path> IMAGE=registry.k8s.io/pause:3.10.2. Progress goes
# to stderr. As root.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case ${1:-} in
  "") ;;
  -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" && exit 0 ;;
  *) die "unknown argument $1" ;;
esac
need_root
set_platform "$(host_platform)"

K8S_MODULE=k8s.io/kubernetes@v1.36.3
PAUSE_TAG=3.10.2
image=registry.k8s.io/pause:$PAUSE_TAG

command -v go >/dev/null 2>&1 || die "go is needed to fetch $K8S_MODULE (scripts/install-host-deps.sh)"
ensure_debs podman gcc libc6-dev binutils

dir=$(cd "$REPO_ROOT" && go mod download -json "$K8S_MODULE" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
src=$dir/build/pause/linux/pause.c
[[ -f $src ]] || die "no $src (go mod download -json $K8S_MODULE gave Dir=$dir)"

hash=$({ sha256sum <"$src" && sha256sum <"${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-16)
archive=$IMAGE_CACHE/pause-$PAUSE_TAG-$SLUG-$hash.tar
if [[ -s $archive ]]; then
  log "$archive is up to date"
  echo "ARCHIVE=$archive IMAGE=$image"
  exit 0
fi

work=$(mktemp -d /var/tmp/barelb-pause.XXXXXX)
trap 'rm -rf "$work"' EXIT
log "compiling $src"
gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_TAG" -o "$work/pause" "$src"
strip "$work/pause"
"$work/pause" -v >&2

cat >"$work/Containerfile" <<'EOF'
FROM scratch
ADD pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
EOF
podman build --quiet --platform "$PLATFORM" --network none -f "$work/Containerfile" -t "$image" "$work" >&2
mkdir -p "$IMAGE_CACHE"
podman save --quiet --format docker-archive -o "$archive.part" "$image"
mv "$archive.part" "$archive"
find "$IMAGE_CACHE" -maxdepth 1 -name "pause-$PAUSE_TAG-$SLUG-*.tar" ! -path "$archive" -delete
log "wrote $archive ($(du -h "$archive" | cut -f1))"
echo "ARCHIVE=$archive IMAGE=$image"
