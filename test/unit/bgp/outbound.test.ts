import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  announceAll,
  decodeMessage,
  diffRoutes,
  EMPTY_ROUTES,
  encodeMessage,
  endOfRib,
  MAX_MESSAGE_LEN,
  pathAttributes,
  routeSet,
  type Family,
  type OutboundPolicy,
  type PathAttributes,
  type Prefix,
  type Route,
  type RouteSet,
  type Update,
} from "../../../src/bgp/index.js";
import { formatIP, formatIPValue, parseIP, type IP } from "../../../src/net/ip.js";

const ip = (text: string): IP => {
  const r = parseIP(text);
  if (!r.ok) throw new Error(text);
  return r.value;
};

const BOTH: readonly Family[] = ["ipv4-unicast", "ipv6-unicast"];
const ebgp: OutboundPolicy = {
  localASN: 64512,
  ibgp: false,
  families: BOTH,
  nextHopV4: ip("192.0.2.10"),
  nextHopV6: ip("2001:db8::10"),
};
const ibgp: OutboundPolicy = { ...ebgp, localASN: 64512, ibgp: true };

const route = (prefix: string, extra: Partial<Route> = {}): Route => ({
  prefix,
  communities: [],
  largeCommunities: [],
  ...extra,
});

/** Every UPDATE as the peer decodes it; each must encode within 4096 bytes. */
function onTheWire(updates: readonly Update[]): Update[] {
  return updates.map((u) => {
    const bytes = encodeMessage({ type: "update", update: u });
    expect(bytes.length).toBeLessThanOrEqual(MAX_MESSAGE_LEN);
    const m = decodeMessage(bytes);
    if (!m.ok || m.value.type !== "update")
      throw new Error(`does not decode: ${JSON.stringify(m)}`);
    expect(m.value.update).toEqual(u);
    return m.value.update;
  });
}

const key = (p: Prefix) => `${formatIP(p.ip)}/${p.length}`;
type Rib = Map<string, PathAttributes>;

/** The peer's Adj-RIB-In after `updates`: what it stores per prefix. */
function apply(rib: Rib, updates: readonly Update[]): Rib {
  const out = new Map(rib);
  for (const u of onTheWire(updates)) {
    for (const p of u.withdrawn) out.delete(key(p));
    for (const p of u.attributes.mpUnreach?.withdrawn ?? []) out.delete(key(p));
    const { mpReach, mpUnreach: _, ...rest } = u.attributes;
    for (const p of u.nlri) out.set(key(p), rest);
    if (mpReach !== undefined) {
      const { nlri, ...hop } = mpReach;
      for (const p of nlri) out.set(key(p), { ...rest, mpReach: { ...hop, nlri: [] } });
    }
  }
  return out;
}

/** What the peer should hold for `routes` under `policy`. */
function expected(routes: RouteSet, policy: OutboundPolicy): Rib {
  const out: Rib = new Map();
  for (const [k, r] of routes) {
    const family: Family = k.includes(":") ? "ipv6-unicast" : "ipv4-unicast";
    if (!policy.families.includes(family)) continue;
    const hop = family === "ipv4-unicast" ? policy.nextHopV4 : policy.nextHopV6;
    if (hop === undefined) continue;
    const a = pathAttributes(r, family, policy);
    out.set(
      k,
      family === "ipv4-unicast"
        ? a
        : {
            ...a,
            mpReach: {
              afi: 2,
              safi: 1,
              nextHop: hop,
              ...(policy.linkLocalV6 ? { linkLocalNextHop: policy.linkLocalV6 } : {}),
              nlri: [],
            },
          },
    );
  }
  return out;
}

describe("routeSet", () => {
  it("keys by canonical prefix, sorts and dedupes communities, keeps the last of a prefix", () => {
    const set = routeSet([
      route("2001:DB8:0:0::1:0/128", { communities: [5, 1, 5] }),
      route("192.0.2.40/32", { localPref: 50 }),
      route("192.0.2.40/32", {
        largeCommunities: [
          { global: 2, local1: 1, local2: 1 },
          { global: 1, local1: 9, local2: 9 },
          { global: 2, local1: 1, local2: 1 },
        ],
      }),
    ]);
    expect([...set.keys()]).toEqual(["2001:db8::1:0/128", "192.0.2.40/32"]);
    expect(set.get("2001:db8::1:0/128")?.communities).toEqual([1, 5]);
    expect(set.get("192.0.2.40/32")).toEqual({
      prefix: "192.0.2.40/32",
      communities: [],
      largeCommunities: [
        { global: 1, local1: 9, local2: 9 },
        { global: 2, local1: 1, local2: 1 },
      ],
    });
  });

  it("refuses a prefix that does not parse or has host bits set", () => {
    expect(() => routeSet([route("192.0.2.40")])).toThrow(RangeError);
    expect(() => routeSet([route("192.0.2.40/24")])).toThrow(/host bits/);
  });

  it("refuses a community, large community or local preference outside 32 bits", () => {
    expect(() => routeSet([route("192.0.2.40/32", { communities: [-1] })])).toThrow(/-1 is not/);
    expect(() => routeSet([route("192.0.2.40/32", { localPref: 2 ** 32 })])).toThrow(RangeError);
    expect(() =>
      routeSet([
        route("192.0.2.40/32", { largeCommunities: [{ global: 1, local1: 0.5, local2: 0 }] }),
      ]),
    ).toThrow(RangeError);
  });
});

