import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_TIMING,
  decodeMessage,
  encodeMessage,
  initialState,
  retryDelay,
  SESSION_STATES,
  shutdownMessage,
  step,
  type Capability,
  type Message,
  type Open,
  type SessionAction,
  type SessionConfig,
  type SessionEvent,
  type SessionState,
  type SessionStateName,
} from "../../../src/bgp/index.js";
import { hex, MARKER } from "./fixtures.js";
import { message } from "./arbitraries.js";

// The session state machine (RFC 4271 8) one transition per row, then whole sessions in
// order, then properties over any sequence of events. Messages go through the real codecs:
// what the FSM receives is what `decodeMessage` makes of the bytes.

const EBGP: SessionConfig = {
  localASN: 65001,
  peerASN: 65002,
  routerId: "192.0.2.1",
  holdTime: 90,
  families: ["ipv4-unicast", "ipv6-unicast"],
  timing: DEFAULT_TIMING,
};

const FULL_CAPS: Capability[] = [
  { kind: "multiprotocol", afi: 1, safi: 1 },
  { kind: "multiprotocol", afi: 2, safi: 1 },
  { kind: "route-refresh" },
  { kind: "four-octet-as", asn: 65002 },
];

const PEER_OPEN: Open = {
  asn: 65002,
  holdTime: 30,
  routerId: "198.51.100.1",
  capabilities: FULL_CAPS,
};

/** A message as the edge hands it over: encoded by the codecs, then decoded from bytes. */
const recv = (m: Message): SessionEvent => ({
  type: "received",
  result: decodeMessage(encodeMessage(m)),
});
const recvBytes = (bytes: Uint8Array): SessionEvent => ({
  type: "received",
  result: decodeMessage(bytes),
});
const open = (o: Partial<Open> = {}): SessionEvent =>
  recv({ type: "open", open: { ...PEER_OPEN, ...o } });
const KEEPALIVE = recv({ type: "keepalive" });
const UPDATE = recv({
  type: "update",
  update: { withdrawn: [], attributes: {}, nlri: [] }, // End-of-RIB (RFC 4724)
});
const notif = (code: number, subcode: number, data = new Uint8Array(0)): SessionEvent =>
  recv({ type: "notification", notification: { code, subcode, data } });
const start: SessionEvent = { type: "manual-start" };
const stop: SessionEvent = { type: "manual-stop", message: "node draining" };
const connected: SessionEvent = { type: "tcp-connected" };
const failed: SessionEvent = { type: "tcp-failed", reason: "ECONNREFUSED" };
const timer = (t: "connect-retry" | "idle-hold" | "hold" | "keepalive"): SessionEvent => ({
  type: "timer",
  timer: t,
});

/** Feeds events at the given times; returns the last state and every step's actions. */
function run(
  events: readonly (readonly [SessionEvent, number])[],
  config: SessionConfig = EBGP,
  from: SessionState = initialState(config),
): { state: SessionState; steps: (readonly SessionAction[])[] } {
  let state = from;
  const steps: (readonly SessionAction[])[] = [];
  for (const [event, now] of events) {
    const r = step(state, event, now);
    state = r.state;
    steps.push(r.actions);
  }
  return { state, steps };
}

/** The events at time 0 that reach each state from Idle. */
const PATH: Record<SessionStateName, SessionEvent[]> = {
  Idle: [],
  Connect: [start],
  Active: [start, failed],
  OpenSent: [start, connected],
  OpenConfirm: [start, connected, open()],
  Established: [start, connected, open(), KEEPALIVE],
};

function reach(name: SessionStateName, config: SessionConfig = EBGP): SessionState {
  const { state } = run(
    PATH[name].map((e) => [e, 0] as const),
    config,
  );
  expect(state.name).toBe(name);
  return state;
}

/** Actions in short words, timers relative to `now`: what a table row can spell out. */
function describeActions(actions: readonly SessionAction[], now: number): string[] {
  return actions.map((a) => {
    switch (a.type) {
      case "send": {
        const m = a.message;
        if (m.type === "notification") {
          return `send notification ${m.notification.code}/${m.notification.subcode}`;
        }
        return `send ${m.type}`;
      }
      case "set-timer":
        return `set ${a.timer} +${a.at - now}`;
      case "stop-timer":
        return `stop ${a.timer}`;
      case "session-down":
        return `down ${a.reason}${a.established ? " (established)" : ""}`;
      case "advertise-all":
        return `advertise ${a.families.join(" ")}`;
      case "route-refresh":
        return `route-refresh ${a.family}`;
      default:
        return a.type;
    }
  });
}

