import type { Message } from "./message.js";
import {
  CEASE_ADMINISTRATIVE_SHUTDOWN,
  ERR_CEASE,
  ERR_FSM,
  ERR_HOLD_TIMER,
  ERR_OPEN,
  errorName,
  OPEN_BAD_BGP_ID,
  OPEN_BAD_PEER_AS,
  OPEN_UNSUPPORTED_CAPABILITY,
  shutdownData,
  shutdownMessage,
  type BgpResult,
  type Notification,
} from "./notification.js";
import { CAP_FOUR_OCTET_AS, CAP_MULTIPROTOCOL, type Capability, type Open } from "./open.js";
import { AFI_IPV4, AFI_IPV6, SAFI_UNICAST } from "./prefix.js";
import { Writer } from "./wire.js";

/**
 * The BGP session state machine of RFC 4271 section 8, for one peer, as a pure function:
 * `step(state, event, now)` gives the next state and the actions for the edge to carry out
 * (connect, close, send a message, set or stop a timer, report the session up or down). The
 * edge owns the socket and the timers; this module owns every rule, so each is a table test.
 *
 * Timers are deadlines (milliseconds, on the clock `now` comes from) kept in the state. After
 * every step the edge gets a `set-timer` or `stop-timer` for each deadline that changed, and
 * sends a `timer` event when one passes. A timer event for a deadline that is not set, or not
 * yet reached, is a stale one (the timer was restarted after it fired) and is ignored. Events
 * of a connection already closed (a message, a TCP failure) are likewise ignored in the
 * states that have no connection (Idle, Active), so the edge need not fence them off.
 *
 * What barelb does where RFC 4271 leaves a choice, and why:
 *
 * - barelb is always the active side: it connects and never accepts (routers accept, and
 *   MetalLB's speaker works the same way), so there is never a second connection and no
 *   collision to resolve (RFC 4271 6.8). TODO: accepting an incoming connection, for a
 *   router set to passive on both ends, would add collision resolution by BGP Identifier.
 * - Retrying does not loop fast. A connection that fails or times out goes to Active with
 *   the ConnectRetryTimer set to a back-off; a session that ends after the connection was up
 *   (a refused OPEN, a NOTIFICATION, the hold timer) goes to Idle with RFC 4271's optional
 *   IdleHoldTimer (DampPeerOscillations, 8.1.1) set to the same back-off, after which it
 *   starts again by itself (AutomaticStart). The back-off doubles with each failure in a
 *   row from `retryBaseMs` up to `retryMaxMs`, and starts over once a session reaches
 *   Established. So a router that refuses barelb's AS or password costs one log line and
 *   Event per attempt, at most one attempt per `retryMaxMs` in the long run.
 * - A TCP connect that has not completed within `connectTimeoutMs` (the ConnectRetryTimer
 *   in Connect) counts as a failure, like a refused one: with a wrong TCP MD5 password the
 *   router drops barelb's SYNs, and this is how that shows.
 * - The peer must offer the 4-octet AS capability (RFC 6793), as the codecs always write
 *   4-byte AS_PATHs: else 2/7 Unsupported Capability. The address families are the
 *   configured ones the peer also offers (a peer with no multiprotocol capability has IPv4
 *   unicast only, RFC 4760 8); none in common is also 2/7.
 * - The BGP Identifier must differ from ours for an iBGP peer (RFC 6286 2.1); an eBGP peer
 *   may have the same one.
 * - Received UPDATEs only restart the hold timer: barelb announces and learns nothing.
 */

export type SessionStateName =
  "Idle" | "Connect" | "Active" | "OpenSent" | "OpenConfirm" | "Established";

export const SESSION_STATES: readonly SessionStateName[] = [
  "Idle",
  "Connect",
  "Active",
  "OpenSent",
  "OpenConfirm",
  "Established",
];

export type Family = "ipv4-unicast" | "ipv6-unicast";

