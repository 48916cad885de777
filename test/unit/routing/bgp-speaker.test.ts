import { describe, expect, it } from "vitest";
import pino from "pino";
import { parseConfig } from "../../../src/config/index.js";
import type { BgpPeer as PeerConfig } from "../../../src/config/types.js";
import {
  BgpSpeaker,
  peerName,
  sessionKey,
  type DesiredPeer,
  type OutRoute,
  type PeerSession,
} from "../../../src/routing/bgp-speaker.js";

// The session manager alone: which sessions it opens, keeps, reopens and closes as the desired
// set changes. The sessions here are recorders (the manager's port); the real one, with its
// sockets, is tested against BIRD and FRR in test/e2e/bgp-interop.test.ts.

function peers(yaml: string): PeerConfig[] {
  const r = parseConfig(
    `${yaml}\naddress-pools:\n- name: p\n  protocol: bgp\n  addresses: [198.51.100.0/28]\n`,
  );
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return [...r.config.peers];
}

const [A, B] = peers(`peers:
- {peer-address: 192.0.2.1, peer-asn: 64512, my-asn: 64513}
- {peer-address: "2001:db8::1", peer-asn: 64512, my-asn: 64512, peer-port: 1179}`) as [
  PeerConfig,
  PeerConfig,
];
const [A2] = peers(`peers:
- {peer-address: 192.0.2.1, peer-asn: 64512, my-asn: 64513, hold-time: 30s}`) as [PeerConfig];

const route = (prefix: string): OutRoute => ({ prefix, communities: [], largeCommunities: [] });
const desired = (peer: PeerConfig, routes: OutRoute[] = []): DesiredPeer => ({
  key: peerName(peer),
  peer,
  bfdProfile: undefined,
  routes,
});

interface Recorded {
  peer: string;
  routerId: string;
  routes: string[][];
  stopped: string | null;
}

function harness(defaultRouterId: string | null = "192.0.2.10") {
  const made: Recorded[] = [];
  let changes = 0;
  const speaker = new BgpSpeaker({
    defaultRouterId: defaultRouterId ?? undefined,
    log: pino({ level: "silent" }),
    onChange: () => changes++,
    newSession: (d, routerId): PeerSession => {
      const rec: Recorded = { peer: peerName(d.peer), routerId, routes: [], stopped: null };
      made.push(rec);
      return {
        setRoutes: (routes) => rec.routes.push(routes.map((r) => r.prefix)),
        stop: (message) => {
          rec.stopped = message;
          return Promise.resolve();
        },
        report: () => ({
          peer: rec.peer,
          state: "Established",
          established: true,
          bfd: undefined,
          lastError: undefined,
          prefixes: rec.routes.at(-1)?.length ?? 0,
        }),
      };
    },
  });
  return { speaker, made, changes: () => changes };
}

describe("BgpSpeaker", () => {
  it("opens one session per desired peer and gives each its routes", () => {
    const h = harness();
    h.speaker.update([desired(A, [route("198.51.100.1/32")]), desired(B)]);
    expect(h.made.map((m) => [m.peer, m.routerId])).toEqual([
      ["192.0.2.1", "192.0.2.10"],
      ["[2001:db8::1]:1179", "192.0.2.10"],
    ]);
    expect(h.made[0]?.routes).toEqual([["198.51.100.1/32"]]);
    expect(h.speaker.reports()).toHaveLength(2);
    expect(h.changes()).toBeGreaterThan(0);
  });

  it("a change of routes alone goes to the running session: no reopen", () => {
    const h = harness();
    h.speaker.update([desired(A, [route("198.51.100.1/32")])]);
    h.speaker.update([desired(A, [route("198.51.100.1/32"), route("198.51.100.2/32")])]);
    expect(h.made).toHaveLength(1);
    expect(h.made[0]?.stopped).toBeNull();
    expect(h.made[0]?.routes.at(-1)).toEqual(["198.51.100.1/32", "198.51.100.2/32"]);
  });

  it("a peer edited on the wire (hold time) is closed and reopened", () => {
    const h = harness();
    h.speaker.update([desired(A)]);
    expect(sessionKey(desired(A2))).not.toBe(sessionKey(desired(A)));
    h.speaker.update([desired(A2)]);
    expect(h.made).toHaveLength(2);
    expect(h.made[0]?.stopped).toMatch(/changed/);
    expect(h.made[1]?.stopped).toBeNull();
  });

  it("a peer gone from the config is closed with a Cease saying so", () => {
    const h = harness();
    h.speaker.update([desired(A), desired(B)]);
    h.speaker.update([desired(B)]);
    expect(h.made[0]?.stopped).toMatch(/removed/);
    expect(h.made[1]?.stopped).toBeNull();
    expect(h.speaker.reports().map((r) => r.peer)).toEqual(["[2001:db8::1]:1179"]);
  });

  it("a peer's own router-id wins over the node's; without either, no session", () => {
    const [withId] = peers(`peers:
- {peer-address: 192.0.2.1, peer-asn: 64512, my-asn: 64513, router-id: 192.0.2.99}`) as [
      PeerConfig,
    ];
    const h = harness(null);
    h.speaker.update([desired(B), desired(withId)]);
    expect(h.made.map((m) => [m.peer, m.routerId])).toEqual([["192.0.2.1", "192.0.2.99"]]);
  });

  it("stop() closes every session, and later updates open none", async () => {
    const h = harness();
    h.speaker.update([desired(A), desired(B)]);
    await h.speaker.stop();
    expect(h.made.map((m) => m.stopped)).toEqual([
      "barelb speaker stopping",
      "barelb speaker stopping",
    ]);
    h.speaker.update([desired(A)]);
    expect(h.made).toHaveLength(2);
  });
});
