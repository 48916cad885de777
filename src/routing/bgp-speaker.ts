import type { Logger } from "pino";
import type { BfdProfile, BgpPeer as PeerConfig } from "../config/types.js";
import { formatIP } from "../net/ip.js";

/**
 * The BGP side of one speaker: one session per router this node peers with, kept in step with
 * the config, each given the routes this node advertises to it. What to peer with and what to
 * advertise is decided elsewhere (pure, from the config and the cluster); this class only
 * starts, restarts and stops sessions and hands them their route sets.
 *
 * A session is keyed by everything that shapes it on the wire (addresses, AS numbers, timers,
 * password, router ID, BFD profile). Editing any of those restarts that one session (the
 * router sees a Cease and a new OPEN); a change of routes alone is sent as an UPDATE on the
 * running session, so an edit that touches one pool re-advertises only that pool's prefixes.
 */

/** One route as the session sends it. */
export interface OutRoute {
  readonly prefix: string;
  readonly localPref?: number | undefined;
  readonly communities: readonly number[];
  readonly largeCommunities: readonly {
    readonly globalAdmin: number;
    readonly localData1: number;
    readonly localData2: number;
  }[];
}

/** What this node should do towards one router. */
export interface DesiredPeer {
  /** The session's identity on this node (address, port, source, local AS). */
  readonly key: string;
  readonly peer: PeerConfig;
  readonly bfdProfile: BfdProfile | undefined;
  readonly routes: readonly OutRoute[];
}

/** The state of one session as reported for metrics, Events and `barelb status`. */
export interface SessionReport {
  readonly peer: string;
  readonly state: string;
  readonly established: boolean;
  readonly bfd: string | undefined;
  readonly lastError: string | undefined;
  readonly prefixes: number;
}

/** One running session (a BGP session with its BFD session, when the peer has a profile). */
export interface PeerSession {
  setRoutes(routes: readonly OutRoute[]): void;
  stop(message: string): Promise<void>;
  report(): SessionReport;
}

export type PeerFactory = (
  desired: DesiredPeer,
  routerId: string,
  onChange: () => void,
) => PeerSession;

export interface BgpSpeakerOptions {
  /** The node's IPv4 address: the BGP Identifier of peers without `router-id`. */
  readonly defaultRouterId: string | undefined;
  readonly newSession: PeerFactory;
  /** Called after a session changed state (up, down, BFD): metrics, Events, the Lease. */
  readonly onChange: () => void;
  readonly log: Logger;
}

/** The peer's name in logs, metrics and Events: its address and port. */
export function peerName(p: PeerConfig): string {
  const a = formatIP(p.address);
  const host = a.includes(":") ? `[${a}]` : a;
  return p.port === 179 ? a : `${host}:${p.port}`;
}

/** Every field of a peer and its BFD profile that shapes the session: a change restarts it. */
export function sessionKey(d: Pick<DesiredPeer, "peer" | "bfdProfile">): string {
  const p = d.peer;
  return JSON.stringify([
    formatIP(p.address),
    p.port,
    p.myASN,
    p.peerASN,
    p.sourceAddress === undefined ? null : formatIP(p.sourceAddress),
    p.holdTime,
    p.keepaliveTime,
    p.routerID === undefined ? null : formatIP(p.routerID),
    p.password ?? null,
    p.ebgpMultiHop,
    d.bfdProfile ?? null,
  ]);
}

export class BgpSpeaker {
  /** By `DesiredPeer.key`, with the `sessionKey` the session was made with. */
  private readonly sessions = new Map<string, { shape: string; session: PeerSession }>();
  private stopped = false;
  /** Peers already reported as having no router ID (the error is logged once each). */
  private readonly noRouterId = new Set<string>();

  constructor(private readonly opts: BgpSpeakerOptions) {}

  /**
   * Brings the sessions in line with `desired`: new peers start, peers gone or changed stop
   * (with a Cease saying why), and every session gets its route set.
   */
  update(desired: readonly DesiredPeer[]): void {
    if (this.stopped) return;
    let changed = false;
    const wanted = new Map<string, DesiredPeer>();
    for (const d of desired) wanted.set(d.key, d);
    for (const [key, s] of this.sessions) {
      const d = wanted.get(key);
      if (d === undefined) {
        this.sessions.delete(key);
        changed = true;
        this.opts.log.info({ peer: s.session.report().peer }, "BGP peer removed: closing");
        void s.session.stop("peer removed from barelb's configuration");
      } else if (sessionKey(d) !== s.shape) {
        this.sessions.delete(key);
        changed = true;
        this.opts.log.info({ peer: s.session.report().peer }, "BGP peer changed: reopening");
        void s.session.stop("peer's configuration changed");
      }
    }
    for (const [key, d] of wanted) {
      let s = this.sessions.get(key);
      if (s === undefined) {
        const routerId =
          d.peer.routerID === undefined ? this.opts.defaultRouterId : formatIP(d.peer.routerID);
        if (routerId === undefined) {
          // Said once per peer, not at every recompute.
          if (this.noRouterId.has(key)) continue;
          this.noRouterId.add(key);
          this.opts.log.error(
            { peer: peerName(d.peer) },
            "BGP peer has no router-id and this node has no IPv4 address to use as one: set router-id in the peer's config",
          );
          continue;
        }
        s = {
          shape: sessionKey(d),
          session: this.opts.newSession(d, routerId, this.opts.onChange),
        };
        this.sessions.set(key, s);
        this.noRouterId.delete(key);
        changed = true;
      }
      s.session.setRoutes(d.routes);
    }
    // Session states change through the sessions' own callbacks; here only the set does.
    if (changed) this.opts.onChange();
  }

  reports(): SessionReport[] {
    return [...this.sessions.values()].map((s) => s.session.report());
  }

  /** Closes every session with a Cease (routers withdraw this node's routes at once). */
  async stop(): Promise<void> {
    this.stopped = true;
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map((s) => s.session.stop("barelb speaker stopping")));
  }
}
