#!/usr/bin/env bash
# Compiles the addon's sources for arm64 and armv7 (and this machine) to prove they build
# there, without building a loadable binary for those targets (that happens natively, in the
# per-architecture container build). Needs Debian's cross compilers:
#   apt-get install g++-aarch64-linux-gnu g++-arm-linux-gnueabihf
# and node_modules from `npm ci` (Node headers, node-addon-api).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
node=$root/node_modules/.bin/node
headers=$("$node" -p 'require("path").join(require("path").dirname(require("path").dirname(process.execPath)), "node_modules", `node-${process.platform}-${process.arch}`, "include", "node")')
[[ -d $headers ]] || headers=$("$node" -p 'require("path").join(require("path").dirname(require("path").dirname(process.execPath)), "include", "node")')
addon=$root/node_modules/node-addon-api
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
for cxx in g++ aarch64-linux-gnu-g++ arm-linux-gnueabihf-g++; do
  if ! command -v "$cxx" >/dev/null; then
    echo "cross-check: $cxx not installed" >&2
    status=1
    continue
  fi
  mkdir -p "$out/$cxx"
  for src in "$here"/src/*.cc; do
    "$cxx" -std=c++17 -Wall -Wextra -Wno-unused-parameter -Werror -fPIC -fexceptions \
      -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED \
      -I"$headers" -I"$addon" -c "$src" -o "$out/$cxx/$(basename "$src").o"
  done
  "$cxx" -shared -o "$out/$cxx/barelb_dataplane.node" "$out/$cxx"/*.o
  echo "cross-check: $(file -b "$out/$cxx/barelb_dataplane.node" | cut -d, -f1-2)"
done
exit $status
