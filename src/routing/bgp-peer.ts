import * as net from "node:net";
import { networkInterfaces } from "node:os";
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import {
  announceAll,
  diffRoutes,
  EMPTY_ROUTES,
  encodeMessage,
  endOfRib,
  errorName,
  initialState,
  MessageStream,
  routeSet,
  step,
  type DownReason,
  type Family,
  type Message,
  type Negotiated,
  type Notification,
  type OutboundPolicy,
  type Route,
  type RouteSet,
  type SessionAction,
  type SessionConfig,
  type SessionEvent,
  type SessionState,
  type SessionStateName,
  type TimerName,
  type Update,
} from "../bgp/index.js";
import { loadAddon } from "../dataplane/native.js";
import { formatIP, parseIP, type IP } from "../net/ip.js";

/**
 * The TCP edge of one BGP session: it carries out what the pure state machine
 * (src/bgp/session.ts) decides (connect, send, close, timers) and feeds it what happens on
 * the socket. Routes are kept as the set wanted (`setRoutes`) and the set last sent (the
 * Adj-RIB-Out, src/bgp/outbound.ts); while Established the difference goes out as UPDATEs.
 *
 * - Framing: bytes go through a `MessageStream`, so messages cut by TCP or sharing a chunk are
 *   handled, and a bad header becomes the NOTIFICATION the state machine sends.
 * - Timers: one `setTimeout` per deadline the state machine sets, unref'd (the socket keeps
 *   the process alive, a retry wait does not); it fires at the deadline, not before.
 * - Back-pressure: route changes are sent only once the socket has drained what was written
 *   before; changes made meanwhile collapse into one difference. KEEPALIVEs and
 *   NOTIFICATIONs are written at once (they are small and time-bound).
 * - Next hops: the connection's own local address, unless given. For an IPv6 session the
 *   link-local address of the interface holding that address is sent too (RFC 2545 3).
 * - TCP MD5 (`password`): the socket is made by the addon with the key set before connect.
 */

export interface BgpPeerOptions {
  /** The router's address (`peer-address`). */
  readonly peerAddress: string;
  /** Default 179 (`peer-port`). */
  readonly peerPort?: number;
  /** The local address to connect from (`source-address`). */
  readonly sourceAddress?: string;
  /** The RFC 2385 TCP MD5 key (`password`); needs the native addon. */
  readonly password?: string;
  readonly session: SessionConfig;
  /**
   * Next hops to announce; each defaults to the connection's local address when that is of
   * its family (and the IPv6 link-local one to the address of the interface holding it).
   * Without a next hop for a family, its routes are not sent.
   */
  readonly nextHops?: {
    readonly ipv4?: string;
    readonly ipv6?: string;
    readonly ipv6LinkLocal?: string;
  };
  readonly logger: Logger;
  /** Called when the session reaches Established, and on every session-down action. */
  readonly onChange?: (change: PeerChange) => void;
  /** How long `stop()` waits for the Cease to be flushed before it drops the socket. */
  readonly stopTimeoutMs?: number;
}

export type PeerChange =
  | { readonly type: "up"; readonly negotiated: Negotiated }
  | {
      readonly type: "down";
      readonly reason: DownReason;
      readonly detail: string;
      /** The session had been Established: the router has dropped barelb's routes. */
      readonly established: boolean;
      readonly notification?: Notification;
    };

export interface BgpPeerCounters {
  /** Messages received, by type (`open`, `update`, `notification`, `keepalive`, `route-refresh`). */
  readonly messagesIn: Readonly<Record<Message["type"], number>>;
  readonly messagesOut: Readonly<Record<Message["type"], number>>;
  /** Prefixes the router has from this session now (the Adj-RIB-Out). */
  readonly prefixesAdvertised: number;
  /** Connection attempts made (each `connect` action). */
  readonly connectAttempts: number;
  /** Sessions that reached Established. */
  readonly established: number;
  /** Prefixes sent in UPDATEs (each announcement counts, also a full table again). */
  readonly prefixesAnnounced: number;
  /** Prefixes withdrawn in UPDATEs. */
  readonly prefixesWithdrawn: number;
}

const MESSAGE_TYPES: readonly Message["type"][] = [
  "open",
  "update",
  "notification",
  "keepalive",
  "route-refresh",
];

const zeroCounts = (): Record<Message["type"], number> =>
  Object.fromEntries(MESSAGE_TYPES.map((t) => [t, 0])) as Record<Message["type"], number>;

