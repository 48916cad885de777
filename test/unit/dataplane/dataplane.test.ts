import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  ARP_REPLY,
  ARP_REQUEST,
  arpProbe,
  decodeArpFrame,
  encodeArpFrame,
  gratuitousArp,
  isArpProbe,
  type ArpOp,
} from "../../../src/dataplane/arp.js";
import type { AddressClaim } from "../../../src/dataplane/conflicts.js";
import { BROADCAST_MAC, formatMac } from "../../../src/dataplane/ethernet.js";
import { ALL_NODES } from "../../../src/dataplane/inet.js";
import { PACKET_BROADCAST } from "../../../src/dataplane/bpf.js";
import { DataPlane } from "../../../src/dataplane/dataplane.js";
import { formatIPBytes } from "../../../src/net/ip.js";
import type { InterfaceSource, NetInterface } from "../../../src/dataplane/interfaces.js";
import { CounterMetrics } from "../../../src/dataplane/metrics.js";
import {
  decodeNdpMessage,
  encodeNdpMessage,
  icmp6FromFrame,
  unsolicitedAdvertisement,
} from "../../../src/dataplane/ndp.js";
import type { ReceivedIcmp6, SocketFactory } from "../../../src/dataplane/sockets.js";
import { arpRequest, ETH0, ETH1, ip6, mac, solicitation } from "./fixtures.js";

/** Sockets that record what is sent and let the test deliver frames. */
class FakeSockets implements SocketFactory {
  readonly arp = new Map<
    string,
    { sent: Buffer[]; deliver: (f: Uint8Array) => void; closed: boolean }
  >();
  readonly ndp = new Map<
    string,
    {
      sent: { payload: Buffer; dst: string; src: string }[];
      frames: Buffer[];
      groups: Set<string>;
      deliver: (m: ReceivedIcmp6) => void;
      closed: boolean;
    }
  >();
  failArpOpen = new Set<string>();
  /** Memberships one socket takes before ENOBUFS, as net.core.optmem_max limits them. */
  groupLimit = Infinity;
  readonly extra: { iface: string; groups: Set<string>; closed: boolean }[] = [];

  private memberships(groups: Set<string>) {
    return {
      join: (g: Uint8Array) => {
        if (groups.has(formatIPBytes(6, g)))
          throw Object.assign(new Error("EADDRINUSE"), { code: "EADDRINUSE" });
        if (groups.size >= this.groupLimit)
          throw Object.assign(new Error("ENOBUFS"), { code: "ENOBUFS" });
        groups.add(formatIPBytes(6, g));
      },
      leave: (g: Uint8Array) => void groups.delete(formatIPBytes(6, g)),
    };
  }

  /** The groups joined on `iface`, over its open membership sockets. */
  groupsOn(iface: string): string[] {
    return this.extra.filter((x) => x.iface === iface && !x.closed).flatMap((x) => [...x.groups]);
  }

  openMembership(iface: NetInterface) {
    const s = { iface: iface.name, groups: new Set<string>(), closed: false };
    this.extra.push(s);
    return { ...this.memberships(s.groups), close: () => void (s.closed = true) };
  }

  openArp(iface: NetInterface, onFrame: (f: Uint8Array, t: number) => void) {
    if (this.failArpOpen.has(iface.name))
      throw Object.assign(new Error("socket EPERM"), { code: "EPERM" });
    const s = {
      sent: [] as Buffer[],
      deliver: (f: Uint8Array) => onFrame(f, PACKET_BROADCAST),
      closed: false,
    };
    this.arp.set(iface.name, s);
    return {
      send: (f: Uint8Array) => void s.sent.push(Buffer.from(f)),
      close: () => void (s.closed = true),
    };
  }

  openNdp(iface: NetInterface, onMessage: (m: ReceivedIcmp6) => void) {
    const s = {
      sent: [] as { payload: Buffer; dst: string; src: string }[],
      frames: [] as Buffer[],
      groups: new Set<string>(),
      deliver: onMessage,
      closed: false,
    };
    this.ndp.set(iface.name, s);
    return {
      send: (payload: Uint8Array, dst: Uint8Array, src: Uint8Array) =>
        void s.sent.push({
          payload: Buffer.from(payload),
          dst: formatIPBytes(6, dst),
          src: formatIPBytes(6, src),
        }),
      sendFrame: (f: Uint8Array) => void s.frames.push(Buffer.from(f)),
      ...this.memberships(s.groups),
      close: () => void (s.closed = true),
    };
  }
}

