import { formatIP, parseCIDR, type IP } from "../net/ip.js";
import type { LargeCommunity, PathAttributes } from "./attributes.js";
import { encodeMessage } from "./message.js";
import { HEADER_LEN, MAX_MESSAGE_LEN } from "./header.js";
import { AFI_IPV6, SAFI_UNICAST, type Prefix } from "./prefix.js";
import type { Family } from "./session.js";
import type { Update } from "./update.js";

/**
 * The Adj-RIB-Out of one session (RFC 4271 3.2): the routes barelb last sent to the peer, and
 * the UPDATE messages that take the peer from those to the routes barelb wants it to have.
 *
 * Routes with the same path attributes share an UPDATE, as many as fit in 4096 bytes (RFC
 * 4271 4.3); IPv4 routes go in the classic fields, IPv6 ones in MP_REACH_NLRI and
 * MP_UNREACH_NLRI (RFC 4760) with the global next hop and, when known, the link-local one
 * (RFC 2545 3). A route whose attributes changed is announced again, which replaces it at
 * the peer (RFC 4271 9.1.4); only prefixes no longer wanted are withdrawn.
 *
 * The attributes barelb sends: ORIGIN IGP (the routes are barelb's own), an AS_PATH that is
 * empty to an iBGP peer and holds barelb's AS once to an eBGP peer (RFC 4271 5.1.2),
 * LOCAL_PREF only to an iBGP peer (5.1.5), where it must be present, so 100 (the usual
 * default) when the advertisement sets none; COMMUNITIES and LARGE_COMMUNITY when not empty,
 * sorted and without repeats, so equal sets group together.
 *
 * End-of-RIB (RFC 4724 2): `endOfRib` gives the marker for one family. RFC 4724 recommends
 * sending it after the initial table even without graceful restart, because it tells the peer
 * the table is complete (BIRD and FRR log it and use it to finish their initial convergence);
 * the session edge sends it after each initial full table, not after a route refresh.
 */

/** One route barelb wants the peer to have. */
export interface Route {
  /** `192.0.2.40/32`, `2001:db8::1:0/128`: host bits must be zero. */
  readonly prefix: string;
  /** Sent to iBGP peers only; 100 when not set. */
  readonly localPref?: number;
  /** RFC 1997 values, AS in the high 16 bits. */
  readonly communities: readonly number[];
  readonly largeCommunities: readonly LargeCommunity[];
}

/** Routes by canonical prefix (`formatIP/length`), as `routeSet` makes them. */
export type RouteSet = ReadonlyMap<string, Route>;

/** What the UPDATEs are built from: the session's kind and the next hops of this connection. */
export interface OutboundPolicy {
  readonly localASN: number;
  readonly ibgp: boolean;
  /** The negotiated families: routes of another family are not sent. */
  readonly families: readonly Family[];
  /** The next hop of IPv4 routes; without one, IPv4 routes are not sent. */
  readonly nextHopV4?: IP;
  /** The global next hop of IPv6 routes; without one, IPv6 routes are not sent. */
  readonly nextHopV6?: IP;
  /** The link-local address of the interface towards the peer, sent after the global one. */
  readonly linkLocalV6?: IP;
}

/** The UPDATEs to send and the Adj-RIB-Out once they are sent. */
export interface Outbound {
  readonly updates: readonly Update[];
  readonly sent: RouteSet;
}

export const DEFAULT_LOCAL_PREF = 100;

export const EMPTY_ROUTES: RouteSet = new Map();

interface ParsedRoute {
  readonly key: string;
  readonly family: Family;
  readonly prefix: Prefix;
  readonly route: Route;
}

/**
 * The routes keyed by canonical prefix, communities sorted and without repeats. A prefix given
 * twice keeps the last. Throws a RangeError on a prefix that does not parse or has host bits
 * set, or a value that is not a 32-bit unsigned integer: routes come from barelb's own pools
 * and parsed config, so that is a bug of the caller, and it shows here rather than when the
 * session comes up.
 */
export function routeSet(routes: readonly Route[]): RouteSet {
  const out = new Map<string, Route>();
  for (const r of routes) {
    const p = parseRoute(r);
    const values = [
      ...(r.localPref === undefined ? [] : [r.localPref]),
      ...r.communities,
      ...r.largeCommunities.flatMap((c) => [c.global, c.local1, c.local2]),
    ];
    const bad = values.find((v) => !Number.isInteger(v) || v < 0 || v > 0xffff_ffff);
    if (bad !== undefined) {
      throw new RangeError(`route ${r.prefix}: ${bad} is not a 32-bit unsigned value`);
    }
    out.set(p.key, {
      prefix: p.key,
      ...(r.localPref === undefined ? {} : { localPref: r.localPref }),
      communities: [...new Set(r.communities)].sort((a, b) => a - b),
      largeCommunities: uniqueLarge(r.largeCommunities),
    });
  }
  return out;
}