const T = 1_000;

// Each row: from state, event name, event, to state, actions. A timer event fires at the
// timer's deadline; every other event at T (setup ran at 0).
const ROWS: [SessionStateName, string, SessionEvent, SessionStateName, string[]][] = [
  // Idle
  ["Idle", "ManualStart", start, "Connect", ["connect", "set connect-retry +30000"]],
  ["Idle", "ManualStop", stop, "Idle", []],
  ["Idle", "TcpConnectionConfirmed (stale)", connected, "Idle", []],
  ["Idle", "TcpConnectionFails (stale)", failed, "Idle", []],
  ["Idle", "KEEPALIVE of a closed connection", KEEPALIVE, "Idle", []],
  ["Idle", "Hold timer not running", timer("hold"), "Idle", []],
  // Connect
  ["Connect", "ManualStart", start, "Connect", []],
  ["Connect", "ManualStop", stop, "Idle", ["close", "down stopped", "stop connect-retry"]],
  [
    "Connect",
    "TcpConnectionConfirmed",
    connected,
    "OpenSent",
    ["send open", "stop connect-retry", "set hold +240000"],
  ],
  [
    "Connect",
    "TcpConnectionFails",
    failed,
    "Active",
    ["close", "down connect-failed", "set connect-retry +5000"],
  ],
  [
    "Connect",
    "ConnectRetryTimer expires (connect timed out)",
    timer("connect-retry"),
    "Active",
    ["close", "down connect-failed", "set connect-retry +5000"],
  ],
  ["Connect", "OPEN of a closed connection", open(), "Connect", []],
  // Active
  ["Active", "ManualStart", start, "Active", []],
  ["Active", "ManualStop", stop, "Idle", ["down stopped", "stop connect-retry"]],
  [
    "Active",
    "ConnectRetryTimer expires",
    timer("connect-retry"),
    "Connect",
    ["connect", "set connect-retry +30000"],
  ],
  ["Active", "TcpConnectionConfirmed (no connect in flight)", connected, "Active", []],
  ["Active", "TcpConnectionFails (stale)", failed, "Active", []],
  ["Active", "NOTIFICATION of a closed connection", notif(6, 2), "Active", []],
  // OpenSent
  ["OpenSent", "ManualStart", start, "OpenSent", []],
  [
    "OpenSent",
    "ManualStop",
    stop,
    "Idle",
    ["send notification 6/2", "close", "down stopped", "stop hold"],
  ],
  [
    "OpenSent",
    "OPEN, acceptable",
    open(),
    "OpenConfirm",
    ["send keepalive", "set hold +30000", "set keepalive +10000"],
  ],
  [
    "OpenSent",
    "OPEN, wrong AS",
    open({ asn: 65010, capabilities: [{ kind: "four-octet-as", asn: 65010 }] }),
    "Idle",
    ["send notification 2/2", "close", "down open-refused", "set idle-hold +5000", "stop hold"],
  ],
  [
    "OpenSent",
    "NOTIFICATION",
    notif(2, 2),
    "Idle",
    ["close", "down notification-received", "set idle-hold +5000", "stop hold"],
  ],
  [
    "OpenSent",
    "KEEPALIVE before OPEN",
    KEEPALIVE,
    "Idle",
    ["send notification 5/1", "close", "down fsm-error", "set idle-hold +5000", "stop hold"],
  ],
  [
    "OpenSent",
    "HoldTimer expires (no OPEN in 4 minutes)",
    timer("hold"),
    "Idle",
    [
      "send notification 4/0",
      "close",
      "down hold-timer-expired",
      "set idle-hold +5000",
      "stop hold",
    ],
  ],
  [
    "OpenSent",
    "TcpConnectionFails",
    failed,
    "Idle",
    ["close", "down connection-lost", "set idle-hold +5000", "stop hold"],
  ],
  [
    "OpenSent",
    "a message that does not decode (bad marker)",
    recvBytes(hex(`${"00".repeat(16)} 0013 04`)),
    "Idle",
    ["send notification 1/1", "close", "down message-error", "set idle-hold +5000", "stop hold"],
  ],
  ["OpenSent", "TcpConnectionConfirmed again", connected, "OpenSent", []],
  // OpenConfirm
  [
    "OpenConfirm",
    "KEEPALIVE",
    KEEPALIVE,
    "Established",
    ["session-up", "advertise ipv4-unicast ipv6-unicast", "set hold +30000"],
  ],
  [
    "OpenConfirm",
    "KeepaliveTimer expires",
    timer("keepalive"),
    "OpenConfirm",
    ["send keepalive", "set keepalive +10000"],
  ],
  [
    "OpenConfirm",
    "HoldTimer expires",
    timer("hold"),
    "Idle",
    [
      "send notification 4/0",
      "close",
      "down hold-timer-expired",
      "set idle-hold +5000",
      "stop hold",
      "stop keepalive",
    ],
  ],
  [
    "OpenConfirm",
    "ManualStop",
    stop,
    "Idle",
    ["send notification 6/2", "close", "down stopped", "stop hold", "stop keepalive"],
  ],
  [
    "OpenConfirm",
    "NOTIFICATION",
    notif(6, 5),
    "Idle",
    ["close", "down notification-received", "set idle-hold +5000", "stop hold", "stop keepalive"],
  ],
  [
    "OpenConfirm",
    "a second OPEN",
    open(),
    "Idle",
    [
      "send notification 5/2",
      "close",
      "down fsm-error",
      "set idle-hold +5000",
      "stop hold",
      "stop keepalive",
    ],
  ],
  [
    "OpenConfirm",
    "UPDATE before Established",
    UPDATE,
    "Idle",
    [
      "send notification 5/2",
      "close",
      "down fsm-error",
      "set idle-hold +5000",
      "stop hold",
      "stop keepalive",
    ],
  ],
  [
    "OpenConfirm",
    "TcpConnectionFails",
    failed,
    "Idle",
    ["close", "down connection-lost", "set idle-hold +5000", "stop hold", "stop keepalive"],
  ],
  // Established
  ["Established", "KEEPALIVE", KEEPALIVE, "Established", ["set hold +30000"]],
  ["Established", "UPDATE", UPDATE, "Established", ["set hold +30000"]],
  [
    "Established",
    "KeepaliveTimer expires",
    timer("keepalive"),
    "Established",
    ["send keepalive", "set keepalive +10000"],
  ],
  [
    "Established",
    "ROUTE-REFRESH IPv6 unicast",
    recv({ type: "route-refresh", afi: 2, safi: 1 }),
    "Established",
    ["route-refresh ipv6-unicast"],
  ],
  [
    "Established",
    "ROUTE-REFRESH of a family not negotiated (ignored, RFC 2918)",
    recv({ type: "route-refresh", afi: 1, safi: 128 }),
    "Established",
    [],
  ],
  [
    "Established",
    "HoldTimer expires",
    timer("hold"),
    "Idle",
    [
      "send notification 4/0",
      "close",
      "down hold-timer-expired (established)",
      "set idle-hold +5000",
      "stop hold",
      "stop keepalive",
    ],
  ],
  [
    "Established",
    "ManualStop (SIGTERM)",
    stop,
    "Idle",
    ["send notification 6/2", "close", "down stopped (established)", "stop hold", "stop keepalive"],
  ],
  [
    "Established",
    "NOTIFICATION",
    notif(6, 2),
    "Idle",
    [
      "close",
      "down notification-received (established)",
      "set idle-hold +5000",
      "stop hold",
      "stop keepalive",
    ],
  ],
  [
    "Established",
    "OPEN",
    open(),
    "Idle",
    [
      "send notification 5/3",
      "close",
      "down fsm-error (established)",
      "set idle-hold +5000",
      "stop hold",
      "stop keepalive",
    ],
  ],
  [
    "Established",
    "an UPDATE that does not decode",
    recvBytes(hex(`${MARKER} 0017 02  0000 0004`)),
    "Idle",
    [
      "send notification 3/1",
      "close",
      "down message-error (established)",
      "set idle-hold +5000",
      "stop hold",
      "stop keepalive",
    ],
  ],
  [
    "Established",
    "TcpConnectionFails",
    failed,
    "Idle",
    [
      "close",
      "down connection-lost (established)",
      "set idle-hold +5000",
      "stop hold",
      "stop keepalive",
    ],
  ],
  ["Established", "ManualStart", start, "Established", []],
  ["Established", "ConnectRetryTimer not running", timer("connect-retry"), "Established", []],
];

