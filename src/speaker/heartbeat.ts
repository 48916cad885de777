import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import {
  decodeHeartbeat,
  encodeHeartbeat,
  formatHeartbeatAddress,
  HEARTBEAT_DEFAULT_PORT,
  type HeartbeatDecodeError,
} from "./heartbeat-codec.js";
import type { HeartbeatKeys } from "./heartbeat-keys.js";
import type { HeartbeatDropReason, Membership, PeerAddress } from "./membership.js";

/**
 * The UDP half of membership: sends this speaker's heartbeat to every peer every interval,
 * feeds the peers' heartbeats into the Membership, and ticks it.
 *
 * - One socket per bound address (udp4 and/or udp6, IPv6-only), by default the wildcards
 *   0.0.0.0 and :: on port 7946; a family the host lacks is skipped with a warning when the
 *   addresses are the defaults, and is an error when they were given.
 * - Every `intervalMs` (a timer chain, unref'd: it never keeps the process up) one datagram,
 *   signed with the keyring's signing key, goes to each peer address the Membership knows
 *   from the peers' Leases. All peers get the
 *   same datagram, so `seq` increases by one per round: per peer, by one per datagram.
 * - The Membership is ticked in a setImmediate after each round: the event loop's poll phase
 *   runs in between, so datagrams that queued while this process was late are read before
 *   any silence is judged (starvation of the observer must not look like death of the
 *   observed). How late the timer fired is measured and reported.
 * - A datagram is checked (key, HMAC, encoding) before the Membership sees it.
 * - Nothing here throws past its boundary: a bad datagram is dropped and counted, a failed
 *   send is counted and logged once per peer until it recovers, a socket error is logged,
 *   and an exception from the Membership's change listener is logged.
 */

export interface HeartbeatLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** What the transport counts; the speaker maps these onto Prometheus metrics. */
export interface HeartbeatMetrics {
  /** A datagram was handed to the kernel. */
  sent(): void;
  /** Sending failed (errno code such as ENETUNREACH, or "no-socket" for a missing family). */
  sendFailed(code: string): void;
  /** A datagram arrived (before validation). */
  received(): void;
  /**
   * A datagram was not accepted: bad encoding, unknown or retired key, bad HMAC (forged or
   * altered), or refused by the Membership (unknown node, other run, replayed).
   */
  dropped(reason: HeartbeatDecodeError | HeartbeatDropReason): void;
  /** How late the round timer fired, ms (once per round). */
  timerLate(ms: number): void;
}

export interface HeartbeatCountersSnapshot {
  sent: number;
  sendFailed: Record<string, number>;
  received: number;
  dropped: Record<string, number>;
  rounds: number;
  maxTimerLateMs: number;
}

/** Plain in-memory counts (tests, fixtures, `status`). */
export class HeartbeatCounters implements HeartbeatMetrics {
  private readonly c: HeartbeatCountersSnapshot = {
    sent: 0,
    sendFailed: {},
    received: 0,
    dropped: {},
    rounds: 0,
    maxTimerLateMs: 0,
  };
  sent(): void {
    this.c.sent++;
  }
  sendFailed(code: string): void {
    this.c.sendFailed[code] = (this.c.sendFailed[code] ?? 0) + 1;
  }
  received(): void {
    this.c.received++;
  }
  dropped(reason: string): void {
    this.c.dropped[reason] = (this.c.dropped[reason] ?? 0) + 1;
  }
  timerLate(ms: number): void {
    this.c.rounds++;
    this.c.maxTimerLateMs = Math.max(this.c.maxTimerLateMs, ms);
  }
  snapshot(): HeartbeatCountersSnapshot {
    return structuredClone(this.c);
  }
}

export interface HeartbeatTransportOptions {
  membership: Membership;
  /** This speaker: its node name, and the token and incarnation its Lease publishes. */
  self: { node: string; token: string; incarnation: number };
  /** The shared keys: heartbeats are signed with the signing key and checked with these. */
  keys: HeartbeatKeys;
  /** UDP port to bind (0: any, see `boundAddresses()`). Default 7946. */
  port?: number;
  /** Addresses to bind, one socket each. Default ["0.0.0.0", "::"]. */
  bindAddresses?: readonly string[];
  /** Heartbeat interval, ms. Keep it well under the Membership's deadAfterMs. Default 200. */
  intervalMs?: number;
  /** Timer lateness logged as a warning, ms. Default 1000. */
  lagWarnMs?: number;
  /** Leaving heartbeats sent on a graceful stop. Default 3. */
  leaveCount?: number;
  /** Spacing between them, ms. Default 20. */
  leaveSpacingMs?: number;
  log: HeartbeatLogger;
  metrics?: HeartbeatMetrics;
  /** Monotonic clock, ms: the same one the Membership uses. Default performance.now(). */
  now?: () => number;
}

