import {
  formatHeartbeatAddress,
  isHeartbeatToken,
  parseHeartbeatAddress,
  type Heartbeat,
  type HeartbeatAddress,
} from "./heartbeat-codec.js";

/**
 * Which speakers are live, and which of them may announce: the pure state machine behind the
 * election. It is fed what the speaker sees (peers' Leases, peers' UDP heartbeats, its own
 * Lease renewals and heartbeat sends, clock ticks) and answers `live()`, `eligible()` and
 * `selfFenced()`. No sockets, no timers, no Kubernetes client: the caller drives it, and
 * every event returns the changes it caused, so the caller logs, counts and recomputes
 * ownership only when something changed.
 *
 * All times are on THIS node's monotonic clock (the injected `now`). Nothing another node
 * wrote is ever compared with it: a Lease's renewTime is an opaque string whose *change* is
 * noted locally (as client-go leader election does with its observedTime), and a heartbeat's
 * incarnation only tells one run of a speaker from the next. Clock skew cannot matter.
 *
 * Rules, for a peer X as seen from here:
 *
 * - heartbeatFresh(X): a valid heartbeat from X's current incarnation arrived within
 *   deadAfterMs. Valid = signed with the shared key (the transport checks the HMAC before
 *   this sees it: heartbeat-keys.ts), its run token equals the token X publishes in its
 *   Lease (a datagram of another run of X is refused), and its (incarnation, seq) is newer
 *   than anything accepted before (reordered, duplicate and replayed datagrams are dropped).
 * - leaseLive(X): X's Lease renewTime was last seen to change within X's lease duration.
 * - heardEver(X): a heartbeat from X's current incarnation was ever accepted.
 * - live(X) = heartbeatFresh(X) OR (leaseLive(X) AND NOT heardEver(X)), which is the same as
 *   heartbeatFresh OR (leaseLive AND NOT (heardEver AND heartbeats stopped)). Once X's
 *   heartbeats are known to reach us, their silence declares X dead within deadAfterMs, long
 *   before its Lease expires (a killed speaker, a downed link). For a node whose heartbeats
 *   never arrive (UDP filtered), the Lease alone decides. With the API server down for
 *   everyone, Leases go stale but heartbeats keep everybody live: nothing moves.
 * - A heartbeat with `leaving` (sent on SIGTERM) makes X not live at once, and so does the
 *   deletion of its Lease (its token is then unknown, so its heartbeats cannot be checked).
 *
 * API-stale fencing. apiHealthy(X) is the flag in X's latest heartbeat (X had an answer from
 * the API server, a cached read or its Lease renewal, within its --api-stale-after: see
 * own-lease.ts); for a node known by its Lease alone, leaseLive(X) (slower: its Lease
 * duration, 40 s by default, instead of 10 s). A live
 * node that is not apiHealthy is fenced (not eligible) while another live, un-held node is
 * apiHealthy: a node cut off from the API server but still on the LAN hands its IPs over.
 * When the API server is down for everyone, nobody is fenced. This node applies the same
 * rule to itself (`selfFenced()`), so it stops answering when the others take over.
 * Both sides of the comparison must have lasted fenceAfterMs (on this clock): nodes check the
 * API at different moments, so when the API server goes down (or comes back) for everyone
 * their flags flip within about one check period of each other, and without this delay the first
 * node to flip would be fenced for that moment and its IPs would move and move back.
 *
 * Anti-flap hold. When X stops being live because its heartbeats went silent (not when it
 * leaves, nor when its Lease expires or is deleted), X is held: once live again it stays
 * not eligible until it has been live without a break (no gap > deadAfterMs) for the hold.
 * The hold is rejoinAfterMs, doubled each time X dies again within stableAfterMs of its
 * last release (2 s, 4 s, 8 s … capped at maxHoldMs); it starts over once X has stayed
 * eligible for stableAfterMs. A restarted X (new incarnation) that died by silence is held
 * the same way: the hold belongs to the node name, not to the process.
 *
 * Observer starvation. When this node's own ticks come more than deadAfterMs apart (its event
 * loop was blocked), nobody is declared dead on that tick: peers get one more deadAfterMs,
 * during which their queued datagrams are read. The transport also ticks only after the
 * socket has been drained (setImmediate after the timer), so a late timer never judges
 * before the datagrams that arrived meanwhile.
 *
 * This node's view of itself. It is live from its first Lease renewal (before that no peer
 * knows its token, so none can count it) until it leaves. Peers hold THIS node after they saw
 * it silent; if it did not hold itself too, it would announce IPs the peers have already
 * moved elsewhere. So it holds itself when it can tell, from what it sees, that the peers
 * saw it silent:
 *  - its own heartbeat sends stopped for more than deadAfterMs (a blocked event loop, a
 *    suspended process, send errors such as a downed interface), after it had sent some;
 *  - every peer it had heard went silent at once, and one of them comes back with the same
 *    incarnation (its own link was down: the path is the same both ways);
 *  - `holdSelfAtStart`: its previous run did not stop gracefully (the caller found the old
 *    Lease left behind), so the peers hold its new run; the hold starts at its first renewal.
 * During the silence itself it stays eligible in its own view: it may be the only survivor.
 *
 * States: every node is in exactly one of absent (this node before its first renewal), dead,
 * held, fenced, eligible (in that precedence); `eligible() ⊆ live()`, and no node is
 * eligible while held or fenced. The state is re-derived at every event and tick, and the
 * questions answer as of the last one.
 */