export class BgpPeer {
  private fsm: SessionState;
  private socket: net.Socket | null = null;
  private stream = new MessageStream();
  private policy: OutboundPolicy | null = null;
  private desired: RouteSet = EMPTY_ROUTES;
  private sent: RouteSet = EMPTY_ROUTES;
  /** Route changes wait for the socket to drain. */
  private waitingForDrain = false;
  private readonly timers = new Map<TimerName, NodeJS.Timeout>();
  private readonly queue: SessionEvent[] = [];
  private stepping = false;
  private started = false;
  private stopping: Promise<void> | null = null;
  /** Sockets closing after a NOTIFICATION, with what resolves when each is gone. */
  private readonly closing = new Set<Promise<void>>();
  private readonly messagesIn = zeroCounts();
  private readonly messagesOut = zeroCounts();
  private connectAttempts = 0;
  private establishedCount = 0;
  private prefixesAnnounced = 0;
  private prefixesWithdrawn = 0;
  private readonly log: Logger;
  private readonly port: number;

  constructor(private readonly options: BgpPeerOptions) {
    this.fsm = initialState(options.session);
    this.port = options.peerPort ?? 179;
    this.log = options.logger.child({ peer: options.peerAddress });
    if (!net.isIP(options.peerAddress)) {
      throw new TypeError(`peer address ${options.peerAddress} is not an IP address`);
    }
  }

  /** Starts the session: it connects, and reconnects after failures with back-off, until `stop`. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.feed({ type: "manual-start" });
  }

  /**
   * The routes the router should have from this session. While Established only the
   * difference to what was sent goes out; otherwise they are sent when the session comes up.
   * Throws a RangeError on a prefix that does not parse or has host bits set.
   */
  setRoutes(routes: readonly Route[]): void {
    this.desired = routeSet(routes);
    this.syncRoutes();
  }

  /**
   * Ends the session with a Cease / Administrative Shutdown carrying `message` (RFC 9003), so
   * the router withdraws barelb's routes at once; resolves once the socket is closed, after
   * at most `stopTimeoutMs` (default 2 s). Idempotent; no restart afterwards.
   */
  stop(message?: string): Promise<void> {
    if (this.stopping !== null) return this.stopping;
    this.started = true; // a peer stopped before it started stays stopped
    this.feed(message === undefined ? { type: "manual-stop" } : { type: "manual-stop", message });
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.stopping = Promise.all([...this.closing]).then(() => undefined);
    return this.stopping;
  }

  /**
   * Drops the connection for a cause outside TCP (BFD says the peer is down): the session
   * ends as if the connection had failed, and starts again after the back-off.
   */
  fail(reason: string): void {
    this.feed({ type: "tcp-failed", reason });
  }

  state(): SessionStateName {
    return this.fsm.name;
  }

  /** What was agreed with the router, while a connection is past OpenSent. */
  negotiated(): Negotiated | null {
    return this.fsm.negotiated;
  }

  counters(): BgpPeerCounters {
    return {
      messagesIn: { ...this.messagesIn },
      messagesOut: { ...this.messagesOut },
      prefixesAdvertised: this.sent.size,
      connectAttempts: this.connectAttempts,
      established: this.establishedCount,
      prefixesAnnounced: this.prefixesAnnounced,
      prefixesWithdrawn: this.prefixesWithdrawn,
    };
  }

  /** The local address of the connection, while there is one (the BFD session's source). */
  localAddress(): string | undefined {
    return this.socket?.localAddress;
  }

  // ---- the state machine ----

  private feed(event: SessionEvent): void {
    this.queue.push(event);
    if (this.stepping) return; // an action fed an event: run it after this step's actions
    this.stepping = true;
    try {
      for (let e = this.queue.shift(); e !== undefined; e = this.queue.shift()) {
        const { state, actions } = step(this.fsm, e, performance.now());
        const before = this.fsm.name;
        this.fsm = state;
        if (state.name !== before) {
          this.log.debug({ from: before, to: state.name, event: e.type }, "bgp state");
        }
        // A NOTIFICATION sent right before a close is flushed by that close.
        const flushing = actions.some(
          (a) => a.type === "send" && a.message.type === "notification",
        );
        for (const a of actions) this.act(a, flushing);
      }
    } finally {
      this.stepping = false;
    }
  }