export type TimerName = "connect-retry" | "idle-hold" | "hold" | "keepalive";

export interface SessionTiming {
  /** How long a TCP connect may take before it counts as failed (ConnectRetryTime). */
  readonly connectTimeoutMs: number;
  /** The first retry delay after a failure; doubled with each further failure in a row. */
  readonly retryBaseMs: number;
  /** The longest retry delay. */
  readonly retryMaxMs: number;
  /** The hold timer while waiting for the peer's OPEN (RFC 4271 8.2.2 suggests 4 minutes). */
  readonly openHoldMs: number;
}

export const DEFAULT_TIMING: SessionTiming = {
  connectTimeoutMs: 30_000,
  retryBaseMs: 5_000,
  retryMaxMs: 120_000,
  openHoldMs: 240_000,
};

export interface SessionConfig {
  /** barelb's AS number (`my-asn`). */
  readonly localASN: number;
  /** The AS number the peer must announce (`peer-asn`); equal to `localASN` is iBGP. */
  readonly peerASN: number;
  /** barelb's BGP Identifier, a non-zero dotted quad. */
  readonly routerId: string;
  /** Seconds offered in our OPEN: 0 (no keepalives) or at least 3. */
  readonly holdTime: number;
  /** Seconds between KEEPALIVEs; a third of the negotiated hold time when not set or larger. */
  readonly keepaliveTime?: number | undefined;
  /** The address families to offer. */
  readonly families: readonly Family[];
  readonly timing: SessionTiming;
}

/** What both ends agreed in their OPENs: known from OpenConfirm on. */
export interface Negotiated {
  readonly peerASN: number;
  readonly peerRouterId: string;
  /** Seconds; 0 means neither hold timer nor keepalives. */
  readonly holdTime: number;
  /** Seconds; 0 when the hold time is 0. */
  readonly keepaliveTime: number;
  /** The configured families the peer also supports, in configured order. */
  readonly families: readonly Family[];
  /** The peer accepts ROUTE-REFRESH (RFC 2918). */
  readonly routeRefresh: boolean;
}

export type Timers = Readonly<Record<TimerName, number | null>>;

export interface SessionState {
  readonly name: SessionStateName;
  readonly config: SessionConfig;
  /** Deadlines in milliseconds; null when the timer is not running. */
  readonly timers: Timers;
  /** Failed attempts in a row since the last Established or ManualStart: sets the back-off. */
  readonly failures: number;
  readonly negotiated: Negotiated | null;
}

export type SessionEvent =
  | { readonly type: "manual-start" }
  /** SIGTERM or the peer removed from the config; `message` goes to the router (RFC 9003). */
  | { readonly type: "manual-stop"; readonly message?: string }
  /** Our TCP connect completed (TcpConnectionConfirmed / Tcp_CR_Acked). */
  | { readonly type: "tcp-connected" }
  /** The connect failed, or the open connection failed or was closed by the peer. */
  | { readonly type: "tcp-failed"; readonly reason: string }
  /** One message as `decodeMessage` returned it: the value or the NOTIFICATION to send. */
  | { readonly type: "received"; readonly result: BgpResult<Message> }
  | { readonly type: "timer"; readonly timer: TimerName };

/**
 * Why a connection or an attempt ended, a stable code for logs and Events; `detail` in the
 * action says more (the NOTIFICATION's names, the AS numbers).
 */
export type DownReason =
  /** ManualStop: barelb is stopping or the peer was removed. */
  | "stopped"
  /** The TCP connect failed or timed out (a wrong password shows as a time-out). */
  | "connect-failed"
  /** The connection failed or was closed by the peer without a NOTIFICATION. */
  | "connection-lost"
  /** Nothing heard from the peer for the hold time; 4/0 sent. */
  | "hold-timer-expired"
  /** The peer sent a NOTIFICATION (e.g. it refused our AS). */
  | "notification-received"
  /** barelb refused the peer's OPEN: wrong AS, no 4-octet AS, same BGP Identifier, ... */
  | "open-refused"
  /** A message from the peer did not decode; its NOTIFICATION was sent. */
  | "message-error"
  /** A message of a type the state does not allow; 5/x sent. */
  | "fsm-error";

