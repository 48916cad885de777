import {
  DEFAULT_ANNOUNCE_SCHEDULE,
  GratuitousAnnouncer,
  type AnnounceSchedule,
  type RoundResult,
} from "./announcer.js";
import { ARP_REPLY, ARP_REQUEST, arpProbe, encodeArpFrame, gratuitousArp } from "./arp.js";
import {
  arpClaim,
  neighborAdvertisementClaim,
  type AddressClaim,
  type ClaimContext,
} from "./conflicts.js";
import { formatMac } from "./ethernet.js";
import { GroupMemberships } from "./groups.js";
import { ALL_NODES, solicitedNodeGroup } from "./inet.js";
import type { InterfaceSource, NetInterface } from "./interfaces.js";
import type { DataPlaneLogger } from "./log.js";
import { noMetrics, type DataPlaneMetrics, type Protocol } from "./metrics.js";
import { isAddonError } from "./native.js";
import {
  dadProbeFrame,
  encodeNdpMessage,
  ICMPV6_NEIGHBOR_ADVERTISEMENT,
  unsolicitedAdvertisement,
} from "./ndp.js";
import { OwnedSet, ownedBytes, type OwnedEntry, type Ownership } from "./owned.js";
import { answerArp, answerNeighborSolicitation } from "./responders.js";
import {
  nativeSockets,
  type ArpSocket,
  type NdpSocket,
  type ReceivedIcmp6,
  type SocketFactory,
} from "./sockets.js";

/**
 * The speaker's data plane: answers ARP and NDP for the IPs it is told this node owns, on the
 * interfaces it is allowed to, and announces an IP with a gratuitous burst when it arrives.
 *
 *   const dp = new DataPlane({ interfaces: await NetlinkInterfaces.open() });
 *   dp.start();
 *   dp.setOwned(new Map([["192.0.2.40", {}], ["2001:db8::1:5", { interfaces: ["eth1"] }]]));
 *   ...
 *   dp.stop();
 *
 * setOwned takes the whole set each time and applies the difference at once: replies for an
 * IP stop the moment it leaves the set, and its burst is cancelled.
 */

export interface DataPlaneOptions {
  interfaces: InterfaceSource;
  /** Default: the native addon's sockets. */
  sockets?: SocketFactory;
  metrics?: DataPlaneMetrics;
  log?: DataPlaneLogger;
  announce?: AnnounceSchedule;
  /** While an IP is owned, one more gratuitous round every this many ms. Default: none. */
  refreshMs?: number | undefined;
  /**
   * Called when another host claims an IP this node announces (src/dataplane/conflicts.ts).
   * Claims on an IP being probed end its probe instead (see `probe`).
   */
  onClaim?: (claim: AddressClaim) => void;
}

/** How a probe ended (see `DataPlane.probe`). */
export type ProbeResult =
  { outcome: "clear" } | { outcome: "conflict"; claim: AddressClaim } | { outcome: "cancelled" };

/** Probe frames per probe, spread over its duration (RFC 5227 sends 3 too, over 1 to 2 s). */
export const PROBE_SENDS = 3;
/** Probe rounds sent per turn of the event loop. */
const PROBE_BATCH = 64;

interface Probe {
  entry: OwnedEntry;
  resolve: (r: ProbeResult) => void;
  timers: NodeJS.Timeout[];
}

export interface InterfaceStatus {
  index: number;
  name: string;
  arp: boolean;
  ndp: boolean;
  /** Solicited-node groups joined, and the sockets holding them. */
  groups: number;
  groupSockets: number;
  /** Why a socket could not be opened, if one could not. */
  errors: string[];
}

interface LinkState {
  iface: NetInterface;
  arp: ArpSocket | undefined;
  ndp: NdpSocket | undefined;
  /** Solicited-node groups joined on this interface (present while `ndp` is). */
  groups: GroupMemberships | undefined;
  /** IPv6 IPs whose group is joined here. */
  joined: Set<string>;
  errors: string[];
}

type SendResult = "sent" | "busy" | "failed";

const quiet: DataPlaneLogger = { debug() {}, info() {}, warn() {}, error() {} };