export type NodeState = "absent" | "dead" | "held" | "fenced" | "eligible";

export type ChangeReason =
  // became eligible
  | "heartbeat" // first heard, or back, by heartbeat, with no hold
  | "lease" // known, or back, by its Lease alone (its heartbeats never reached us)
  | "rejoined" // its hold ended
  | "unfenced" // its API health returned, or nobody else's is left
  // stopped being eligible
  | "heartbeat-silence"
  | "leaving"
  | "lease-expired"
  | "lease-deleted"
  | "fenced"
  | "held"; // live again (this node: back from its own silence) but on hold

export interface MembershipChange {
  node: string;
  /** joined: now eligible; left: no longer eligible; changed: between non-eligible states. */
  change: "joined" | "left" | "changed";
  from: NodeState;
  to: NodeState;
  reason: ChangeReason;
  /** For `to: "held"`: how long the hold lasts, ms. */
  holdMs?: number;
}

export type HeartbeatDropReason =
  | "self"
  | "unknown-node" // no Lease seen for that node: its token is unknown
  | "no-token" // its Lease has no valid heartbeat-token annotation
  | "bad-token" // signed, but by another run of that node than its Lease names (a replay)
  | "old-incarnation"
  | "old-seq";

export type HeartbeatOutcome =
  | { accepted: true; changes: MembershipChange[] }
  | { accepted: false; reason: HeartbeatDropReason; changes: MembershipChange[] };

export interface MembershipOptions {
  /** This node's name. */
  self: string;
  /**
   * Whether this node has written its Lease and had an API answer recently (OwnLease knows).
   * Read at every event and tick, like the clock; sent to the peers in every heartbeat.
   */
  selfApiHealthy: () => boolean;
  /** Monotonic clock, ms. Default: performance.now(). */
  now?: () => number;
  /** Heartbeat silence after which a peer is dead. Default 1000. */
  deadAfterMs?: number;
  /** First hold after a death by silence. Default 2000. */
  rejoinAfterMs?: number;
  /** Longest hold. Default 60000. */
  maxHoldMs?: number;
  /** Dying again within this of the last release doubles the hold. Default 60000. */
  stableAfterMs?: number;
  /**
   * How long API health (and its absence) must have lasted before it fences anyone. Must
   * exceed the spread between nodes' API health flips: the API check interval plus the check
   * request's timeout (2 s + 2 s by default). Default 5000.
   */
  fenceAfterMs?: number;
  /**
   * The previous run of this speaker did not stop gracefully (its Lease was left behind with
   * another token): peers hold this run, so it holds itself, from its first renewal on.
   */
  holdSelfAtStart?: boolean;
  /**
   * Added to this node's own holds: the peers start their hold when they first hear it again
   * and release it at their first tick after, up to a heartbeat interval later than it
   * would itself; it must not take IPs back before they have let go. Default 300.
   */
  selfHoldExtraMs?: number;
  /** Called with every non-empty batch of changes, whichever event caused it. */
  onChange?: (changes: MembershipChange[]) => void;
}