const DEFAULT_BIND = ["0.0.0.0", "::"] as const;

export class HeartbeatTransport {
  private readonly m: Membership;
  private readonly log: HeartbeatLogger;
  private readonly metrics: HeartbeatMetrics;
  private readonly now: () => number;
  private readonly intervalMs: number;
  private readonly sockets: { socket: Socket; family: 4 | 6; address: string }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private nextDue = 0;
  private seq = 0;
  private round = 0;
  private lastOkRound = -1;
  private state: "new" | "running" | "leaving" | "closed" = "new";
  /** Last send error per peer, to log once per failure rather than 5 times a second. */
  private readonly failing = new Map<string, string>();

  constructor(private readonly opts: HeartbeatTransportOptions) {
    this.m = opts.membership;
    this.log = opts.log;
    this.metrics = opts.metrics ?? new HeartbeatCounters();
    this.now = opts.now ?? (() => performance.now());
    this.intervalMs = opts.intervalMs ?? 200;
    if (!Number.isFinite(this.intervalMs) || this.intervalMs <= 0) {
      throw new Error(`heartbeat interval must be > 0 ms, not ${this.intervalMs}`);
    }
    // Fail here rather than on the first round: encoding checks name, token and incarnation.
    encodeHeartbeat(
      { ...opts.self, seq: 0, apiHealthy: false, leaving: false },
      opts.keys.signingKey(),
    );
  }

  /** Binds the sockets and starts the rounds. Rejects when no socket could be bound. */
  async start(): Promise<void> {
    if (this.state !== "new") throw new Error("heartbeat transport already started");
    const port = this.opts.port ?? HEARTBEAT_DEFAULT_PORT;
    const explicit = this.opts.bindAddresses !== undefined;
    const errors: Error[] = [];
    for (const address of this.opts.bindAddresses ?? DEFAULT_BIND) {
      try {
        this.sockets.push(await this.bind(address, port));
      } catch (e: unknown) {
        const err = new Error(`cannot bind heartbeat socket to ${address} port ${port}`, {
          cause: e,
        });
        if (explicit) {
          await this.closeSockets();
          throw err;
        }
        this.log.warn({ err, address, port }, "heartbeat socket not bound; family skipped");
        errors.push(err);
      }
    }
    if (this.sockets.length === 0) {
      throw new AggregateError(errors, `cannot bind any heartbeat socket on port ${port}`);
    }
    this.state = "running";
    this.nextDue = this.now();
    this.schedule();
  }

  /** Where the sockets are bound (with the real port when 0 was asked for). */
  boundAddresses(): { address: string; port: number; family: 4 | 6 }[] {
    return this.sockets.map(({ socket, family }) => {
      const a = socket.address();
      return { address: a.address, port: a.port, family };
    });
  }

