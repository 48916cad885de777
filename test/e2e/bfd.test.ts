import type { ChildProcess } from "node:child_process";
import { openSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSocket } from "node:dgram";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { loadAddon } from "../../src/dataplane/native.js";
import { ip, netnsExec } from "../../src/lab/netns.js";
import { run, spawnProcess } from "../../src/util/proc.js";
import { prereqs } from "../helpers/prereq.js";

// barelb's BFD edge (src/routing/bfd.ts) against a real BFD implementation: BIRD 2 in one
// namespace ("router"), test/fixtures/bfd-peer.ts in another ("node"), joined by a veth
// pair, IPv4 and IPv6, MetalLB's default profile (300 ms × 3) on both ends. Times are logged,
// never asserted.

const fixture = fileURLToPath(
  new URL("../../dist-test/test/fixtures/bfd-peer.js", import.meta.url),
);

const R4 = "192.0.2.1";
const N4 = "192.0.2.10";
const R6 = "2001:db8:bfd::1";
const N6 = "2001:db8:bfd::10";

interface Change {
  event: "change";
  at: number;
  peer: string;
  state: string;
  diagnostic: number;
  diagnosticName: string;
}

/** One run of the fixture: its process and what it printed. */
interface PeerProcess {
  child: ChildProcess;
  changes: Change[];
  lines: Record<string, unknown>[];
}

