import { createSocket } from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import {
  HeartbeatCounters,
  HeartbeatTransport,
  type HeartbeatLogger,
} from "../../../src/speaker/heartbeat.js";
import { encodeHeartbeat, newHeartbeatToken } from "../../../src/speaker/heartbeat-codec.js";
import {
  heartbeatKeyFromText,
  HeartbeatKeyring,
  type HeartbeatKey,
} from "../../../src/speaker/heartbeat-keys.js";
import { Membership, type MembershipChange } from "../../../src/speaker/membership.js";

// The transport on the loopback interface (no root, no lab): two speakers exchange real UDP
// heartbeats with short timings. The lab e2e test (test/e2e/heartbeat.test.ts) does the same
// across network namespaces, with killed processes and downed links.

const KEY = heartbeatKeyFromText("shared-heartbeat-key-".repeat(2));
const KEY2 = heartbeatKeyFromText("rotated-heartbeat-key-".repeat(2));
const FORGER = heartbeatKeyFromText("not-the-cluster-key-".repeat(2));
const GRACE = 10_000;

const INTERVAL = 40;
const DEAD = 300;

interface Node {
  name: string;
  token: string;
  m: Membership;
  t: HeartbeatTransport;
  metrics: HeartbeatCounters;
  changes: (MembershipChange & { at: number })[];
  logs: { level: string; msg: string; obj: object }[];
  port: number;
  incarnation: number;
  keys: HeartbeatKeyring;
  /** The keyring's clock (ms): moved by hand, so rotations take no real time. */
  keyClock: { t: number };
}

const open: Node[] = [];
afterEach(async () => {
  for (const n of open.splice(0)) await n.t.close();
});

async function start(name: string, bind = ["127.0.0.1"]): Promise<Node> {
  const changes: Node["changes"] = [];
  const logs: Node["logs"] = [];
  const at = (level: string) => (obj: object, msg: string) => logs.push({ level, msg, obj });
  const log: HeartbeatLogger = {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
  };
  const m = new Membership({
    self: name,
    selfApiHealthy: () => true,
    deadAfterMs: DEAD,
    rejoinAfterMs: 500,
    onChange: (cs) => changes.push(...cs.map((c) => ({ ...c, at: performance.now() }))),
  });
  const token = newHeartbeatToken();
  const metrics = new HeartbeatCounters();
  const keyClock = { t: 0 };
  const keys = new HeartbeatKeyring(KEY, { graceMs: GRACE, now: () => keyClock.t });
  const incarnation = Date.now();
  const t = new HeartbeatTransport({
    membership: m,
    self: { node: name, token, incarnation },
    keys,
    port: 0,
    bindAddresses: bind,
    intervalMs: INTERVAL,
    log,
    metrics,
  });
  await t.start();
  const port = t.boundAddresses()[0]?.port ?? 0;
  const n: Node = { name, token, m, t, metrics, changes, logs, port, incarnation, keys, keyClock };
  open.push(n);
  return n;
}

/** Each learns the other's Lease (token, address), as the Lease watch would tell it. */
function introduce(a: Node, b: Node, renew = "r1"): void {
  a.m.leaseObserved(b.name, renew, 10_000, b.token, `127.0.0.1:${b.port}`);
  b.m.leaseObserved(a.name, renew, 10_000, a.token, `127.0.0.1:${a.port}`);
}