describe("BGP session: every transition", () => {
  it.each(ROWS)("%s + %s", (from, _name, event, to, actions) => {
    const state = reach(from);
    const now = event.type === "timer" ? (state.timers[event.timer] ?? T) : T;
    const r = step(state, event, now);
    expect(r.state.name).toBe(to);
    expect(describeActions(r.actions, now)).toEqual(actions);
  });

  it("Idle + IdleHoldTimer expires (AutomaticStart): Connect, keeping the failure count", () => {
    const s = reach("OpenSent");
    const refused = step(s, notif(2, 2), T).state;
    expect(refused.timers["idle-hold"]).toBe(T + 5000);
    const r = step(refused, timer("idle-hold"), T + 5000);
    expect(r.state.name).toBe("Connect");
    expect(r.state.failures).toBe(1);
    expect(describeActions(r.actions, T + 5000)).toEqual([
      "connect",
      "set connect-retry +30000",
      "stop idle-hold",
    ]);
  });

  it("ManualStop in Idle cancels the automatic restart", () => {
    const refused = step(reach("OpenSent"), notif(2, 2), T).state;
    const r = step(refused, stop, T);
    expect(r.state.name).toBe("Idle");
    expect(describeActions(r.actions, T)).toEqual(["stop idle-hold"]);
    expect(step(r.state, timer("idle-hold"), T + 5000).actions).toEqual([]);
  });

  it("a timer event before its deadline is stale and ignored", () => {
    const s = reach("Established");
    expect(step(s, timer("hold"), 29_999)).toEqual({ state: s, actions: [] });
  });
});

