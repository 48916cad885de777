// Builds the data-plane addon (native/build/Release/barelb_dataplane.node). Run by npm as
// the package's `install` script, so `npm ci` builds it; run `npm run install` to rebuild.
//
// Two things are pinned here rather than left to the machine:
// - The headers: those of the Node that runs this script (its prefix has include/node), so a
//   stale `nodedir` in ~/.npmrc, or a system Node, cannot change what we compile against.
//   The addon uses only N-API (NAPI_VERSION in binding.gyp), so the binary keeps working on
//   any later Node; nothing is downloaded.
// - The build tool: the node-gyp that ships inside npm, which npm hands to lifecycle scripts
//   as npm_config_node_gyp. It is there wherever npm is, also for `npm ci --omit=dev` in a
//   container build, where a node-gyp devDependency would be missing, and it keeps
//   node-gyp's own dependency tree out of the product's dependencies.
import { spawnSync } from "node:child_process";
import console from "node:console";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { delimiter, dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

function fail(message) {
  console.error(`barelb native build: ${message}`);
  process.exit(1);
}

if (process.platform !== "linux") {
  // The speaker runs on Linux only; elsewhere the pure parts (codecs, tests) still work and
  // loading the addon fails with a message saying so.
  console.warn(`barelb native build: skipped on ${process.platform} (the addon is Linux-only)`);
  process.exit(0);
}

// The Node running this script is the one the project brought (the npm package `node`),
// or any Node from an official tarball or distribution package. Its headers are under its
// prefix, or, for the npm package, in the platform package it installed beside itself
// (node_modules/node/node_modules/node-linux-<arch>; its bin/node is a hard link, so the
// real path does not lead there).
function findNodedir() {
  const prefix = dirname(dirname(process.execPath));
  const candidates = [
    prefix,
    join(prefix, "node_modules", `node-${process.platform}-${process.arch}`),
  ];
  for (const dir of candidates) {
    const versionH = join(dir, "include", "node", "node_version.h");
    if (!existsSync(versionH)) continue;
    const h = readFileSync(versionH, "utf8");
    const part = (name) => new RegExp(`#define NODE_${name}_VERSION (\\d+)`).exec(h)?.[1];
    const version = `v${part("MAJOR")}.${part("MINOR")}.${part("PATCH")}`;
    if (version !== process.version) {
      fail(`headers at ${dir} are for Node ${version}, but this is Node ${process.version}`);
    }
    return dir;
  }
  return fail(
    `no Node headers for ${process.execPath} (looked in ${candidates.join(", ")}); ` +
      "a plain `npm install` removes those of the npm package `node`: `npm ci` restores them",
  );
}

// Skip the build when the binary is there and was built from these very sources: npm runs
// this script on every `npm install`, and a plain `npm install` also prunes the headers of
// the npm package `node` (they are installed outside its lockfile), so rebuilding
// needlessly could fail where nothing changed. `--force` rebuilds anyway.
const built = join(here, "build", "Release", "barelb_dataplane.node");
const stampFile = join(here, "build", "sources.sha256");
const stamp = sourcesHash();
if (
  !process.argv.includes("--force") &&
  existsSync(built) &&
  existsSync(stampFile) &&
  readFileSync(stampFile, "utf8") === stamp
) {
  console.log(`barelb native build: ${built} is up to date`);
  process.exit(0);
}

function sourcesHash() {
  const h = createHash("sha256");
  h.update(`${process.platform} ${process.arch} ${process.versions.modules}\n`);
  const files = [
    "binding.gyp",
    ...readdirSync(join(here, "src"))
      .sort()
      .map((f) => join("src", f)),
  ];
  for (const f of files) h.update(`${f}\n`).update(readFileSync(join(here, f)));
  return h.digest("hex");
}

const nodedir = findNodedir();

function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath) {
    // npm_execpath is npm's bin/npm-cli.js; node-gyp is bundled beside it.
    candidates.push(
      join(
        dirname(process.env.npm_execpath),
        "..",
        "node_modules",
        "node-gyp",
        "bin",
        "node-gyp.js",
      ),
    );
  }
  // Run by hand: the npm on the PATH (bin/npm links to npm's bin/npm-cli.js).
  for (const dir of (process.env.PATH ?? "").split(delimiter).filter((d) => d !== "")) {
    const npm = join(dir, "npm");
    if (!existsSync(npm)) continue;
    candidates.push(
      join(dirname(realpathSync(npm)), "..", "node_modules", "node-gyp", "bin", "node-gyp.js"),
    );
    break;
  }
  for (const c of candidates) if (existsSync(c)) return c;
  try {
    return createRequire(import.meta.url).resolve("node-gyp/bin/node-gyp.js");
  } catch {
    return fail(
      "cannot find node-gyp: run this through npm (`npm run install`), which brings its own",
    );
  }
}

const nodeGyp = findNodeGyp();
// node-gyp also reads npm_config_* variables; these must not redirect it elsewhere.
const redirects = /^npm_config_(nodedir|target|runtime|dist_url|disturl|arch)$/i;
const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !redirects.test(key)));
// binding.gyp runs `node` to find node-addon-api: make it this same Node.
env.PATH = `${dirname(process.execPath)}${delimiter}${env.PATH ?? ""}`;

const started = Date.now();
const result = spawnSync(
  process.execPath,
  [nodeGyp, "rebuild", `--nodedir=${nodedir}`, `--directory=${here}`],
  { stdio: ["ignore", "inherit", "inherit"], env },
);
if (result.error) fail(`cannot run node-gyp: ${result.error.message}`);
if (result.status !== 0) {
  fail(
    `node-gyp failed (exit ${result.status ?? result.signal}); it needs python3, make and a C++ compiler (apt-get install python3 make g++)`,
  );
}

writeFileSync(stampFile, stamp);
const addon = createRequire(import.meta.url)(built);
if (typeof addon.PacketSocket !== "function" || typeof addon.Icmp6Socket !== "function") {
  fail(`${built} loads but lacks its classes`);
}
console.log(
  `barelb native build: ${built} (N-API ${addon.napiVersion}, Node ${process.version} headers, ${((Date.now() - started) / 1000).toFixed(1)} s)`,
);
