import { DIAG_ADMIN_DOWN, DIAG_DETECTION_TIME_EXPIRED, DIAG_NEIGHBOR_DOWN } from "./packet.js";
import type { BfdState, ControlPacket } from "./packet.js";

/**
 * One single-hop BFD session in asynchronous mode (RFC 5880 6.8, RFC 5881) as a pure step:
 * `(session, input, now, random) → (session, packets to send, notices, next deadline)`.
 *
 * No sockets and no clocks: the edge owns the UDP socket and a timer. It calls `step` with a
 * received packet (already decoded and matched to this session by address, RFC 5881 3), with
 * `timer` when `deadline` is reached, or with an admin or configuration change; it sends
 * what `send` holds and arms one timer for the new `deadline`. `now` is in microseconds on
 * any monotonic clock; `random` is a number in [0, 1) the edge draws for the jitter, so a
 * test that passes its own numbers gets the same run every time.
 *
 * Timers (RFC 5880 6.8.2-6.8.4, 6.8.7):
 * - Packets go every max(our Desired Min TX, the peer's Required Min RX), less 0-25% jitter
 *   (10-25% when our detect multiplier is 1). None while the peer's Required Min RX is 0,
 *   while the peer is in Demand mode and both ends are Up, or, for a passive session, until
 *   the peer has been heard from (and again after it has gone silent for a detection time).
 * - While not Up, Desired Min TX is at least one second (6.8.3).
 * - The peer is declared lost when no packet came for its detect multiplier × max(our
 *   Required Min RX, its Desired Min TX): an Init or Up session goes Down with diagnostic 1.
 * - A change of our intervals (a new profile, or reaching or leaving Up, which lifts or sets
 *   the one-second floor) is announced with a Poll Sequence: packets carry P until one with F
 *   comes back. While Up, a slower transmit interval and a faster receive interval only take
 *   effect when the F arrives, so the peer never sees fewer packets than it was promised
 *   before it knows (6.8.3); the other directions take effect at once.
 * - A received P is answered at once with F (6.8.6). A packet is also sent at once on every
 *   change of our state, so the three-way handshake takes round trips, not intervals.
 *
 * Demand mode, the Echo function and authentication are not implemented: we never set D,
 * always advertise Required Min Echo RX 0, and the codec drops authenticated packets.
 */

/** RFC 5880 6.8.3: the floor on Desired Min TX while the session is not Up. */
export const SLOW_TX_US = 1_000_000;

export interface SessionConfig {
  /** Nonzero and unique among this system's sessions: the edge chooses it. */
  readonly localDiscriminator: number;
  /** bfd.DesiredMinTxInterval once Up, microseconds. */
  readonly desiredMinTxUs: number;
  /** bfd.RequiredMinRxInterval, microseconds. */
  readonly requiredMinRxUs: number;
  /** bfd.DetectMult, 1-255. */
  readonly detectMult: number;
  /** Send nothing until the peer has sent something (RFC 5880 6.1). */
  readonly passive: boolean;
}

export interface Intervals {
  readonly desiredMinTxUs: number;
  readonly requiredMinRxUs: number;
}

/** The state variables of RFC 5880 6.8.1, and the two timers. */
export interface Session {
  readonly config: SessionConfig;
  readonly state: BfdState;
  readonly localDiag: number;
  /** bfd.RemoteDiscr: 0 until heard from, and again after a detection time of silence. */
  readonly remoteDiscr: number;
  readonly remoteState: BfdState;
  /** bfd.RemoteMinRxInterval (1 µs until heard from, as the RFC says). */
  readonly remoteMinRxUs: number;
  /** From the last packet received; 0 before any. */
  readonly remoteDesiredMinTxUs: number;
  readonly remoteDetectMult: number;
  readonly remoteDemand: boolean;
  /** What our packets say. */
  readonly advertised: Intervals;
  /** What our timers use: `advertised`, except for a while during a Poll Sequence. */
  readonly inEffect: Intervals;
  /** A Poll Sequence is in progress: our packets carry P. */
  readonly polling: boolean;
  readonly nextTxAt: number | undefined;
  readonly detectAt: number | undefined;
}

export type Input =
  | { readonly kind: "packet"; readonly packet: ControlPacket }
  | { readonly kind: "timer" }
  | { readonly kind: "admin"; readonly up: boolean }
  | { readonly kind: "configure"; readonly config: Omit<SessionConfig, "localDiscriminator"> };