export type SessionAction =
  | { readonly type: "connect" }
  | { readonly type: "close" }
  | { readonly type: "send"; readonly message: Message }
  | { readonly type: "set-timer"; readonly timer: TimerName; readonly at: number }
  | { readonly type: "stop-timer"; readonly timer: TimerName }
  | { readonly type: "session-up"; readonly negotiated: Negotiated }
  /** Send every route of the negotiated families: the route set lives outside the FSM. */
  | { readonly type: "advertise-all"; readonly families: readonly Family[] }
  /** The peer asked for one family's routes again (RFC 2918). */
  | { readonly type: "route-refresh"; readonly family: Family }
  | {
      readonly type: "session-down";
      readonly reason: DownReason;
      readonly detail: string;
      /** The session had been Established: the peer has dropped barelb's routes. */
      readonly established: boolean;
      /** The NOTIFICATION sent or received, when there was one. */
      readonly notification?: Notification;
    };

export interface StepResult {
  readonly state: SessionState;
  readonly actions: readonly SessionAction[];
}

const NO_TIMERS: Timers = { "connect-retry": null, "idle-hold": null, hold: null, keepalive: null };

/** A session not started: Idle, no timers. */
export function initialState(config: SessionConfig): SessionState {
  return { name: "Idle", config, timers: NO_TIMERS, failures: 0, negotiated: null };
}

/** The wait before attempt number `failures + 1`: doubling from the base, capped. */
export function retryDelay(timing: SessionTiming, failures: number): number {
  const doublings = Math.max(0, Math.min(failures - 1, 30));
  return Math.min(timing.retryBaseMs * 2 ** doublings, timing.retryMaxMs);
}

/** The OPEN barelb sends: its AS, hold time, identifier and capabilities. */
export function ourOpen(config: SessionConfig): Open {
  const capabilities: Capability[] = config.families.map((f) => ({
    kind: "multiprotocol",
    ...familyCode(f),
  }));
  capabilities.push({ kind: "route-refresh" }, { kind: "four-octet-as", asn: config.localASN });
  return {
    asn: config.localASN,
    holdTime: config.holdTime,
    routerId: config.routerId,
    capabilities,
  };
}

/** The next state and what the edge must do, for one event at time `now` (milliseconds). */
export function step(state: SessionState, event: SessionEvent, now: number): StepResult {
  if (event.type === "timer") {
    const at = state.timers[event.timer];
    if (at === null || at > now) return { state, actions: [] };
  }
  const next = transition(state, event, now);
  return {
    state: next.state,
    actions: [...next.actions, ...timerActions(state.timers, next.state.timers)],
  };
}

function timerActions(before: Timers, after: Timers): SessionAction[] {
  const out: SessionAction[] = [];
  for (const timer of Object.keys(NO_TIMERS) as TimerName[]) {
    const at = after[timer];
    if (at === before[timer]) continue;
    out.push(at === null ? { type: "stop-timer", timer } : { type: "set-timer", timer, at });
  }
  return out;
}

interface Outcome {
  state: SessionState;
  actions: SessionAction[];
}

const unchanged = (state: SessionState): Outcome => ({ state, actions: [] });

function transition(s: SessionState, e: SessionEvent, now: number): Outcome {
  switch (s.name) {
    case "Idle":
      return idle(s, e, now);
    case "Connect":
    case "Active":
      return connecting(s, e, now);
    case "OpenSent":
    case "OpenConfirm":
    case "Established":
      return connected(s, e, now);
  }
}

