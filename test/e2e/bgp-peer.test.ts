import type { ChildProcess } from "node:child_process";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import {
  encodeMessage,
  MessageStream,
  type Message,
  type Route,
  type SessionConfig,
} from "../../src/bgp/index.js";
import {
  BgpPeer,
  type BgpPeerCounters,
  type BgpPeerOptions,
  type PeerChange,
} from "../../src/routing/bgp-peer.js";
import { packageRoot } from "../../src/util/paths.js";
import { CommandError, run, spawnProcess } from "../../src/util/proc.js";
import { prereqs } from "../helpers/prereq.js";

/**
 * BgpPeer against a real BIRD 2: two namespaces joined by a veth pair, BIRD in one ("r"),
 * the peer in the other ("p", test/fixtures/bgp-peer.ts run with `ip netns exec`). What
 * counts is the router's view: `birdc show route all`, its protocol state, and the kernel FIB
 * BIRD exports to.
 *
 *   r: 198.51.100.1/24, 2001:db8:bf::1/64        p: 198.51.100.2/24, 198.51.100.3/24, 2001:db8:bf::2/64
 *   BIRD AS 64500:  ibgp4  neighbor 198.51.100.2 AS 64500 (iBGP, IPv4)
 *                   ebgp6  neighbor 2001:db8:bf::2 AS 64512 (eBGP, IPv6)
 *                   withpw neighbor 198.51.100.3 AS 64512, password "s3cret"
 */

const vip4 = "192.0.2.40/32";
const tag = `${process.pid % 100000}`;
const R = `bgpt-r-${tag}`;
const P = `bgpt-p-${tag}`;
const fixture = join(packageRoot(), "dist-test", "test", "fixtures", "bgp-peer.js");

const birdConfig = (dir: string) => `
router id 198.51.100.1;
log "${dir}/bird.log" all;
protocol device { scan time 1; }
protocol kernel k4 { ipv4 { export all; }; }
protocol kernel k6 { ipv6 { export all; }; }
template bgp peers {
  local as 64500;
  passive on;
  error wait time 1, 2;
  error forget time 5;
}
protocol bgp ibgp4 from peers {
  local 198.51.100.1;
  neighbor 198.51.100.2 as 64500;
  direct;
  ipv4 { import all; export none; };
}
protocol bgp ebgp6 from peers {
  local 2001:db8:bf::1;
  neighbor 2001:db8:bf::2 as 64512;
  ipv6 { import all; export none; };
}
protocol bgp withpw from peers {
  local 198.51.100.1;
  neighbor 198.51.100.3 as 64512;
  password "s3cret";
  ipv4 { import all; export none; };
}
`;

const timing = {
  connectTimeoutMs: 1_500,
  retryBaseMs: 1_000,
  retryMaxMs: 4_000,
  openHoldMs: 10_000,
};
const session = (localASN: number, peerASN: number, v6 = false): SessionConfig => ({
  localASN,
  peerASN,
  routerId: "198.51.100.2",
  holdTime: 9,
  families: v6 ? ["ipv6-unicast"] : ["ipv4-unicast"],
  timing,
});

type Line = { id?: number; event?: string; change?: PeerChange; at?: number } & Record<
  string,
  unknown
>;

/** The fixture in namespace P, one BgpPeer. */
class PeerProcess {
  readonly changes: (PeerChange & { at: number })[] = [];
  private readonly pending = new Map<
    number,
    { resolve: (l: Line) => void; reject: (e: Error) => void }
  >();
  private nextId = 1;
  private exited = false;

  private constructor(private readonly child: ChildProcess) {
    child.on("exit", (code) => {
      this.exited = true;
      for (const p of this.pending.values())
        p.reject(new Error(`the peer exited (${String(code)})`));
      this.pending.clear();
    });
    if (child.stdout === null) throw new Error("no stdout");
    createInterface({ input: child.stdout }).on("line", (text) => {
      const l = JSON.parse(text) as Line;
      if (l.id !== undefined) {
        this.pending.get(l.id)?.resolve(l);
        this.pending.delete(l.id);
      } else if (l.event === "change" && l.change !== undefined) {
        this.changes.push({ ...l.change, at: l.at ?? 0 });
      }
    });
  }

