#!/usr/bin/env bash
# Builds barelb's image from the repository's Dockerfile with podman, on a machine that
# reaches no container registry: the base image (node:22.23.3-bookworm-slim upstream) is a
# local stand-in that scripts/image/base.sh makes from Debian packages and the npm registry's
# Node binaries, passed as --build-arg NODE_IMAGE. For linux/arm/v7 that base is Debian forky
# with Debian's build of Node 24 (no official Node 22 for 32-bit arm is reachable), so that
# image runs Debian's Node, not the official one. Foreign platforms build under QEMU
# (binfmt_misc, registered here if needed).
#
#   scripts/image/build.sh [--platform linux/amd64|linux/arm64|linux/arm/v7] [--tag REPO:TAG]
#
#   --platform  default: the machine's own
#   --tag       default: localhost/barelb:<version in package.json>
#
# Writes a docker-archive (the image with its name, for `ctr -n k8s.io images import` or
# `podman load`) to
#   ${BARELB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/barelb}/image/<reference>-<arch>-<hash>.tar
# where <hash> covers the build inputs (Dockerfile, .dockerignore, package.json,
# package-lock.json, tsconfig*.json, src/, native/ without native/build), these scripts, the
# platform and the tag (<reference>: the tag with / and : as _); with nothing changed it is
# reused and the run takes about a second; older archives of the same tag and platform go.
# Last line of stdout: ARCHIVE=<path> IMAGE=<repository>:<tag>. Progress goes to stderr.
# As root.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

platform=$(host_platform)
tag=
while (($# > 0)); do
  case $1 in
    --platform) platform=${2:?--platform needs a value} && shift 2 ;;
    --platform=*) platform=${1#*=} && shift ;;
    --tag) tag=${2:?--tag needs a value} && shift 2 ;;
    --tag=*) tag=${1#*=} && shift ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" && exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
need_root
set_platform "$platform"
if [[ -z $tag ]]; then
  version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$REPO_ROOT/package.json")
  [[ -n $version ]] || die "no version in package.json"
  tag=localhost/barelb:$version
fi
[[ $tag == *:* ]] || tag=$tag:latest

inputs=(Dockerfile .dockerignore package.json package-lock.json tsconfig*.json src native)
hash=$(
  {
    (cd "$REPO_ROOT" && hash_inputs "${inputs[@]}")
    cat "$IMAGE_SCRIPTS/build.sh" "$IMAGE_SCRIPTS/base.sh" "$IMAGE_SCRIPTS/common.sh"
    echo "$PLATFORM $tag"
  } | sha256sum | cut -c1-16
)
file=${tag//[\/:]/_} # the whole reference: archives of other tags of the same name stay
archive=$IMAGE_CACHE/$file-$SLUG-$hash.tar
if [[ -s $archive ]]; then
  log "$archive is up to date"
  echo "ARCHIVE=$archive IMAGE=$tag"
  exit 0
fi

ensure_debs podman
ensure_binfmt "$QEMU_BINFMT"
base=$(bash "$IMAGE_SCRIPTS/base.sh" --platform "$PLATFORM" | tail -n1)
base=${base#IMAGE=}

# Where TLS to the npm registry is inspected by a proxy with its own CA (as on the project's
# machines), `npm ci` in the build must trust that CA: the machine's CA bundle and a global
# npmrc naming it are mounted for the RUN steps only (podman build -v; nothing of it lands in
# a layer). The bundle: BARELB_BUILD_CA_FILE, else NODE_EXTRA_CA_CERTS, else SSL_CERT_FILE;
# BARELB_BUILD_CA_FILE=none for none.
work=$(mktemp -d /var/tmp/barelb-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
mounts=()
ca=${BARELB_BUILD_CA_FILE:-${NODE_EXTRA_CA_CERTS:-${SSL_CERT_FILE:-none}}}
if [[ $ca != none ]]; then
  [[ -r $ca ]] || die "CA bundle $ca is not readable"
  echo "cafile=/run/barelb-build-ca.crt" >"$work/npmrc"
  mounts=(-v "$ca:/run/barelb-build-ca.crt:ro" -v "$work/npmrc:/usr/local/etc/npmrc:ro")
  log "RUN steps trust $ca (npm cafile)"
fi

started=$SECONDS
log "podman build $tag for $PLATFORM on $base"
# --pull=never: the base exists only here. --network host: RUN steps (apt-get, npm ci) reach
# the package registries without a CNI network. --isolation chroot: RUN steps run without an
# OCI runtime, so neither crun's "cgroups in hybrid mode not supported" nor the rlimits that
# runc cannot raise without CAP_SYS_RESOURCE get in the way (BARELB_BUILD_ISOLATION=oci to
# use the configured runtime instead).
# One retry: the chroot runner now and then fails to start a RUN step with "Close_Fd sealing
# memfd copy: Device or resource busy" (seen once in a CI run, the step itself never ran). A
# real error fails twice; the steps already done come from the layer cache the second time.
build() {
  podman build --platform "$PLATFORM" --pull=never --network host \
    --isolation "${BARELB_BUILD_ISOLATION:-chroot}" "${mounts[@]}" \
    --build-arg NODE_IMAGE="$base" --iidfile "$work/iid" -f "$REPO_ROOT/Dockerfile" "$REPO_ROOT" >&2
}
if ! build; then
  log "podman build failed; trying once more (finished steps are cached)"
  build
fi
id=$(<"$work/iid")
log "built $id for $PLATFORM in $((SECONDS - started)) s"

# The tag is set and saved under a lock, so builds for several platforms can run at once
# without one saving another's image under the shared tag.
mkdir -p "$IMAGE_CACHE"
(
  flock 9
  podman tag "$id" "$tag"
  podman save --quiet --format docker-archive -o "$archive.part" "$tag"
) 9>"$IMAGE_CACHE/.save.lock"
mv "$archive.part" "$archive"
# Older archives of this image and platform (other inputs) are of no further use.
find "$IMAGE_CACHE" -maxdepth 1 -name "$file-$SLUG-*.tar" ! -path "$archive" -delete
size=$(podman image inspect --format '{{.Size}}' "$id")
gz=$(gzip -c "$archive" | wc -c)
log "wrote $archive: image $((size / 1000000)) MB unpacked, archive $((gz / 1000000)) MB gzipped"
echo "ARCHIVE=$archive IMAGE=$tag"
