import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanupStaleLabs, createLab, type Lab } from "../../src/lab/lab.js";
import { listLinks, listNetns } from "../../src/lab/netns.js";
import { readRecords } from "../../src/lab/state.js";
import { packageRoot } from "../../src/util/paths.js";
import { isRunning } from "../../src/util/proc.js";
import { prereqs } from "../helpers/prereq.js";

// The lab is the ground every other e2e test stands on: prove it is a real network with a
// real API server, and that it leaves nothing behind, also when its owner is killed.

const root = `${packageRoot()}/`;

async function leftovers(lab: { id: string; record: { netns: string[]; links: string[] } }) {
  const netns = (await listNetns()).filter((n) => lab.record.netns.includes(n));
  const links = (await listLinks()).filter((l) => lab.record.links.includes(l));
  return { netns, links };
}

describe.runIf(prereqs("lab e2e", ["root", "ip", "arping", "setpriv", "go"]))("lab", () => {
  describe("with a control plane", () => {
    let lab: Lab | undefined;
    beforeAll(async () => {
      lab = await createLab({ nodes: 2, controlPlane: true, persistent: false });
    });
    afterAll(async () => {
      await lab?.down();
    });

    it("serves the API on the bridge address to a client-node program in a node namespace", async () => {
      const l = lab as Lab;
      expect(l.record.server).toBe(
        `https://${l.addresses.gateway4}:${new URL(l.record.server ?? "").port}`,
      );
      const node1 = l.node("node-1");
      const { stdout } = await l.exec(node1, [
        process.execPath,
        `${root}dist-test/test/fixtures/list-nodes.js`,
        l.kubeconfig,
      ]);
      const nodes = JSON.parse(stdout) as { name: string; ready: string; internalIPs: string[] }[];
      expect(nodes).toEqual([
        {
          name: "node-1",
          ready: "True",
          internalIPs: [l.node("node-1").ipv4, l.node("node-1").ipv6],
        },
        {
          name: "node-2",
          ready: "True",
          internalIPs: [l.node("node-2").ipv4, l.node("node-2").ipv6],
        },
      ]);
    });

    it("gives a node namespace no route beyond the lab subnet", async () => {
      const l = lab as Lab;
      const { stdout } = await l.exec(l.node("node-2"), ["ip", "-4", "route", "show"]);
      expect(stdout).not.toMatch(/default/);
      expect(stdout.trim()).toBe(
        `192.0.2.${l.record.slot * 64}/26 dev eth0 proto kernel scope link src ${l.node("node-2").ipv4}`,
      );
    });

    it("answers arping from the client with the node's own MAC", async () => {
      const l = lab as Lab;
      const target = l.node("node-2");
      const { stdout } = await l.exec(l.client, [
        "arping",
        "-c",
        "1",
        "-w",
        "3",
        "-I",
        "eth0",
        target.ipv4,
      ]);
      const replies = stdout.split("\n").filter((line) => line.includes("reply from"));
      expect(replies).toHaveLength(1);
      expect(replies[0]?.toLowerCase()).toContain(`[${target.mac}]`);
      expect(stdout).toContain("Received 1 response(s)");
    });

    it("gets no ARP reply for an address nobody holds", async () => {
      const l = lab as Lab;
      const unused = l.addresses.vipRange4.split("-")[0] ?? "";
      const res = await l
        .exec(l.client, ["arping", "-c", "1", "-w", "1", "-I", "eth0", unused])
        .catch((e: unknown) => e);
      expect((res as Error).message).toContain("Received 0 response(s)");
    });
  });

  it("removes every namespace, link, process and file on down", async () => {
    const lab = await createLab({ nodes: 3, controlPlane: true, persistent: false });
    const before = await leftovers(lab);
    expect(before.netns).toHaveLength(4);
    expect(before.links).toHaveLength(5); // bridge + 4 veths
    const procs = lab.record.processes;
    expect(procs.map((p) => p.name).sort()).toEqual(["etcd", "kube-apiserver"]);
    expect(procs.every(isRunning)).toBe(true);

    await lab.down();

    expect(await leftovers(lab)).toEqual({ netns: [], links: [] });
    expect(procs.some(isRunning)).toBe(false);
    expect(existsSync(lab.record.dir)).toBe(false);
    expect((await readRecords()).map((r) => r.id)).not.toContain(lab.id);
  });

  it("cleans up after an owner killed with SIGKILL, and on Ctrl-C in the foreground", async () => {
    const startForeground = async () => {
      const child = spawn(
        process.execPath,
        [`${root}dist/cli/main.js`, "lab", "up", "--foreground", "--nodes", "1"],
        {
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let out = "";
      child.stdout.on("data", (b: Buffer) => (out += b.toString()));
      const id = await new Promise<string>((resolve, reject) => {
        child.on("exit", (code) => reject(new Error(`lab up exited with ${String(code)}: ${out}`)));
        const timer = setInterval(() => {
          const m = /lab ([0-9a-f]{6}) is up/.exec(out);
          if (m?.[1] !== undefined && out.includes("Ctrl-C")) {
            clearInterval(timer);
            resolve(m[1]);
          }
        }, 50);
      });
      const rec = (await readRecords()).find((r) => r.id === id);
      if (rec === undefined) throw new Error(`no record for lab ${id}`);
      return { child, rec, exited: new Promise((r) => child.on("exit", r)) };
    };

    // SIGKILL: nothing in the process can clean up. The control plane dies with it (pdeathsig);
    // namespaces and links stay until the stale-lab cleanup finds them.
    const killed = await startForeground();
    killed.child.kill("SIGKILL");
    await killed.exited;
    expect((await leftovers({ id: killed.rec.id, record: killed.rec })).netns).toHaveLength(2);
    const deadline = Date.now() + 5_000;
    while (killed.rec.processes.some(isRunning) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(killed.rec.processes.some(isRunning)).toBe(false);
    expect(await cleanupStaleLabs()).toContain(killed.rec.id);
    expect(await leftovers({ id: killed.rec.id, record: killed.rec })).toEqual({
      netns: [],
      links: [],
    });

    // SIGINT (Ctrl-C): the foreground command removes its own lab.
    const fg = await startForeground();
    fg.child.kill("SIGINT");
    await fg.exited;
    expect(await leftovers({ id: fg.rec.id, record: fg.rec })).toEqual({ netns: [], links: [] });
    expect(fg.rec.processes.some(isRunning)).toBe(false);
    expect((await readRecords()).map((r) => r.id)).not.toContain(fg.rec.id);
  });
});
