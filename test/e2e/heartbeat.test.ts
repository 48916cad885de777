import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { writeHeartbeatKey } from "../../src/lab/cluster.js";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { setLinkState } from "../../src/lab/netns.js";
import type { LabHostRecord } from "../../src/lab/state.js";
import type { MembershipChange, NodeStatus } from "../../src/speaker/membership.js";
import { packageRoot } from "../../src/util/paths.js";
import { spawnProcess } from "../../src/util/proc.js";
import { prereqs } from "../helpers/prereq.js";

// Speakers' UDP heartbeats across a real LAN (the lab's bridge), one heartbeat fixture per
// node namespace at default timings (200 ms interval, dead after 1 s, hold 2 s). The test
// plays the API server: it hands every node the others' Leases (token, address), renewed
// every second. node-1 is reached over IPv6, the others over IPv4. They share a heartbeat
// key file in the lab's directory, as a mounted Secret. In order: all hear each
// other; node-3 is SIGKILLed, then restarted; node-2's link goes down and up; the key is
// rotated; node-1 stops gracefully. Detection times are printed, not asserted (beyond "well under the Lease").

const fixture = join(packageRoot(), "dist-test", "test", "fixtures", "heartbeat-node.js");
const PORT = 7946;
const LEASE_MS = 10_000;

type Line = { id?: number; event?: string } & Record<string, unknown>;
type Change = MembershipChange & { at: number };
interface Status {
  live: string[];
  eligible: string[];
  status: NodeStatus[];
  transport: { sent: number; sendFailed: Record<string, number>; dropped: Record<string, number> };
}

const now = () => performance.timeOrigin + performance.now();

class HbNode {
  readonly lines: Line[] = [];
  token = "";
  exited = false;
  private nextId = 1;
  private readonly waiters = new Map<number, (l: Line) => void>();

  private constructor(
    readonly host: LabHostRecord,
    private readonly child: ChildProcess,
  ) {
    child.on("exit", () => (this.exited = true));
  }

  static async start(
    host: LabHostRecord,
    keyFile: string,
    extra: readonly string[] = [],
  ): Promise<HbNode> {
    const child = spawnProcess(
      "ip",
      [
        "netns",
        "exec",
        host.netns,
        process.execPath,
        fixture,
        "--node",
        host.name,
        "--bind",
        `${host.ipv4},${host.ipv6}`,
        "--port",
        String(PORT),
        "--key-file",
        keyFile,
        ...extra,
      ],
      { tied: true, stdio: ["pipe", "pipe", "inherit"] },
    );
    const n = new HbNode(host, child);
    const ready = new Promise<void>((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`${host.name} exited with ${String(code)}`)));
      if (child.stdout === null) throw new Error("no stdout");
      createInterface({ input: child.stdout }).on("line", (text) => {
        const l = JSON.parse(text) as Line;
        if (l.id !== undefined) {
          n.waiters.get(l.id)?.(l);
          n.waiters.delete(l.id);
          return;
        }
        n.lines.push(l);
        if (l.event === "ready") {
          n.token = String(l.token);
          resolve();
        }
      });
    });
    await withTimeout(ready, 15_000, `${host.name} did not start`);
    return n;
  }

  get name(): string {
    return this.host.name;
  }

  send(cmd: object): void {
    if (!this.exited) this.child.stdin?.write(`${JSON.stringify(cmd)}\n`);
  }

  async status(): Promise<Status> {
    const id = this.nextId++;
    const answer = new Promise<Line>((resolve) => this.waiters.set(id, resolve));
    this.send({ id, cmd: "status" });
    return (await withTimeout(answer, 5_000, `${this.name} did not answer`)) as unknown as Status;
  }

  changes(after = 0): Change[] {
    return this.lines
      .filter((l) => l.event === "change" && (l.at as number) > after)
      .map((l) => l as unknown as Change);
  }

  /** The first change after `after` matching `pred`, waiting for it up to `ms`. */
  async change(what: string, after: number, pred: (c: Change) => boolean, ms = 15_000) {
    const end = Date.now() + ms;
    for (;;) {
      const c = this.changes(after).find(pred);
      if (c !== undefined) return c;
      if (Date.now() > end) {
        throw new Error(
          `${this.name}: no ${what} within ${ms} ms; saw ${JSON.stringify(this.changes(after))}`,
        );
      }
      await sleep(20);
    }
  }

  kill(signal: NodeJS.Signals): Promise<void> {
    const gone = new Promise<void>((resolve) => {
      if (this.exited) resolve();
      else this.child.once("exit", () => resolve());
    });
    this.child.kill(signal);
    return withTimeout(gone, 5_000, `${this.name} did not exit on ${signal}`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]);
}

const ms = (x: number) => `${Math.round(x)} ms`;