function uniqueLarge(cs: readonly LargeCommunity[]): LargeCommunity[] {
  const byKey = new Map<string, LargeCommunity>();
  for (const c of cs) {
    byKey.set(largeKey(c), { global: c.global, local1: c.local1, local2: c.local2 });
  }
  return [...byKey.values()].sort(
    (a, b) => a.global - b.global || a.local1 - b.local1 || a.local2 - b.local2,
  );
}

const largeKey = (c: LargeCommunity) => `${c.global}:${c.local1}:${c.local2}`;

function parseRoute(r: Route): ParsedRoute {
  const cidr = parseCIDR(r.prefix);
  if (!cidr.ok) throw new RangeError(`route ${r.prefix}: ${cidr.error}`);
  if (cidr.value.widened) throw new RangeError(`route ${r.prefix} has host bits set`);
  const ip: IP = { family: cidr.value.family, value: cidr.value.start };
  return {
    key: `${formatIP(ip)}/${cidr.value.prefix}`,
    family: ip.family === 4 ? "ipv4-unicast" : "ipv6-unicast",
    prefix: { ip, length: cidr.value.prefix },
    route: r,
  };
}

/** Whether `policy` can send routes of `family`: negotiated, and a next hop known. */
export function canSend(policy: OutboundPolicy, family: Family): boolean {
  if (!policy.families.includes(family)) return false;
  return family === "ipv4-unicast"
    ? policy.nextHopV4 !== undefined
    : policy.nextHopV6 !== undefined;
}

/**
 * The UPDATEs that take the peer from `sent` to `desired`: withdrawals of the prefixes no
 * longer wanted, announcements of the new ones and of those whose attributes changed. `sent`
 * afterwards holds the routes of `desired` that `policy` can send.
 */
export function diffRoutes(sent: RouteSet, desired: RouteSet, policy: OutboundPolicy): Outbound {
  const next = new Map<string, Route>();
  const announce: ParsedRoute[] = [];
  for (const [key, route] of desired) {
    const p = parseRoute(route);
    if (!canSend(policy, p.family)) continue;
    next.set(key, route);
    const before = sent.get(key);
    if (before === undefined || !sameAttributes(before, route)) announce.push(p);
  }
  const withdraw: ParsedRoute[] = [];
  for (const [key, route] of sent) {
    if (!next.has(key)) withdraw.push(parseRoute(route));
  }
  return {
    updates: [...withdrawals(withdraw), ...announcements(announce, policy)],
    sent: next,
  };
}

/**
 * Every route of `routes` in `families` that `policy` can send, as announcements: the whole
 * table when a session comes up, or one family again when the peer asks (RFC 2918).
 */
export function announceAll(
  routes: RouteSet,
  policy: OutboundPolicy,
  families: readonly Family[],
): Outbound {
  const next = new Map<string, Route>();
  const announce: ParsedRoute[] = [];
  for (const [key, route] of routes) {
    const p = parseRoute(route);
    if (!families.includes(p.family) || !canSend(policy, p.family)) continue;
    next.set(key, route);
    announce.push(p);
  }
  return { updates: announcements(announce, policy), sent: next };
}

/** The End-of-RIB marker of `family` (RFC 4724 2). */
export function endOfRib(family: Family): Update {
  return family === "ipv4-unicast"
    ? { withdrawn: [], attributes: {}, nlri: [] }
    : {
        withdrawn: [],
        attributes: { mpUnreach: { afi: AFI_IPV6, safi: SAFI_UNICAST, withdrawn: [] } },
        nlri: [],
      };
}

/** The path attributes `policy` sends with `route`, without its prefix. */
export function pathAttributes(
  route: Route,
  family: Family,
  policy: OutboundPolicy,
): PathAttributes {
  const a: {
    -readonly [K in keyof PathAttributes]: PathAttributes[K];
  } = {
    origin: "igp",
    asPath: policy.ibgp ? [] : [{ type: "sequence", asns: [policy.localASN] }],
  };
  if (family === "ipv4-unicast") a.nextHop = policy.nextHopV4;
  if (policy.ibgp) a.localPref = route.localPref ?? DEFAULT_LOCAL_PREF;
  if (route.communities.length > 0) a.communities = route.communities;
  if (route.largeCommunities.length > 0) a.largeCommunities = route.largeCommunities;
  return a;
}