  /**
   * Graceful stop: marks this node as leaving in the Membership (it is not live from now on)
   * and sends the leaving heartbeat `leaveCount` times, so peers drop it at once. No more
   * rounds after this; received heartbeats are still fed in until `close()`.
   */
  async leave(): Promise<void> {
    if (this.state === "leaving" || this.state === "closed") return;
    const wasRunning = this.state === "running";
    this.state = "leaving";
    clearTimeout(this.timer);
    this.guard(() => this.m.leave());
    if (!wasRunning) return;
    const count = this.opts.leaveCount ?? 3;
    const spacing = this.opts.leaveSpacingMs ?? 20;
    for (let i = 0; i < count; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, spacing));
      await this.sendRound(true);
    }
  }

  /** Stops the rounds and closes the sockets. */
  async close(): Promise<void> {
    if (this.state === "closed") return;
    this.state = "closed";
    clearTimeout(this.timer);
    await this.closeSockets();
  }

  private bind(
    address: string,
    port: number,
  ): Promise<{
    socket: Socket;
    family: 4 | 6;
    address: string;
  }> {
    const family = isIPv6(address) ? 6 : 4;
    const socket = createSocket({ type: family === 6 ? "udp6" : "udp4", ipv6Only: family === 6 });
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => {
        socket.close();
        reject(err);
      };
      socket.once("error", onError);
      socket.bind({ address, port, exclusive: true }, () => {
        socket.off("error", onError);
        socket.on("error", (err) => {
          this.log.error({ err, address }, "heartbeat socket error");
        });
        socket.on("message", (msg, rinfo) => this.onMessage(msg, rinfo));
        resolve({ socket, family, address });
      });
    });
  }

  private async closeSockets(): Promise<void> {
    const all = this.sockets.splice(0);
    await Promise.all(
      all.map(
        ({ socket }) =>
          new Promise<void>((resolve) => {
            try {
              socket.close(() => resolve());
            } catch {
              resolve(); // already closed
            }
          }),
      ),
    );
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.state === "closed") return;
    this.metrics.received();
    const d = decodeHeartbeat(msg, this.opts.keys);
    if (!d.ok) {
      this.metrics.dropped(d.error);
      return;
    }
    const from = formatHeartbeatAddress({ ip: rinfo.address, port: rinfo.port });
    this.guard(() => {
      const out = this.m.heartbeat(d.heartbeat, from);
      if (!out.accepted) this.metrics.dropped(out.reason);
    });
  }

  private schedule(): void {
    const delay = Math.max(0, this.nextDue - this.now());
    this.timer = setTimeout(() => this.onTimer(), delay);
    this.timer.unref();
  }

  private onTimer(): void {
    if (this.state !== "running") return;
    const now = this.now();
    const late = Math.max(0, now - this.nextDue);
    this.metrics.timerLate(late);
    if (late >= (this.opts.lagWarnMs ?? 1_000)) {
      this.log.warn({ lateMs: Math.round(late) }, "heartbeat timer fired late (event loop lag)");
    }
    void this.sendRound(false);
    // Judge after the poll phase has read what queued meanwhile (see the top of this file).
    setImmediate(() => {
      if (this.state === "running") this.guard(() => this.m.tick(this.now()));
    }).unref();
    // Keep the cadence; after a long stall, start over from now rather than catch up.
    this.nextDue += this.intervalMs;
    if (this.nextDue <= now) this.nextDue = now + this.intervalMs;
    this.schedule();
  }

  /**
   * One datagram to every peer; resolves when every send has completed or failed. Each peer
   * is told whether this node holds it (two encodings per round, the same seq in both).
   */
  private sendRound(leaving: boolean): Promise<void> {
    const round = this.round++;
    const encoded = new Map<boolean, Uint8Array>();
    const seq = this.seq++;
    const key = this.opts.keys.signingKey();
    const datagram = (holdsYou: boolean): Uint8Array | undefined => {
      let d = encoded.get(holdsYou);
      if (d === undefined) {
        try {
          d = encodeHeartbeat(
            {
              ...this.opts.self,
              seq,
              apiHealthy: this.m.selfApiHealthy(),
              leaving,
              holdsYou,
            },
            key,
          );
        } catch (e: unknown) {
          this.log.error({ err: e }, "cannot encode heartbeat");
          return undefined;
        }
        encoded.set(holdsYou, d);
      }
      return d;
    };
    const sends = this.m.peerAddresses().map((peer) => {
      const d = datagram(this.m.holds(peer.node));
      return d === undefined ? Promise.resolve() : this.sendTo(peer, d, round);
    });
    return Promise.all(sends).then(() => undefined);
  }

  private sendTo(peer: PeerAddress, datagram: Uint8Array, round: number): Promise<void> {
    const target = this.sockets.find((s) => s.family === peer.family);
    if (target === undefined) {
      this.failed(peer, "no-socket", undefined);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      try {
        target.socket.send(datagram, peer.port, peer.ip, (err) => {
          if (err !== null) this.failed(peer, errorCode(err), err);
          else this.succeeded(peer, round);
          resolve();
        });
      } catch (e: unknown) {
        // Synchronous throws: a socket closed meanwhile, a bad argument.
        this.failed(peer, errorCode(e), e);
        resolve();
      }
    });
  }

  private succeeded(peer: PeerAddress, round: number): void {
    this.metrics.sent();
    const key = `${peer.node} ${formatHeartbeatAddress(peer)}`;
    if (this.failing.delete(key)) {
      this.log.info({ peer: peer.node, to: formatHeartbeatAddress(peer) }, "heartbeats resumed");
    }
    if (round !== this.lastOkRound && this.state !== "closed") {
      this.lastOkRound = round;
      this.guard(() => this.m.selfSent());
    }
  }

  private failed(peer: PeerAddress, code: string, err: unknown): void {
    this.metrics.sendFailed(code);
    const key = `${peer.node} ${formatHeartbeatAddress(peer)}`;
    if (this.failing.get(key) === code) return;
    this.failing.set(key, code);
    this.log.warn(
      { err, code, peer: peer.node, to: formatHeartbeatAddress(peer) },
      "cannot send heartbeat",
    );
  }

  /** Runs a Membership call; a throw (from its change listener) is logged, never raised. */
  private guard(fn: () => unknown): void {
    try {
      fn();
    } catch (e: unknown) {
      this.log.error({ err: e }, "membership update failed");
    }
  }
}

function errorCode(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "unknown";
}
