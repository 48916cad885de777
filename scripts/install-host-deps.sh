#!/usr/bin/env bash
# Installs what barelb's tests and lab need from the host, beyond `npm ci`:
#   iproute2          ip netns / veth / bridge for the lab
#   iputils-arping    the ARP client the e2e tests and the lab demo use
#   iputils-ping      ping: the lab demo makes the client resolve an IP with it
#   ndisc6            the IPv6 neighbor-discovery client (ndisc6)
#   util-linux        setpriv (ties test processes to the test runner's life)
#   python3 make g++  node-gyp, which `npm ci` runs to build the native addon (native/)
#   libseccomp-dev pkg-config  runc, built from its Go module for `lab up --kubelet` nodes
#   containernetworking-plugins  the CNI plugins (bridge, host-local) of kubelet nodes' pods
#   iptables          kube-proxy on kubelet nodes programs Services with it
#   curl              the LAN client of the user-journey test (and of the README) reaches pods with it
#   podman mmdebstrap arch-test  scripts/image/build.sh: the image and its local base image
#   qemu-user-static binfmt-support  scripts/image/*.sh for linux/arm64 and linux/arm/v7
#   libc6-dev         scripts/image/pause.sh: libc.a for the static pause binary
#   prometheus        promtool, which checks and tests the alert rules (the server is not started)
#   bird2 frr         the lab's BGP routers (src/lab/router.ts) for the BGP tests; their
#                     services are neither started nor enabled: tests run them in netns only
# and checks that Go >= 1.26 is on the PATH (it builds kube-apiserver and etcd for the tests).
# Debian/Ubuntu, as root. Safe to run again.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
  echo "install-host-deps.sh: run as root (it uses apt-get)" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-host-deps.sh: no apt-get here; install iproute2, arping (iputils), ndisc6," >&2
  echo "  util-linux, python3, make, g++ and Go >= 1.26 with your package manager" >&2
  exit 1
fi

want=(iproute2 iputils-arping iputils-ping ndisc6 util-linux python3 make g++
  libseccomp-dev pkg-config containernetworking-plugins iptables curl
  podman mmdebstrap arch-test qemu-user-static binfmt-support libc6-dev prometheus
  bird2 frr)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  export DEBIAN_FRONTEND=noninteractive
  # Packages with a service (prometheus, bird2, frr) must not start it on the host: a
  # policy-rc.d that says no, for the time of the install, unless the host has its own.
  policy=/usr/sbin/policy-rc.d
  own_policy=false
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=true
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if $own_policy; then
    rm -f "$policy"
    trap - EXIT
  fi
  echo "installed: ${missing[*]}"
  # Only the programs are wanted: no Prometheus server, BIRD or FRR running or enabled on
  # the host (a host policy-rc.d may have allowed the start).
  if command -v systemctl >/dev/null 2>&1; then
    for unit in prometheus bird frr; do
      systemctl disable --now "$unit" >/dev/null 2>&1 || true
    done
  fi
fi

go_ok() {
  command -v go >/dev/null 2>&1 || return 1
  local v
  v=$(go env GOVERSION 2>/dev/null) || return 1 # go1.26.8
  v=${v#go}
  local major=${v%%.*} rest=${v#*.}
  local minor=${rest%%.*}
  ((major > 1 || (major == 1 && minor >= 26)))
}
if ! go_ok; then
  echo "install-host-deps.sh: Go >= 1.26 is needed to build the test control plane." >&2
  echo "  Debian's golang package is older; install Go >= 1.26 and put it on the PATH." >&2
  exit 1
fi
echo "host dependencies ok: $(ip -V), $(arping -V 2>&1 | head -1), $(go version)"