/** The OPEN barelb sent, from a step's actions. */
function sentOpen(actions: readonly SessionAction[]): Open | undefined {
  for (const a of actions) {
    if (a.type === "send" && a.message.type === "open") return a.message.open;
  }
  return undefined;
}

/** The NOTIFICATION barelb sent, from a step's actions. */
function sentNotification(actions: readonly SessionAction[]) {
  for (const a of actions) {
    if (a.type === "send" && a.message.type === "notification") return a.message.notification;
  }
  return undefined;
}

describe("BGP session: OPEN", () => {
  it("sends our AS, hold time, identifier, families, route refresh and 4-octet AS", () => {
    const r = step(reach("Connect"), connected, 0);
    expect(sentOpen(r.actions)).toEqual({
      asn: 65001,
      holdTime: 90,
      routerId: "192.0.2.1",
      capabilities: [
        { kind: "multiprotocol", afi: 1, safi: 1 },
        { kind: "multiprotocol", afi: 2, safi: 1 },
        { kind: "route-refresh" },
        { kind: "four-octet-as", asn: 65001 },
      ],
    });
    // The codec takes it: the FSM never builds an OPEN the wire cannot carry.
    const o = sentOpen(r.actions);
    if (o === undefined) throw new Error("no OPEN sent");
    expect(() => encodeMessage({ type: "open", open: o })).not.toThrow();
  });

  it("a 4-byte AS number of our own goes out as AS_TRANS plus the capability", () => {
    const config = { ...EBGP, localASN: 4_200_000_000 };
    const r = step(reach("Connect", config), connected, 0);
    const o = sentOpen(r.actions);
    if (o === undefined) throw new Error("no OPEN sent");
    const bytes = encodeMessage({ type: "open", open: o });
    expect(bytes.readUInt16BE(20)).toBe(23456);
  });

  const refusals: [string, Partial<Open>, SessionConfig, [number, number], RegExp][] = [
    [
      "wrong peer AS: 2/2 Bad Peer AS",
      { asn: 65099, capabilities: [{ kind: "four-octet-as", asn: 65099 }] },
      EBGP,
      [2, 2],
      /OPEN Message Error \/ Bad Peer AS: peer announced AS 65099, configured peer-asn is 65002/,
    ],
    [
      "no 4-octet AS capability: 2/7 Unsupported Capability",
      { capabilities: [{ kind: "multiprotocol", afi: 1, safi: 1 }] },
      EBGP,
      [2, 7],
      /Unsupported Capability: peer does not offer 4-octet AS/,
    ],
    [
      "iBGP peer with our BGP Identifier: 2/3",
      {
        asn: 65001,
        routerId: "192.0.2.1",
        capabilities: [{ kind: "four-octet-as", asn: 65001 }],
      },
      { ...EBGP, peerASN: 65001 },
      [2, 3],
      /Bad BGP Identifier/,
    ],
    [
      "no address family in common: 2/7",
      {
        capabilities: [
          { kind: "multiprotocol", afi: 2, safi: 1 },
          { kind: "four-octet-as", asn: 65002 },
        ],
      },
      { ...EBGP, families: ["ipv4-unicast"] },
      [2, 7],
      /no address family in common/,
    ],
  ];

  it.each(refusals)("%s", (_name, peer, config, [code, subcode], detail) => {
    const r = step(reach("OpenSent", config), open(peer), T);
    expect(r.state.name).toBe("Idle");
    expect(sentNotification(r.actions)).toMatchObject({ code, subcode });
    const downAction = r.actions.find((a) => a.type === "session-down");
    expect(downAction).toMatchObject({ reason: "open-refused", established: false });
    expect(downAction?.type === "session-down" && downAction.detail).toMatch(detail);
  });

  it("2/7 for a missing 4-octet AS carries that capability as data (RFC 5492 3)", () => {
    const r = step(reach("OpenSent"), open({ capabilities: [] }), T);
    expect(Buffer.from(sentNotification(r.actions)?.data ?? []).toString("hex")).toBe(
      "41040000fde9",
    );
  });

  it("an eBGP peer may share our BGP Identifier (RFC 6286)", () => {
    const r = step(reach("OpenSent"), open({ routerId: "192.0.2.1" }), T);
    expect(r.state.name).toBe("OpenConfirm");
  });

  it("a 4-byte peer AS is read from its capability", () => {
    const config = { ...EBGP, peerASN: 4_200_000_000 };
    const r = step(
      reach("OpenSent", config),
      open({
        asn: 4_200_000_000,
        capabilities: [{ kind: "four-octet-as", asn: 4_200_000_000 }],
      }),
      T,
    );
    expect(r.state.negotiated?.peerASN).toBe(4_200_000_000);
  });

  const holds: [string, number, number | undefined, number, number, number][] = [
    // name, ours, configured keepalive, theirs, negotiated hold, keepalive
    ["the smaller hold time wins (ours)", 9, undefined, 90, 9, 3],
    ["the smaller hold time wins (theirs)", 90, undefined, 30, 30, 10],
    ["0 from the peer: no hold timer, no keepalives", 90, undefined, 0, 0, 0],
    ["0 from us: no hold timer, no keepalives", 0, undefined, 90, 0, 0],
    ["a configured keepalive is used", 90, 5, 90, 90, 5],
    ["a configured keepalive longer than a third is cut to it", 90, 30, 9, 9, 3],
    ["3, the least: keepalive every second", 3, undefined, 3, 3, 1],
  ];

  it.each(holds)("%s", (_name, ours, keepalive, theirs, hold, every) => {
    const config = { ...EBGP, holdTime: ours, keepaliveTime: keepalive };
    const r = step(reach("OpenSent", config), open({ holdTime: theirs }), T);
    expect(r.state.negotiated).toMatchObject({ holdTime: hold, keepaliveTime: every });
    expect(r.state.timers.hold).toBe(hold === 0 ? null : T + hold * 1000);
    expect(r.state.timers.keepalive).toBe(every === 0 ? null : T + every * 1000);
  });

  it("a peer hold time of 1 or 2 is refused by the codec with 2/6, and the FSM sends it", () => {
    // The OPEN of PEER_OPEN with hold time 2 written by hand: the encoder refuses to.
    const bytes = hex(`${MARKER} 001d 01  04 fdea 0002 c6336401 00`);
    const r = step(reach("OpenSent"), recvBytes(bytes), T);
    expect(sentNotification(r.actions)).toMatchObject({ code: 2, subcode: 6 });
    expect(r.state.name).toBe("Idle");
  });

  it("families: the configured ones the peer offers; none offered means IPv4 only", () => {
    const onlyV6 = open({
      capabilities: [
        { kind: "multiprotocol", afi: 2, safi: 1 },
        { kind: "four-octet-as", asn: 65002 },
      ],
    });
    expect(step(reach("OpenSent"), onlyV6, T).state.negotiated?.families).toEqual(["ipv6-unicast"]);
    const noMp = open({ capabilities: [{ kind: "four-octet-as", asn: 65002 }] });
    const r = step(reach("OpenSent"), noMp, T);
    expect(r.state.negotiated).toMatchObject({
      families: ["ipv4-unicast"],
      routeRefresh: false,
    });
  });
});

