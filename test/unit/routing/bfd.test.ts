import { afterEach, describe, expect, it, vi } from "vitest";
import {
  DIAG_ADMIN_DOWN,
  DIAG_DETECTION_TIME_EXPIRED,
  DIAG_NEIGHBOR_DOWN,
  decodeControl,
  encodeControl,
  type BfdState,
  type ControlPacket,
  type SessionParameters,
} from "../../../src/bfd/index.js";
import { formatIP, parseIP, type IP, type IPFamily } from "../../../src/net/ip.js";
import type { BfdSockets, Datagram } from "../../../src/routing/bfd-sockets.js";
import { BfdEndpoint, type BfdPeer } from "../../../src/routing/bfd.js";

// The edge over a fake network (BfdSockets is a port): two endpoints, "node" and "router",
// whose senders deliver to the other's listener with a chosen TTL. Real timers, fast
// intervals (10 ms × 3), no timed asserts: `vi.waitFor` waits for what must happen.

const ip = (text: string): IP => {
  const r = parseIP(text);
  if (!r.ok) throw new Error(r.error);
  return r.value;
};

type Deliver = (d: Datagram) => void;

class FakeNet {
  readonly listeners = new Map<string, Deliver>();
  /** Whether packets go through; a cut link drops everything. */
  up = true;
  ttl = 255;
  readonly sent: { from: string; to: string; packet: ControlPacket }[] = [];

  sockets(host: string): BfdSockets {
    return {
      listen: (family: IPFamily, _port, onDatagram) => {
        const key = `${host}/${family}`;
        this.listeners.set(key, onDatagram);
        return { close: () => this.listeners.delete(key) };
      },
      sender: (local, port) => ({
        send: (payload, dst) => {
          const decoded = decodeControl(payload);
          if (decoded.ok) {
            this.sent.push({ from: formatIP(local), to: formatIP(dst), packet: decoded.packet });
          }
          if (!this.up) return;
          const target = formatIP(dst) === NODE ? "node" : "router";
          const deliver = this.listeners.get(`${target}/${dst.family}`);
          const ttl = this.ttl;
          // As on a real network, the other end hears it later, not inside send().
          setImmediate(() =>
            deliver?.({ payload, src: local, srcPort: port, dst, ifindex: 2, ttl }),
          );
        },
        close: () => undefined,
      }),
    };
  }
}

const NODE = "192.0.2.10";
const ROUTER = "192.0.2.1";
const FAST: SessionParameters = {
  desiredMinTxUs: 10_000,
  requiredMinRxUs: 10_000,
  detectMult: 3,
  passive: false,
};

const endpoints: BfdEndpoint[] = [];
afterEach(async () => {
  await Promise.all(endpoints.splice(0).map((e) => e.close()));
});

function pair(nodeParams: SessionParameters = FAST, routerParams: SessionParameters = FAST) {
  const net = new FakeNet();
  const node = new BfdEndpoint({ sockets: net.sockets("node") });
  const router = new BfdEndpoint({ sockets: net.sockets("router") });
  endpoints.push(node, router);
  const nodeChanges: [BfdState, number][] = [];
  const routerChanges: [BfdState, number][] = [];
  const nodePeer = node.peer({
    peerAddress: ROUTER,
    localAddress: NODE,
    parameters: nodeParams,
    onChange: (s, d) => nodeChanges.push([s, d]),
  });
  const routerPeer = router.peer({
    peerAddress: NODE,
    localAddress: ROUTER,
    parameters: routerParams,
    onChange: (s, d) => routerChanges.push([s, d]),
  });
  return { net, node, router, nodePeer, routerPeer, nodeChanges, routerChanges };
}

const upBoth = async (a: BfdPeer, b: BfdPeer) => {
  await vi.waitFor(() => {
    expect(a.state()).toBe("Up");
    expect(b.state()).toBe("Up");
  });
};

