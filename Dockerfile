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
# prints, e.g. --build-arg NODE_IMAGE=node:22.23.3-bookworm-slim@sha256:<digest>.
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
RUN node native/build.js --force \
 && node node_modules/typescript/bin/tsc -p tsconfig.build.json \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime: dist/, production node_modules, the addon ------------------------------------
FROM ${NODE_IMAGE}
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