  static start(options: Omit<BgpPeerOptions, "logger">): PeerProcess {
    const child = spawnProcess(
      "ip",
      ["netns", "exec", P, process.execPath, fixture, JSON.stringify(options)],
      // The peer's debug log is kept out of the test output; set BGP_PEER_LOG=1 to see it.
      {
        tied: true,
        stdio: ["pipe", "pipe", process.env.BGP_PEER_LOG === "1" ? "inherit" : "ignore"],
      },
    );
    return new PeerProcess(child);
  }

  private async request(cmd: object): Promise<Line> {
    if (this.exited) throw new Error("the peer process has exited");
    const id = this.nextId++;
    const answer = new Promise<Line>((resolve, reject) =>
      this.pending.set(id, { resolve, reject }),
    );
    this.child.stdin?.write(`${JSON.stringify({ id, ...cmd })}\n`);
    return answer;
  }

  async setRoutes(routes: Route[]): Promise<void> {
    await this.request({ cmd: "routes", routes });
  }

  async fail(reason: string): Promise<void> {
    await this.request({ cmd: "fail", reason });
  }

  async stop(message?: string): Promise<void> {
    await this.request({ cmd: "stop", message });
  }

  async status(): Promise<{ state: string; counters: BgpPeerCounters }> {
    return (await this.request({ cmd: "status" })) as unknown as {
      state: string;
      counters: BgpPeerCounters;
    };
  }

  async waitFor(state: string, timeoutMs = 15_000): Promise<void> {
    await eventually(async () => expect((await this.status()).state).toBe(state), timeoutMs);
  }

  async exit(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.stdin?.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
    await gone;
    clearTimeout(timer);
  }
}

