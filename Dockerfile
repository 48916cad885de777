# syntax=docker/dockerfile:1
#
# The barelb image: one image, one command (`barelb controller`, `barelb speaker`).
#
#   docker buildx build --platform linux/amd64,linux/arm64,linux/arm/v7 -t <repo>/barelb:<tag> --push .
#
# Builds for linux/amd64, linux/arm64 and linux/arm/v7 (32-bit Raspberry Pi). Nothing here
# downloads anything architecture-specific: Node comes from the base image (the devDependency
# `node`, which would download a Node binary, is installed with --ignore-scripts and never
# used), the data-plane addon is compiled from native/ for the target, and `netlink` ships
# prebuilt binaries for x64, arm64 and arm that it picks at run time. Each platform's build
# stage runs on that platform (under QEMU emulation when it is not the build machine's own).
#
# Base image: pinned to an exact Node release. To pin it byte for byte, add the digest of the
# multi-platform index, which `docker buildx imagetools inspect node:22.23.3-bookworm-slim`
# prints, e.g. --build-arg NODE_IMAGE=node:22.23.3-bookworm-slim@sha256:<digest>. Without a
# registry, scripts/image/build.sh passes a local stand-in (README: "Building the image").
ARG NODE_IMAGE=node:22.23.3-bookworm-slim

# ---- build: TypeScript, the native addon, production node_modules --------------------------
FROM ${NODE_IMAGE} AS build
# node-gyp needs python3, make and a C++ compiler for native/.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app

# Dependencies first, so this layer is reused while only sources change. --ignore-scripts:
# no lifecycle script runs (the `node` devDependency's binary download, the package's own
# `install`/`prepare`); what is needed is run explicitly below.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

COPY tsconfig.json tsconfig.build.json ./
COPY native ./native
COPY src ./src
# Called with the base image's node directly, not through `npm run` (which would put the
# unused `node` devDependency first on the PATH). native/build.js compiles against this
# Node's headers (/usr/local/include/node) with the node-gyp bundled in npm.
# @kubernetes/client-node (about 85 MB with the packages only it needs) is used by `barelb lab`
# and the tests only: the controller, the speaker and `barelb config validate` talk to the API
# with barelb's own client (src/k8s/api.ts) and import client-node's types only. It is dropped
# from the image's package.json before the prune, so `npm prune` removes it and its own
# dependencies (the prune leaves their empty scope directories, removed after it); `barelb lab`
# (a host tool, never run in a container) fails in the image with "Cannot find package
# '@kubernetes/client-node'".
RUN node native/build.js --force \
 && node node_modules/typescript/bin/tsc -p tsconfig.build.json \
 && npm pkg delete 'dependencies.@kubernetes/client-node' \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund
RUN find node_modules -mindepth 1 -maxdepth 1 -type d -empty -delete

# ---- node: the base image without what only builds need ------------------------------------
# npm, npx, corepack, yarn and Node's C headers (about 85 MB) are for building. Deleting files
# in a later layer would not make the image smaller, so this stage deletes them and the runtime
# stage copies the rest into one layer of its own. A base with Debian's build of Node (the
# local linux/arm/v7 stand-in) has the headers as the package libnode-dev, which needs
# libuv1-dev and libssl-dev: purged here.
FROM ${NODE_IMAGE} AS node
RUN rm -rf /usr/local/include/node /usr/local/lib/node_modules /opt/yarn-* \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg \
 && if dpkg-query -W libnode-dev >/dev/null 2>&1; then \
      dpkg --purge libnode-dev libuv1-dev libssl-dev >/dev/null; fi \
 && node --version

# ---- runtime: Node, dist/, production node_modules, the addon ------------------------------
FROM scratch
COPY --from=node / /
# The base image's environment is not copied with its files.
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/native/build/Release/barelb_dataplane.node ./native/build/Release/barelb_dataplane.node
# Non-root by default (nobody:nogroup). The controller runs so; the Helm chart runs the speaker
# as uid 0 with every capability dropped except NET_RAW. The root filesystem can be read-only:
# nothing is written at run time.
USER 65534:65534
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["--help"]