export interface PeerAddress extends HeartbeatAddress {
  node: string;
}

/** What one node looks like from here (diagnostics, `/debug`, tests). */
export interface NodeStatus {
  node: string;
  self: boolean;
  state: NodeState;
  live: boolean;
  fenced: boolean;
  held: boolean;
  apiHealthy: boolean;
  /** Peers: heard within deadAfterMs. Self: not in a silence of its own. */
  heartbeatFresh: boolean;
  /** Peers: the Lease was seen to change within its duration. Self: apiHealthy. */
  leaseLive: boolean;
  /** Peers: heard this incarnation. Self: has sent heartbeats. */
  heardEver: boolean;
  leaving: boolean;
  incarnation: number | null;
  /** ms since the last accepted heartbeat (self: the last successful send). */
  heardAgoMs: number | null;
  /** Remaining hold, ms (0 when not held). */
  holdLeftMs: number;
  /** The hold a death by silence now would earn, ms. */
  nextHoldMs: number;
  /** Heartbeat address from its Lease. */
  address: string | null;
  /** Source of the last accepted heartbeat. */
  heardFrom: string | null;
}

export interface MembershipCounters {
  heartbeatsAccepted: number;
  heartbeatsDropped: Record<HeartbeatDropReason, number>;
  /** Ticks that came more than deadAfterMs after the previous one (observer starved). */
  lagged: number;
  /** Largest gap between two ticks, ms. */
  maxTickGapMs: number;
}

interface Hold {
  /** The hold the last death by silence earned (0: never died by silence). */
  holdMs: number;
  /** Died by silence: the next return starts a hold. */
  pending: boolean;
  /** Held (and live) until this time. */
  heldUntil: number | null;
  /** When the last hold ended, or the node came back without one. */
  stableSince: number | null;
}

interface LeaseView {
  renewTime: string;
  token: string | null;
  durationMs: number;
  /** When (renewTime, token) was last seen to change, on this clock. */
  changedAt: number;
  expired: boolean;
}

/** Derived at the last evaluation; the same shape for self and peers. */
interface Derived {
  live: boolean;
  apiHealthy: boolean;
  /** When `live` or `apiHealthy` last changed. */
  apiSince: number;
  fenced: boolean;
  /** Held at the last evaluation: its own hold, or (this node) a live peer holding it. */
  held: boolean;
  state: NodeState;
  hold: Hold;
}

interface Peer extends Derived {
  node: string;
  lease: LeaseView | null;
  address: HeartbeatAddress | null;
  // The current incarnation's heartbeats; reset with a new token or a deleted Lease.
  incarnation: number | null;
  seq: number;
  heardAt: number | null;
  silent: boolean;
  apiFlag: boolean;
  leaving: boolean;
  heardFrom: string | null;
  /** Its latest heartbeat said it holds this node. */
  holdsMe: boolean;
}

interface Self extends Derived {
  leaving: boolean;
  lastSentAt: number | null;
  /** No successful send for more than deadAfterMs (after some had succeeded). */
  sendSilent: boolean;
  /** Peers (node → incarnation) that all went silent at once; null when not isolated. */
  isolation: Map<string, number> | null;
  /** In a silence episode (sendSilent or isolation). */
  silent: boolean;
  /** The current episode is followed by a hold (a cause ended the way peers notice). */
  holdOnReturn: boolean;
  /** holdSelfAtStart, until the first renewal. */
  startHoldPending: boolean;
  /** Renewed its Lease at least once: peers can know it (its token) from then on. */
  known: boolean;
}

const newHold = (): Hold => ({ holdMs: 0, pending: false, heldUntil: null, stableSince: null });