  private act(a: SessionAction, flushing: boolean): void {
    switch (a.type) {
      case "connect":
        this.connect();
        return;
      case "close":
        this.closeSocket(flushing);
        return;
      case "send":
        this.send([a.message]);
        return;
      case "set-timer":
        this.setTimer(a.timer, a.at);
        return;
      case "stop-timer":
        this.clearTimer(a.timer);
        return;
      case "session-up":
        this.establishedCount++;
        this.log.info(
          {
            asn: a.negotiated.peerASN,
            routerId: a.negotiated.peerRouterId,
            holdTime: a.negotiated.holdTime,
            families: a.negotiated.families,
          },
          "bgp session established",
        );
        this.options.onChange?.({ type: "up", negotiated: a.negotiated });
        return;
      case "advertise-all":
        this.advertiseAll(a.families);
        return;
      case "route-refresh":
        this.routeRefresh(a.family);
        return;
      case "session-down": {
        this.sent = EMPTY_ROUTES;
        this.policy = null;
        this.waitingForDrain = false;
        const context = {
          reason: a.reason,
          detail: a.detail,
          established: a.established,
          ...(a.notification === undefined
            ? {}
            : { notification: errorName(a.notification.code, a.notification.subcode) }),
          failures: this.fsm.failures,
        };
        // One line per attempt that failed; the back-off keeps them rare.
        if (a.established || a.reason === "stopped") this.log.info(context, "bgp session down");
        else this.log.warn(context, "bgp session attempt failed");
        this.options.onChange?.({
          type: "down",
          reason: a.reason,
          detail: a.detail,
          established: a.established,
          ...(a.notification === undefined ? {} : { notification: a.notification }),
        });
        return;
      }
    }
  }

  // ---- timers ----

  private setTimer(timer: TimerName, at: number): void {
    this.clearTimer(timer);
    const arm = () => {
      const wait = at - performance.now();
      const t = setTimeout(
        () => {
          this.timers.delete(timer);
          // Never early: the state machine ignores a timer before its deadline.
          if (performance.now() < at) arm();
          else this.feed({ type: "timer", timer });
        },
        Math.max(0, Math.ceil(wait)),
      );
      t.unref();
      this.timers.set(timer, t);
    };
    arm();
  }

  private clearTimer(timer: TimerName): void {
    const t = this.timers.get(timer);
    if (t !== undefined) clearTimeout(t);
    this.timers.delete(timer);
  }

  // ---- the socket ----

  private connect(): void {
    this.connectAttempts++;
    this.stream = new MessageStream();
    let socket: net.Socket;
    try {
      socket = this.openSocket();
    } catch (e: unknown) {
      // A bad source address or a refused key: a failed attempt, retried after the back-off.
      // Queued: it is stepped once this step's actions are done.
      this.feed({ type: "tcp-failed", reason: e instanceof Error ? e.message : String(e) });
      return;
    }
    this.socket = socket;
    socket.setNoDelay(true);
    let lastError: Error | undefined;
    socket.on("connect", () => {
      if (this.socket !== socket) return;
      this.policy = this.outboundPolicy(socket);
      const p = this.policy;
      this.log.debug(
        {
          local: socket.localAddress,
          localPort: socket.localPort,
          nextHops: [p.nextHopV4, p.nextHopV6, p.linkLocalV6].flatMap((ip) =>
            ip === undefined ? [] : [formatIP(ip)],
          ),
        },
        "bgp tcp connected",
      );
      this.feed({ type: "tcp-connected" });
    });
    socket.on("data", (chunk: Buffer) => {
      if (this.socket !== socket) return;
      for (const result of this.stream.push(chunk)) {
        if (result.ok) {
          this.messagesIn[result.value.type]++;
          this.log.debug({ message: result.value.type }, "bgp message received");
        } else {
          this.log.debug({ error: result.error }, "bgp message refused");
        }
        this.feed({ type: "received", result });
        if (this.socket !== socket) return; // the message ended the connection
      }
    });
    socket.on("drain", () => {
      if (this.socket !== socket || !this.waitingForDrain) return;
      this.waitingForDrain = false;
      this.syncRoutes();
    });
    socket.on("error", (err) => {
      lastError = err;
    });
    socket.on("close", () => {
      if (this.socket !== socket) return;
      this.socket = null;
      const reason =
        lastError === undefined
          ? "closed by the peer"
          : ((lastError as NodeJS.ErrnoException).code ?? lastError.message);
      this.feed({ type: "tcp-failed", reason });
    });
  }

  private openSocket(): net.Socket {
    const { peerAddress, sourceAddress, password } = this.options;
    if (password === undefined || password === "") {
      return net.connect({
        host: peerAddress,
        port: this.port,
        ...(sourceAddress === undefined ? {} : { localAddress: sourceAddress }),
      });
    }
    // The key must be on the socket before the SYN: the addon makes the socket with it,
    // libuv takes the descriptor and connects it like any other.
    const fd = loadAddon().tcpSocket(peerAddress, password, sourceAddress ?? null);
    const socket = new net.Socket({ fd });
    return socket.connect(this.port, peerAddress);
  }