async function eventually(check: () => Promise<void> | void, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (e: unknown) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const ipIn = (ns: string, ...args: string[]) => run("ip", ["-n", ns, ...args]);
const sh = (ns: string, ...argv: string[]) => run("ip", ["netns", "exec", ns, ...argv]);

let dir = "";
let bird: ChildProcess | undefined;
/** birdc's answer; it exits non-zero for "Network not found", which is an answer too. */
const birdc = async (...args: string[]) => {
  try {
    return (await run("birdc", ["-s", join(dir, "bird.ctl"), ...args])).stdout;
  } catch (e: unknown) {
    if (e instanceof CommandError && /Network not found/.test(e.stdout)) return e.stdout;
    throw e;
  }
};
/** The router's kernel routes for `prefix` ("" when none). */
const fib = async (prefix: string) =>
  (await ipIn(R, prefix.includes(":") ? "-6" : "-4", "route", "show", prefix)).stdout;
const peers: PeerProcess[] = [];
const startPeer = (o: Omit<BgpPeerOptions, "logger">) => {
  const p = PeerProcess.start(o);
  peers.push(p);
  return p;
};

async function cleanup(): Promise<void> {
  await Promise.all(peers.map((p) => p.exit()));
  bird?.kill("SIGKILL");
  for (const ns of [R, P]) await run("ip", ["netns", "delete", ns]).catch(() => undefined);
  if (dir !== "") await rm(dir, { recursive: true, force: true });
}

describe.runIf(prereqs("bgp-peer e2e", ["root", "ip", "bird"]))("BgpPeer with BIRD 2", () => {
  beforeAll(async () => {
    try {
      dir = await mkdtemp(join(tmpdir(), "barelb-bgp-"));
      for (const ns of [R, P]) {
        await run("ip", ["netns", "add", ns]);
        await sh(ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0");
        await sh(ns, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0");
        await ipIn(ns, "link", "set", "lo", "up");
      }
      await ipIn(R, "link", "add", "bgpr0", "type", "veth", "peer", "name", "bgpp0", "netns", P);
      await ipIn(R, "addr", "add", "198.51.100.1/24", "dev", "bgpr0");
      await ipIn(R, "addr", "add", "2001:db8:bf::1/64", "dev", "bgpr0", "nodad");
      await ipIn(P, "addr", "add", "198.51.100.2/24", "dev", "bgpp0");
      await ipIn(P, "addr", "add", "198.51.100.3/24", "dev", "bgpp0");
      await ipIn(P, "addr", "add", "2001:db8:bf::2/64", "dev", "bgpp0", "nodad");
      await ipIn(R, "link", "set", "bgpr0", "up");
      await ipIn(P, "link", "set", "bgpp0", "up");
      // The carrier comes up a moment later, and the link-local address with it: the peer
      // finds its link-local next hop among the running interfaces.
      await eventually(async () => {
        const addrs = (await ipIn(P, "-6", "addr", "show", "dev", "bgpp0")).stdout;
        expect(addrs).toMatch(/LOWER_UP/);
        expect(addrs).toMatch(/inet6 fe80:\S+ scope link \n/);
      });
      await writeFile(join(dir, "bird.conf"), birdConfig(dir));
      await run("bird", ["-p", "-c", join(dir, "bird.conf")]); // a config error, said plainly
      bird = spawnProcess(
        "ip",
        [
          "netns",
          "exec",
          R,
          "bird",
          "-f",
          "-c",
          join(dir, "bird.conf"),
          "-s",
          join(dir, "bird.ctl"),
        ],
        { tied: true, stdio: "ignore" },
      );
      await eventually(async () => {
        expect(await birdc("show", "status")).toMatch(/Daemon is up and running/);
      });
    } catch (e: unknown) {
      await cleanup();
      throw e;
    }
  });

  afterAll(cleanup);

  const vip = "192.0.2.40/32";
  const vip6 = "2001:db8:0:1::40/128";

  it("iBGP over IPv4: Established, the route with its attributes in BIRD and the FIB; withdrawn; Cease on stop", async () => {
    const peer = startPeer({
      peerAddress: "198.51.100.1",
      session: session(64500, 64500),
    });
    await peer.setRoutes([
      {
        prefix: vip,
        localPref: 250,
        communities: [64500 * 65536 + 1, 64500 * 65536 + 2],
        largeCommunities: [{ global: 64500, local1: 1, local2: 2 }],
      },
    ]);
    await peer.waitFor("Established");
    expect(peer.changes[0]).toMatchObject({ type: "up", negotiated: { peerASN: 64500 } });

    await eventually(async () => {
      const shown = await birdc("show", "route", "all", "for", "192.0.2.40/32");
      expect(shown).toMatch(/192\.0\.2\.40\/32\s+unicast \[ibgp4 /);
      expect(shown).toMatch(/BGP\.next_hop: 198\.51\.100\.2/);
      expect(shown).toMatch(/BGP\.local_pref: 250/);
      expect(shown).toMatch(/BGP\.community: \(64500,1\) \(64500,2\)/);
      expect(shown).toMatch(/BGP\.large_community: \(64500, 1, 2\)/);
      expect(shown).toMatch(/BGP\.as_path: ?\n/);
    });
    await eventually(async () => {
      expect(await fib("192.0.2.40")).toMatch(
        /192\.0\.2\.40 via 198\.51\.100\.2 dev bgpr0 proto bird/,
      );
    });
    const { counters } = await peer.status();
    expect(counters.prefixesAdvertised).toBe(1);
    expect(counters.messagesIn.open).toBe(1);

    // Withdrawal.
    await peer.setRoutes([]);
    await eventually(async () => {
      expect(await birdc("show", "route", "for", "192.0.2.40/32")).not.toMatch(/192\.0\.2\.40/);
      expect(await fib("192.0.2.40")).toBe("");
    });
    expect((await peer.status()).counters.prefixesAdvertised).toBe(0);

    // Announce again, then stop: BIRD sees the Cease and drops the route at once.
    await peer.setRoutes([{ prefix: vip, communities: [], largeCommunities: [] }]);
    await eventually(async () => expect(await fib("192.0.2.40")).not.toBe(""));
    await peer.stop("barelb test done");
    await eventually(async () => {
      const proto = await birdc("show", "protocols", "all", "ibgp4");
      expect(proto).toMatch(/Received: Administrative shutdown/);
    }, 3_000);
    expect(await birdc("show", "route", "for", "192.0.2.40/32")).not.toMatch(/192\.0\.2\.40/);
    expect(await fib("192.0.2.40")).toBe("");
    expect(peer.changes.at(-1)).toMatchObject({
      type: "down",
      reason: "stopped",
      established: true,
      notification: { code: 6, subcode: 2 },
    });
    const log = await readFile(join(dir, "bird.log"), "utf8");
    expect(log).toMatch(/ibgp4: Received: Administrative shutdown/);
    await peer.exit();
  });

  it("eBGP over IPv6: MP_REACH with a next hop BIRD accepts, our AS in the path", async () => {
    const peer = startPeer({
      peerAddress: "2001:db8:bf::1",
      session: session(64512, 64500, true),
    });
    await peer.setRoutes([{ prefix: vip6, communities: [], largeCommunities: [] }]);
    await peer.waitFor("Established");
    await eventually(async () => {
      const shown = await birdc("show", "route", "all", "for", vip6);
      expect(shown).toMatch(/2001:db8:0:1::40\/128\s+unicast \[ebgp6 /);
      expect(shown).toMatch(/BGP\.next_hop: 2001:db8:bf::2 fe80:/);
      expect(shown).toMatch(/BGP\.as_path: 64512/);
    });
    await eventually(async () => {
      expect(await fib("2001:db8:0:1::40")).toMatch(/2001:db8:0:1::40 via .* dev bgpr0 proto bird/);
    });
    await peer.setRoutes([]);
    await eventually(async () => expect(await fib("2001:db8:0:1::40")).toBe(""));

    // An outside cause (BFD down) drops the session; it comes back after the back-off.
    await peer.setRoutes([{ prefix: vip6, communities: [], largeCommunities: [] }]);
    await eventually(async () => expect(await fib("2001:db8:0:1::40")).not.toBe(""));
    await peer.fail("bfd down");
    expect(peer.changes.at(-1)).toMatchObject({
      type: "down",
      reason: "connection-lost",
      detail: "connection lost: bfd down",
      established: true,
    });
    await eventually(async () => expect(await fib("2001:db8:0:1::40")).toBe(""), 3_000);
    await peer.waitFor("Established");
    await eventually(async () => expect(await fib("2001:db8:0:1::40")).not.toBe(""));
    expect((await peer.status()).counters.established).toBe(2);
    await peer.stop();
    await peer.exit();
  });

  it("a wrong peer ASN: refused with a clear detail, retried with back-off, not in a loop", async () => {
    const peer = startPeer({
      peerAddress: "198.51.100.1",
      session: session(64500, 64999),
    });
    // BIRD may still be in its error wait from the previous test, and refuse the first try.
    await eventually(() =>
      expect(peer.changes.some((c) => c.type === "down" && c.reason === "open-refused")).toBe(true),
    );
    const refused = peer.changes.find((c) => c.type === "down" && c.reason === "open-refused");
    expect(refused).toMatchObject({
      type: "down",
      reason: "open-refused",
      established: false,
      notification: { code: 2, subcode: 2 },
    });
    expect((refused as { detail: string }).detail).toMatch(
      /peer announced AS 64500, configured peer-asn is 64999/,
    );
    // Back-off from 1 s, doubling: attempts at about 0, 1, 3 s in the first 4 s (a loop
    // without back-off would make hundreds).
    await new Promise((r) => setTimeout(r, 4_000));
    const { counters, state } = await peer.status();
    expect(counters.connectAttempts).toBeGreaterThanOrEqual(2);
    expect(counters.connectAttempts).toBeLessThanOrEqual(4);
    expect(peer.changes.every((c) => c.type === "down")).toBe(true);
    expect(state).not.toBe("Established");
    await peer.stop();
    await peer.exit();
  });

  it("TCP MD5: the right password gives a session from the source address", async () => {
    const peer = startPeer({
      peerAddress: "198.51.100.1",
      sourceAddress: "198.51.100.3",
      password: "s3cret",
      session: session(64512, 64500),
    });
    await peer.setRoutes([{ prefix: "192.0.2.41/32", communities: [], largeCommunities: [] }]);
    await peer.waitFor("Established");
    await eventually(async () => {
      expect(await birdc("show", "route", "for", "192.0.2.41/32")).toMatch(/\[withpw /);
    });
    await peer.stop();
    await peer.exit();
  });

  it("TCP MD5: a wrong password gives no session, and the reason is a connect time-out", async () => {
    const peer = startPeer({
      peerAddress: "198.51.100.1",
      sourceAddress: "198.51.100.3",
      password: "wrong",
      session: session(64512, 64500),
    });
    await eventually(() => expect(peer.changes.length).toBeGreaterThan(0), 5_000);
    expect(peer.changes[0]).toMatchObject({
      type: "down",
      reason: "connect-failed",
      detail: "TCP connect timed out",
    });
    expect((await peer.status()).counters.messagesIn.open).toBe(0);
    expect(await birdc("show", "protocols", "withpw")).not.toMatch(/Established/);
    await peer.stop();
    await peer.exit();
  });
});

// ---- the edge's framing and error paths, against a scripted router on loopback ----

/** A one-connection router on 127.0.0.1 that records what it receives. */
async function scriptedRouter(): Promise<{
  port: number;
  received: Message[];
  connection: Promise<Socket>;
  close: () => Promise<void>;
}> {
  const received: Message[] = [];
  let accepted: (s: Socket) => void = () => undefined;
  const connection = new Promise<Socket>((resolve) => (accepted = resolve));
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    const stream = new MessageStream();
    s.on("data", (chunk: Buffer) => {
      for (const r of stream.push(chunk)) if (r.ok) received.push(r.value);
    });
    s.on("error", () => undefined);
    accepted(s);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    received,
    connection,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const routerOpen = encodeMessage({
  type: "open",
  open: {
    asn: 64500,
    holdTime: 90,
    routerId: "198.51.100.1",
    capabilities: [
      { kind: "multiprotocol", afi: 1, safi: 1 },
      { kind: "route-refresh" },
      { kind: "four-octet-as", asn: 64500 },
    ],
  },
});
const keepalive = encodeMessage({ type: "keepalive" });
const tick = () => new Promise((r) => setImmediate(r));

describe("BgpPeer's framing and errors (loopback)", () => {
  it("messages cut anywhere or sharing a chunk; route refresh answered; stop is idempotent", async () => {
    const router = await scriptedRouter();
    const changes: PeerChange[] = [];
    const peer = new BgpPeer({
      peerAddress: "127.0.0.1",
      peerPort: router.port,
      session: session(64500, 64500),
      logger: pino({ level: "silent" }),
      onChange: (c) => changes.push(c),
    });
    try {
      peer.setRoutes([{ prefix: vip4, communities: [], largeCommunities: [] }]);
      peer.start();
      const s = await router.connection;
      // The OPEN in three pieces, then its KEEPALIVE and a ROUTE-REFRESH in one chunk.
      for (const [from, to] of [
        [0, 7],
        [7, 30],
        [30, routerOpen.length],
      ] as const) {
        s.write(routerOpen.subarray(from, to));
        await tick();
      }
      s.write(
        Buffer.concat([keepalive, encodeMessage({ type: "route-refresh", afi: 1, safi: 1 })]),
      );
      await eventually(() => expect(peer.state()).toBe("Established"));
      // OPEN, KEEPALIVE, the table, End-of-RIB, then the table again for the refresh.
      await eventually(() =>
        expect(router.received.map((m) => m.type)).toEqual([
          "open",
          "keepalive",
          "update",
          "update",
          "update",
        ]),
      );
      expect(router.received[2]).toMatchObject({
        type: "update",
        update: { nlri: [{ length: 32 }], attributes: { nextHop: { family: 4 } } },
      });
      expect(router.received[3]).toEqual({
        type: "update",
        update: { withdrawn: [], attributes: {}, nlri: [] },
      });
      expect(peer.counters().messagesIn).toMatchObject({
        open: 1,
        keepalive: 1,
        "route-refresh": 1,
      });
      const first = peer.stop("bye");
      expect(peer.stop()).toBe(first);
      await first;
      expect(router.received.at(-1)).toMatchObject({
        type: "notification",
        notification: { code: 6, subcode: 2 },
      });
      expect(changes.map((c) => c.type)).toEqual(["up", "down"]);
    } finally {
      await peer.stop();
      await router.close();
    }
  });

  it("a bad marker from the router: NOTIFICATION 1/1 sent, the session down as message-error", async () => {
    const router = await scriptedRouter();
    const changes: PeerChange[] = [];
    const peer = new BgpPeer({
      peerAddress: "127.0.0.1",
      peerPort: router.port,
      session: session(64500, 64500),
      logger: pino({ level: "silent" }),
      onChange: (c) => changes.push(c),
    });
    try {
      peer.start();
      const s = await router.connection;
      const bad = Buffer.from(routerOpen);
      bad[0] = 0;
      s.write(bad);
      await eventually(() => expect(changes).toHaveLength(1));
      expect(changes[0]).toMatchObject({
        type: "down",
        reason: "message-error",
        established: false,
        notification: { code: 1, subcode: 1 },
      });
      await eventually(() =>
        expect(router.received.at(-1)).toMatchObject({
          type: "notification",
          notification: { code: 1, subcode: 1 },
        }),
      );
      expect(peer.state()).toBe("Idle");
    } finally {
      await peer.stop();
      await router.close();
    }
  });
});