describe("diffRoutes, in order", () => {
  const a = route("192.0.2.40/32", { communities: [0xfde8_0001] });
  const b = route("192.0.2.41/32", { communities: [0xfde8_0001] });
  const v6 = route("2001:db8::1:0/128", { localPref: 200 });
  let sent = EMPTY_ROUTES;

  it("announces new routes, grouped by attributes: IPv4 classic, IPv6 in MP_REACH", () => {
    const out = diffRoutes(sent, routeSet([a, b, v6]), ibgp);
    sent = out.sent;
    expect(out.updates).toEqual([
      {
        withdrawn: [],
        attributes: {
          origin: "igp",
          asPath: [],
          nextHop: ip("192.0.2.10"),
          localPref: 100,
          communities: [0xfde8_0001],
        },
        nlri: [
          { ip: ip("192.0.2.40"), length: 32 },
          { ip: ip("192.0.2.41"), length: 32 },
        ],
      },
      {
        withdrawn: [],
        attributes: {
          origin: "igp",
          asPath: [],
          localPref: 200,
          mpReach: {
            afi: 2,
            safi: 1,
            nextHop: ip("2001:db8::10"),
            nlri: [{ ip: ip("2001:db8::1:0"), length: 128 }],
          },
        },
        nlri: [],
      },
    ]);
    expect([...sent.keys()].sort()).toEqual([
      "192.0.2.40/32",
      "192.0.2.41/32",
      "2001:db8::1:0/128",
    ]);
  });

  it("sends nothing when nothing changed", () => {
    expect(diffRoutes(sent, routeSet([v6, b, a]), ibgp).updates).toEqual([]);
  });

  it("re-announces a route whose attributes changed, withdraws one no longer wanted", () => {
    const out = diffRoutes(sent, routeSet([a, { ...v6, localPref: 300 }]), ibgp);
    sent = out.sent;
    expect(
      out.updates.map((u) => encodeMessage({ type: "update", update: u }).length),
    ).toHaveLength(2);
    expect(out.updates[0]).toEqual({
      withdrawn: [{ ip: ip("192.0.2.41"), length: 32 }],
      attributes: {},
      nlri: [],
    });
    expect(out.updates[1]?.attributes.localPref).toBe(300);
  });

  it("withdraws IPv6 in MP_UNREACH", () => {
    const out = diffRoutes(sent, routeSet([a]), ibgp);
    expect(out.updates).toEqual([
      {
        withdrawn: [],
        attributes: {
          mpUnreach: { afi: 2, safi: 1, withdrawn: [{ ip: ip("2001:db8::1:0"), length: 128 }] },
        },
        nlri: [],
      },
    ]);
  });
});

describe("what a policy sends", () => {
  it("eBGP: our AS in the path, no LOCAL_PREF", () => {
    const [u] = diffRoutes(
      EMPTY_ROUTES,
      routeSet([route("192.0.2.40/32", { localPref: 7 })]),
      ebgp,
    ).updates;
    expect(u?.attributes).toEqual({
      origin: "igp",
      asPath: [{ type: "sequence", asns: [64512] }],
      nextHop: ip("192.0.2.10"),
    });
  });

  it("the link-local next hop follows the global one", () => {
    const policy = { ...ebgp, linkLocalV6: ip("fe80::1") };
    const [u] = diffRoutes(EMPTY_ROUTES, routeSet([route("2001:db8::/64")]), policy).updates;
    expect(u?.attributes.mpReach?.linkLocalNextHop).toEqual(ip("fe80::1"));
  });

  it("leaves out families not negotiated or without a next hop", () => {
    const set = routeSet([route("192.0.2.40/32"), route("2001:db8::1/128")]);
    const v4only = diffRoutes(EMPTY_ROUTES, set, { ...ebgp, families: ["ipv4-unicast"] });
    expect([...v4only.sent.keys()]).toEqual(["192.0.2.40/32"]);
    const { nextHopV6: _, ...noV6Hop } = ebgp;
    expect([...diffRoutes(EMPTY_ROUTES, set, noV6Hop).sent.keys()]).toEqual(["192.0.2.40/32"]);
  });

  it("announceAll: the whole table, or one family", () => {
    const set = routeSet([route("192.0.2.40/32"), route("2001:db8::1/128")]);
    expect(announceAll(set, ebgp, BOTH).updates).toHaveLength(2);
    const v6 = announceAll(set, ebgp, ["ipv6-unicast"]);
    expect(v6.updates).toHaveLength(1);
    expect([...v6.sent.keys()]).toEqual(["2001:db8::1/128"]);
  });

  it("End-of-RIB markers encode as RFC 4724 says: 23 bytes for IPv4, an empty MP_UNREACH", () => {
    expect(encodeMessage({ type: "update", update: endOfRib("ipv4-unicast") })).toHaveLength(23);
    expect(onTheWire([endOfRib("ipv6-unicast")])[0]?.attributes.mpUnreach?.withdrawn).toEqual([]);
  });

  it("splits 5,000 routes of one kind over messages of at most 4096 bytes", () => {
    const routes: Route[] = [];
    for (let i = 0; i < 2500; i++) {
      routes.push(
        route(`${formatIPValue(4, 0xc6120000n + BigInt(i))}/32`, { communities: [1, 2] }),
      );
      routes.push(route(`${formatIPValue(6, (0x20010db8n << 96n) + BigInt(i))}/128`));
    }
    const out = diffRoutes(EMPTY_ROUTES, routeSet(routes), ibgp);
    const rib = apply(new Map(), out.updates);
    expect(rib.size).toBe(5000);
    // Packed, not one route per message: 4096 / 5 bytes per IPv4 /32, / 17 per IPv6 /128.
    expect(out.updates.length).toBeLessThan(2500 / 800 + 2500 / 230 + 4);
    const gone = apply(rib, diffRoutes(out.sent, EMPTY_ROUTES, ibgp).updates);
    expect(gone.size).toBe(0);
  });
});