export class Membership {
  readonly self: string;
  private readonly clock: () => number;
  private readonly apiProbe: () => boolean;
  private readonly onChange: ((changes: MembershipChange[]) => void) | undefined;
  private readonly deadAfterMs: number;
  private readonly rejoinAfterMs: number;
  private readonly maxHoldMs: number;
  private readonly stableAfterMs: number;
  private readonly fenceAfterMs: number;
  private readonly selfHoldExtraMs: number;

  private readonly peers = new Map<string, Peer>();
  private readonly me: Self;
  private lastNow = -Infinity;
  private lastTickAt: number | null = null;
  private graceUntil = -Infinity;
  private readonly stats: MembershipCounters = {
    heartbeatsAccepted: 0,
    heartbeatsDropped: {
      self: 0,
      "unknown-node": 0,
      "no-token": 0,
      "bad-token": 0,
      "old-incarnation": 0,
      "old-seq": 0,
    },
    lagged: 0,
    maxTickGapMs: 0,
  };

  constructor(opts: MembershipOptions) {
    this.self = opts.self;
    this.clock = opts.now ?? (() => performance.now());
    this.apiProbe = opts.selfApiHealthy;
    this.onChange = opts.onChange;
    this.deadAfterMs = positive("deadAfterMs", opts.deadAfterMs ?? 1_000);
    this.rejoinAfterMs = positive("rejoinAfterMs", opts.rejoinAfterMs ?? 2_000);
    this.maxHoldMs = Math.max(this.rejoinAfterMs, positive("maxHoldMs", opts.maxHoldMs ?? 60_000));
    this.stableAfterMs = positive("stableAfterMs", opts.stableAfterMs ?? 60_000);
    this.fenceAfterMs = nonNegative("fenceAfterMs", opts.fenceAfterMs ?? 5_000);
    this.selfHoldExtraMs = nonNegative("selfHoldExtraMs", opts.selfHoldExtraMs ?? 300);
    const t = this.time();
    const hold = newHold();
    const atStart = opts.holdSelfAtStart === true;
    if (atStart) {
      hold.holdMs = this.rejoinAfterMs;
      hold.pending = true;
    }
    this.me = {
      live: false,
      apiHealthy: false,
      apiSince: t,
      fenced: false,
      held: false,
      state: "absent",
      hold,
      leaving: false,
      lastSentAt: null,
      sendSilent: false,
      isolation: null,
      silent: false,
      holdOnReturn: false,
      startHoldPending: atStart,
      known: false,
    };
  }

  // ---- events ----------------------------------------------------------------------------

  /**
   * A peer's Lease as read from the API (every watch event, unchanged ones too). `token` and
   * `address` are its heartbeat-token and heartbeat-addr annotations; missing or invalid
   * means its heartbeats cannot be accepted, or not sent to. A lease duration that is not a
   * positive number counts as zero (expired at the next tick). This node's own Lease is
   * ignored: its health comes from `selfApiHealthy`.
   */
  leaseObserved(
    node: string,
    renewTime: string,
    leaseDurationMs: number,
    token: string | null | undefined,
    address: string | null | undefined,
  ): MembershipChange[] {
    const now = this.time();
    if (node === this.self) return [];
    const p = this.peer(node);
    const tok = token != null && isHeartbeatToken(token) ? token : null;
    const durationMs =
      Number.isFinite(leaseDurationMs) && leaseDurationMs > 0 ? leaseDurationMs : 0;
    if (p.lease === null) {
      p.lease = { renewTime, token: tok, durationMs, changedAt: now, expired: false };
    } else {
      const renewed = renewTime !== p.lease.renewTime || tok !== p.lease.token;
      // A new token is a new process (or a new secret): forget the old one's heartbeats.
      if (tok !== p.lease.token) this.resetHeartbeats(p);
      if (renewed) {
        p.lease.renewTime = renewTime;
        p.lease.token = tok;
        p.lease.changedAt = now;
        p.lease.expired = false;
      }
      p.lease.durationMs = durationMs;
    }
    p.address = address == null ? null : parseHeartbeatAddress(address);
    return this.emit(this.recompute(now));
  }

