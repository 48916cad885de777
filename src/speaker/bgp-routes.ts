import { matchesAny } from "../config/index.js";
import type { BgpAdvertisement, BgpPeer, Config, Pool } from "../config/index.js";
import { familyBits, formatIP, formatIPValue, parseIP, type IPFamily } from "../net/ip.js";
import { ineligibility, type IPFacts, type NodeFacts } from "./election.js";

/**
 * Which BGP sessions a node opens and which routes it sends on each: a pure function of the
 * config, this node and the LoadBalancer IPs (as `announcedIPs` in world.ts gives them). The
 * BGP manager of the speaker runs it on every change and hands each session its route set;
 * `barelb status` runs the same rules to say which nodes advertise an IP.
 *
 * Sessions. A peer is opened from every node its `node-selectors` select (none: every node).
 * The selectors decide whether, not how: an excluded node (the exclude label, NetworkUnavailable)
 * keeps its sessions and sends no routes, as MetalLB does, so that it comes back without a new
 * handshake. Without its Node object a node cannot match selectors and opens none.
 *
 * Routes. Where layer 2 elects one node per IP, BGP lets every node that layer 2 would count as a
 * candidate advertise: the same `ineligibility` (live, the exclude label, NetworkUnavailable, the
 * pool's node selectors, a ready local endpoint for `externalTrafficPolicy: Local`), over the
 * Services that have a ready endpoint. An IP none of whose Services has one is advertised by
 * nobody (a router would send traffic that nothing answers). `Cluster` thus means every eligible
 * node, `Local` only those with a ready endpoint of every `Local` Service sharing the IP.
 *
 * Each advertisement of the IP's pool gives one route: the IP masked to its
 * `aggregation-length(-v6)`, with its local preference and communities. Routes are per prefix: an
 * aggregate covering several IPs is sent once. When advertisements (of one pool, or of pools
 * whose aggregates meet) give the same prefix different attributes, barelb merges them: the
 * union of the communities in the order first seen, and the highest local preference. MetalLB's
 * native speaker keeps one of them at random (a map keyed by prefix, filled in the order of its
 * Services); merging gives one answer on every node, and is what Cilium documents.
 *
 * Every session gets the same route set, of both families: the session edge sends only the
 * families it negotiated. `localPref` is kept for every route; the edge sends it to iBGP peers
 * only (RFC 4271 5.1.5).
 */

/** A large community (RFC 8092), as the config spells its parts. */
export interface BgpLargeCommunity {
  readonly globalAdmin: number;
  readonly localData1: number;
  readonly localData2: number;
}

/** One route a node sends to a peer. */
export interface BgpRoute {
  /** The network and its length, host bits zero: `192.0.2.32/27`, `2001:db8::5/128`. */
  readonly prefix: string;
  readonly family: IPFamily;
  /** LOCAL_PREF: the highest `localpref` of the advertisements giving this prefix, if any. */
  readonly localPref?: number;
  /** Standard communities (RFC 1997) as 32-bit values, `AS << 16 | value`, without repeats. */
  readonly communities: readonly number[];
  /** Large communities (RFC 8092), without repeats. */
  readonly largeCommunities: readonly BgpLargeCommunity[];
}

/** A session this node keeps, with what it advertises on it. */
export interface BgpSessionPlan {
  /**
   * The session's identity: the peer's address and port, the source address and the local AS.
   * It stays the same across edits of other settings (hold time, password, BFD, selectors):
   * the manager compares `peer` to know whether to reopen. Unique within one plan.
   */
  readonly key: string;
  readonly peer: BgpPeer;
  /** Sorted: IPv4 first, then by address, then by length. Shared by every session of a plan. */
  readonly routes: readonly BgpRoute[];
}

/** An IP as `announcedIPs` (world.ts) gives it: its election facts and its pool's name. */
export interface BgpIPFacts extends IPFacts {
  readonly pool: string | undefined;
}

export interface BgpPlanInput {
  readonly config: Pick<Config, "pools" | "peers">;
  /** This node; undefined when its Node object is not known (it then opens no session). */
  readonly node: NodeFacts | undefined;
  /**
   * This node may advertise: its speaker is not stopping and not fenced (layer 2's anti-flap
   * holds do not count: see run.ts). False keeps the sessions and withdraws every route.
   */
  readonly live: boolean;
  /** Every LoadBalancer IP with its facts; IPs of layer-2 pools (or of no pool) are skipped. */
  readonly ips: Iterable<BgpIPFacts>;
}

/** The sessions this node keeps, in the order of `peers`, each with its routes. */
export function bgpPlan(input: BgpPlanInput): BgpSessionPlan[] {
  const peers = selectedPeers(input.config.peers, input.node);
  if (peers.length === 0) return [];
  const routes = input.node === undefined ? [] : nodeRoutes(input);
  return peers.map(({ key, peer }) => ({ key, peer, routes }));
}

/**
 * The peers `node` opens a session with, each with its key (see `BgpSessionPlan.key`; a second
 * peer with the same identity on this node gets ` #2`, and so on).
 */