describe("BfdEndpoint and BfdPeer over a fake network", () => {
  it("comes Up through Init, reporting each change", async () => {
    const t = pair();
    t.nodePeer.start();
    t.routerPeer.start();
    await upBoth(t.nodePeer, t.routerPeer);
    // The node started first: it heard the router's Down (→ Init), then its Init (→ Up).
    expect(t.nodeChanges.map(([s]) => s)).toEqual(["Init", "Up"]);
    expect(t.nodeChanges.at(-1)).toEqual(["Up", 0]);
    expect(t.nodePeer.localDiscriminator).not.toBe(0);
    expect(t.node.counters().dropped).toEqual({});
  });

  it("a silent router: Down with diagnostic 1 (control detection time expired)", async () => {
    const t = pair();
    t.nodePeer.start();
    t.routerPeer.start();
    await upBoth(t.nodePeer, t.routerPeer);
    t.net.up = false;
    await vi.waitFor(() => {
      expect(t.nodeChanges.at(-1)).toEqual(["Down", DIAG_DETECTION_TIME_EXPIRED]);
    });
  });

  it("stop(): at least three AdminDown packets, the router goes Down with diagnostic 3", async () => {
    const t = pair();
    t.nodePeer.start();
    t.routerPeer.start();
    await upBoth(t.nodePeer, t.routerPeer);
    const first = t.nodePeer.stop();
    expect(t.nodePeer.stop()).toBe(first); // idempotent
    expect(t.nodePeer.state()).toBe("AdminDown");
    await first;
    const adminDown = t.net.sent.filter((s) => s.from === NODE && s.packet.state === "AdminDown");
    expect(adminDown.length).toBeGreaterThanOrEqual(3);
    expect(adminDown.every((s) => s.packet.diagnostic === DIAG_ADMIN_DOWN)).toBe(true);
    expect(t.nodeChanges.at(-1)).toEqual(["AdminDown", DIAG_ADMIN_DOWN]);
    expect(t.routerChanges).toContainEqual(["Down", DIAG_NEIGHBOR_DOWN]);
    // Nothing more leaves the stopped session.
    const count = t.net.sent.filter((s) => s.from === NODE).length;
    await new Promise((r) => setTimeout(r, 50));
    expect(t.net.sent.filter((s) => s.from === NODE).length).toBe(count);
    expect(() => {
      t.nodePeer.start();
    }).toThrow(/cannot start again/);
  });

  it("drops packets that did not arrive with TTL 255 (RFC 5881 5)", async () => {
    const t = pair();
    t.net.ttl = 254;
    t.nodePeer.start();
    t.routerPeer.start();
    await vi.waitFor(() => {
      expect(t.node.counters().dropped.ttl).toBeGreaterThan(0);
    });
    expect(t.nodePeer.state()).toBe("Down");
    expect(t.routerPeer.state()).toBe("Down");
  });

  it("a passive session sends nothing until the router has spoken", async () => {
    const t = pair({ ...FAST, passive: true });
    t.nodePeer.start();
    await new Promise((r) => setTimeout(r, 50));
    expect(t.net.sent.filter((s) => s.from === NODE)).toEqual([]);
    t.routerPeer.start();
    await upBoth(t.nodePeer, t.routerPeer);
  });

  it("a new profile is announced with a Poll Sequence and answered with Final", async () => {
    const t = pair();
    t.nodePeer.start();
    t.routerPeer.start();
    await upBoth(t.nodePeer, t.routerPeer);
    t.net.sent.length = 0;
    t.nodePeer.reconfigure({ ...FAST, desiredMinTxUs: 20_000 });
    await vi.waitFor(() => {
      expect(
        t.net.sent.some(
          (s) => s.from === NODE && s.packet.poll && s.packet.desiredMinTxUs === 20_000,
        ),
      ).toBe(true);
      expect(t.net.sent.some((s) => s.from === ROUTER && s.packet.final)).toBe(true);
    });
    expect(t.nodePeer.state()).toBe("Up");
  });

  it("demultiplexes: by Your Discriminator when set, else by addresses; counts what fits no session", () => {
    const net = new FakeNet();
    const node = new BfdEndpoint({ sockets: net.sockets("node") });
    endpoints.push(node);
    const peer = node.peer({ peerAddress: ROUTER, localAddress: NODE, parameters: FAST });
    peer.start();
    const deliver = net.listeners.get("node/4");
    if (deliver === undefined) throw new Error("no listener");
    const packet = (yourDiscriminator: number): Uint8Array =>
      encodeControl({
        diagnostic: 0,
        state: "Down",
        poll: false,
        final: false,
        controlPlaneIndependent: false,
        demand: false,
        detectMult: 3,
        myDiscriminator: 77,
        yourDiscriminator,
        desiredMinTxUs: 10_000,
        requiredMinRxUs: 10_000,
        requiredMinEchoRxUs: 0,
      });
    const from = (src: string, dst: string, payload: Uint8Array): Datagram => ({
      payload,
      src: ip(src),
      srcPort: 49152,
      dst: ip(dst),
      ifindex: 2,
      ttl: 255,
    });
    deliver(from("192.0.2.99", NODE, packet(0)));
    deliver(from(ROUTER, "192.0.2.11", packet(0)));
    deliver(from(ROUTER, NODE, packet(peer.localDiscriminator + 1)));
    deliver(from("192.0.2.99", NODE, packet(peer.localDiscriminator)));
    deliver(from(ROUTER, NODE, new Uint8Array(10)));
    expect(node.counters().dropped).toEqual({
      "no-session": 3,
      "wrong-source": 1,
      "too-short": 1,
    });
    expect(peer.state()).toBe("Down");
    deliver(from(ROUTER, NODE, packet(0)));
    expect(peer.state()).toBe("Init");
    expect(node.counters().received).toBe(6);
  });

  it("refuses a peer whose addresses differ in family, and one after close", async () => {
    const net = new FakeNet();
    const node = new BfdEndpoint({ sockets: net.sockets("node") });
    expect(() =>
      node.peer({ peerAddress: "2001:db8::1", localAddress: NODE, parameters: FAST }),
    ).toThrow(/differ in family/);
    await node.close();
    expect(() => node.peer({ peerAddress: ROUTER, localAddress: NODE, parameters: FAST })).toThrow(
      /closed/,
    );
  });
});