  /** A peer's Lease was deleted (its graceful stop): not live from now on. */
  leaseDeleted(node: string): MembershipChange[] {
    const now = this.time();
    const p = this.peers.get(node);
    if (p === undefined) return [];
    p.lease = null;
    p.address = null;
    this.resetHeartbeats(p);
    return this.emit(this.recompute(now));
  }

  /** A decoded heartbeat arrived (from "ip:port"; informational). */
  heartbeat(hb: Heartbeat, from?: string): HeartbeatOutcome {
    const now = this.time();
    const drop = (reason: HeartbeatDropReason): HeartbeatOutcome => {
      this.stats.heartbeatsDropped[reason]++;
      return { accepted: false, reason, changes: [] };
    };
    if (hb.node === this.self) return drop("self");
    const p = this.peers.get(hb.node);
    if (p?.lease == null) return drop("unknown-node");
    if (p.lease.token === null) return drop("no-token");
    if (hb.token !== p.lease.token) return drop("bad-token");
    if (p.incarnation !== null) {
      if (hb.incarnation < p.incarnation) return drop("old-incarnation");
      if (hb.incarnation === p.incarnation && hb.seq <= p.seq) return drop("old-seq");
      if (hb.incarnation > p.incarnation) this.resetHeartbeats(p);
    }
    this.stats.heartbeatsAccepted++;
    // The common case, a live peer's next heartbeat with nothing new in it, changes no state:
    // skip the re-evaluation (this runs nodes × 5 times a second).
    const routine =
      p.live &&
      p.incarnation === hb.incarnation &&
      p.heardAt !== null &&
      !p.silent &&
      p.apiFlag === hb.apiHealthy &&
      p.holdsMe === (hb.holdsYou === true) &&
      !hb.leaving;
    p.incarnation = hb.incarnation;
    p.seq = hb.seq;
    p.heardAt = now;
    p.silent = false;
    p.apiFlag = hb.apiHealthy;
    p.holdsMe = hb.holdsYou === true;
    p.heardFrom = from ?? null;
    if (hb.leaving) p.leaving = true;
    if (this.me.isolation?.get(hb.node) === hb.incarnation) {
      // A peer that went silent together with all the others is back, same run: the path was
      // down both ways, so it saw this node silent too, and holds it.
      this.me.isolation = null;
      this.me.holdOnReturn = true;
    } else if (routine) {
      return { accepted: true, changes: [] };
    }
    return { accepted: true, changes: this.emit(this.recompute(now)) };
  }

  /**
   * Time passes: judges silences, Lease expiry, holds and API health. Call it every heartbeat
   * interval (well under deadAfterMs), after the socket has been drained.
   */
  tick(nowMono?: number): MembershipChange[] {
    const now = this.time(nowMono);
    if (this.lastTickAt !== null) {
      const gap = now - this.lastTickAt;
      this.stats.maxTickGapMs = Math.max(this.stats.maxTickGapMs, gap);
      if (gap > this.deadAfterMs) {
        // This node was starved, not (necessarily) its peers: judge nobody for one more
        // deadAfterMs.
        this.stats.lagged++;
        this.graceUntil = now + this.deadAfterMs;
      }
    }
    this.lastTickAt = now;

    if (now >= this.graceUntil) {
      for (const p of this.peers.values()) {
        if (p.heardAt !== null && !p.silent && now - p.heardAt > this.deadAfterMs) p.silent = true;
        if (p.lease !== null && !p.lease.expired && now - p.lease.changedAt >= p.lease.durationMs) {
          p.lease.expired = true;
        }
      }
      if (this.me.isolation === null) {
        const heard = [...this.peers.values()].filter((p) => p.incarnation !== null && !p.leaving);
        if (heard.length > 0 && heard.every((p) => p.silent)) {
          this.me.isolation = new Map(heard.map((p) => [p.node, p.incarnation ?? 0]));
        }
      }
    }

    if (this.me.lastSentAt !== null) {
      if (this.peerAddresses().length === 0) {
        // Nobody to miss this node's heartbeats.
        this.me.lastSentAt = now;
      } else if (now - this.me.lastSentAt > this.deadAfterMs) {
        this.me.sendSilent = true;
      }
    }

    for (const d of [this.me, ...this.peers.values()]) {
      const h = d.hold;
      if (h.heldUntil !== null && now >= h.heldUntil) {
        h.stableSince = h.heldUntil;
        h.heldUntil = null;
      }
    }
    const changes = this.recompute(now);
    this.prune();
    return this.emit(changes);
  }