export function selectedPeers(
  peers: readonly BgpPeer[],
  node: NodeFacts | undefined,
): { key: string; peer: BgpPeer }[] {
  if (node === undefined) return [];
  const out: { key: string; peer: BgpPeer }[] = [];
  const used = new Map<string, number>();
  for (const peer of peers) {
    if (!peerSelects(peer, node)) continue;
    const base = peerKey(peer);
    const n = (used.get(base) ?? 0) + 1;
    used.set(base, n);
    out.push({ key: n === 1 ? base : `${base} #${n}`, peer });
  }
  return out;
}

/** Whether `peer`'s node selectors choose `node` (no selectors: every node). */
export function peerSelects(peer: BgpPeer, node: NodeFacts): boolean {
  return peer.nodeSelectors.length === 0 || matchesAny(peer.nodeSelectors, node.labels);
}

/** `192.0.2.1:179 from 192.0.2.10 as 64512`, `[2001:db8::1]:179 as 64512`. */
export function peerKey(peer: BgpPeer): string {
  const addr = formatIP(peer.address);
  const host = peer.address.family === 6 ? `[${addr}]` : addr;
  const from = peer.sourceAddress === undefined ? "" : ` from ${formatIP(peer.sourceAddress)}`;
  return `${host}:${peer.port}${from} as ${peer.myASN}`;
}

/**
 * Why `node` does not advertise `ip` over BGP, or null when it does. Sessions aside: a node
 * that no peer selects advertises to nobody (see `bgpAdvertisers`).
 */
export function bgpIneligibility(
  node: NodeFacts | undefined,
  ip: IPFacts,
  live: boolean,
): string | null {
  const serving = ip.services.filter((s) => s.readyEndpoints > 0);
  if (serving.length === 0) return "no ready endpoints";
  return ineligibility(node, { ...ip, services: serving }, live);
}

/**
 * The nodes that advertise `ip` to at least one peer, sorted by name: eligible, and selected by
 * some peer's node selectors. Empty when the IP's pool is not a BGP pool.
 */
export function bgpAdvertisers(
  ip: BgpIPFacts,
  config: Pick<Config, "pools" | "peers">,
  nodes: ReadonlyMap<string, NodeFacts>,
  live: ReadonlySet<string>,
): string[] {
  if (bgpPool(config, ip.pool) === undefined) return [];
  const out: string[] = [];
  for (const [name, node] of nodes) {
    if (!config.peers.some((p) => peerSelects(p, node))) continue;
    if (bgpIneligibility(node, ip, live.has(name)) === null) out.push(name);
  }
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The BGP pool named `name`, or undefined (no such pool, or a layer-2 one). */
export function bgpPool(config: Pick<Config, "pools">, name: string | undefined): Pool | undefined {
  if (name === undefined) return undefined;
  const pool = config.pools.find((p) => p.name === name);
  return pool?.protocol === "bgp" ? pool : undefined;
}

interface RouteBuilder {
  family: IPFamily;
  value: bigint;
  length: number;
  localPref: number | undefined;
  communities: number[];
  large: BgpLargeCommunity[];
}

function nodeRoutes(input: BgpPlanInput): BgpRoute[] {
  const byPrefix = new Map<string, RouteBuilder>();
  for (const ip of input.ips) {
    const pool = bgpPool(input.config, ip.pool);
    if (pool === undefined) continue;
    if (bgpIneligibility(input.node, ip, input.live) !== null) continue;
    const parsed = parseIP(ip.ip);
    if (!parsed.ok) continue;
    for (const ad of pool.bgpAdvertisements) {
      addRoute(byPrefix, parsed.value.family, parsed.value.value, ad);
    }
  }
  return [...byPrefix.values()]
    .sort(
      (a, b) =>
        a.family - b.family ||
        (a.value < b.value ? -1 : a.value > b.value ? 1 : 0) ||
        a.length - b.length,
    )
    .map((r): BgpRoute => ({
      prefix: `${formatIPValue(r.family, r.value)}/${r.length}`,
      family: r.family,
      ...(r.localPref === undefined ? {} : { localPref: r.localPref }),
      communities: r.communities,
      largeCommunities: r.large,
    }));
}

/** The network of `value` at `length` bits (host bits cleared). */
export function maskAddress(family: IPFamily, value: bigint, length: number): bigint {
  const host = BigInt(familyBits(family) - length);
  return (value >> host) << host;
}

function addRoute(
  byPrefix: Map<string, RouteBuilder>,
  family: IPFamily,
  value: bigint,
  ad: BgpAdvertisement,
): void {
  const length = family === 4 ? ad.aggregationLength : ad.aggregationLengthV6;
  const network = maskAddress(family, value, length);
  const key = `${family}|${network}|${length}`;
  let r = byPrefix.get(key);
  if (r === undefined) {
    r = { family, value: network, length, localPref: undefined, communities: [], large: [] };
    byPrefix.set(key, r);
  }
  if (ad.localPref !== undefined && (r.localPref === undefined || ad.localPref > r.localPref)) {
    r.localPref = ad.localPref;
  }
  for (const c of ad.communities) {
    if (c.kind === "standard") {
      if (!r.communities.includes(c.value)) r.communities.push(c.value);
    } else if (
      !r.large.some(
        (l) =>
          l.globalAdmin === c.globalAdmin &&
          l.localData1 === c.localData1 &&
          l.localData2 === c.localData2,
      )
    ) {
      r.large.push({
        globalAdmin: c.globalAdmin,
        localData1: c.localData1,
        localData2: c.localData2,
      });
    }
  }
}