export class DataPlane {
  private owned = OwnedSet.empty;
  private readonly links = new Map<number, LinkState>();
  private readonly announcer: GratuitousAnnouncer;
  /** When each kind of send failure was last logged, and how many were not logged since. */
  private readonly failureLog = new Map<string, { at: number; suppressed: number }>();
  private readonly metrics: DataPlaneMetrics;
  private readonly log: DataPlaneLogger;
  private sockets: SocketFactory | undefined;
  private unsubscribe: (() => void) | undefined;
  /** IPs being probed before they are announced. */
  private readonly probes = new Map<string, Probe>();
  /** Probe rounds waiting to be sent, a batch per turn of the event loop. */
  private probeQueue: string[] = [];
  private probeHead = 0;
  private probeBudget = PROBE_BATCH;
  private probePump: NodeJS.Immediate | undefined;
  /** This node's MACs, "aa:bb:…", on the interfaces in use. */
  private ownMacs = new Set<string>();

  constructor(private readonly opts: DataPlaneOptions) {
    this.metrics = opts.metrics ?? noMetrics;
    this.log = opts.log ?? quiet;
    this.announcer = new GratuitousAnnouncer(
      (ip) => this.announceRound(ip),
      opts.announce ?? DEFAULT_ANNOUNCE_SCHEDULE,
      { refreshMs: opts.refreshMs },
    );
  }

  /** Opens sockets on the current interfaces and follows the interface source. */
  start(): void {
    if (this.unsubscribe !== undefined) return;
    this.sockets = this.opts.sockets ?? nativeSockets();
    this.unsubscribe = this.opts.interfaces.subscribe((list) => this.syncInterfaces(list));
    this.syncInterfaces(this.opts.interfaces.current());
  }

