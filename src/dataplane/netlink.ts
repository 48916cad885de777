import type { NetlinkSocket } from "netlink/dist/netlink.js";
import { isIPv6LinkLocal } from "./inet.js";
import {
  classifyLinks,
  interfacePolicy,
  sameInterfaces,
  type InterfacePolicy,
  type InterfaceSource,
  type LinkFacts,
  type NetInterface,
  type SkippedInterface,
} from "./interfaces.js";
import type { DataPlaneLogger } from "./log.js";
import {
  dumpRequest,
  parseAddressMessage,
  parseLinkMessage,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTNLGRP_IPV6_IFADDR,
  RTNLGRP_LINK,
  AF_INET,
  AF_INET6,
} from "./rtnetlink.js";

/**
 * The usable interfaces of this network namespace, kept current from rtnetlink.
 *
 * Notifications are only used as a trigger: any link or IPv6 address notification (or a
 * lost one: ENOBUFS on the event socket) schedules a fresh dump of all links and addresses,
 * and the usable list is recomputed from that. So a NEW that is really a DEL, notifications
 * lost to a full socket buffer, or ones racing the initial dump cannot leave a wrong view;
 * a periodic resync covers anything else.
 */

export interface NetlinkInterfacesOptions {
  policy?: InterfacePolicy;
  log?: DataPlaneLogger;
  /** Quiet time after a notification before re-reading (coalesces bursts). Default 20 ms. */
  debounceMs?: number;
  /** Re-read this often even without notifications. Default 30 s. */
  resyncMs?: number;
}

const NETLINK_ROUTE = 0;
/** NLM_F_ROOT | NLM_F_MATCH: a dump (the library adds NLM_F_REQUEST and NLM_F_ACK). */
const NLM_F_DUMP = 0x300;

export class NetlinkInterfaces implements InterfaceSource {
  private usable: readonly NetInterface[] = [];
  private skippedList: readonly SkippedInterface[] = [];
  private readonly listeners = new Set<(list: readonly NetInterface[]) => void>();
  private debounce: NodeJS.Timeout | undefined;
  private resync: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  /** Bumped by every refresh request; a dump that started before the last bump is stale. */
  private requested = 0;
  private closed = false;

  private constructor(
    private readonly events: NetlinkSocket,
    private readonly requests: NetlinkSocket,
    private readonly policy: InterfacePolicy,
    private readonly log: DataPlaneLogger | undefined,
    private readonly debounceMs: number,
    resyncMs: number,
  ) {
    this.resync = setInterval(() => this.schedule(0), resyncMs);
    this.resync.unref();
  }

  /** Opens the netlink sockets and reads the current state. */
  static async open(opts: NetlinkInterfacesOptions = {}): Promise<NetlinkInterfaces> {
    // Only the core socket of the netlink package: its rtnetlink layer is large, and the
    // messages needed here are parsed by rtnetlink.ts.
    const nl = await import("netlink/dist/netlink.js");
    // The event socket's buffer holds a burst of notifications (many links changing at once);
    // if it still overflows, the error triggers a re-read.
    const buffers = { recvBufferSize: 1 << 20, sendBufferSize: 1 << 16 };
    const events = nl.createNetlink(NETLINK_ROUTE, { ref: false, ...buffers });
    const requests = nl.createNetlink(NETLINK_ROUTE, { ref: false, ...buffers });
    const self = new NetlinkInterfaces(
      events,
      requests,
      opts.policy ?? interfacePolicy(),
      opts.log,
      opts.debounceMs ?? 20,
      opts.resyncMs ?? 30_000,
    );
    // Subscribe before the first dump, so nothing between the two is missed.
    events.addMembership(RTNLGRP_LINK);
    events.addMembership(RTNLGRP_IPV6_IFADDR);
    events.on("message", () => self.schedule(self.debounceMs));
    events.on("invalid", () => self.schedule(self.debounceMs));
    events.socket.on("error", (err: unknown) => {
      self.log?.warn({ err }, "netlink event socket error; re-reading interfaces");
      self.schedule(self.debounceMs);
    });
    try {
      await self.refresh();
    } catch (e: unknown) {
      self.close();
      throw new Error("cannot read network interfaces from netlink", { cause: e });
    }
    return self;
  }