class MutableInterfaces implements InterfaceSource {
  private listeners = new Set<(l: readonly NetInterface[]) => void>();
  constructor(private list: readonly NetInterface[]) {}
  current() {
    return this.list;
  }
  subscribe(l: (list: readonly NetInterface[]) => void) {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  set(list: readonly NetInterface[]) {
    this.list = list;
    for (const l of this.listeners) l(list);
  }
}

const arpOps = (frames: Buffer[]) =>
  frames.map((f) => {
    const d = decodeArpFrame(f);
    return d.ok ? `${d.value.op === ARP_REQUEST ? "req" : "rep"} ${d.value.senderIp}` : "bad";
  });

describe("DataPlane (fake sockets)", () => {
  let sockets: FakeSockets;
  let ifaces: MutableInterfaces;
  let metrics: CounterMetrics;
  let dp: DataPlane;

  beforeEach(() => {
    vi.useFakeTimers();
    sockets = new FakeSockets();
    ifaces = new MutableInterfaces([ETH0, ETH1]);
    metrics = new CounterMetrics();
    dp = new DataPlane({
      interfaces: ifaces,
      sockets,
      metrics,
      announce: { intervalMs: 1100, count: 3 },
    });
    dp.start();
  });
  afterEach(() => {
    dp.stop();
    vi.useRealTimers();
  });

  const eth0Arp = () => sockets.arp.get("eth0") ?? expect.fail("no eth0 ARP socket");
  const eth0Ndp = () => sockets.ndp.get("eth0") ?? expect.fail("no eth0 NDP socket");

  it("opens ARP and NDP sockets on every interface", () => {
    expect(dp.interfaces()).toEqual([
      { index: 2, name: "eth0", arp: true, ndp: true, groups: 0, groupSockets: 0, errors: [] },
      { index: 3, name: "eth1", arp: true, ndp: true, groups: 0, groupSockets: 0, errors: [] },
    ]);
  });

  it("in order: owned → gratuitous burst and replies; unowned → silence", () => {
    // 1. Nothing owned: a request gets nothing.
    eth0Arp().deliver(arpRequest("192.0.2.40"));
    expect(eth0Arp().sent).toEqual([]);
    expect(metrics.total("ignored", "arp eth0 not-owned")).toBe(1);

    // 2. Owned: a gratuitous request + reply at once, on each interface.
    expect(dp.setOwned([["192.0.2.40", {}]])).toEqual([]);
    expect(arpOps(eth0Arp().sent)).toEqual(["req 192.0.2.40", "rep 192.0.2.40"]);
    expect(arpOps(sockets.arp.get("eth1")?.sent ?? [])).toEqual([
      "req 192.0.2.40",
      "rep 192.0.2.40",
    ]);

    // 3. A request is answered, once.
    eth0Arp().sent.length = 0;
    eth0Arp().deliver(arpRequest("192.0.2.40"));
    expect(eth0Arp().sent.length).toBe(1);
    const reply = decodeArpFrame(eth0Arp().sent[0] ?? Buffer.alloc(0));
    expect(reply.ok && reply.value.op === ARP_REPLY && reply.value.targetIp === "192.0.2.2").toBe(
      true,
    );
    expect(metrics.snapshot().repliesSent).toEqual({ "arp 192.0.2.40 eth0": 1 });

    // 4. The burst goes on past the ARP lock time.
    eth0Arp().sent.length = 0;
    vi.advanceTimersByTime(1100);
    expect(arpOps(eth0Arp().sent)).toEqual(["req 192.0.2.40", "rep 192.0.2.40"]);

    // 5. Ownership lost: no more replies, and the burst stops at once.
    dp.setOwned([]);
    eth0Arp().sent.length = 0;
    eth0Arp().deliver(arpRequest("192.0.2.40"));
    vi.advanceTimersByTime(10_000);
    expect(eth0Arp().sent).toEqual([]);
    expect(dp.announcing()).toEqual([]);
  });

  it("announces and answers only on the interfaces an IP is allowed on", () => {
    dp.setOwned([["192.0.2.41", { interfaces: ["eth1"] }]]);
    expect(eth0Arp().sent).toEqual([]);
    expect(sockets.arp.get("eth1")?.sent.length).toBe(2);
    eth0Arp().deliver(arpRequest("192.0.2.41"));
    expect(eth0Arp().sent).toEqual([]);
    expect(metrics.total("ignored", "arp eth0 interface-not-allowed")).toBe(1);
  });

  it("IPv6: joins the solicited-node group, sends an unsolicited NA, answers solicitations", () => {
    dp.setOwned([["2001:db8::1:5", {}]]);
    expect(sockets.groupsOn("eth0")).toEqual(["ff02::1:ff01:5"]);
    // Never on the sending socket: memberships use up the option memory sendmsg needs.
    expect([...eth0Ndp().groups]).toEqual([]);
    const [na] = eth0Ndp().sent;
    expect([na?.src, na?.dst]).toEqual(["2001:db8::1:5", "ff02::1"]);
    const d = decodeNdpMessage(na?.payload ?? Buffer.alloc(0));
    expect(d.ok && d.value.type === 136 && !d.value.solicited && d.value.override).toBe(true);

    eth0Ndp().sent.length = 0;
    eth0Ndp().deliver(solicitation("2001:db8::1:5"));
    expect(eth0Ndp().sent.map((s) => [s.src, s.dst])).toEqual([["2001:db8::1:5", "2001:db8::2"]]);
    eth0Ndp().deliver(solicitation("2001:db8::1:5", { src: "::", lla: null }));
    expect(eth0Ndp().sent.length).toBe(1);

    dp.setOwned([]);
    expect(sockets.groupsOn("eth0")).toEqual([]);
  });

  it("shares a solicited-node group between IPs with the same low 24 bits", () => {
    dp.setOwned([
      ["2001:db8::1:5", {}],
      ["2001:db8:1::1:5", {}],
    ]);
    expect(sockets.groupsOn("eth0")).toEqual(["ff02::1:ff01:5"]);
    dp.setOwned([["2001:db8:1::1:5", {}]]);
    expect(sockets.groupsOn("eth0")).toEqual(["ff02::1:ff01:5"]);
    dp.setOwned([]);
    expect(sockets.groupsOn("eth0")).toEqual([]);
  });

  it("spreads memberships over more sockets when one is full (ENOBUFS)", () => {
    sockets.groupLimit = 2;
    const ips = [1, 2, 3, 4, 5].map((i) => `2001:db8::1:${i}`);
    dp.setOwned(ips.map((ip) => [ip, { interfaces: ["eth0"] }]));
    expect(dp.interfaces()[0]).toMatchObject({ name: "eth0", groups: 5, groupSockets: 3 });
    expect(sockets.groupsOn("eth0")).toHaveLength(5);
    expect(eth0Ndp().groups.size).toBe(0);
    // A freed slot is used again before any new socket.
    dp.setOwned(ips.slice(1).map((ip) => [ip, { interfaces: ["eth0"] }]));
    dp.setOwned([...ips.slice(1), "2001:db8::1:6"].map((ip) => [ip, { interfaces: ["eth0"] }]));
    expect(dp.interfaces()[0]).toMatchObject({ groups: 5, groupSockets: 3 });
    dp.stop();
    expect(sockets.extra.every((x) => x.closed)).toBe(true);
  });

  it("moves groups when an IP's interfaces change", () => {
    dp.setOwned([["2001:db8::1:5", { interfaces: ["eth0"] }]]);
    dp.setOwned([["2001:db8::1:5", { interfaces: ["eth1"] }]]);
    expect(sockets.groupsOn("eth0")).toEqual([]);
    expect(sockets.groupsOn("eth1")).toEqual(["ff02::1:ff01:5"]);
  });

  it("reports invalid entries and keeps the valid ones", () => {
    expect(
      dp.setOwned([
        ["192.0.2.300", {}],
        ["192.0.2.40", {}],
        ["::ffff:192.0.2.41", {}],
      ]),
    ).toEqual([
      '"192.0.2.300": invalid IPv4 address',
      '"::ffff:192.0.2.41": invalid IPv6 address: IPv4-mapped address; write the IPv4 address 192.0.2.41 instead',
    ]);
    expect(dp.ownedIps()).toEqual(["192.0.2.40"]);
  });

  it("follows interfaces: closes a vanished one, opens and announces on a new one", () => {
    dp.setOwned([["192.0.2.40", {}]]);
    const eth1 = sockets.arp.get("eth1");
    ifaces.set([ETH0]);
    expect(eth1?.closed).toBe(true);
    expect(dp.interfaces().map((i) => i.name)).toEqual(["eth0"]);

    eth0Arp().sent.length = 0;
    ifaces.set([ETH0, ETH1]);
    const reopened = sockets.arp.get("eth1");
    expect(reopened).not.toBe(eth1);
    expect(arpOps(reopened?.sent ?? [])).toEqual(["req 192.0.2.40", "rep 192.0.2.40"]);
  });

  it("keeps going when a socket cannot be opened, and says why", () => {
    dp.stop();
    sockets.failArpOpen.add("eth1");
    dp = new DataPlane({ interfaces: ifaces, sockets, metrics });
    dp.start();
    expect(dp.interfaces()[1]).toEqual({
      index: 3,
      name: "eth1",
      arp: false,
      ndp: true,
      groups: 0,
      groupSockets: 0,
      errors: ["arp: socket EPERM"],
    });
    dp.setOwned([["192.0.2.40", {}]]);
    expect(eth0Arp().sent.length).toBe(2);
  });

  it("stop() closes every socket and forgets the owned set", () => {
    dp.setOwned([["192.0.2.40", {}]]);
    dp.stop();
    expect([...sockets.arp.values(), ...sockets.ndp.values()].every((s) => s.closed)).toBe(true);
    expect(dp.ownedIps()).toEqual([]);
    expect(dp.announcing()).toEqual([]);
  });

  describe("address probes and claims", () => {
    const FOREIGN = mac("02:00:00:00:00:99");
    const probesIn = (frames: Buffer[]) =>
      frames.flatMap((f) => {
        const d = decodeArpFrame(f);
        return d.ok && isArpProbe(d.value) ? [d.value.targetIp] : [];
      });
    const foreignArp = (ip: string, op: ArpOp = ARP_REPLY) =>
      arpRequest(op === ARP_REPLY ? "192.0.2.10" : ip, { src: FOREIGN, op, senderIp: ip });
    const advertisement = (target: string, lla: Uint8Array): ReceivedIcmp6 => {
      const src = ip6("fe80::99");
      const dst = ALL_NODES;
      const payload = encodeNdpMessage(unsolicitedAdvertisement(ip6(target), lla), { src, dst });
      return { payload, src, dst, ifindex: ETH0.index, hopLimit: 255 };
    };

    it("IPv4: three ARP probes per interface over the duration, then clear", async () => {
      const result = dp.probe("192.0.2.50", {}, 300);
      expect(probesIn(eth0Arp().sent)).toEqual(["192.0.2.50"]);
      expect(probesIn(sockets.arp.get("eth1")?.sent ?? [])).toEqual(["192.0.2.50"]);
      expect(dp.probing()).toEqual(["192.0.2.50"]);
      await vi.advanceTimersByTimeAsync(299);
      expect(probesIn(eth0Arp().sent)).toEqual(["192.0.2.50", "192.0.2.50", "192.0.2.50"]);
      await vi.advanceTimersByTimeAsync(1);
      expect(await result).toEqual({ outcome: "clear" });
      expect(dp.probing()).toEqual([]);
      // A probe does not own: requests for the IP are not answered.
      eth0Arp().sent.length = 0;
      eth0Arp().deliver(arpRequest("192.0.2.50"));
      expect(eth0Arp().sent).toEqual([]);
    });

    it.each([
      [
        "an ARP reply from it (the answer to the probe)",
        () => foreignArp("192.0.2.50"),
        "arp-reply",
      ],
      ["a gratuitous ARP request", () => foreignArp("192.0.2.50", ARP_REQUEST), "arp-request"],
      [
        "another host's probe for it",
        () => encodeArpFrame({ ...arpProbe("192.0.2.50", FOREIGN), dst: BROADCAST_MAC }),
        "arp-probe",
      ],
    ])("IPv4: %s ends the probe as a conflict", async (_name, frame, kind) => {
      const result = dp.probe("192.0.2.50", {}, 300);
      eth0Arp().deliver(frame());
      expect(await result).toEqual({
        outcome: "conflict",
        claim: {
          ip: "192.0.2.50",
          family: 4,
          mac: "02:00:00:00:00:99",
          iface: "eth0",
          kind,
          phase: "probing",
        },
      });
      eth0Arp().sent.length = 0;
      await vi.advanceTimersByTimeAsync(300);
      expect(probesIn(eth0Arp().sent)).toEqual([]);
    });

    it("IPv4: frames from this node's own MACs, for other IPs, or on interfaces not probed are no conflict", async () => {
      const result = dp.probe("192.0.2.50", { interfaces: ["eth1"] }, 300);
      expect(probesIn(eth0Arp().sent)).toEqual([]);
      // eth0 is not probed: a claim there is another LAN's business.
      eth0Arp().deliver(foreignArp("192.0.2.50"));
      const eth1 = sockets.arp.get("eth1") ?? expect.fail("no eth1 socket");
      // eth0's MAC seen on eth1 (both interfaces on one LAN): this node's own.
      eth1.deliver(
        arpRequest("192.0.2.10", { src: ETH0.mac, op: ARP_REPLY, senderIp: "192.0.2.50" }),
      );
      eth1.deliver(foreignArp("192.0.2.51"));
      await vi.advanceTimersByTimeAsync(300);
      expect(await result).toEqual({ outcome: "clear" });
    });

    it("cancelProbe and stop end a probe as cancelled", async () => {
      const a = dp.probe("192.0.2.50", {}, 300);
      dp.cancelProbe("192.0.2.50");
      expect(await a).toEqual({ outcome: "cancelled" });
      const b = dp.probe("2001:db8::1:9", {}, 300);
      dp.stop();
      expect(await b).toEqual({ outcome: "cancelled" });
    });

    it("IPv6: a duplicate address probe frame per interface; an advertisement with a foreign MAC is a conflict", async () => {
      const result = dp.probe("2001:db8::1:9", {}, 300);
      const frame = eth0Ndp().frames[0] ?? expect.fail("no probe frame");
      const m = icmp6FromFrame(frame);
      if (!m.ok) expect.fail(m.error);
      expect(formatIPBytes(6, m.value.src)).toBe("::");
      expect(formatIPBytes(6, m.value.dst)).toBe("ff02::1:ff01:9");
      expect(m.value.hopLimit).toBe(255);
      expect(formatMac(frame.subarray(0, 6))).toBe("33:33:ff:01:00:09");
      const ns = decodeNdpMessage(m.value.payload, { src: m.value.src, dst: m.value.dst });
      expect(ns).toMatchObject({ ok: true, value: { type: 135, target: "2001:db8::1:9" } });
      expect(ns.ok && ns.value.type === 135 && ns.value.sourceLinkAddress).toBe(undefined);
      // This node's own advertisement (a loop) and one for another IP: no conflict.
      eth0Ndp().deliver(advertisement("2001:db8::1:9", ETH1.mac));
      eth0Ndp().deliver(advertisement("2001:db8::1:8", FOREIGN));
      eth0Ndp().deliver(advertisement("2001:db8::1:9", FOREIGN));
      expect(await result).toMatchObject({
        outcome: "conflict",
        claim: {
          ip: "2001:db8::1:9",
          family: 6,
          mac: "02:00:00:00:00:99",
          kind: "neighbor-advertisement",
        },
      });
      expect(metrics.total("ignored", "ndp")).toBe(0);
    });

    it("owned: a foreign gratuitous ARP or advertisement is reported; an ARP probe is answered, not reported", () => {
      const claims: AddressClaim[] = [];
      dp.stop();
      dp = new DataPlane({ interfaces: ifaces, sockets, metrics, onClaim: (c) => claims.push(c) });
      dp.start();
      dp.setOwned([
        ["192.0.2.40", {}],
        ["2001:db8::1:5", {}],
      ]);
      eth0Arp().sent.length = 0;
      eth0Arp().deliver(encodeArpFrame(arpProbe("192.0.2.40", FOREIGN)));
      expect(eth0Arp().sent.length).toBe(1);
      expect(claims).toEqual([]);
      eth0Arp().deliver(encodeArpFrame(gratuitousArp("192.0.2.40", FOREIGN, ARP_REQUEST)));
      eth0Ndp().deliver(advertisement("2001:db8::1:5", FOREIGN));
      expect(claims.map((c) => [c.ip, c.mac, c.kind, c.phase])).toEqual([
        ["192.0.2.40", "02:00:00:00:00:99", "arp-request", "owned"],
        ["2001:db8::1:5", "02:00:00:00:00:99", "neighbor-advertisement", "owned"],
      ]);
    });
  });
});