describe.runIf(prereqs("heartbeat e2e", ["root", "ip", "setpriv"]))("heartbeats in the lab", () => {
  let lab: Lab;
  const nodes = new Map<string, HbNode>();
  /** The "API server": each node's Lease as the others read it. */
  const leases = new Map<string, { token: string; address: string; renewals: number }>();
  let renewer: NodeJS.Timeout | undefined;

  const node = (name: string): HbNode => {
    const n = nodes.get(name);
    if (n === undefined) throw new Error(`no ${name}`);
    return n;
  };
  const keyFile = () => join(lab.record.dir, "heartbeat-key");
  const advertised = (h: LabHostRecord) =>
    h.name === "node-1" ? `[${h.ipv6}]:${PORT}` : `${h.ipv4}:${PORT}`;

  /** Every running node reads every other node's Lease. */
  const publish = () => {
    for (const reader of nodes.values()) {
      for (const [name, l] of leases) {
        if (name === reader.name) continue;
        reader.send({
          cmd: "lease",
          node: name,
          renewTime: `${l.token.slice(0, 6)}-${l.renewals}`,
          durationMs: LEASE_MS,
          token: l.token,
          address: l.address,
        });
      }
    }
  };

  /** Starts the fixture in a node's namespace and "writes" its Lease. */
  const startNode = async (name: string, extra: readonly string[] = []): Promise<HbNode> => {
    // A short key grace, so that a rotation completes within the test.
    const n = await HbNode.start(lab.node(name), keyFile(), ["--key-grace-ms", "2000", ...extra]);
    nodes.set(name, n);
    leases.set(name, { token: n.token, address: advertised(n.host), renewals: 0 });
    publish();
    return n;
  };

  beforeAll(async () => {
    lab = await createLab({ nodes: 3, controlPlane: false, persistent: false });
    await writeHeartbeatKey(keyFile());
    for (const name of ["node-1", "node-2", "node-3"]) await startNode(name);
    // Renewals every second (a dead node's Lease stays, unrenewed: its renewTime is frozen).
    renewer = setInterval(() => {
      for (const [name, l] of leases) if (!node(name).exited) l.renewals++;
      publish();
    }, 1_000);
  });

  afterAll(async () => {
    clearInterval(renewer);
    for (const n of nodes.values()) await n.kill("SIGKILL").catch(() => undefined);
    await lab.down();
  });

  const waitAllHeard = async (names: string[], timeoutMs = 10_000) => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const views = await Promise.all(names.map((n) => node(n).status()));
      const ok = views.every(
        (v) =>
          v.eligible.join() === names.join() &&
          v.status.every((s) => s.self || !names.includes(s.node) || s.heartbeatFresh),
      );
      if (ok) return views;
      if (Date.now() > end) throw new Error(`not all heard: ${JSON.stringify(views)}`);
      await sleep(100);
    }
  };

  it("every node hears every other, over IPv4 and IPv6", async () => {
    const t0 = now();
    const views = await waitAllHeard(["node-1", "node-2", "node-3"]);
    console.log(`all three heard each other ${ms(now() - t0)} after start-up`);
    // node-1 advertises its IPv6 address, so node-2 reaches it over IPv6 (and it answers
    // node-2's IPv4 address over IPv4).
    const atNode1 = views[0]?.status.find((s) => s.node === "node-2");
    expect(atNode1?.heardFrom).toBe(`[${lab.node("node-2").ipv6}]:${PORT}`);
    const atNode2 = views[1]?.status.find((s) => s.node === "node-1");
    expect(atNode2?.heardFrom).toBe(`${lab.node("node-1").ipv4}:${PORT}`);
    for (const v of views) expect(v.transport.sendFailed).toEqual({});
  });

  it("a SIGKILLed speaker is dead by heartbeat silence, long before its Lease expires", async () => {
    const t0 = now();
    await node("node-3").kill("SIGKILL");
    for (const watcher of ["node-1", "node-2"]) {
      const c = await node(watcher).change(
        "node-3 dead",
        t0,
        (x) => x.node === "node-3" && x.to === "dead",
      );
      console.log(`SIGKILL node-3 → ${watcher} declares it dead: ${ms(c.at - t0)} (${c.reason})`);
      expect(c.reason).toBe("heartbeat-silence");
      expect(c.at - t0).toBeLessThan(LEASE_MS / 2);
    }
    expect((await node("node-1").status()).eligible).toEqual(["node-1", "node-2"]);
  });

  it("the restarted speaker (new token, new incarnation) is held, then rejoins", async () => {
    const t0 = now();
    // Its previous run was killed (a speaker tells by finding its old Lease left behind), so
    // it holds itself as the others hold it.
    await startNode("node-3", ["--hold-self-at-start"]);
    for (const watcher of ["node-1", "node-2", "node-3"]) {
      const held = await node(watcher).change(
        "node-3 held",
        t0,
        (x) => x.node === "node-3" && x.to === "held",
      );
      const back = await node(watcher).change(
        "node-3 rejoined",
        t0,
        (x) => x.node === "node-3" && x.to === "eligible",
      );
      console.log(
        `restart node-3 → ${watcher}: held after ${ms(held.at - t0)} for ${held.holdMs} ms, ` +
          `eligible after ${ms(back.at - t0)} (${back.reason})`,
      );
      expect(back.reason).toBe("rejoined");
      expect(back.at - held.at).toBeGreaterThanOrEqual(held.holdMs ?? 0);
    }
    await waitAllHeard(["node-1", "node-2", "node-3"]);
  });

  it("a node whose link goes down is dead for the others; when it is back it is held, then rejoins", async () => {
    const n2 = lab.node("node-2");
    // Keep the static IPv6 address over the down/up, as a pulled cable would (by default an
    // administrative down flushes it, and node-2 could no longer reach node-1 over IPv6).
    await lab.exec(n2, ["sysctl", "-qw", `net.ipv6.conf.${n2.ifname}.keep_addr_on_down=1`]);
    const down = now();
    await setLinkState(n2.netns, n2.ifname, false);
    for (const watcher of ["node-1", "node-3"]) {
      const c = await node(watcher).change(
        "node-2 dead",
        down,
        (x) => x.node === "node-2" && x.to === "dead",
      );
      console.log(
        `link down node-2 → ${watcher} declares it dead: ${ms(c.at - down)} (${c.reason})`,
      );
      expect(c.reason).toBe("heartbeat-silence");
    }
    const alone = await node("node-2").change(
      "node-2 losing both peers",
      down,
      (x) => x.node === "node-3" && x.to === "dead",
    );
    console.log(`link down node-2 → node-2 declares node-3 dead: ${ms(alone.at - down)}`);
    const cut = await node("node-2").status();
    expect(cut.eligible).toEqual(["node-2"]); // alone, it stays eligible in its own view
    expect(cut.transport.sendFailed).not.toEqual({});

    await sleep(1_500);
    const up = now();
    await setLinkState(n2.netns, n2.ifname, true);
    for (const watcher of ["node-1", "node-3", "node-2"]) {
      const held = await node(watcher).change(
        "node-2 held",
        up,
        (x) => x.node === "node-2" && x.to === "held",
      );
      const back = await node(watcher).change(
        "node-2 rejoined",
        up,
        (x) => x.node === "node-2" && x.to === "eligible",
      );
      console.log(
        `link up node-2 → ${watcher} sees node-2${watcher === "node-2" ? " (itself)" : ""} ` +
          `held after ${ms(held.at - up)} for ${held.holdMs} ms, eligible after ${ms(back.at - up)}`,
      );
      expect(back.reason).toBe("rejoined");
    }
    await waitAllHeard(["node-1", "node-2", "node-3"]);
    // node-2 held its peers too (it saw them silent), and let them back after the hold.
    const n2back = node("node-2")
      .changes(up)
      .filter((x) => x.to === "eligible")
      .map((x) => x.node)
      .sort();
    expect(n2back).toEqual(["node-1", "node-2", "node-3"]);
    // Nobody moved more than once: one death and one return per node pair, no flapping.
    for (const watcher of ["node-1", "node-3"]) {
      const moves = node(watcher)
        .changes(down)
        .filter((x) => x.node === "node-2" && (x.change === "left" || x.change === "joined"));
      expect(moves.map((x) => x.change)).toEqual(["left", "joined"]);
    }
  });

  it("the shared key rotates under the running nodes: nobody goes dead, nothing is refused", async () => {
    const names = ["node-1", "node-2", "node-3"];
    const refused = (st: Status) =>
      ["unknown-key", "old-key", "bad-mac"].map((r) => st.transport.dropped[r] ?? 0);
    const before = await Promise.all(names.map((n) => node(n).status()));
    const t0 = now();
    await writeHeartbeatKey(keyFile());
    // Past the grace (2 s): each node has read the new key (it polls every 200 ms), signs
    // with it, and no longer accepts the old one.
    await sleep(3_500);
    for (const [i, n] of names.entries()) {
      const rotated = node(n).lines.find((l) => l.msg === "heartbeat key rotated");
      expect(rotated, `${n} read the new key`).toBeDefined();
      expect(
        node(n)
          .changes(t0)
          .filter((c) => c.to === "dead"),
      ).toEqual([]);
      const b = before[i];
      if (b !== undefined) expect(refused(await node(n).status())).toEqual(refused(b));
    }
    await waitAllHeard(names);
  });

  it("a graceful stop (SIGTERM) is seen at once", async () => {
    const t0 = now();
    await node("node-1").kill("SIGTERM");
    leases.delete("node-1");
    for (const watcher of ["node-2", "node-3"]) {
      const c = await node(watcher).change(
        "node-1 left",
        t0,
        (x) => x.node === "node-1" && x.to === "dead",
      );
      console.log(`SIGTERM node-1 → ${watcher} drops it: ${ms(c.at - t0)} (${c.reason})`);
      expect(c.reason).toBe("leaving");
      node(watcher).send({ cmd: "leaseDeleted", node: "node-1" });
    }
    nodes.delete("node-1");
  });
});