// ---- property: the UPDATEs take the peer from the old set to the new one ----

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const v4Route = fc
  .tuple(fc.integer({ min: 0, max: 0xfff }), fc.integer({ min: 20, max: 32 }))
  .map(([n, len]) => {
    const v = ((0xc6120000n + BigInt(n)) >> BigInt(32 - len)) << BigInt(32 - len);
    return `${formatIPValue(4, v)}/${len}`;
  });
const v6Route = fc
  .tuple(fc.bigInt({ min: 0n, max: (1n << 96n) - 1n }), fc.integer({ min: 32, max: 128 }))
  .map(([n, len]) => {
    const v = (((0x20010db8n << 96n) | n) >> BigInt(128 - len)) << BigInt(128 - len);
    return `${formatIPValue(6, v)}/${len}`;
  });
const arbRoute: fc.Arbitrary<Route> = fc.record(
  {
    prefix: fc.oneof(v4Route, v6Route),
    localPref: fc.constantFrom(100, 200),
    communities: fc.array(fc.constantFrom(1, 2, 0xfde8_0001), { maxLength: 3 }),
    largeCommunities: fc.array(
      fc.record({
        global: fc.constantFrom(64512, 4_200_000_000),
        local1: fc.constantFrom(1, 2),
        local2: u32,
      }),
      { maxLength: 2 },
    ),
  },
  { requiredKeys: ["prefix", "communities", "largeCommunities"] },
);
const routes = fc.array(arbRoute, { maxLength: 600 });
const policy: fc.Arbitrary<OutboundPolicy> = fc.record(
  {
    localASN: fc.integer({ min: 1, max: 0xffff_ffff }),
    ibgp: fc.boolean(),
    families: fc.subarray([...BOTH]),
    nextHopV4: fc.constant(ip("192.0.2.10")),
    nextHopV6: fc.constant(ip("2001:db8::10")),
    linkLocalV6: fc.constant(ip("fe80::10")),
  },
  { requiredKeys: ["localASN", "ibgp", "families"] },
);

describe("diffRoutes, properties", () => {
  it("old set + UPDATEs = new set; every message within 4096 bytes and decodes back", () => {
    fc.assert(
      fc.property(routes, routes, policy, (before, after, p) => {
        const first = diffRoutes(EMPTY_ROUTES, routeSet(before), p);
        const rib = apply(new Map(), first.updates);
        expect(rib).toEqual(expected(routeSet(before), p));
        const second = diffRoutes(first.sent, routeSet(after), p);
        const rib2 = apply(rib, second.updates);
        expect(rib2).toEqual(expected(routeSet(after), p));
        expect(new Set(second.sent.keys())).toEqual(new Set(rib2.keys()));
        // The full table equals the diff from nothing.
        expect(apply(new Map(), announceAll(routeSet(after), p, p.families).updates)).toEqual(rib2);
      }),
      { numRuns: 150 },
    );
  });

  it("the same with sets large enough to need many messages per group", () => {
    const big = fc.array(arbRoute, { minLength: 500, maxLength: 2000 });
    fc.assert(
      fc.property(big, big, policy, (before, after, p) => {
        const first = diffRoutes(EMPTY_ROUTES, routeSet(before), p);
        const second = diffRoutes(first.sent, routeSet(after), p);
        expect(apply(apply(new Map(), first.updates), second.updates)).toEqual(
          expected(routeSet(after), p),
        );
      }),
      // Shrinking thousands of routes takes minutes: report the first failure as found.
      { numRuns: 15, endOnFailure: true },
    );
  });
});