  /** At least one heartbeat to a peer was handed to the kernel without error just now. */
  selfSent(): MembershipChange[] {
    const now = this.time();
    this.me.lastSentAt = now;
    // Called every round: only the end of a silence can change anything.
    if (!this.me.sendSilent) return [];
    this.me.sendSilent = false;
    this.me.holdOnReturn = true;
    return this.emit(this.recompute(now));
  }

  /** Graceful stop: this node is not live from now on (the transport tells the peers). */
  leave(): MembershipChange[] {
    const now = this.time();
    this.me.leaving = true;
    return this.emit(this.recompute(now));
  }

  // ---- questions (as of the last event or tick) -------------------------------------------

  /** Live nodes, this one included, sorted. */
  live(): string[] {
    return this.names((d) => d.live);
  }

  /** Nodes that may announce: live, not fenced, not held; this one included. Sorted. */
  eligible(): string[] {
    return this.names((d) => d.state === "eligible");
  }

  /** Live nodes fenced for lack of API health. */
  fenced(): string[] {
    return this.names((d) => d.fenced);
  }

  /** Live nodes on hold after a death by silence (this node also while a peer holds it). */
  held(): string[] {
    return this.names((d) => d.held);
  }

  /** Whether this node holds `node` now: told to that peer in every heartbeat. */
  holds(node: string): boolean {
    return this.peers.get(node)?.held === true;
  }

  isEligible(node: string): boolean {
    return this.derived(node)?.state === "eligible";
  }

  /** This node must not announce: it lost the API while another live node has it. */
  selfFenced(): boolean {
    return this.me.fenced;
  }

  /** This node's API view is current (the flag its heartbeats carry). */
  selfApiHealthy(): boolean {
    return this.me.apiHealthy;
  }

  selfLeaving(): boolean {
    return this.me.leaving;
  }

  /** Where to send heartbeats: every peer whose Lease exists and names an address. */
  peerAddresses(): PeerAddress[] {
    const out: PeerAddress[] = [];
    for (const p of this.peers.values()) {
      if (p.lease !== null && p.address !== null) out.push({ node: p.node, ...p.address });
    }
    return out.sort((a, b) => cmp(a.node, b.node));
  }

  status(): NodeStatus[] {
    const now = this.lastNow;
    const common = (d: Derived) => ({
      state: d.state,
      live: d.live,
      fenced: d.fenced,
      held: d.held,
      apiHealthy: d.apiHealthy,
      holdLeftMs: d.hold.heldUntil === null ? 0 : Math.max(0, d.hold.heldUntil - now),
      nextHoldMs: this.nextHold(d.hold, now),
    });
    const me = this.me;
    const out: NodeStatus[] = [
      {
        node: this.self,
        self: true,
        ...common(me),
        heartbeatFresh: !me.silent,
        leaseLive: me.apiHealthy,
        heardEver: me.lastSentAt !== null,
        leaving: me.leaving,
        incarnation: null,
        heardAgoMs: me.lastSentAt === null ? null : now - me.lastSentAt,
        address: null,
        heardFrom: null,
      },
    ];
    for (const p of this.peers.values()) {
      out.push({
        node: p.node,
        self: false,
        ...common(p),
        heartbeatFresh: p.heardAt !== null && !p.silent,
        leaseLive: p.lease !== null && !p.lease.expired,
        heardEver: p.heardAt !== null,
        leaving: p.leaving,
        incarnation: p.incarnation,
        heardAgoMs: p.heardAt === null ? null : now - p.heardAt,
        address: p.address === null ? null : formatHeartbeatAddress(p.address),
        heardFrom: p.heardFrom,
      });
    }
    return out.sort((a, b) => cmp(a.node, b.node));
  }