async function until(what: string, cond: () => boolean, ms = 3_000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const heard = (n: Node, peer: string) =>
  n.m.status().find((s) => s.node === peer)?.heartbeatFresh === true;

describe("heartbeat transport on loopback", () => {
  it("exchanges heartbeats, and a closed peer is dead by silence after deadAfterMs", async () => {
    const a = await start("a");
    const b = await start("b");
    introduce(a, b);
    await until("both hear each other", () => heard(a, "b") && heard(b, "a"));
    expect(a.m.eligible()).toEqual(["a", "b"]);
    expect(a.metrics.snapshot().sent).toBeGreaterThan(0);

    const stopped = performance.now();
    await b.t.close(); // like SIGKILL: no leaving heartbeat
    await until("a declares b dead", () => !a.m.live().includes("b"));
    const dead = a.changes.find((c) => c.node === "b" && c.to === "dead");
    expect(dead?.reason).toBe("heartbeat-silence");
    const ms = (dead?.at ?? 0) - stopped;
    expect(ms).toBeGreaterThan(DEAD - INTERVAL);
    expect(ms).toBeLessThan(DEAD + 6 * INTERVAL);
  });

  it("a leaving peer is dropped as soon as its leaving heartbeat arrives", async () => {
    const a = await start("a");
    const b = await start("b");
    introduce(a, b);
    await until("a hears b", () => heard(a, "b"));
    const t0 = performance.now();
    await b.t.leave();
    expect(b.m.live()).toEqual(["a"]);
    await until("a drops b", () => !a.m.live().includes("b"), 200);
    expect(a.changes.find((c) => c.node === "b" && c.to === "dead")?.reason).toBe("leaving");
    expect(performance.now() - t0).toBeLessThan(DEAD);
  });

  it("drops garbage and spoofed datagrams, counts them, and keeps running", async () => {
    const a = await start("a");
    const b = await start("b");
    introduce(a, b);
    await until("a hears b", () => heard(a, "b"));
    const s = createSocket("udp4");
    const send = (buf: Uint8Array) =>
      new Promise<void>((resolve) => s.send(buf, a.port, "127.0.0.1", () => resolve()));
    await send(Buffer.from("hello"));
    await send(new Uint8Array(0));
    await send(Buffer.from(`BLHB\u0001${"garbage-".repeat(10)}`));
    s.close();
    // a now expects another token for b (as after a restart of b): b's datagrams are refused.
    a.m.leaseObserved("b", "r2", 10_000, newHeartbeatToken(), `127.0.0.1:${b.port}`);
    await until("a counts b's heartbeats as bad-token", () => {
      const d = a.metrics.snapshot().dropped;
      return (d["bad-token"] ?? 0) > 0 && (d.short ?? 0) >= 2 && (d.version ?? 0) >= 1;
    });
    // Its heartbeats no longer count; it is live by its (new) Lease alone until that expires.
    expect(a.m.status().find((x) => x.node === "b")).toMatchObject({
      heartbeatFresh: false,
      heardEver: false,
      live: true,
    });
    expect(a.t.boundAddresses()).toHaveLength(1);
  });

  it("refuses forged, tampered and replayed datagrams, and counts each by its reason", async () => {
    const a = await start("a");
    const b = await start("b");
    introduce(a, b);
    // An eavesdropper: b sends to it as to a peer, so it records b's genuine datagrams.
    const spy = createSocket("udp4");
    const sniffed: Buffer[] = [];
    spy.on("message", (msg) => sniffed.push(msg));
    await new Promise<void>((r) => spy.bind(0, "127.0.0.1", () => r()));
    b.m.leaseObserved("spy", "r1", 10_000, newHeartbeatToken(), `127.0.0.1:${spy.address().port}`);
    await until("a hears b, the spy has b's datagrams", () => heard(a, "b") && sniffed.length > 2);
    const send = (buf: Uint8Array) =>
      new Promise<void>((resolve) => spy.send(buf, a.port, "127.0.0.1", () => resolve()));
    const genuine = sniffed[0] ?? Buffer.alloc(0);
    const leaving = (key: HeartbeatKey, seq: number) =>
      encodeHeartbeat(
        {
          node: "b",
          token: b.token,
          incarnation: b.incarnation,
          seq,
          apiHealthy: true,
          leaving: true,
        },
        key,
      );
    const tampered = Buffer.from(genuine);
    tampered[5] = (tampered[5] ?? 0) | 0x02; // the leaving flag, in a genuine datagram
    try {
      await send(genuine); // replayed: a has accepted that seq already
      await send(tampered);
      await send(leaving(FORGER, 1e9)); // the forger's own key
      await send(leaving({ id: KEY.id, secret: FORGER.secret }, 1e9)); // the real key id
      await until("a counts all four", () => {
        const d = a.metrics.snapshot().dropped;
        return (
          d["old-seq"] === 1 &&
          d["bad-mac"] === 2 &&
          d["unknown-key"] === 1 &&
          d["old-key"] === undefined
        );
      });
      // b never stopped counting: nothing forged reached the membership.
      expect(a.m.eligible()).toEqual(["a", "b"]);
      expect(a.changes.filter((c) => c.node === "b" && c.to === "dead")).toEqual([]);
    } finally {
      spy.close();
    }
  });

  it("rotates the key without losing a heartbeat, and refuses the old key after the grace", async () => {
    const a = await start("a");
    const b = await start("b");
    introduce(a, b);
    await until("both hear each other", () => heard(a, "b") && heard(b, "a"));
    const dropped = (n: Node) => n.metrics.snapshot().dropped;
    const accepted = (n: Node) => n.m.counters().heartbeatsAccepted;
    const moreFrom = async (n: Node, what: string) => {
      const before = accepted(n);
      await until(what, () => accepted(n) >= before + 3);
    };
    // a reads the new key first; it keeps signing with the old one, which b still uses too.
    a.keys.load(KEY2);
    await moreFrom(b, "b still hears a (old key)");
    // b reads it later; then a, GRACE/2 after reading it, signs with the new key.
    b.keyClock.t = 1_000;
    b.keys.load(KEY2);
    a.keyClock.t = GRACE / 2;
    expect(a.keys.signingKey()).toBe(KEY2);
    await moreFrom(b, "b hears a (new key)");
    await moreFrom(a, "a hears b (old key, in the grace)");
    b.keyClock.t = 1_000 + GRACE / 2;
    await moreFrom(a, "a hears b (new key)");
    // Past the grace on both: the old key is gone, and nothing was lost on the way.
    a.keyClock.t = b.keyClock.t = 1_000 + GRACE;
    expect(a.keys.acceptedIds()).toEqual([KEY2.id]);
    await moreFrom(a, "a hears b");
    for (const n of [a, b]) {
      expect(dropped(n)).toEqual({});
      expect(n.changes.filter((c) => c.to === "dead")).toEqual([]);
    }
  });

  it("a peer still signing with a key past its grace goes silent: its datagrams are old-key", async () => {
    const a = await start("a");
    const b = await start("b");
    introduce(a, b);
    await until("a hears b", () => heard(a, "b"));
    // a rotated long ago; b never read the new key (its Secret did not reach it).
    a.keys.load(KEY2);
    a.keyClock.t = GRACE;
    await until(
      "a refuses b's old-key datagrams",
      () => (a.metrics.snapshot().dropped["old-key"] ?? 0) > 2,
    );
    await until("a declares b dead", () => !a.m.live().includes("b"));
    expect(a.changes.find((c) => c.node === "b" && c.to === "dead")?.reason).toBe(
      "heartbeat-silence",
    );
  });

  it("counts a send to a family it has no socket for, and logs it once", async () => {
    const a = await start("a");
    a.m.leaseObserved("v6", "r1", 10_000, newHeartbeatToken(), "[2001:db8::1]:7946");
    await new Promise((r) => setTimeout(r, 5 * INTERVAL));
    expect(a.metrics.snapshot().sendFailed["no-socket"]).toBeGreaterThan(2);
    expect(a.logs.filter((l) => l.msg === "cannot send heartbeat")).toHaveLength(1);
  });

  it("refuses to start on an address it cannot bind, and closes cleanly", async () => {
    const a = await start("a");
    const m = new Membership({ self: "b", selfApiHealthy: () => true });
    const t = new HeartbeatTransport({
      membership: m,
      self: { node: "b", token: newHeartbeatToken(), incarnation: 1 },
      keys: new HeartbeatKeyring(KEY),
      port: a.port,
      bindAddresses: ["127.0.0.1"],
      log: { debug() {}, info() {}, warn() {}, error() {} },
    });
    await expect(t.start()).rejects.toThrow(/cannot bind heartbeat socket/);
    await t.close();
    expect(
      () =>
        new HeartbeatTransport({ ...optsFor(m), self: { node: "B", token: "x", incarnation: 1 } }),
    ).toThrow();
  });
});

function optsFor(m: Membership) {
  return {
    membership: m,
    self: { node: "b", token: newHeartbeatToken(), incarnation: 1 },
    keys: new HeartbeatKeyring(KEY),
    log: { debug() {}, info() {}, warn() {}, error() {} },
  };
}