/** The session came Up, or left Up (to Down or AdminDown) for the reason in `diagnostic`. */
export type Notice =
  { readonly kind: "up" } | { readonly kind: "down"; readonly diagnostic: number };

export interface Step {
  readonly session: Session;
  readonly send: readonly ControlPacket[];
  readonly notices: readonly Notice[];
  /** Why a received packet was discarded, when it was. */
  readonly ignored: string | undefined;
  /** When to call `step` with `timer` next (the earlier of the two timers), if ever. */
  readonly deadline: number | undefined;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface Out {
  readonly send: ControlPacket[];
  readonly notices: Notice[];
  ignored: string | undefined;
  /** Send a packet now, whatever the transmit timer says (a state change). */
  sendNow: boolean;
  /** Answer a Poll: the next packet carries F. */
  final: boolean;
}

/** A new session, Down (or AdminDown when `adminDown`); an active one sends at once. */
export function openSession(
  config: SessionConfig,
  now: number,
  random: number,
  adminDown = false,
): Step {
  const advertised = target(config, "Down");
  const s: Mutable<Session> = {
    config,
    state: adminDown ? "AdminDown" : "Down",
    localDiag: adminDown ? DIAG_ADMIN_DOWN : 0,
    remoteDiscr: 0,
    remoteState: "Down",
    remoteMinRxUs: 1,
    remoteDesiredMinTxUs: 0,
    remoteDetectMult: 0,
    remoteDemand: false,
    advertised,
    inEffect: advertised,
    polling: false,
    nextTxAt: undefined,
    detectAt: undefined,
  };
  return finish(s, now, random, newOut());
}

export function step(session: Session, input: Input, now: number, random: number): Step {
  const s: Mutable<Session> = { ...session };
  const out = newOut();
  switch (input.kind) {
    case "packet":
      receive(s, input.packet, now, out);
      break;
    case "timer":
      break;
    case "admin":
      if (!input.up && s.state !== "AdminDown") {
        setState(s, "AdminDown", DIAG_ADMIN_DOWN, out);
        s.detectAt = undefined;
      } else if (input.up && s.state === "AdminDown") {
        setState(s, "Down", undefined, out);
      }
      break;
    case "configure":
      s.config = { ...input.config, localDiscriminator: s.config.localDiscriminator };
      break;
  }
  return finish(s, now, random, out);
}

/** The detection time for the peer (6.8.4); 0 before it has been heard from. */
export function detectionTimeUs(s: Session): number {
  return s.remoteDetectMult * Math.max(s.inEffect.requiredMinRxUs, s.remoteDesiredMinTxUs);
}

/** The interval between our periodic packets before jitter (6.8.2, 6.8.7), or undefined. */
export function transmitIntervalUs(s: Session): number | undefined {
  if (s.config.passive && s.remoteDiscr === 0) return undefined;
  if (s.remoteMinRxUs === 0) return undefined;
  if (s.remoteDemand && s.state === "Up" && s.remoteState === "Up") return undefined;
  return Math.max(s.inEffect.desiredMinTxUs, s.remoteMinRxUs);
}

function newOut(): Out {
  return { send: [], notices: [], ignored: undefined, sendNow: false, final: false };
}

/** The reception procedure of RFC 5880 6.8.6, after the codec's checks. */
function receive(s: Mutable<Session>, p: ControlPacket, now: number, out: Out): void {
  if (p.yourDiscriminator !== 0 && p.yourDiscriminator !== s.config.localDiscriminator) {
    out.ignored = `your discriminator ${p.yourDiscriminator} is not this session's`;
    return;
  }
  s.remoteDiscr = p.myDiscriminator;
  s.remoteState = p.state;
  s.remoteDemand = p.demand;
  s.remoteMinRxUs = p.requiredMinRxUs;
  s.remoteDesiredMinTxUs = p.desiredMinTxUs;
  s.remoteDetectMult = p.detectMult;
  if (p.final && s.polling) {
    s.polling = false;
    s.inEffect = s.advertised;
  }
  if (s.state === "AdminDown") {
    out.ignored = "the session is administratively down";
    return;
  }
  if (p.state === "AdminDown") {
    if (s.state !== "Down") setState(s, "Down", DIAG_NEIGHBOR_DOWN, out);
  } else if (s.state === "Down") {
    if (p.state === "Down") setState(s, "Init", undefined, out);
    else if (p.state === "Init") setState(s, "Up", undefined, out);
  } else if (s.state === "Init") {
    if (p.state === "Init" || p.state === "Up") setState(s, "Up", undefined, out);
  } else if (p.state === "Down") {
    setState(s, "Down", DIAG_NEIGHBOR_DOWN, out);
  }
  if (p.poll) out.final = true;
  s.detectAt = now + detectionTimeUs(s);
}

function setState(s: Mutable<Session>, next: BfdState, diag: number | undefined, out: Out): void {
  if (next === s.state) return;
  const wasUp = s.state === "Up";
  if (diag !== undefined) s.localDiag = diag;
  s.state = next;
  if (next === "Up") out.notices.push({ kind: "up" });
  else if (wasUp) out.notices.push({ kind: "down", diagnostic: s.localDiag });
  out.sendNow = true;
}

/** The intervals the session should advertise in `state` (the one-second floor, 6.8.3). */
function target(config: SessionConfig, state: BfdState): Intervals {
  return {
    desiredMinTxUs:
      state === "Up" ? config.desiredMinTxUs : Math.max(SLOW_TX_US, config.desiredMinTxUs),
    requiredMinRxUs: config.requiredMinRxUs,
  };
}

/** Starts a Poll Sequence when the intervals to advertise have changed (6.8.3). */
function reconcile(s: Mutable<Session>): void {
  const want = target(s.config, s.state);
  const have = s.advertised;
  if (
    want.desiredMinTxUs === have.desiredMinTxUs &&
    want.requiredMinRxUs === have.requiredMinRxUs
  ) {
    return;
  }
  if (s.state !== "Up") {
    // Nothing to protect while not Up: the new values apply at once.
    s.advertised = want;
    s.inEffect = want;
    s.polling = true;
    return;
  }
  // Up: one Poll Sequence at a time; a later change waits for this one's F.
  if (s.polling) return;
  const old = s.inEffect;
  s.advertised = want;
  s.inEffect = {
    desiredMinTxUs: Math.min(old.desiredMinTxUs, want.desiredMinTxUs),
    requiredMinRxUs: Math.max(old.requiredMinRxUs, want.requiredMinRxUs),
  };
  s.polling = true;
}

function jittered(intervalUs: number, detectMult: number, random: number): number {
  const r = Math.min(Math.max(random, 0), 0.999_999);
  const factor = detectMult === 1 ? 0.75 + 0.15 * r : 1 - 0.25 * r;
  return Math.max(1, Math.floor(intervalUs * factor));
}

function packetOf(s: Session, final: boolean): ControlPacket {
  return {
    diagnostic: s.localDiag,
    state: s.state,
    poll: s.polling && !final,
    final,
    controlPlaneIndependent: false,
    demand: false,
    detectMult: s.config.detectMult,
    myDiscriminator: s.config.localDiscriminator,
    yourDiscriminator: s.remoteDiscr,
    desiredMinTxUs: s.advertised.desiredMinTxUs,
    requiredMinRxUs: s.advertised.requiredMinRxUs,
    requiredMinEchoRxUs: 0,
  };
}

/** Fires the timers that are due, applies interval changes, and sends what is owed. */
function finish(s: Mutable<Session>, now: number, random: number, out: Out): Step {
  if (s.detectAt !== undefined && now >= s.detectAt) {
    s.detectAt = undefined;
    s.remoteDiscr = 0;
    if (s.state === "Init" || s.state === "Up") {
      setState(s, "Down", DIAG_DETECTION_TIME_EXPIRED, out);
    }
  }
  reconcile(s);
  const interval = transmitIntervalUs(s);
  let sent = false;
  if (interval === undefined) {
    s.nextTxAt = undefined;
  } else if (out.sendNow || s.nextTxAt === undefined || now >= s.nextTxAt) {
    out.send.push(packetOf(s, out.final));
    sent = true;
    s.nextTxAt = now + jittered(interval, s.config.detectMult, random);
  } else if (s.nextTxAt > now + interval) {
    // The interval got shorter: do not wait out the longer one.
    s.nextTxAt = now + jittered(interval, s.config.detectMult, random);
  }
  if (out.final && !sent) out.send.push(packetOf(s, true));
  const timers = [s.nextTxAt, s.detectAt].filter((t): t is number => t !== undefined);
  return {
    session: s,
    send: out.send,
    notices: out.notices,
    ignored: out.ignored,
    deadline: timers.length === 0 ? undefined : Math.min(...timers),
  };
}