  counters(): MembershipCounters {
    return structuredClone(this.stats);
  }

  // ---- internals -------------------------------------------------------------------------

  private time(t?: number): number {
    // Monotonic by contract; a caller's mistake must not move time backwards.
    this.lastNow = Math.max(this.lastNow, t ?? this.clock());
    return this.lastNow;
  }

  private emit(changes: MembershipChange[]): MembershipChange[] {
    if (changes.length > 0) this.onChange?.(changes);
    return changes;
  }

  private derived(node: string): Derived | undefined {
    return node === this.self ? this.me : this.peers.get(node);
  }

  private peer(node: string): Peer {
    let p = this.peers.get(node);
    if (p === undefined) {
      p = {
        node,
        lease: null,
        address: null,
        incarnation: null,
        seq: -1,
        heardAt: null,
        silent: false,
        apiFlag: false,
        leaving: false,
        heardFrom: null,
        holdsMe: false,
        live: false,
        apiHealthy: false,
        apiSince: this.lastNow,
        fenced: false,
        held: false,
        state: "absent",
        hold: newHold(),
      };
      this.peers.set(node, p);
    }
    return p;
  }

  private resetHeartbeats(p: Peer): void {
    p.incarnation = null;
    p.seq = -1;
    p.heardAt = null;
    p.silent = false;
    p.apiFlag = false;
    p.leaving = false;
    p.holdsMe = false;
    // A restarted (or removed) peer cannot tell whether this node was the isolated one.
    const iso = this.me.isolation;
    if (iso?.delete(p.node) === true && iso.size === 0) this.me.isolation = null;
  }

  /** The hold a death by silence at `now` earns: doubled while flapping, else the base. */
  private nextHold(h: Hold, now: number): number {
    if (h.holdMs === 0) return this.rejoinAfterMs;
    const flapping =
      h.pending ||
      h.heldUntil !== null ||
      (h.stableSince !== null && now - h.stableSince < this.stableAfterMs);
    return flapping ? Math.min(h.holdMs * 2, this.maxHoldMs) : this.rejoinAfterMs;
  }

  private diedBySilence(h: Hold, now: number): void {
    h.holdMs = this.nextHold(h, now);
    h.pending = true;
    h.heldUntil = null;
  }

  /** Died otherwise (leaving, Lease expired or deleted): no hold on return. */
  private diedOtherwise(h: Hold): void {
    h.pending = false;
    h.heldUntil = null;
  }

  private returned(h: Hold, now: number): void {
    if (h.pending) {
      h.pending = false;
      h.heldUntil = now + h.holdMs + (h === this.me.hold ? this.selfHoldExtraMs : 0);
    } else {
      h.stableSince = now;
    }
  }

  private deadReason(p: Peer): ChangeReason {
    if (p.leaving) return "leaving";
    if (p.lease === null) return "lease-deleted";
    if (p.heardAt !== null && p.silent) return "heartbeat-silence";
    return "lease-expired";
  }

