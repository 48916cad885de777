#!/usr/bin/env bash
# Smoke-tests a barelb image archive without running a container (`podman run` cannot set its
# rlimits on these machines): the docker-archive's layers are unpacked in order into a
# directory, and its programs run there with chroot as the image's user (65534), under QEMU
# through binfmt_misc for a foreign platform. It checks that
#   - `barelb --version` prints package.json's version;
#   - the data-plane addon loads (the module the speaker uses, dist/dataplane/native.js), and
#     so does the netlink package's prebuilt binary;
#   - `barelb config validate` accepts config/pool-configmap.yaml;
#   - the modules of `barelb controller`, `barelb speaker` and `barelb status` load, and
#     @kubernetes/client-node is not loaded by any of them.
#
#   scripts/image/smoke.sh [--platform P] [--archive PATH]
#
# Without --archive it runs scripts/image/build.sh --platform P (cached) and tests its archive.
# Prints one line per check to stderr; last line of stdout: SMOKE=ok PLATFORM=<platform>.
# Exits non-zero on the first failed check. As root.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

platform=$(host_platform)
archive=
while (($# > 0)); do
  case $1 in
    --platform) platform=${2:?--platform needs a value} && shift 2 ;;
    --platform=*) platform=${1#*=} && shift ;;
    --archive) archive=${2:?--archive needs a value} && shift 2 ;;
    --archive=*) archive=${1#*=} && shift ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" && exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
need_root
set_platform "$platform"
if [[ -z $archive ]]; then
  out=$(bash "$IMAGE_SCRIPTS/build.sh" --platform "$PLATFORM" | tail -n1)
  archive=${out#ARCHIVE=}
  archive=${archive%% IMAGE=*}
fi
[[ -s $archive ]] || die "no archive $archive"
ensure_binfmt "$QEMU_BINFMT"

work=$(mktemp -d /var/tmp/barelb-smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
mkdir -p "$work/archive" "$rootfs"
tar -xf "$archive" -C "$work/archive"
# The layers in the manifest's order; a whiteout (.wh.NAME) removes NAME from the layers below.
python3 - "$work/archive" "$rootfs" <<'EOF'
import json, os, shutil, sys, tarfile
src, root = sys.argv[1], sys.argv[2]
manifest = json.load(open(os.path.join(src, "manifest.json")))[0]
config = json.load(open(os.path.join(src, manifest["Config"])))
arch = config.get("architecture", "?") + ("/" + config["variant"] if config.get("variant") else "")
print(f"image {manifest['RepoTags']}, {arch}, {len(manifest['Layers'])} layers", file=sys.stderr)
for layer in manifest["Layers"]:
    with tarfile.open(os.path.join(src, layer)) as t:
        members = []
        for m in t.getmembers():
            d, b = os.path.split(m.name)
            if b.startswith(".wh."):
                target = os.path.join(root, d, b[4:])
                if b == ".wh..wh..opq":
                    for e in os.listdir(os.path.join(root, d)):
                        p = os.path.join(root, d, e)
                        shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.remove(p)
                elif os.path.isdir(target) and not os.path.islink(target):
                    shutil.rmtree(target)
                elif os.path.lexists(target):
                    os.remove(target)
            else:
                members.append(m)
        t.extractall(root, members=members, numeric_owner=True, filter="fully_trusted")
json.dump(config["config"], open(os.path.join(root, ".image-config.json"), "w"))
EOF

# The image's own settings: user, working directory, environment, entrypoint.
read -r user workdir entry < <(python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
print(c.get("User") or "0", c.get("WorkingDir") or "/", " ".join(c.get("Entrypoint") or []))
' "$rootfs/.image-config.json")
mapfile -t envs < <(python3 -c '
import json, sys
for e in json.load(open(sys.argv[1])).get("Env") or []: print(e)
' "$rootfs/.image-config.json")
[[ $entry == "node /app/dist/cli/main.js" ]] || die "unexpected entrypoint: $entry"
log "user $user, workdir $workdir, entrypoint $entry"

in_image() { # runs a command in the image's root filesystem as the image's user
  # shellcheck disable=SC2016 # $1 and $@ are the inner shell's
  env -i "${envs[@]}" chroot --userspec="$user" "$rootfs" /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$workdir" "$@"
}
check() { # <name> <expected regexp> <command...>
  local name=$1 want=$2 out t0=$SECONDS
  shift 2
  if ! out=$(in_image "$@" 2>&1); then
    log "FAIL $name: $out"
    exit 1
  fi
  if ! grep -Eq -- "$want" <<<"$out"; then
    log "FAIL $name: output does not match /$want/: $out"
    exit 1
  fi
  log "ok   $name ($((SECONDS - t0)) s): $(head -c 200 <<<"$out" | tr '\n' ' ')"
}

version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$rootfs/app/package.json")
mkdir -p "$rootfs/tmp/smoke"
cp "$REPO_ROOT/config/pool-configmap.yaml" "$rootfs/tmp/smoke/"
chmod -R a+rX "$rootfs/tmp/smoke"

check "barelb --version" "^${version//./\\.}\$" node /app/dist/cli/main.js --version
check "node is the base image's" "^v$NODE_VERSION\$" node --version
# shellcheck disable=SC2016 # JavaScript, not shell
check "data-plane addon loads" "^napi [0-9]+ trim (true|false)\$" node --input-type=module -e '
const { loadAddon } = await import("/app/dist/dataplane/native.js");
const a = loadAddon();
console.log(`napi ${a.napiVersion} trim ${a.trimMemory()}`);'
# The netlink package's core socket module, which the speaker imports when it starts following
# interfaces; it loads the package's prebuilt binary for this platform.
check "netlink's binary for this platform loads" "^createNetlink function\$" node --input-type=module -e '
const nl = await import("netlink/dist/netlink.js");
console.log("createNetlink", typeof nl.createNetlink);'
check "barelb config validate" "." node /app/dist/cli/main.js config validate /tmp/smoke/pool-configmap.yaml
# The modules behind `barelb controller`, `barelb speaker` and `barelb status` (and the CLI), loaded as those
# commands load them; none of them may load @kubernetes/client-node.
# shellcheck disable=SC2016 # JavaScript, not shell
check "controller and speaker modules load without client-node" "^loaded [0-9]+ modules, client-node no\$" \
  node --input-type=module -e '
import { registerHooks } from "node:module";
const seen = new Set();
registerHooks({ load(url, context, next) { seen.add(url); return next(url, context); } });
await import("/app/dist/cli/run.js");
await import("/app/dist/controller/run.js");
(await import("/app/dist/speaker/node-flags.js"));
await import("/app/dist/speaker/run.js");
await import("/app/dist/cli/status-command.js");
const cn = [...seen].some((u) => u.includes("@kubernetes/client-node"));
console.log(`loaded ${seen.size} modules, client-node ${cn ? "yes" : "no"}`);'
for cmd in controller speaker status; do
  check "barelb $cmd --help" "Usage: barelb $cmd" node /app/dist/cli/main.js "$cmd" --help
done
echo "SMOKE=ok PLATFORM=$PLATFORM"