/** Start a TCP connect: from Idle (started by hand or by the IdleHoldTimer) or Active. */
function connect(s: SessionState, now: number, failures: number): Outcome {
  return {
    state: {
      ...s,
      name: "Connect",
      failures,
      negotiated: null,
      timers: { ...NO_TIMERS, "connect-retry": now + s.config.timing.connectTimeoutMs },
    },
    actions: [{ type: "connect" }],
  };
}

function idle(s: SessionState, e: SessionEvent, now: number): Outcome {
  switch (e.type) {
    case "manual-start":
      return connect(s, now, 0);
    case "timer":
      // Only the IdleHoldTimer runs in Idle: AutomaticStart after the back-off.
      return e.timer === "idle-hold" ? connect(s, now, s.failures) : unchanged(s);
    case "manual-stop":
      // No automatic restart any more.
      return { state: { ...s, timers: NO_TIMERS }, actions: [] };
    default:
      return unchanged(s);
  }
}

/** Connect (a TCP connect in flight) and Active (waiting to try again). */
function connecting(s: SessionState, e: SessionEvent, now: number): Outcome {
  const inFlight = s.name === "Connect";
  switch (e.type) {
    case "manual-stop":
      return {
        state: { ...s, name: "Idle", timers: NO_TIMERS, negotiated: null },
        actions: [
          ...(inFlight ? [{ type: "close" } as const] : []),
          down("stopped", "stopped before the connection was up", false),
        ],
      };
    case "timer":
      if (e.timer !== "connect-retry") return unchanged(s);
      if (!inFlight) return connect(s, now, s.failures);
      return retryLater(s, now, "connect-failed", "TCP connect timed out");
    case "tcp-connected":
      if (!inFlight) return unchanged(s);
      return {
        state: {
          ...s,
          name: "OpenSent",
          timers: { ...NO_TIMERS, hold: now + s.config.timing.openHoldMs },
        },
        actions: [{ type: "send", message: { type: "open", open: ourOpen(s.config) } }],
      };
    case "tcp-failed":
      if (!inFlight) return unchanged(s);
      return retryLater(s, now, "connect-failed", `TCP connect failed: ${e.reason}`);
    default:
      // A start while started, or a message of a connection already closed.
      return unchanged(s);
  }
}

/** A connect failed: Active, with the ConnectRetryTimer set to the back-off. */
function retryLater(s: SessionState, now: number, reason: DownReason, detail: string): Outcome {
  const failures = s.failures + 1;
  return {
    state: {
      ...s,
      name: "Active",
      failures,
      negotiated: null,
      timers: { ...NO_TIMERS, "connect-retry": now + retryDelay(s.config.timing, failures) },
    },
    actions: [{ type: "close" }, down(reason, detail, false)],
  };
}

function down(
  reason: DownReason,
  detail: string,
  established: boolean,
  notification?: Notification,
): SessionAction {
  return notification === undefined
    ? { type: "session-down", reason, detail, established }
    : { type: "session-down", reason, detail, established, notification };
}

/**
 * The end of a connection that was up: send `notify` if given, close, report, and go to
 * Idle, to start again after the back-off unless `restart` is false (ManualStop).
 */
function endSession(
  s: SessionState,
  now: number,
  reason: DownReason,
  detail: string,
  options: { notify?: Notification; received?: Notification; restart: boolean },
): Outcome {
  const failures = options.restart ? s.failures + 1 : s.failures;
  const actions: SessionAction[] = [];
  if (options.notify !== undefined) {
    actions.push({ type: "send", message: { type: "notification", notification: options.notify } });
  }
  actions.push(
    { type: "close" },
    down(reason, detail, s.name === "Established", options.notify ?? options.received),
  );
  return {
    state: {
      ...s,
      name: "Idle",
      failures,
      negotiated: null,
      timers: {
        ...NO_TIMERS,
        "idle-hold": options.restart ? now + retryDelay(s.config.timing, failures) : null,
      },
    },
    actions,
  };
}

const notification = (code: number, subcode: number, data?: Uint8Array): Notification => ({
  code,
  subcode,
  data: data ?? new Uint8Array(0),
});