  /** Re-derives every node's state at `now`; returns what changed, sorted by node. */
  private recompute(now: number): MembershipChange[] {
    const me = this.me;

    // Self: silence episodes are never a death in its own view, but a hold follows them.
    const silentNow = me.sendSilent || me.isolation !== null;
    if (!me.silent && silentNow) {
      me.silent = true;
      me.holdOnReturn = false;
      if (!me.startHoldPending) this.diedBySilence(me.hold, now);
    } else if (me.silent && !silentNow) {
      me.silent = false;
      if (!me.startHoldPending) {
        if (me.holdOnReturn) this.returned(me.hold, now);
        else this.diedOtherwise(me.hold);
      }
      me.holdOnReturn = false;
    }
    const probe = this.apiProbe();
    me.known ||= probe;
    const selfLive = me.known && !me.leaving;
    const selfApi = selfLive && probe;
    if (me.startHoldPending && selfApi) {
      // Peers see this run from its first Lease write on, and hold it from then.
      me.startHoldPending = false;
      this.returned(me.hold, now);
    }
    if (selfLive !== me.live || selfApi !== me.apiHealthy) me.apiSince = now;
    me.live = selfLive;
    me.apiHealthy = selfApi;

    // Peers: liveness, and the hold bookkeeping on each transition.
    for (const p of this.peers.values()) {
      const fresh = p.heardAt !== null && !p.silent;
      const leaseLive = p.lease !== null && !p.lease.expired;
      const live = !p.leaving && (fresh || (leaseLive && p.heardAt === null));
      if (p.live && !live) {
        if (this.deadReason(p) === "heartbeat-silence") this.diedBySilence(p.hold, now);
        else this.diedOtherwise(p.hold);
      } else if (!p.live && live) {
        this.returned(p.hold, now);
      }
      const api = live && (fresh ? p.apiFlag : leaseLive);
      if (live !== p.live || api !== p.apiHealthy) p.apiSince = now;
      p.live = live;
      p.apiHealthy = api;
    }

    // Held: a node's own hold, and for this node also any live peer that says it holds it.
    // A peer's hold may be longer than this node can know (it doubles with every death by
    // silence, and a restarted process remembers none), so its word decides: every view then
    // agrees, and an IP is never answered by this node and its current owner at once.
    for (const p of this.peers.values()) p.held = p.live && p.hold.heldUntil !== null;
    me.held =
      me.live &&
      (me.hold.heldUntil !== null || [...this.peers.values()].some((p) => p.live && p.holdsMe));

    // Fencing: not apiHealthy for fenceAfterMs, while another live, un-held node has been
    // apiHealthy for fenceAfterMs.
    const nodes: [string, Derived][] = [
      [this.self, me],
      ...[...this.peers].map(([n, p]): [string, Derived] => [n, p]),
    ];
    const settled = (d: Derived) => now - d.apiSince >= this.fenceAfterMs;
    const healthy = nodes.filter(([, d]) => d.live && !d.held && d.apiHealthy && settled(d));
    const changes: MembershipChange[] = [];
    for (const [node, d] of nodes) {
      d.fenced = d.live && !d.apiHealthy && settled(d) && healthy.some(([other]) => other !== node);
      const to: NodeState = !d.live
        ? d === me && !me.known
          ? "absent"
          : "dead"
        : d.held
          ? "held"
          : d.fenced
            ? "fenced"
            : "eligible";
      const from = d.state;
      d.state = to;
      if (from === to) continue;
      const peer = node === this.self ? undefined : this.peers.get(node);
      let reason: ChangeReason;
      if (to === "dead") reason = peer === undefined ? "leaving" : this.deadReason(peer);
      else if (to === "held") reason = "held";
      else if (to === "fenced") reason = "fenced";
      else if (from === "held") reason = "rejoined";
      else if (from === "fenced") reason = "unfenced";
      else reason = peer !== undefined && peer.heardAt !== null ? "heartbeat" : "lease";
      changes.push({
        node,
        change: to === "eligible" ? "joined" : from === "eligible" ? "left" : "changed",
        from,
        to,
        reason,
        ...(to === "held" ? { holdMs: d.hold.holdMs } : {}),
      });
    }
    return changes.sort((a, b) => cmp(a.node, b.node));
  }

  /** Forgets peers that are gone: no Lease, not live, no hold owed. */
  private prune(): void {
    for (const [node, p] of this.peers) {
      if (p.lease === null && !p.live && !p.hold.pending && p.hold.heldUntil === null) {
        this.peers.delete(node);
      }
    }
  }

  private names(pred: (d: Derived) => boolean): string[] {
    const out = pred(this.me) ? [this.self] : [];
    for (const [node, p] of this.peers) if (pred(p)) out.push(node);
    return out.sort(cmp);
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw new Error(`membership: ${name} must be > 0, not ${v}`);
  return v;
}

function nonNegative(name: string, v: number): number {
  if (!Number.isFinite(v) || v < 0) throw new Error(`membership: ${name} must be >= 0, not ${v}`);
  return v;
}