  /** Drops the current socket; after a NOTIFICATION, flushes it first (bounded). */
  private closeSocket(flush: boolean): void {
    const socket = this.socket;
    this.socket = null;
    this.waitingForDrain = false;
    if (socket === null) return;
    if (!flush || socket.destroyed || socket.connecting) {
      socket.destroy();
      return;
    }
    const gone = new Promise<void>((resolve) => {
      const timeout = setTimeout(() => socket.destroy(), this.options.stopTimeoutMs ?? 2_000);
      timeout.unref();
      socket.once("close", () => {
        clearTimeout(timeout);
        resolve();
      });
    });
    this.closing.add(gone);
    void gone.then(() => this.closing.delete(gone));
    socket.end();
  }

  private send(messages: readonly Message[]): void {
    const socket = this.socket;
    if (socket === null || messages.length === 0) return;
    const bytes = messages.map((m) => {
      this.messagesOut[m.type]++;
      return encodeMessage(m);
    });
    if (this.log.isLevelEnabled("debug")) {
      this.log.debug(
        { messages: messages.map((m) => m.type), bytes: bytes.reduce((n, b) => n + b.length, 0) },
        "bgp messages sent",
      );
    }
    if (!socket.write(bytes.length === 1 ? (bytes[0] as Buffer) : Buffer.concat(bytes))) {
      this.waitingForDrain = true;
    }
  }

  private sendUpdates(updates: readonly Update[]): void {
    for (const u of updates) {
      this.prefixesAnnounced += u.nlri.length + (u.attributes.mpReach?.nlri.length ?? 0);
      this.prefixesWithdrawn +=
        u.withdrawn.length + (u.attributes.mpUnreach?.withdrawn.length ?? 0);
    }
    this.send(updates.map((update) => ({ type: "update", update })));
  }

  // ---- routes ----

  private advertiseAll(families: readonly Family[]): void {
    if (this.policy === null) return;
    this.policy = { ...this.policy, families };
    const out = announceAll(this.desired, this.policy, families);
    this.sent = out.sent;
    this.sendUpdates([...out.updates, ...families.map(endOfRib)]);
    this.log.info({ prefixes: out.sent.size, families }, "bgp routes advertised");
  }

  private routeRefresh(family: Family): void {
    if (this.policy === null) return;
    const out = announceAll(this.sent, this.policy, [family]);
    this.sendUpdates(out.updates);
    this.log.debug({ family, prefixes: out.sent.size }, "bgp route refresh answered");
  }

  private syncRoutes(): void {
    if (this.fsm.name !== "Established" || this.policy === null || this.socket === null) return;
    if (this.waitingForDrain) return; // sent on 'drain', with every change made until then
    const out = diffRoutes(this.sent, this.desired, this.policy);
    this.sent = out.sent;
    if (out.updates.length === 0) return;
    this.sendUpdates(out.updates);
    this.log.debug({ updates: out.updates.length, prefixes: out.sent.size }, "bgp routes updated");
  }

  /** Next hops for this connection: the configured ones, else its local address. */
  private outboundPolicy(socket: net.Socket): OutboundPolicy {
    const c = this.options.session;
    const local = socket.localAddress === undefined ? undefined : parseAddress(socket.localAddress);
    const given = this.options.nextHops ?? {};
    const nextHopV4 =
      given.ipv4 !== undefined ? parseAddress(given.ipv4) : local?.family === 4 ? local : undefined;
    const nextHopV6 =
      given.ipv6 !== undefined ? parseAddress(given.ipv6) : local?.family === 6 ? local : undefined;
    const linkLocal =
      given.ipv6LinkLocal ??
      (local?.family === 6 && socket.localAddress !== undefined
        ? linkLocalBeside(socket.localAddress)
        : undefined);
    const linkLocalV6 = linkLocal === undefined ? undefined : parseAddress(linkLocal);
    return {
      localASN: c.localASN,
      ibgp: c.localASN === c.peerASN,
      families: c.families,
      ...(nextHopV4 === undefined ? {} : { nextHopV4 }),
      ...(nextHopV6 === undefined ? {} : { nextHopV6 }),
      ...(linkLocalV6 === undefined ? {} : { linkLocalV6 }),
    };
  }
}

function parseAddress(text: string): IP | undefined {
  const r = parseIP(text.replace(/%.*$/, ""));
  return r.ok ? r.value : undefined;
}

/** The link-local IPv6 address of the interface that holds `address`, if there is one. */
export function linkLocalBeside(address: string): string | undefined {
  const want = parseAddress(address);
  if (want === undefined) return undefined;
  for (const addrs of Object.values(networkInterfaces())) {
    const list = addrs ?? [];
    const holds = list.some((a) => {
      const ip = parseAddress(a.address);
      return ip !== undefined && ip.family === want.family && ip.value === want.value;
    });
    if (!holds) continue;
    const ll = list.find((a) => a.family === "IPv6" && a.address.toLowerCase().startsWith("fe80:"));
    if (ll !== undefined) return ll.address.replace(/%.*$/, "");
  }
  return undefined;
}
