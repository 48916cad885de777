import type { Logger } from "pino";
import {
  BFD_CONTROL_PORT,
  BFD_SINGLE_HOP_TTL,
  BFD_SOURCE_PORT_MAX,
  BFD_SOURCE_PORT_MIN,
  decodeControl,
  diagnosticName,
  encodeControl,
  openSession,
  step,
  type BfdState,
  type ControlPacket,
  type DropReason,
  type Input,
  type Session,
  type SessionParameters,
  type Step,
} from "../bfd/index.js";
import { formatIP, parseIP, type IP, type IPFamily } from "../net/ip.js";
import {
  nativeBfdSockets,
  type BfdSender,
  type BfdSockets,
  type Closable,
  type Datagram,
} from "./bfd-sockets.js";

/**
 * The UDP edge of BFD: single hop (RFC 5881), asynchronous mode, one process-wide endpoint
 * and a `BfdPeer` per (local address, router address). The protocol is the pure session of
 * `src/bfd/session.ts`; this file owns what it leaves out: sockets, a clock, one timer per
 * session, the random numbers for jitter, and matching received packets to sessions.
 *
 * Sockets. One listener per address family on port 3784, bound to the wildcard address, not
 * one per local address: the node's addresses come and go (DHCP, a NIC brought up after the
 * speaker), and a wildcard listener needs no rebinding when they do; the address a packet
 * was sent to comes with it (IP_PKTINFO), which is all the matching below needs. It is opened
 * when the first session of that family starts and kept until the endpoint closes. Each
 * session sends from its own socket, bound to its local address and a port in 49152-65535
 * (RFC 5881 4: one source port per session), with TTL / hop limit 255.
 *
 * Receiving (RFC 5880 6.8.6, RFC 5881 3-5), in order, each drop counted under its reason:
 * - TTL / hop limit not 255: dropped (`ttl`), the single-hop check (GTSM). The native socket
 *   reports the TTL each datagram arrived with; Node's dgram could not.
 * - the codec's checks (`decodeControl`: version, length, multiplier, discriminators, ...).
 * - Your Discriminator nonzero: it selects the session (`no-session` if none has it), and the
 *   packet must come from that session's router address (`wrong-source`).
 * - Your Discriminator zero: the session whose router address sent it to its local address
 *   (and, for link-local addresses, on its interface) (`no-session` if none).
 * - then the session's own checks (`session`, e.g. the session is AdminDown).
 *
 * Not done: the Echo function (profiles' echo-mode is reported as unsupported by
 * `sessionParameters` and otherwise ignored: we advertise Required Min Echo RX 0, so the
 * router sends no echoes), Demand mode, authentication (the codec drops such packets).
 */

export type BfdDropReason =
  | DropReason
  | "ttl"
  | "no-session"
  | "wrong-source"
  /** The session discarded it (not its discriminator, or it is AdminDown). */
  | "session";

export interface BfdCounters {
  /** Control packets received on the listeners (before any check). */
  readonly received: number;
  readonly sent: number;
  /** Sends the kernel refused (no route, link down, ...). */
  readonly sendErrors: number;
  readonly dropped: Readonly<Partial<Record<BfdDropReason, number>>>;
}

/** A state change of a peer's session; `diagnostic` is our diagnostic code (RFC 5880 4.1). */
export type BfdChangeListener = (state: BfdState, diagnostic: number) => void;

export interface BfdPeerOptions {
  /** The router: an address on a directly connected network. */
  readonly peerAddress: IP | string;
  /** This node's address that the router knows as its BFD neighbor. */
  readonly localAddress: IP | string;
  /** The interface of an IPv6 link-local pair of addresses; 0 (default) otherwise. */
  readonly ifindex?: number;
  /** From `sessionParameters(profile).parameters` (`src/bfd/profile.ts`). */
  readonly parameters: SessionParameters;
  /** Every change of the session's state, with the diagnostic at the time. */
  readonly onChange?: BfdChangeListener;
}

export interface BfdEndpointOptions {
  /** The sockets; the native addon's by default. */
  readonly sockets?: BfdSockets;
  readonly logger?: Logger;
  /** The jitter source; Math.random by default. */
  readonly random?: () => number;
  /** A monotonic clock in microseconds; performance.now() by default. */
  readonly now?: () => number;
  /** The listening port; 3784 (RFC 5881 4). Tests on loopback may use another. */
  readonly port?: number;
}