/** The FSM error subcode for an unexpected message in each connected state (RFC 6608). */
const FSM_SUBCODE: Partial<Record<SessionStateName, number>> = {
  OpenSent: 1,
  OpenConfirm: 2,
  Established: 3,
};

/** OpenSent, OpenConfirm, Established: a connection is up. */
function connected(s: SessionState, e: SessionEvent, now: number): Outcome {
  switch (e.type) {
    case "manual-start":
      return unchanged(s);
    case "manual-stop": {
      const message = e.message ?? "";
      const n = notification(
        ERR_CEASE,
        CEASE_ADMINISTRATIVE_SHUTDOWN,
        message === "" ? undefined : shutdownData(message),
      );
      return endSession(s, now, "stopped", "sent Cease / Administrative Shutdown", {
        notify: n,
        restart: false,
      });
    }
    case "tcp-connected":
      // Only one connection is ever opened; nothing to do with a second confirmation.
      return unchanged(s);
    case "tcp-failed":
      return endSession(s, now, "connection-lost", `connection lost: ${e.reason}`, {
        restart: true,
      });
    case "timer":
      return connectedTimer(s, e.timer, now);
    case "received":
      if (!e.result.ok) {
        const { reason, ...n } = e.result.error;
        return endSession(
          s,
          now,
          "message-error",
          `sent ${errorName(n.code, n.subcode)}: ${reason}`,
          { notify: n, restart: true },
        );
      }
      return connectedMessage(s, e.result.value, now);
  }
}

function connectedTimer(s: SessionState, timer: TimerName, now: number): Outcome {
  if (timer === "hold") {
    return endSession(s, now, "hold-timer-expired", "sent Hold Timer Expired", {
      notify: notification(ERR_HOLD_TIMER, 0),
      restart: true,
    });
  }
  if (timer === "keepalive" && s.negotiated !== null && s.negotiated.keepaliveTime > 0) {
    return {
      state: {
        ...s,
        timers: { ...s.timers, keepalive: now + s.negotiated.keepaliveTime * 1000 },
      },
      actions: [{ type: "send", message: { type: "keepalive" } }],
    };
  }
  // No other timer runs while connected; a deadline set anyway is dropped.
  return { state: { ...s, timers: { ...s.timers, [timer]: null } }, actions: [] };
}

/** The hold timer started over, when one is negotiated. */
function heard(s: SessionState, now: number): SessionState {
  const hold = s.negotiated?.holdTime ?? 0;
  if (hold === 0) return s;
  return { ...s, timers: { ...s.timers, hold: now + hold * 1000 } };
}

function connectedMessage(s: SessionState, m: Message, now: number): Outcome {
  if (m.type === "notification") {
    const n = m.notification;
    const said = shutdownMessage(n);
    const detail =
      `peer sent ${errorName(n.code, n.subcode)}` + (said === undefined ? "" : `: "${said}"`);
    return endSession(s, now, "notification-received", detail, { received: n, restart: true });
  }
  if (s.name === "OpenSent" && m.type === "open") return openReceived(s, m.open, now);
  if (s.name === "OpenConfirm" && m.type === "keepalive" && s.negotiated !== null) {
    const negotiated = s.negotiated;
    return {
      state: heard({ ...s, name: "Established", failures: 0 }, now),
      actions: [
        { type: "session-up", negotiated },
        { type: "advertise-all", families: negotiated.families },
      ],
    };
  }
  if (s.name === "Established") {
    switch (m.type) {
      case "keepalive":
      case "update":
        return unchanged(heard(s, now));
      case "route-refresh": {
        const family = familyOf(m.afi, m.safi);
        // A family not negotiated is ignored (RFC 2918 4).
        if (family === undefined || !s.negotiated?.families.includes(family)) return unchanged(s);
        return { state: s, actions: [{ type: "route-refresh", family }] };
      }
      default:
        break;
    }
  }
  const subcode = FSM_SUBCODE[s.name] ?? 0;
  return endSession(
    s,
    now,
    "fsm-error",
    `sent ${errorName(ERR_FSM, subcode)}: ${m.type.toUpperCase()} in ${s.name}`,
    { notify: notification(ERR_FSM, subcode), restart: true },
  );
}