function sameAttributes(a: Route, b: Route): boolean {
  return attributeKey(a) === attributeKey(b);
}

function attributeKey(r: Route): string {
  return JSON.stringify([r.localPref ?? null, r.communities, r.largeCommunities.map(largeKey)]);
}

/** Bytes a prefix takes in NLRI or withdrawn fields: its length byte, then the bytes needed. */
const prefixBytes = (p: Prefix) => 1 + Math.ceil(p.length / 8);

/** Greedy chunks of `prefixes` whose encoded sizes stay within `budget` bytes. */
function chunk(prefixes: readonly Prefix[], budget: number): Prefix[][] {
  if (budget < 17) throw new RangeError("path attributes leave no room for a prefix");
  const out: Prefix[][] = [];
  let current: Prefix[] = [];
  let used = 0;
  for (const p of prefixes) {
    const n = prefixBytes(p);
    if (used + n > budget && current.length > 0) {
      out.push(current);
      current = [];
      used = 0;
    }
    current.push(p);
    used += n;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/**
 * Room left for prefixes in a message whose other content encodes to `base` bytes. One byte
 * is kept back for an MP attribute whose length passes 255 once the prefixes are in, and so
 * needs the 2-byte extended length (RFC 4271 4.3).
 */
const room = (base: number) => MAX_MESSAGE_LEN - base - 1;

function withdrawals(routes: readonly ParsedRoute[]): Update[] {
  const v4 = routes.filter((r) => r.family === "ipv4-unicast").map((r) => r.prefix);
  const v6 = routes.filter((r) => r.family === "ipv6-unicast").map((r) => r.prefix);
  const out: Update[] = [];
  // An UPDATE with nothing but the two empty length fields.
  const v4Base = HEADER_LEN + 4;
  for (const c of chunk(sortPrefixes(v4), room(v4Base))) {
    out.push({ withdrawn: c, attributes: {}, nlri: [] });
  }
  const v6Update = (withdrawn: Prefix[]): Update => ({
    withdrawn: [],
    attributes: { mpUnreach: { afi: AFI_IPV6, safi: SAFI_UNICAST, withdrawn } },
    nlri: [],
  });
  const v6Base = encodeMessage({ type: "update", update: v6Update([]) }).length;
  for (const c of chunk(sortPrefixes(v6), room(v6Base))) out.push(v6Update(c));
  return out;
}

function announcements(routes: readonly ParsedRoute[], policy: OutboundPolicy): Update[] {
  // Group by family and attributes, in a stable order (by first prefix) for readable traces.
  const groups = new Map<string, { family: Family; route: Route; prefixes: Prefix[] }>();
  for (const r of routes) {
    const key = `${r.family} ${attributeKey(r.route)}`;
    const g = groups.get(key);
    if (g === undefined)
      groups.set(key, { family: r.family, route: r.route, prefixes: [r.prefix] });
    else g.prefixes.push(r.prefix);
  }
  const out: Update[] = [];
  for (const g of groups.values()) {
    const attributes = pathAttributes(g.route, g.family, policy);
    const make = (nlri: Prefix[]): Update =>
      g.family === "ipv4-unicast"
        ? { withdrawn: [], attributes, nlri }
        : {
            withdrawn: [],
            attributes: { ...attributes, mpReach: mpReach(policy, nlri) },
            nlri: [],
          };
    const base = encodeMessage({ type: "update", update: make([]) }).length;
    for (const c of chunk(sortPrefixes(g.prefixes), room(base))) out.push(make(c));
  }
  return out;
}

function mpReach(policy: OutboundPolicy, nlri: Prefix[]): NonNullable<PathAttributes["mpReach"]> {
  if (policy.nextHopV6 === undefined) throw new RangeError("no IPv6 next hop");
  return {
    afi: AFI_IPV6,
    safi: SAFI_UNICAST,
    nextHop: policy.nextHopV6,
    ...(policy.linkLocalV6 === undefined ? {} : { linkLocalNextHop: policy.linkLocalV6 }),
    nlri,
  };
}

function sortPrefixes(ps: readonly Prefix[]): Prefix[] {
  return [...ps].sort((a, b) =>
    a.ip.value < b.ip.value ? -1 : a.ip.value > b.ip.value ? 1 : a.length - b.length,
  );
}