  /** Stops answering and announcing and closes every socket. */
  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.announcer.cancelAll();
    for (const ip of [...this.probes.keys()]) this.cancelProbe(ip);
    if (this.probePump !== undefined) clearImmediate(this.probePump);
    this.probePump = undefined;
    this.probeQueue = [];
    this.probeHead = 0;
    this.owned = OwnedSet.empty;
    for (const state of this.links.values()) this.closeLink(state);
    this.links.clear();
  }

  /**
   * Checks that no other host on the LAN uses `ip` before it is announced (RFC 5227 for IPv4,
   * duplicate address detection of RFC 4862 for IPv6): sends PROBE_SENDS probes on every
   * interface it would be announced on (`o`), spread over `durationMs`, and resolves "clear"
   * when nobody claimed it by then, "conflict" at the first claim, "cancelled" if
   * `cancelProbe` (or `stop`) came first. A probe already running for `ip` is cancelled.
   */
  probe(ip: string, o: Ownership, durationMs: number): Promise<ProbeResult> {
    const { owned, errors } = OwnedSet.from([[ip, o]]);
    const entry = [...owned.values()][0];
    if (entry === undefined) return Promise.reject(new RangeError(errors.join("; ")));
    this.cancelProbe(entry.ip);
    return new Promise<ProbeResult>((resolve) => {
      const p: Probe = { entry, resolve, timers: [] };
      this.probes.set(entry.ip, p);
      this.queueProbeRound(entry.ip);
      for (let i = 1; i < PROBE_SENDS; i++) {
        p.timers.push(
          setTimeout(() => this.queueProbeRound(entry.ip), (durationMs * i) / PROBE_SENDS),
        );
      }
      p.timers.push(setTimeout(() => this.endProbe(entry.ip, { outcome: "clear" }), durationMs));
    });
  }

  /** Ends the probe of `ip`, if one runs, as "cancelled". */
  cancelProbe(ip: string): void {
    this.endProbe(ip, { outcome: "cancelled" });
  }

  /** IPs being probed. */
  probing(): string[] {
    return [...this.probes.keys()];
  }

  private endProbe(ip: string, r: ProbeResult): void {
    const p = this.probes.get(ip);
    if (p === undefined) return;
    this.probes.delete(ip);
    for (const t of p.timers) clearTimeout(t);
    p.resolve(r);
  }

  private queueProbeRound(ip: string): void {
    this.probeQueue.push(ip);
    this.sendProbeRounds();
  }

  /**
   * Sends queued probe rounds, PROBE_BATCH per turn of the event loop (the first ones at
   * once): thousands of new IPs at once (an install on a cluster with many Services) must not
   * fill the send queue in one loop. A round the kernel has no room for is lost (counted);
   * the probe's other rounds remain.
   */
  private sendProbeRounds(): void {
    while (this.probeBudget > 0 && this.probeHead < this.probeQueue.length) {
      const ip = this.probeQueue[this.probeHead++];
      if (ip !== undefined) this.probeRound(ip);
      this.probeBudget--;
    }
    if (this.probeHead === this.probeQueue.length) {
      this.probeQueue = [];
      this.probeHead = 0;
    }
    if (this.probePump === undefined && this.probeBudget < PROBE_BATCH) {
      this.probePump = setImmediate(() => {
        this.probePump = undefined;
        this.probeBudget = PROBE_BATCH;
        this.sendProbeRounds();
      });
    }
  }

  private probeRound(ip: string): void {
    const p = this.probes.get(ip);
    if (p === undefined) return;
    const e = p.entry;
    for (const state of this.links.values()) {
      const iface = state.iface;
      if (e.interfaces !== undefined && !e.interfaces.has(iface.name)) continue;
      if (e.family === 4 && state.arp !== undefined) {
        const arp = state.arp;
        this.send("arp", state, () => arp.send(encodeArpFrame(arpProbe(ip, iface.mac))), false);
      } else if (e.family === 6 && state.ndp !== undefined) {
        const ndp = state.ndp;
        const frame = dadProbeFrame(ownedBytes(e), iface.mac);
        this.send("ndp", state, () => ndp.sendFrame(frame), false);
      }
    }
  }

  /** The claim rules' view of this node, for a frame that arrived on `state`'s interface. */
  private claimContext(state: LinkState): ClaimContext {
    const name = state.iface.name;
    return {
      iface: name,
      isOwnMac: (mac) => this.ownMacs.has(mac),
      watched: (ip) => {
        if (this.owned.allows(ip, name)) return "owned";
        const p = this.probes.get(ip);
        if (p !== undefined && (p.entry.interfaces === undefined || p.entry.interfaces.has(name)))
          return "probing";
        return undefined;
      },
    };
  }

  private onClaim(claim: AddressClaim | null): void {
    if (claim === null) return;
    if (claim.phase === "probing") this.endProbe(claim.ip, { outcome: "conflict", claim });
    else this.opts.onClaim?.(claim);
  }

  /**
   * Replaces the owned set. Returns the entries that were not IP addresses (left out).
   * Newly owned IPs are announced at once; IPs no longer owned get no more replies.
   */
  setOwned(input: Iterable<readonly [string, Ownership]>): string[] {
    const { owned, errors } = OwnedSet.from(input);
    for (const e of errors) this.log.warn({ error: e }, "ignoring owned entry");
    const previous = this.owned;
    this.owned = owned;
    const { added, changed, removed } = owned.diff(previous);
    for (const e of removed) {
      this.announcer.cancel(e.ip);
      this.updateGroups(e, -1);
      // The speaker logs ownership changes at info, with their cause; here only debug.
      this.log.debug({ ip: e.ip }, "no longer announcing");
    }
    for (const e of changed) {
      const before = previous.get(e.ip);
      if (before !== undefined) this.updateGroups(before, -1);
      this.updateGroups(e, 1);
      this.announcer.announce(e.ip);
    }
    for (const e of added) {
      this.updateGroups(e, 1);
      this.announcer.announce(e.ip);
      this.log.debug(
        { ip: e.ip, interfaces: e.interfaces ? [...e.interfaces] : "all" },
        "announcing",
      );
    }
    return errors;
  }

  /** The IPs currently owned, canonical. */
  ownedIps(): string[] {
    return [...this.owned.values()].map((e) => e.ip);
  }

  /** IPs with a gratuitous burst in progress. */
  announcing(): string[] {
    return this.announcer.active();
  }

  interfaces(): InterfaceStatus[] {
    return [...this.links.values()].map((s) => ({
      index: s.iface.index,
      name: s.iface.name,
      arp: s.arp !== undefined,
      ndp: s.ndp !== undefined,
      groups: s.groups?.size ?? 0,
      groupSockets: s.groups?.socketCount ?? 0,
      errors: [...s.errors],
    }));
  }

  private syncInterfaces(list: readonly NetInterface[]): void {
    if (this.sockets === undefined) return;
    const next = new Map(list.map((i) => [i.index, i]));
    for (const [index, state] of [...this.links]) {
      const now = next.get(index);
      if (now === undefined || !sameLink(now, state.iface)) {
        this.closeLink(state);
        this.links.delete(index);
        this.log.info({ iface: state.iface.name }, "interface no longer used");
      }
    }
    this.ownMacs = new Set([...this.links.values()].map((s) => formatMac(s.iface.mac)));
    for (const iface of list) {
      if (this.links.has(iface.index)) continue;
      const state = this.openLink(iface);
      this.links.set(iface.index, state);
      this.ownMacs.add(formatMac(iface.mac));
      this.log.info(
        { iface: iface.name, arp: state.arp !== undefined, ndp: state.ndp !== undefined },
        "interface in use",
      );
      // Whatever we own here must be (re)announced: the link is new or was just down.
      for (const e of this.owned.values()) {
        if (this.owned.allows(e.ip, iface.name)) this.announcer.announce(e.ip);
      }
    }
  }

  private openLink(iface: NetInterface): LinkState {
    const sockets = this.sockets;
    const state: LinkState = {
      iface,
      arp: undefined,
      ndp: undefined,
      groups: undefined,
      joined: new Set(),
      errors: [],
    };
    if (sockets === undefined) return state;
    try {
      state.arp = sockets.openArp(
        iface,
        (frame, pktType) => this.onArpFrame(state, frame, pktType),
        (err) => this.onSocketError(state, "arp", err),
      );
    } catch (err: unknown) {
      state.errors.push(`arp: ${errorText(err)}`);
      this.log.error({ err, iface: iface.name }, "cannot open ARP socket");
    }
    if (iface.ipv6LinkLocal) {
      try {
        state.ndp = sockets.openNdp(
          iface,
          (m) => this.onNdpMessage(state, m),
          (err) => this.onSocketError(state, "ndp", err),
        );
        state.groups = new GroupMemberships(() => sockets.openMembership(iface));
      } catch (err: unknown) {
        state.errors.push(`ndp: ${errorText(err)}`);
        this.log.error({ err, iface: iface.name }, "cannot open NDP socket");
      }
      for (const e of this.owned.values()) {
        if (e.family === 6 && this.owned.allows(e.ip, iface.name)) this.joinOrLeave(state, e, 1);
      }
    }
    return state;
  }

  private closeLink(state: LinkState): void {
    // Closing the sockets also leaves their multicast groups.
    state.groups?.close();
    state.arp?.close();
    state.ndp?.close();
    state.arp = undefined;
    state.ndp = undefined;
    state.groups = undefined;
    state.joined.clear();
  }

  private onArpFrame(state: LinkState, frame: Uint8Array, pktType: number): void {
    if (this.probes.size > 0 || this.opts.onClaim !== undefined)
      this.onClaim(arpClaim(frame, pktType, this.claimContext(state)));
    const out = answerArp(frame, pktType, state.iface, this.owned);
    const iface = state.iface.name;
    if (out.action === "ignore") {
      if (out.ip !== undefined) this.metrics.requestReceived("arp", out.ip, iface);
      this.metrics.ignored("arp", iface, out.reason);
      return;
    }
    this.metrics.requestReceived("arp", out.ip, iface);
    if (this.send("arp", state, () => state.arp?.send(out.frame), false) === "sent")
      this.metrics.replySent("arp", out.ip, iface);
  }

  private onNdpMessage(state: LinkState, m: ReceivedIcmp6): void {
    if (m.payload[0] === ICMPV6_NEIGHBOR_ADVERTISEMENT) {
      this.onClaim(neighborAdvertisementClaim(m, this.claimContext(state)));
      return;
    }
    const out = answerNeighborSolicitation(m, state.iface, this.owned);
    const iface = state.iface.name;
    if (out.action === "ignore") {
      if (out.ip !== undefined) this.metrics.requestReceived("ndp", out.ip, iface);
      this.metrics.ignored("ndp", iface, out.reason);
      return;
    }
    this.metrics.requestReceived("ndp", out.ip, iface);
    if (
      this.send("ndp", state, () => state.ndp?.send(out.payload, out.dst, out.src), false) ===
      "sent"
    )
      this.metrics.replySent("ndp", out.ip, iface);
  }

  private onSocketError(state: LinkState, protocol: Protocol, err: Error): void {
    // ENETDOWN comes with every link flap and is over when the link is back.
    const code = isAddonError(err) ? err.code : "";
    const level = code === "ENETDOWN" ? "debug" : "warn";
    this.log[level]({ err, iface: state.iface.name, protocol }, "socket error");
  }

  /**
   * One round of a gratuitous burst: on every interface the IP is allowed on. "busy" when the
   * kernel had no room for a frame (the announcer sends the round again shortly; interfaces
   * already done get it twice, which is harmless).
   */
  private announceRound(ip: string): RoundResult {
    const e = this.owned.get(ip);
    if (e === undefined) return "sent";
    for (const state of this.links.values()) {
      const iface = state.iface;
      if (!this.owned.allows(ip, iface.name)) continue;
      let result: SendResult | undefined;
      if (e.family === 4 && state.arp !== undefined) {
        const arp = state.arp;
        result = this.send(
          "arp",
          state,
          () => {
            arp.send(encodeArpFrame(gratuitousArp(ip, iface.mac, ARP_REQUEST)));
            arp.send(encodeArpFrame(gratuitousArp(ip, iface.mac, ARP_REPLY)));
          },
          true,
        );
        if (result === "sent") this.metrics.gratuitousSent("arp", ip, iface.name);
      } else if (e.family === 6 && state.ndp !== undefined) {
        const ndp = state.ndp;
        const bytes = ownedBytes(e);
        const na = encodeNdpMessage(unsolicitedAdvertisement(bytes, iface.mac));
        result = this.send("ndp", state, () => ndp.send(na, ALL_NODES, bytes), true);
        if (result === "sent") this.metrics.gratuitousSent("ndp", ip, iface.name);
      }
      if (result === "busy") return "busy";
    }
    return "sent";
  }

  /**
   * Runs a send. With `retry`, a kernel without room (ENOBUFS, EAGAIN) gives "busy" and the
   * caller sends again later; otherwise, and for any other error, the frame is lost: counted
   * in the metrics and logged (once a minute at most per interface, protocol and code, with
   * how many more there were, so a flood of failures cannot flood the log).
   */
  private send(protocol: Protocol, state: LinkState, fn: () => void, retry: boolean): SendResult {
    try {
      fn();
      return "sent";
    } catch (err: unknown) {
      const code = isAddonError(err) ? err.code : "EUNKNOWN";
      if (retry && (code === "ENOBUFS" || code === "EAGAIN")) return "busy";
      this.metrics.sendFailed(protocol, state.iface.name, code);
      const key = `${state.iface.name} ${protocol} ${code}`;
      const now = performance.now();
      const seen = this.failureLog.get(key);
      if (seen !== undefined && now - seen.at < 60_000) {
        seen.suppressed++;
        return "failed";
      }
      this.failureLog.set(key, { at: now, suppressed: 0 });
      this.log.warn(
        { err, iface: state.iface.name, protocol, alsoFailedSinceLastLog: seen?.suppressed ?? 0 },
        "send failed",
      );
      return "failed";
    }
  }

  /** Joins (+1) or leaves (-1) the solicited-node group of an IPv6 entry where it is allowed. */
  private updateGroups(e: OwnedEntry, delta: 1 | -1): void {
    if (e.family !== 6) return;
    for (const state of this.links.values()) {
      if (e.interfaces === undefined || e.interfaces.has(state.iface.name))
        this.joinOrLeave(state, e, delta);
    }
  }

  private joinOrLeave(state: LinkState, e: OwnedEntry, delta: 1 | -1): void {
    const groups = state.groups;
    if (groups === undefined) return;
    const group = solicitedNodeGroup(ownedBytes(e));
    if (delta < 0) {
      if (!state.joined.delete(e.ip)) return;
      try {
        groups.remove(group);
      } catch (err: unknown) {
        this.log.warn({ err, iface: state.iface.name, ip: e.ip }, "cannot leave multicast group");
      }
      return;
    }
    if (state.joined.has(e.ip)) return;
    try {
      groups.add(group);
      state.joined.add(e.ip);
    } catch (err: unknown) {
      this.log.warn({ err, iface: state.iface.name, ip: e.ip }, "cannot join multicast group");
    }
  }
}

function sameLink(a: NetInterface, b: NetInterface): boolean {
  return (
    a.index === b.index &&
    a.name === b.name &&
    a.ipv6LinkLocal === b.ipv6LinkLocal &&
    Buffer.compare(a.mac, b.mac) === 0
  );
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
