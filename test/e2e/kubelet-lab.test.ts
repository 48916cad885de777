import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ensureControlPlaneBinaries } from "../../src/lab/controlplane.js";
import { cleanupStaleLabs } from "../../src/lab/lab.js";
import { listLinks, listNetns } from "../../src/lab/netns.js";
import { realNodeAddresses } from "../../src/lab/real-nodes.js";
import { readRecords, type LabRecord } from "../../src/lab/state.js";
import { packageRoot } from "../../src/util/paths.js";
import { isRunning, run } from "../../src/util/proc.js";
import { prereqs } from "../helpers/prereq.js";

// A lab with real nodes leaves more behind than namespaces when its owner is killed: the
// containers and their shims (containerd's shims outlive containerd and the owner's
// parent-death signal), mounts (pod volumes, overlay roots, pod network namespaces), the CNI
// plugins' cache and the lab's routes. The next cleanup must find and remove all of it.

const root = packageRoot();

async function mountsUnder(dir: string): Promise<string[]> {
  return (await readFile("/proc/self/mountinfo", "utf8"))
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((p) => p.startsWith(`${dir}/`));
}

async function processesMentioning(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
    if (cmd.includes(`${dir}/`)) pids.push(Number(name));
  }
  return pids;
}

async function unreachableRoutes(): Promise<string[]> {
  const { stdout } = await run("ip", ["-4", "route", "show", "type", "unreachable"]);
  return stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

async function cniResults(): Promise<string[]> {
  return readdir("/var/lib/cni/results").catch(() => []);
}

describe.runIf(prereqs("kubelet lab e2e", ["root", "ip", "setpriv", "go"]))(
  "a lab with real nodes",
  () => {
    it(
      "leaves nothing behind when its owner is killed with SIGKILL",
      async () => {
        const cniBefore = new Set(await cniResults());
        const child = spawn(
          process.execPath,
          [
            join(root, "dist/cli/main.js"),
            "lab",
            "up",
            "--kubelet",
            "--foreground",
            "--nodes",
            "1",
          ],
          { stdio: ["ignore", "pipe", "pipe"] },
        );
        let out = "";
        child.stdout.on("data", (b: Buffer) => (out += b.toString()));
        child.stderr.on("data", (b: Buffer) => (out += b.toString()));
        const exited = new Promise((r) => child.on("exit", r));
        let rec: LabRecord | undefined;
        try {
          const id = await new Promise<string>((resolve, reject) => {
            child.on("exit", (code) => {
              reject(new Error(`lab up exited with ${String(code)}: ${out}`));
            });
            const timer = setInterval(() => {
              const m = /lab ([0-9a-f]{6}) is up/.exec(out);
              if (m?.[1] !== undefined && out.includes("Ctrl-C")) {
                clearInterval(timer);
                resolve(m[1]);
              }
            }, 100);
          });
          expect(out).toMatch(/^IMAGE=ghcr\.io\/barelb\/barelb:\S+$/m);
          rec = (await readRecords()).find((r) => r.id === id);
          if (rec === undefined) throw new Error(`no record for lab ${id}`);
          const dir = rec.dir;

          // A pod on the node: a container, its shim, its volumes and network namespace.
          const kubectl = join(await ensureControlPlaneBinaries(), "kubectl");
          const image = /^IMAGE=(\S+)$/m.exec(out)?.[1] ?? "";
          await run(kubectl, [
            "--kubeconfig",
            rec.kubeconfig ?? "",
            "run",
            "sleeper",
            `--image=${image}`,
            "--image-pull-policy=Never",
            "--command",
            "--",
            "node",
            "-e",
            "setInterval(() => {}, 1 << 30)",
          ]);
          await run(kubectl, [
            "--kubeconfig",
            rec.kubeconfig ?? "",
            "wait",
            "--for=condition=Ready",
            "pod/sleeper",
            "--timeout=120s",
          ]);
          expect((await mountsUnder(dir)).length).toBeGreaterThan(0);
          expect(await unreachableRoutes()).toContain(
            `unreachable ${realNodeAddresses(rec.slot).labCidr}`,
          );

          child.kill("SIGKILL");
          await exited;
          // The tied programs die with their owner; the shim and the container do not.
          const deadline = Date.now() + 10_000;
          while (rec.processes.some(isRunning) && Date.now() < deadline)
            await new Promise((r) => setTimeout(r, 100));
          expect(rec.processes.filter(isRunning)).toEqual([]);
          expect((await processesMentioning(dir)).length).toBeGreaterThan(0);

          expect(await cleanupStaleLabs()).toContain(id);

          expect(await processesMentioning(dir)).toEqual([]);
          expect(await mountsUnder(dir)).toEqual([]);
          expect(existsSync(dir)).toBe(false);
          expect((await listNetns()).filter((n) => rec?.netns.includes(n))).toEqual([]);
          expect((await listLinks()).filter((l) => rec?.links.includes(l))).toEqual([]);
          expect(
            (await unreachableRoutes()).filter((r) =>
              r.includes(realNodeAddresses(rec?.slot ?? 0).labCidr),
            ),
          ).toEqual([]);
          expect((await cniResults()).filter((n) => !cniBefore.has(n))).toEqual([]);
        } finally {
          if (child.exitCode === null) child.kill("SIGKILL");
          await cleanupStaleLabs();
        }
      },
      30 * 60_000,
    );
  },
);