/** How stop() ends a session: this many AdminDown packets (RFC 5880 6.8.16)... */
const ADMIN_DOWN_PACKETS_MIN = 3;
/** ...spaced by the session's transmit interval, but no more than this apart. */
const ADMIN_DOWN_SPACING_MAX_MS = 1000;
const SOURCE_PORT_TRIES = 64;

const addressKey = (ip: IP): string => `${ip.family}/${ip.value.toString(16)}`;

function toIP(value: IP | string, what: string): IP {
  if (typeof value !== "string") return value;
  const parsed = parseIP(value);
  if (!parsed.ok) throw new Error(`BFD ${what}: ${parsed.error}`);
  return parsed.value;
}

/**
 * The process's BFD: listeners, the sessions' discriminators, and counters. Create one per
 * process and a `BfdPeer` per session with `peer()`; `close()` stops them all.
 */
export class BfdEndpoint {
  readonly #sockets: BfdSockets | undefined;
  readonly #logger: Logger | undefined;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #port: number;
  readonly #listeners = new Map<IPFamily, Closable>();
  /** Started peers by local discriminator. */
  readonly #byDiscriminator = new Map<number, BfdPeer>();
  #received = 0;
  #sent = 0;
  #sendErrors = 0;
  readonly #dropped: Partial<Record<BfdDropReason, number>> = {};
  #closed = false;

  constructor(options: BfdEndpointOptions = {}) {
    this.#sockets = options.sockets;
    this.#logger = options.logger;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? (() => Math.round(performance.now() * 1000));
    this.#port = options.port ?? BFD_CONTROL_PORT;
  }