/** The checks of the peer's OPEN that need the configuration, then OpenConfirm. */
function openReceived(s: SessionState, open: Open, now: number): Outcome {
  const c = s.config;
  const refuse = (n: Notification, why: string): Outcome =>
    endSession(s, now, "open-refused", `sent ${errorName(n.code, n.subcode)}: ${why}`, {
      notify: n,
      restart: true,
    });
  if (open.asn !== c.peerASN) {
    return refuse(
      notification(ERR_OPEN, OPEN_BAD_PEER_AS),
      `peer announced AS ${open.asn}, configured peer-asn is ${c.peerASN}`,
    );
  }
  if (!open.capabilities.some((cap) => cap.kind === "four-octet-as")) {
    return refuse(
      notification(
        ERR_OPEN,
        OPEN_UNSUPPORTED_CAPABILITY,
        new Writer().u8(CAP_FOUR_OCTET_AS).u8(4).u32(c.localASN).bytes(),
      ),
      "peer does not offer 4-octet AS numbers (RFC 6793)",
    );
  }
  if (c.localASN === c.peerASN && open.routerId === c.routerId) {
    return refuse(
      notification(ERR_OPEN, OPEN_BAD_BGP_ID),
      `iBGP peer has our BGP Identifier ${c.routerId}`,
    );
  }
  const offered = open.capabilities.flatMap((cap) =>
    cap.kind === "multiprotocol" ? [familyOf(cap.afi, cap.safi)] : [],
  );
  const peerFamilies: (Family | undefined)[] = open.capabilities.some(
    (cap) => cap.kind === "multiprotocol",
  )
    ? offered
    : ["ipv4-unicast"];
  const families = c.families.filter((f) => peerFamilies.includes(f));
  if (families.length === 0) {
    const data = new Writer();
    for (const f of c.families) {
      const { afi, safi } = familyCode(f);
      data.u8(CAP_MULTIPROTOCOL).u8(4).u16(afi).u8(0).u8(safi);
    }
    return refuse(
      notification(ERR_OPEN, OPEN_UNSUPPORTED_CAPABILITY, data.bytes()),
      `no address family in common (offered ${c.families.join(", ")})`,
    );
  }
  const holdTime = Math.min(c.holdTime, open.holdTime);
  const third = Math.floor(holdTime / 3);
  const keepaliveTime =
    holdTime === 0
      ? 0
      : c.keepaliveTime !== undefined && c.keepaliveTime > 0
        ? Math.min(c.keepaliveTime, third)
        : third;
  const negotiated: Negotiated = {
    peerASN: open.asn,
    peerRouterId: open.routerId,
    holdTime,
    keepaliveTime,
    families,
    routeRefresh: open.capabilities.some((cap) => cap.kind === "route-refresh"),
  };
  return {
    state: {
      ...s,
      name: "OpenConfirm",
      negotiated,
      timers: {
        ...NO_TIMERS,
        hold: holdTime === 0 ? null : now + holdTime * 1000,
        keepalive: keepaliveTime === 0 ? null : now + keepaliveTime * 1000,
      },
    },
    actions: [{ type: "send", message: { type: "keepalive" } }],
  };
}

function familyCode(f: Family): { afi: number; safi: number } {
  return { afi: f === "ipv4-unicast" ? AFI_IPV4 : AFI_IPV6, safi: SAFI_UNICAST };
}

function familyOf(afi: number, safi: number): Family | undefined {
  if (safi !== SAFI_UNICAST) return undefined;
  if (afi === AFI_IPV4) return "ipv4-unicast";
  if (afi === AFI_IPV6) return "ipv6-unicast";
  return undefined;
}
