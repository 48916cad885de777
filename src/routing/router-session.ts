import type { Logger } from "pino";
import { diagnosticName, sessionParameters, type BfdState } from "../bfd/index.js";
import { DEFAULT_TIMING, type Family } from "../bgp/session.js";
import type { Route } from "../bgp/outbound.js";
import { formatIP } from "../net/ip.js";
import type { BfdEndpoint, BfdPeer } from "./bfd.js";
import { BgpPeer, type PeerChange } from "./bgp-peer.js";
import {
  peerName,
  type DesiredPeer,
  type OutRoute,
  type PeerSession,
  type SessionReport,
} from "./bgp-speaker.js";

/**
 * One router as the speaker sees it: the BGP session (`BgpPeer`) and, when the peer has a
 * `bfd-profile`, a BFD session beside it whose Down drops the BGP session at once (the router
 * does the same on its side, which is what removes a dead node's next hop in well under a
 * second). Session changes become a log line, an Event on the Node and the metrics.
 */

export interface RouterSessionMetrics {
  readonly bgpRouteUpdates: { inc(labels: { peer: string; change: string }, value?: number): void };
  readonly bgpSessionFailures: { inc(labels: { peer: string; reason: string }): void };
}

export interface RouterSessionOptions {
  readonly desired: DesiredPeer;
  readonly routerId: string;
  readonly bfd: BfdEndpoint;
  readonly log: Logger;
  readonly metrics: RouterSessionMetrics;
  /** After any state change (the caller republishes the sessions). */
  readonly onChange: () => void;
  readonly event: (type: "Normal" | "Warning", reason: string, message: string) => void;
}

export class RouterSession implements PeerSession {
  private readonly name: string;
  private readonly bgp: BgpPeer;
  private bfdPeer: BfdPeer | undefined;
  private lastError: string | undefined;
  private established = false;
  private counted = { announced: 0, withdrawn: 0 };
  private readonly log: Logger;

  constructor(private readonly opts: RouterSessionOptions) {
    const p = opts.desired.peer;
    this.name = peerName(p);
    this.log = opts.log.child({ peer: this.name });
    const family: Family = p.address.family === 4 ? "ipv4-unicast" : "ipv6-unicast";
    const profile = sessionParameters(opts.desired.bfdProfile);
    for (const line of profile.unsupported) this.log.warn(line);
    this.bgp = new BgpPeer({
      peerAddress: formatIP(p.address),
      peerPort: p.port,
      ...(p.sourceAddress === undefined ? {} : { sourceAddress: formatIP(p.sourceAddress) }),
      ...(p.password === undefined ? {} : { password: p.password }),
      session: {
        localASN: p.myASN,
        peerASN: p.peerASN,
        routerId: opts.routerId,
        holdTime: p.holdTime,
        keepaliveTime: p.keepaliveTime,
        families: [family],
        timing: DEFAULT_TIMING,
      },
      logger: opts.log,
      onChange: (c) => this.onSession(c),
    });
    this.bgp.start();
  }

  setRoutes(routes: readonly OutRoute[]): void {
    this.bgp.setRoutes(routes.map(toWire));
    this.countUpdates();
  }

  report(): SessionReport {
    this.countUpdates();
    return {
      peer: this.name,
      state: this.bgp.state(),
      established: this.established,
      bfd:
        this.opts.desired.bfdProfile === undefined ? undefined : (this.bfdPeer?.state() ?? "Down"),
      lastError: this.lastError,
      prefixes: this.bgp.counters().prefixesAdvertised,
    };
  }

  async stop(message: string): Promise<void> {
    await this.bgp.stop(message);
    await this.bfdPeer?.stop();
  }

  private onSession(c: PeerChange): void {
    const p = this.opts.desired.peer;
    const who = `BGP session with ${this.name} (AS ${p.peerASN})`;
    if (c.type === "up") {
      this.established = true;
      this.lastError = undefined;
      this.opts.event("Normal", "BGPSessionEstablished", `${who} established`);
      const local = this.bgp.localAddress();
      if (local !== undefined) this.startBfd(local);
    } else {
      this.established = false;
      this.lastError = `${c.reason}: ${c.detail}`;
      if (c.reason !== "stopped") {
        this.opts.metrics.bgpSessionFailures.inc({ peer: this.name, reason: c.reason });
        this.opts.event(
          "Warning",
          "BGPSessionDown",
          `${who} ${c.established ? "went down" : "could not be opened"}: ${c.detail}`,
        );
      }
    }
    this.opts.onChange();
  }

  /** Prefixes sent since the last call, for the counter of route updates. */
  private countUpdates(): void {
    const c = this.bgp.counters();
    const announced = c.prefixesAnnounced - this.counted.announced;
    const withdrawn = c.prefixesWithdrawn - this.counted.withdrawn;
    this.counted = { announced: c.prefixesAnnounced, withdrawn: c.prefixesWithdrawn };
    const m = this.opts.metrics.bgpRouteUpdates;
    if (announced > 0) m.inc({ peer: this.name, change: "announced" }, announced);
    if (withdrawn > 0) m.inc({ peer: this.name, change: "withdrawn" }, withdrawn);
  }

  /** The BFD session, once the BGP session tells which local address faces the router. */
  private startBfd(localAddress: string): void {
    const profile = this.opts.desired.bfdProfile;
    if (profile === undefined || this.bfdPeer !== undefined) return;
    let wasUp = false;
    const peer = this.opts.bfd.peer({
      peerAddress: formatIP(this.opts.desired.peer.address),
      localAddress,
      parameters: sessionParameters(profile).parameters,
      onChange: (state: BfdState, diagnostic: number) => {
        this.log.info({ state, diagnostic: diagnosticName(diagnostic) }, "BFD session changed");
        if (state === "Up") wasUp = true;
        else if (wasUp && state === "Down") {
          wasUp = false;
          this.opts.metrics.bgpSessionFailures.inc({ peer: this.name, reason: "bfd-down" });
          this.bgp.fail(`BFD session down (${diagnosticName(diagnostic)})`);
        }
        this.opts.onChange();
      },
    });
    this.bfdPeer = peer;
    try {
      peer.start();
    } catch (err: unknown) {
      this.log.error(
        { err },
        "cannot start the BFD session: is another BFD daemon on this node using UDP port 3784?",
      );
    }
  }
}

function toWire(r: OutRoute): Route {
  return {
    prefix: r.prefix,
    ...(r.localPref === undefined ? {} : { localPref: r.localPref }),
    communities: r.communities,
    largeCommunities: r.largeCommunities.map((l) => ({
      global: l.globalAdmin,
      local1: l.localData1,
      local2: l.localData2,
    })),
  };
}