  /** A session to one router; it does nothing until `start()`. */
  peer(options: BfdPeerOptions): BfdPeer {
    if (this.#closed) throw new Error("the BFD endpoint is closed");
    const peerAddress = toIP(options.peerAddress, "peer address");
    const localAddress = toIP(options.localAddress, "local address");
    if (peerAddress.family !== localAddress.family) {
      throw new Error(
        `BFD peer ${formatIP(peerAddress)} and local address ${formatIP(localAddress)} differ in family`,
      );
    }
    return new BfdPeer(this, {
      peerAddress,
      localAddress,
      ifindex: options.ifindex ?? 0,
      parameters: options.parameters,
      onChange: options.onChange,
      logger: this.#logger?.child({ bfdPeer: formatIP(peerAddress) }),
    });
  }

  counters(): BfdCounters {
    return {
      received: this.#received,
      sent: this.#sent,
      sendErrors: this.#sendErrors,
      dropped: { ...this.#dropped },
    };
  }

  /** Stops every session (each sends its AdminDown packets) and closes the listeners. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#byDiscriminator.values()].map((p) => p.stop()));
    for (const l of this.#listeners.values()) l.close();
    this.#listeners.clear();
  }

  /** @internal */
  get now(): number {
    return this.#now();
  }

  /** @internal The port Control packets go to and are received on. */
  get port(): number {
    return this.#port;
  }

  /** @internal */
  get random(): number {
    return this.#random();
  }

  /** @internal The sockets: the ones given, else the native ones (loaded on first use). */
  get sockets(): BfdSockets {
    return this.#sockets ?? nativeBfdSockets();
  }

  /** @internal Registers a starting peer: a fresh discriminator and a listener for its family. */
  attach(peer: BfdPeer, family: IPFamily): number {
    if (this.#closed) throw new Error("the BFD endpoint is closed");
    if (!this.#listeners.has(family)) {
      const listener = this.sockets.listen(
        family,
        this.#port,
        (d) => {
          this.#receive(d);
        },
        (err) => this.#logger?.warn({ err, family }, "BFD listener error"),
      );
      this.#listeners.set(family, listener);
    }
    let discriminator = 0;
    while (discriminator === 0 || this.#byDiscriminator.has(discriminator)) {
      discriminator = Math.floor(this.#random() * 0xffff_ffff) + 1;
      if (discriminator > 0xffff_ffff) discriminator = 0;
    }
    this.#byDiscriminator.set(discriminator, peer);
    return discriminator;
  }

  /** @internal */
  detach(discriminator: number): void {
    this.#byDiscriminator.delete(discriminator);
  }

  /** @internal */
  countSend(ok: boolean): void {
    if (ok) this.#sent++;
    else this.#sendErrors++;
  }

  /** @internal */
  drop(reason: BfdDropReason): void {
    this.#dropped[reason] = (this.#dropped[reason] ?? 0) + 1;
  }

  #receive(d: Datagram): void {
    this.#received++;
    if (d.ttl !== BFD_SINGLE_HOP_TTL) {
      this.drop("ttl");
      return;
    }
    const decoded = decodeControl(d.payload);
    if (!decoded.ok) {
      this.drop(decoded.reason);
      return;
    }
    const packet = decoded.packet;
    const peer = this.#select(packet, d);
    if (peer === undefined) return;
    peer.receive(packet);
  }

  /** RFC 5880 6.3 and RFC 5881 3: the session a received packet belongs to. */
  #select(packet: ControlPacket, d: Datagram): BfdPeer | undefined {
    if (packet.yourDiscriminator !== 0) {
      const peer = this.#byDiscriminator.get(packet.yourDiscriminator);
      if (peer === undefined) {
        this.drop("no-session");
        return undefined;
      }
      if (addressKey(peer.peerAddress) !== addressKey(d.src)) {
        this.drop("wrong-source");
        return undefined;
      }
      return peer;
    }
    const src = addressKey(d.src);
    const dst = addressKey(d.dst);
    for (const peer of this.#byDiscriminator.values()) {
      if (addressKey(peer.peerAddress) !== src || addressKey(peer.localAddress) !== dst) continue;
      if (peer.ifindex !== 0 && d.ifindex !== 0 && peer.ifindex !== d.ifindex) continue;
      return peer;
    }
    this.drop("no-session");
    return undefined;
  }
}

interface PeerSettings {
  readonly peerAddress: IP;
  readonly localAddress: IP;
  readonly ifindex: number;
  readonly parameters: SessionParameters;
  readonly onChange: BfdChangeListener | undefined;
  readonly logger: Logger | undefined;
}

/**
 * One BFD session from one local address to one router address. `start()` opens it (Down,
 * sending at once unless passive); `stop()` takes it AdminDown, tells the router a few times
 * and closes; `state()` and `onChange` say where it is. A peer is started once: after
 * `stop()`, make a new one.
 */
export class BfdPeer {
  readonly peerAddress: IP;
  readonly localAddress: IP;
  readonly ifindex: number;
  readonly #endpoint: BfdEndpoint;
  readonly #onChange: BfdChangeListener | undefined;
  readonly #logger: Logger | undefined;
  #parameters: SessionParameters;
  #session: Session | undefined;
  #sender: BfdSender | undefined;
  #timer: NodeJS.Timeout | undefined;
  #discriminator = 0;
  #stopping: Promise<void> | undefined;

  /** @internal Use `BfdEndpoint.peer()`. */
  constructor(endpoint: BfdEndpoint, settings: PeerSettings) {
    this.#endpoint = endpoint;
    this.peerAddress = settings.peerAddress;
    this.localAddress = settings.localAddress;
    this.ifindex = settings.ifindex;
    this.#parameters = settings.parameters;
    this.#onChange = settings.onChange;
    this.#logger = settings.logger;
  }

  /** Our discriminator for this session; 0 before `start()`. */
  get localDiscriminator(): number {
    return this.#discriminator;
  }

  /** The session's state: Down before start, AdminDown once stopped. */
  state(): BfdState {
    if (this.#stopping !== undefined) return "AdminDown";
    return this.#session?.state ?? "Down";
  }

  /** Our current diagnostic (why the session last left Up); 0 for none. */
  diagnostic(): number {
    return this.#session?.localDiag ?? 0;
  }

  /**
   * Opens the session: binds the sender (a free source port in 49152-65535) and, for the
   * first session of its family, the listener. Throws if a socket cannot be opened (port 3784
   * taken by another BFD daemon, no such local address); the peer can then be started again.
   */
  start(): void {
    if (this.#stopping !== undefined) throw new Error("a stopped BFD peer cannot start again");
    if (this.#session !== undefined) return;
    const sender = this.#openSender();
    let discriminator: number;
    try {
      discriminator = this.#endpoint.attach(this, this.peerAddress.family);
    } catch (e: unknown) {
      sender.close();
      throw e;
    }
    this.#sender = sender;
    this.#discriminator = discriminator;
    const p = this.#parameters;
    this.#apply(
      openSession(
        { localDiscriminator: discriminator, ...p },
        this.#endpoint.now,
        this.#endpoint.random,
      ),
      "Down",
    );
    this.#logger?.info(
      { localDiscriminator: discriminator, local: formatIP(this.localAddress), ...p },
      "BFD session started",
    );
  }

  /**
   * New parameters (a changed profile): the session announces them with a Poll Sequence
   * (RFC 5880 6.8.3) when it is running; they take effect as the RFC says.
   */
  reconfigure(parameters: SessionParameters): void {
    this.#parameters = parameters;
    if (this.#session === undefined || this.#stopping !== undefined) return;
    this.#input({ kind: "configure", config: parameters });
  }

  /**
   * Takes the session AdminDown (RFC 5880 6.8.16): the router is told with at least
   * max(3, detect multiplier) AdminDown packets, spaced by the transmit interval (at most a
   * second apart), so it sees an administrative stop, not a detection-time expiry; then the
   * sender closes. Bounded, idempotent; resolves when done.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const session = this.#session;
    if (session === undefined) return;
    // Spaced as the profile asks (not by the one-second floor of a session that is not Up),
    // and never faster than the router's Required Min RX.
    const intervalUs = Math.max(session.config.desiredMinTxUs, session.remoteMinRxUs);
    const spacingMs = Math.min(Math.max(intervalUs / 1000, 10), ADMIN_DOWN_SPACING_MAX_MS);
    this.#clearTimer();
    const before = session.state;
    const r = step(session, { kind: "admin", up: false }, this.#endpoint.now, 0);
    this.#session = r.session;
    this.#notify(before, r.session);
    // The step sent the first AdminDown packet (unless the router was never heard from on a
    // passive session, when there is nobody to tell).
    const last = r.send.at(-1);
    for (const packet of r.send) this.#send(packet);
    if (last !== undefined) {
      const copies = Math.max(ADMIN_DOWN_PACKETS_MIN, session.config.detectMult) - 1;
      for (let i = 0; i < copies; i++) {
        await new Promise((resolve) => setTimeout(resolve, spacingMs));
        this.#send({ ...last, poll: false, final: false });
      }
    }
    this.#endpoint.detach(this.#discriminator);
    this.#sender?.close();
    this.#sender = undefined;
    this.#logger?.info({ localDiscriminator: this.#discriminator }, "BFD session stopped");
  }

  /** @internal A packet the endpoint matched to this session. */
  receive(packet: ControlPacket): void {
    if (this.#session === undefined) return;
    if (this.#stopping !== undefined) {
      // AdminDown: the session would ignore it; keep the counters honest.
      this.#endpoint.drop("session");
      return;
    }
    this.#input({ kind: "packet", packet });
  }

  #openSender(): BfdSender {
    const span = BFD_SOURCE_PORT_MAX - BFD_SOURCE_PORT_MIN + 1;
    const onError = (err: Error): void => this.#logger?.warn({ err }, "BFD sender error");
    let lastError: unknown;
    for (let i = 0; i < SOURCE_PORT_TRIES; i++) {
      const port = BFD_SOURCE_PORT_MIN + Math.floor(this.#endpoint.random * span);
      try {
        return this.#endpoint.sockets.sender(this.localAddress, port, this.ifindex, onError);
      } catch (e: unknown) {
        lastError = e;
        if ((e as { code?: unknown }).code !== "EADDRINUSE") break;
      }
    }
    throw new Error(`cannot open a BFD socket on ${formatIP(this.localAddress)}`, {
      cause: lastError,
    });
  }

  #input(input: Input): void {
    const session = this.#session;
    if (session === undefined) return;
    const r = step(session, input, this.#endpoint.now, this.#endpoint.random);
    if (r.ignored !== undefined) this.#endpoint.drop("session");
    this.#apply(r, session.state);
  }

  #apply(r: Step, before: BfdState): void {
    this.#session = r.session;
    for (const packet of r.send) this.#send(packet);
    this.#notify(before, r.session);
    this.#arm(r.deadline);
  }

  #notify(before: BfdState, session: Session): void {
    if (session.state === before) return;
    this.#logger?.info(
      {
        from: before,
        to: session.state,
        diagnostic: diagnosticName(session.localDiag),
        remoteState: session.remoteState,
      },
      "BFD session state changed",
    );
    this.#onChange?.(session.state, session.localDiag);
  }

  #send(packet: ControlPacket): void {
    if (this.#sender === undefined) return;
    try {
      this.#sender.send(encodeControl(packet), this.peerAddress, this.#endpoint.port);
      this.#endpoint.countSend(true);
    } catch (err: unknown) {
      // No route or link down: the detection timer is what reports the peer lost.
      this.#endpoint.countSend(false);
      this.#logger?.debug({ err }, "BFD send failed");
    }
  }

  #arm(deadline: number | undefined): void {
    this.#clearTimer();
    if (deadline === undefined) return;
    const delayMs = Math.max(0, Math.ceil((deadline - this.#endpoint.now) / 1000));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#input({ kind: "timer" });
    }, delayMs);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