describe("BGP session: timers and stopping", () => {
  it("keepalives every third of the hold time, and silence ends it with 4/0", () => {
    const s = reach("Established");
    // KEEPALIVEs go out at 10 s and 20 s; the peer last spoke at 0, so 30 s ends it.
    const { state, steps } = run(
      [
        [timer("keepalive"), 10_000],
        [timer("keepalive"), 20_000],
        [timer("hold"), 30_000],
      ],
      EBGP,
      s,
    );
    expect(steps.map((a) => describeActions(a, 0))).toEqual([
      ["send keepalive", "set keepalive +20000"],
      ["send keepalive", "set keepalive +30000"],
      [
        "send notification 4/0",
        "close",
        "down hold-timer-expired (established)",
        "set idle-hold +35000",
        "stop hold",
        "stop keepalive",
      ],
    ]);
    expect(state.name).toBe("Idle");
  });

  it("a KEEPALIVE received moves the hold deadline, so the old one is stale", () => {
    const { state, steps } = run(
      [
        [KEEPALIVE, 25_000],
        [timer("hold"), 30_000],
      ],
      EBGP,
      reach("Established"),
    );
    expect(steps[1]).toEqual([]);
    expect(state.name).toBe("Established");
    expect(state.timers.hold).toBe(55_000);
  });

  it("SIGTERM in Established: Cease 6/2 with the operator's message (RFC 9003), then close", () => {
    const r = step(reach("Established"), { type: "manual-stop", message: "barelb stopping" }, T);
    const n = sentNotification(r.actions);
    expect(n).toMatchObject({ code: 6, subcode: 2 });
    if (n === undefined) throw new Error("no NOTIFICATION sent");
    expect(shutdownMessage(n)).toBe("barelb stopping");
    // It goes out as real bytes, before the close.
    expect(() => encodeMessage({ type: "notification", notification: n })).not.toThrow();
    expect(r.actions.map((a) => a.type).slice(0, 3)).toEqual(["send", "close", "session-down"]);
    // And no restart: Idle without timers.
    expect(r.state.timers).toEqual({
      "connect-retry": null,
      "idle-hold": null,
      hold: null,
      keepalive: null,
    });
  });

  it("a stop without a message sends 6/2 with no data", () => {
    const r = step(reach("Established"), { type: "manual-stop" }, T);
    expect(sentNotification(r.actions)?.data.length).toBe(0);
  });

  it("the peer's shutdown message is in the session-down detail", () => {
    const r = step(
      reach("Established"),
      recv({
        type: "notification",
        notification: { code: 6, subcode: 2, data: new Uint8Array([4, 0x6d, 0x61, 0x69, 0x6e]) },
      }),
      T,
    );
    expect(r.actions).toContainEqual(
      expect.objectContaining({
        type: "session-down",
        detail: 'peer sent Cease / Administrative Shutdown: "main"',
      }),
    );
  });
});