describe.runIf(prereqs("BFD e2e", ["root", "ip", "setpriv", "bird"]))("BFD against BIRD", () => {
  const tag = `bfd${process.pid % 100_000}`;
  const routerNs = `${tag}-r`;
  const nodeNs = `${tag}-n`;
  let dir = "";
  let bird: ChildProcess | undefined;
  const children: ChildProcess[] = [];

  const birdc = async (...args: string[]): Promise<string> =>
    (await run("birdc", ["-s", join(dir, "bird.ctl"), ...args], { timeoutMs: 10_000 })).stdout;

  /** BIRD's view: neighbor address → state. */
  const birdSessions = async (): Promise<Map<string, string>> => {
    const out = new Map<string, string>();
    for (const line of (await birdc("show", "bfd", "sessions")).split("\n")) {
      const [address, , state] = line.trim().split(/\s+/);
      if (address !== undefined && state !== undefined && /[.:]/.test(address)) {
        out.set(address, state);
      }
    }
    return out;
  };

  const birdLog = async (): Promise<string> => readFile(join(dir, "bird.log"), "utf8");

  const startBird = async (): Promise<void> => {
    const log = openSync(join(dir, "bird.log"), "a");
    bird = spawnProcess(
      "ip",
      [
        "netns",
        "exec",
        routerNs,
        "bird",
        "-f",
        "-c",
        join(dir, "bird.conf"),
        "-s",
        join(dir, "bird.ctl"),
        "-P",
        join(dir, "bird.pid"),
      ],
      { tied: true, stdio: ["ignore", log, log] },
    );
    children.push(bird);
    await vi.waitFor(() => birdc("show", "status"), { timeout: 10_000, interval: 100 });
  };

  const startPeer = (): PeerProcess => {
    const child = spawnProcess(
      "ip",
      [
        "netns",
        "exec",
        nodeNs,
        process.execPath,
        fixture,
        "--peer",
        `${N4},${R4}`,
        "--peer",
        `${N6},${R6}`,
      ],
      { tied: true, stdio: ["pipe", "pipe", "inherit"] },
    );
    children.push(child);
    const p: PeerProcess = { child, changes: [], lines: [] };
    if (child.stdout === null) throw new Error("no stdout");
    createInterface({ input: child.stdout }).on("line", (line) => {
      const o = JSON.parse(line) as Record<string, unknown>;
      p.lines.push(o);
      if (o.event === "change") p.changes.push(o as unknown as Change);
    });
    return p;
  };

  const lastState = (p: PeerProcess, peer: string): string | undefined =>
    p.changes.filter((c) => c.peer === peer).at(-1)?.state;

  const bothUp = async (p: PeerProcess): Promise<void> => {
    await vi.waitFor(
      async () => {
        expect(lastState(p, R4)).toBe("Up");
        expect(lastState(p, R6)).toBe("Up");
        const seen = await birdSessions();
        expect(seen.get(N4)).toBe("Up");
        expect(seen.get(N6)).toBe("Up");
      },
      { timeout: 15_000, interval: 100 },
    );
  };

  const exited = (child: ChildProcess): Promise<void> =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise((resolve) => child.once("exit", () => resolve()));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "barelb-bfd-"));
    for (const ns of [routerNs, nodeNs]) {
      await ip(["netns", "add", ns]);
      await netnsExec(ns, ["ip", "link", "set", "lo", "up"]);
    }
    await ip([
      "link",
      "add",
      `${tag}r`,
      "netns",
      routerNs,
      "type",
      "veth",
      "peer",
      "name",
      `${tag}n`,
      "netns",
      nodeNs,
    ]);
    for (const [ns, ifname, a4, a6] of [
      [routerNs, `${tag}r`, R4, R6],
      [nodeNs, `${tag}n`, N4, N6],
    ] as const) {
      await netnsExec(ns, ["ip", "addr", "add", `${a4}/24`, "dev", ifname]);
      await netnsExec(ns, ["ip", "-6", "addr", "add", `${a6}/64`, "dev", ifname, "nodad"]);
      await netnsExec(ns, ["ip", "link", "set", ifname, "up"]);
    }
    await writeFile(
      join(dir, "bird.conf"),
      [
        `router id ${R4};`,
        "log stderr all;",
        "protocol device { scan time 10; }",
        "protocol bfd {",
        "  debug { states, events };",
        '  interface "*" { interval 300 ms; multiplier 3; };',
        `  neighbor ${N4} local ${R4};`,
        `  neighbor ${N6} local ${R6};`,
        "}",
        "",
      ].join("\n"),
    );
    await startBird();
  });

  afterAll(async () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    }
    await Promise.all(children.map(exited));
    for (const ns of [routerNs, nodeNs]) await ip(["netns", "del", ns]).catch(() => undefined);
    if (dir !== "") await rm(dir, { recursive: true, force: true });
  });

  it("comes Up with BIRD over IPv4 and IPv6, seen from both ends", async () => {
    const p = startPeer();
    await bothUp(p);
    // SIGKILL: BIRD must find the session lost by its detection time (3 × 300 ms).
    const killedAt = Date.now();
    p.child.kill("SIGKILL");
    await vi.waitFor(
      async () => {
        const seen = await birdSessions();
        expect(seen.get(N4)).toBe("Down");
        expect(seen.get(N6)).toBe("Down");
      },
      { timeout: 10_000, interval: 20 },
    );
    console.log(`BFD: BIRD saw barelb's killed session Down after ${Date.now() - killedAt} ms`);
    expect(await birdLog()).toContain(`Session to ${N4} expired`);
  });

  it("stop(): BIRD sees an administrative Down, not a detection-time expiry", async () => {
    const p = startPeer();
    await bothUp(p);
    const expiredBefore = (await birdLog()).split("expired").length;
    p.child.stdin?.write(`${JSON.stringify({ cmd: "stop" })}\n`);
    await exited(p.child);
    expect(p.lines.at(-1)).toMatchObject({ event: "stopped" });
    await vi.waitFor(
      async () => {
        const seen = await birdSessions();
        expect(seen.get(N4)).toBe("Down");
        expect(seen.get(N6)).toBe("Down");
      },
      { timeout: 5_000, interval: 50 },
    );
    // Past a detection time, still no expiry: BIRD took the AdminDown packets.
    await new Promise((r) => setTimeout(r, 1500));
    expect((await birdLog()).split("expired").length).toBe(expiredBefore);
    expect(
      p.changes
        .filter((c) => c.state === "AdminDown")
        .map((c) => c.peer)
        .sort(),
    ).toEqual([R4, R6].sort());
  });

  it("BIRD killed: barelb's peer goes Down with diagnostic Control Detection Time Expired", async () => {
    const p = startPeer();
    await bothUp(p);
    const killedAt = Date.now();
    bird?.kill("SIGKILL");
    await vi.waitFor(
      () => {
        expect(lastState(p, R4)).toBe("Down");
        expect(lastState(p, R6)).toBe("Down");
      },
      { timeout: 10_000, interval: 20 },
    );
    const downs = p.changes.filter((c) => c.state === "Down");
    for (const d of downs) {
      console.log(`BFD: barelb saw BIRD (${d.peer}) Down after ${d.at - killedAt} ms`);
    }
    expect(downs.map((d) => [d.diagnostic, d.diagnosticName])).toEqual([
      [1, "Control Detection Time Expired"],
      [1, "Control Detection Time Expired"],
    ]);
    p.child.kill("SIGKILL");
  });
});

// The native socket under the edge reports the TTL / hop limit each datagram arrived with (on
// loopback, which does not decrement it), so the endpoint can drop what is not 255.
describe("the addon's UdpSocket", () => {
  it.each([4, 6] as const)("IPv%i: reports the TTL a datagram arrived with", async (family) => {
    const addon = loadAddon();
    const got: number[] = [];
    const lo = family === 4 ? "127.0.0.1" : "::1";
    const socket = new addon.UdpSocket(
      family,
      new Uint8Array(family === 4 ? 4 : 16),
      0,
      0,
      (_payload, _src, _srcPort, _dst, _ifindex, ttl) => got.push(ttl),
      () => undefined,
    );
    const client = createSocket(family === 4 ? "udp4" : "udp6");
    try {
      await new Promise<void>((resolve) => client.bind(0, lo, resolve));
      for (const ttl of [254, 255]) {
        client.setTTL(ttl);
        await new Promise((resolve) => client.send("x", socket.localPort(), lo, resolve));
        await vi.waitFor(() => expect(got).toHaveLength(ttl - 253));
      }
      expect(got).toEqual([254, 255]);
    } finally {
      client.close();
      socket.close();
    }
  });
});
