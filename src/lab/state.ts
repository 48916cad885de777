import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { isRunning, processRef, type ProcessRef } from "../util/proc.js";

/**
 * Every lab writes a record of what it is about to create *before* creating it, so that a
 * run killed half-way (or a test runner killed by SIGKILL) leaves nothing that a later
 * cleanup cannot find. A lab is stale when its owner process is gone; a lab from
 * `barelb lab up` has no owner and stays until `barelb lab down`.
 */

export interface LabHostRecord {
  /** Node name (node-1 …) or "client". */
  name: string;
  netns: string;
  /** veth end on the bridge, in the root namespace. */
  hostIf: string;
  ifname: string;
  ipv4: string;
  ipv6: string;
  mac: string;
}

export interface LabRecord {
  id: string;
  slot: number;
  createdAt: string;
  /** The process whose death makes this lab stale; null = kept until `lab down`. */
  owner: ProcessRef | null;
  dir: string;
  bridge: string;
  gateway4: string;
  gateway6: string;
  prefix4: number;
  prefix6: number;
  /** Every namespace and root-namespace link this lab creates, recorded up front. */
  netns: string[];
  links: string[];
  hosts: LabHostRecord[];
  processes: (ProcessRef & { name: string })[];
  kubeconfig: string | null;
  server: string | null;
  /**
   * Real nodes (kubelet, containerd, kube-proxy): the image to pass to the chart, and the
   * directories of the kubectl and helm to drive the lab with.
   */
  kubelet?: { image: string; tools: string[] };
  /** Root-namespace routes the lab added that no link deletion removes (`unreachable` CIDRs). */
  routes?: string[];
}

export function runtimeDir(): string {
  if (process.env.BARELB_RUNTIME_DIR) return process.env.BARELB_RUNTIME_DIR;
  return process.getuid?.() === 0
    ? "/run/barelb"
    : join(tmpdir(), `barelb-${process.getuid?.() ?? "user"}`);
}

export function labsDir(): string {
  return join(runtimeDir(), "labs");
}

function recordPath(id: string): string {
  return join(labsDir(), `${id}.json`);
}

export async function writeRecord(rec: LabRecord): Promise<void> {
  await mkdir(labsDir(), { recursive: true });
  const tmp = `${recordPath(rec.id)}.tmp`;
  await writeFile(tmp, JSON.stringify(rec, null, 2));
  await rename(tmp, recordPath(rec.id));
}

export async function readRecords(): Promise<LabRecord[]> {
  let names: string[];
  try {
    names = await readdir(labsDir());
  } catch {
    return [];
  }
  const out: LabRecord[] = [];
  for (const n of names.filter((f) => f.endsWith(".json")).sort()) {
    try {
      out.push(JSON.parse(await readFile(join(labsDir(), n), "utf8")) as LabRecord);
    } catch {
      // A record half-written by a killed run: its resources are caught by name prefix.
    }
  }
  return out;
}

export async function removeRecord(id: string): Promise<void> {
  await rm(recordPath(id), { force: true });
}

export function isStale(rec: LabRecord): boolean {
  return rec.owner !== null && !isRunning(rec.owner);
}

/**
 * Runs `fn` holding the machine-wide lab lock (slot choice and cleanup must not interleave
 * between two processes). A lock left by a dead process is taken over.
 */
export async function withLabLock<T>(fn: () => Promise<T>): Promise<T> {
  await mkdir(runtimeDir(), { recursive: true });
  const lock = join(runtimeDir(), "lab.lock");
  const me = processRef(process.pid);
  if (me === undefined) throw new Error("cannot read this process's own start time from /proc");
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const fd = openSync(lock, "wx");
      writeSync(fd, JSON.stringify(me));
      closeSync(fd);
      break;
    } catch (e: unknown) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      if (lockHolderGone(lock)) {
        unlinkSync(lock);
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for the lab lock ${lock}`, { cause: e });
      }
      await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    unlinkSync(lock);
  }
}

function lockHolderGone(lock: string): boolean {
  try {
    const holder = JSON.parse(readFileSync(lock, "utf8")) as ProcessRef;
    return !isRunning(holder);
  } catch {
    // Unreadable: being written right now, or torn by a crash if it stays so for long.
    try {
      return Date.now() - statSync(lock).mtimeMs > 5_000;
    } catch {
      return true;
    }
  }
}