describe("BGP session: retry back-off", () => {
  it("doubles from the base and stops at the cap", () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => retryDelay(DEFAULT_TIMING, n));
    expect(delays).toEqual([5000, 10_000, 20_000, 40_000, 80_000, 120_000, 120_000, 120_000]);
    expect(retryDelay(DEFAULT_TIMING, 10_000)).toBe(120_000);
  });

  it("a router that refuses our AS every time is tried less and less often", () => {
    // Connect, OPEN out, the router answers 2/2, wait; again and again.
    let state = reach("Idle");
    let now = 0;
    const waits: number[] = [];
    state = step(state, start, now).state;
    for (let i = 0; i < 7; i++) {
      state = step(state, connected, now).state;
      const r = step(state, notif(2, 2), now);
      expect(r.actions).toContainEqual(
        expect.objectContaining({ type: "session-down", reason: "notification-received" }),
      );
      state = r.state;
      const at = state.timers["idle-hold"];
      if (at === null) throw new Error("no restart scheduled");
      waits.push(at - now);
      now = at;
      state = step(state, timer("idle-hold"), now).state;
      expect(state.name).toBe("Connect");
    }
    expect(waits).toEqual([5000, 10_000, 20_000, 40_000, 80_000, 120_000, 120_000]);
  });

  it("connect failures back off the same way, through Active", () => {
    let state = step(reach("Idle"), start, 0).state;
    let now = 0;
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      state = step(state, failed, now).state;
      expect(state.name).toBe("Active");
      const at = state.timers["connect-retry"];
      if (at === null) throw new Error("no retry scheduled");
      waits.push(at - now);
      now = at;
      state = step(state, timer("connect-retry"), now).state;
    }
    expect(waits).toEqual([5000, 10_000, 20_000, 40_000]);
  });

  it("reaching Established starts the back-off over", () => {
    let state = step(reach("Idle"), start, 0).state;
    state = step(state, failed, 0).state;
    state = step(state, timer("connect-retry"), 5000).state;
    state = step(state, failed, 5000).state;
    expect(state.failures).toBe(2);
    for (const e of [timer("connect-retry"), connected, open(), KEEPALIVE]) {
      state = step(state, e, 15_000).state;
    }
    expect(state.name).toBe("Established");
    expect(state.failures).toBe(0);
    const r = step(state, failed, 20_000);
    expect(r.state.timers["idle-hold"]).toBe(25_000);
  });

  it("ManualStart starts at once, whatever the back-off", () => {
    const refused = step(reach("OpenSent"), notif(2, 2), T).state;
    const r = step(refused, start, T);
    expect(r.state.name).toBe("Connect");
    expect(r.state.failures).toBe(0);
  });
});