  current(): readonly NetInterface[] {
    return this.usable;
  }

  /** Links seen but not used, and why: for status output and logs. */
  skipped(): readonly SkippedInterface[] {
    return this.skippedList;
  }

  subscribe(listener: (list: readonly NetInterface[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.debounce);
    clearInterval(this.resync);
    this.listeners.clear();
    this.events.socket.close();
    this.requests.socket.close();
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.refresh().catch((err: unknown) => {
        this.log?.warn({ err }, "cannot read network interfaces from netlink");
      });
    }, delayMs);
    this.debounce.unref();
  }

  /** One dump at a time; a request meanwhile runs one more afterwards. */
  private async refresh(): Promise<void> {
    this.requested++;
    if (this.refreshing !== undefined) return this.refreshing;
    this.refreshing = (async () => {
      let done = -1;
      while (done !== this.requested && !this.closed) {
        done = this.requested;
        await this.readOnce();
      }
    })();
    try {
      await this.refreshing;
    } finally {
      this.refreshing = undefined;
    }
  }

  private async readOnce(): Promise<void> {
    // One dump at a time: the library cannot tell two interleaved multipart replies apart.
    const [links] = await this.requests.request(RTM_GETLINK, dumpRequest(RTM_GETLINK), {
      flags: NLM_F_DUMP,
    });
    const [addrs] = await this.requests.request(RTM_GETADDR, dumpRequest(RTM_GETADDR), {
      flags: NLM_F_DUMP,
    });
    if (this.closed) return;
    const facts: LinkFacts[] = [];
    for (const m of links) {
      const f = m.type === RTM_NEWLINK ? parseLinkMessage(m.data) : undefined;
      if (f !== undefined) facts.push(f);
    }
    const linkLocal = new Set<number>();
    for (const m of addrs) {
      const a = m.type === RTM_NEWADDR ? parseAddressMessage(m.data) : undefined;
      if (a?.family === AF_INET6 && a.address?.length === 16 && isIPv6LinkLocal(a.address))
        linkLocal.add(a.index);
    }
    const { usable, skipped } = classifyLinks(facts, linkLocal, this.policy);
    this.skippedList = skipped;
    if (sameInterfaces(usable, this.usable)) return;
    this.usable = usable;
    this.log?.info({ interfaces: usable.map((i) => i.name) }, "usable interfaces changed");
    for (const l of this.listeners) l(usable);
  }
}

/**
 * The IPv4 addresses of every interface of this network namespace, by interface index: one
 * dump on a socket of its own, closed after (for checks that run now and then, not for the
 * data plane's live view above).
 */
export async function readIPv4Addresses(): Promise<Map<number, string[]>> {
  const nl = await import("netlink/dist/netlink.js");
  const socket = nl.createNetlink(NETLINK_ROUTE, {
    ref: false,
    recvBufferSize: 1 << 20,
    sendBufferSize: 1 << 16,
  });
  try {
    const [addrs] = await socket.request(RTM_GETADDR, dumpRequest(RTM_GETADDR, AF_INET), {
      flags: NLM_F_DUMP,
    });
    const out = new Map<number, string[]>();
    for (const m of addrs) {
      const a = m.type === RTM_NEWADDR ? parseAddressMessage(m.data) : undefined;
      if (a?.family !== AF_INET || a.address?.length !== 4) continue;
      const list = out.get(a.index) ?? [];
      list.push(a.address.join("."));
      out.set(a.index, list);
    }
    return out;
  } finally {
    socket.socket.close();
  }
}