const event: fc.Arbitrary<SessionEvent> = fc.oneof(
  fc.constant<SessionEvent>(start),
  fc.constant<SessionEvent>({ type: "manual-stop" }),
  fc.string({ maxLength: 300 }).map((m): SessionEvent => ({ type: "manual-stop", message: m })),
  fc.constant<SessionEvent>(connected),
  fc.constant<SessionEvent>(failed),
  fc.constantFrom("connect-retry", "idle-hold", "hold", "keepalive").map(timer),
  fc.constantFrom(KEEPALIVE, UPDATE, open(), notif(6, 2)),
  message.map(recv),
  fc.uint8Array({ maxLength: 40 }).map(recvBytes),
);

/** Events with the time moving forward, sometimes to the next deadline. */
const script = fc.array(fc.tuple(event, fc.nat({ max: 200_000 }), fc.boolean()), {
  maxLength: 60,
});

describe("BGP session: properties", () => {
  it("never throws, always in one of the six states, and no deadline in the past", () => {
    fc.assert(
      fc.property(script, (events) => {
        let state = initialState(EBGP);
        let now = 0;
        for (const [e, dt, toDeadline] of events) {
          const pending = Object.values(state.timers).filter((t): t is number => t !== null);
          now = toDeadline && pending.length > 0 ? Math.max(now, Math.min(...pending)) : now + dt;
          const r = step(state, e, now);
          state = r.state;
          expect(SESSION_STATES).toContain(state.name);
          for (const a of r.actions) {
            if (a.type === "send") expect(() => encodeMessage(a.message)).not.toThrow();
          }
          if (e.type === "timer") {
            // A timer that fired is restarted or stopped, never left in the past.
            const at = state.timers[e.timer];
            expect(at === null || at > now).toBe(true);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("the actions' timers always match the state's deadlines", () => {
    fc.assert(
      fc.property(script, (events) => {
        let state = initialState(EBGP);
        const edge: Record<string, number | null> = { ...state.timers };
        let now = 0;
        for (const [e, dt] of events) {
          now += dt;
          const r = step(state, e, now);
          state = r.state;
          for (const a of r.actions) {
            if (a.type === "set-timer") edge[a.timer] = a.at;
            if (a.type === "stop-timer") edge[a.timer] = null;
          }
          expect(edge).toEqual(state.timers);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("from Established, any NOTIFICATION received leads to Idle with a session-down", () => {
    const anyNotification = fc.record({
      code: fc.integer({ min: 0, max: 255 }),
      subcode: fc.integer({ min: 0, max: 255 }),
      data: fc.uint8Array({ maxLength: 64 }),
    });
    fc.assert(
      fc.property(anyNotification, fc.nat({ max: 29_999 }), (n, now) => {
        const r = step(reach("Established"), recv({ type: "notification", notification: n }), now);
        expect(r.state.name).toBe("Idle");
        expect(r.actions).toContainEqual(
          expect.objectContaining({
            type: "session-down",
            reason: "notification-received",
            established: true,
          }),
        );
        // Never answered with a NOTIFICATION (RFC 4271 6).
        expect(sentNotification(r.actions)).toBeUndefined();
      }),
      { numRuns: 500 },
    );
  });
});
