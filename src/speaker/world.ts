import type { V1Condition, V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node";
import { findPool, findPoolForIP, type Config, type Pool } from "../config/index.js";
import {
  ALLOCATED_FROM_POOL,
  ANNOTATION_PREFIXES,
  isHandled,
  preferredNode,
  serviceKey,
  statusIPs,
} from "../adapters/service.js";
import { formatIP, parseIP } from "../net/ip.js";
import type { IPFacts, NodeFacts, ServiceFacts } from "./election.js";
import { ANNOUNCED_CONDITION } from "./announced-condition.js";

/**
 * The speaker's view of the cluster, turned into election facts: pure functions over the
 * objects its informers cache. Every speaker runs the same functions on the same objects.
 */

const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
const NETWORK_UNAVAILABLE = "NetworkUnavailable";

// ---- what the speaker's caches keep -------------------------------------------------------
// A speaker caches every Service, EndpointSlice and Node of the cluster, so it keeps of each
// only the fields the functions below (and its Events) read; the rest is dropped as objects
// arrive. The unit tests check that the election's facts are the same either way. Strings
// that repeat across objects (namespaces, node names, types, pool names) are kept once, and
// endpoint conditions are shared objects: JSON.parse makes a fresh copy of each per object.

const interned = new Map<string, string>();
/** One copy of a short, repeating string (bounded: past 10,000 distinct ones, no more kept). */
function intern<T extends string | undefined>(s: T): T {
  if (s === undefined || s.length > 64) return s;
  const have = interned.get(s);
  if (have !== undefined) return have as T;
  if (interned.size < 10_000) interned.set(s, s);
  return s;
}

const NO_ADDRESSES: string[] = [];
Object.freeze(NO_ADDRESSES);
/** The nine frozen ready/serving combinations, by `conditionIndex`. */
const conditionObjects: { ready?: boolean; serving?: boolean }[] = [];
for (const ready of [undefined, false, true]) {
  for (const serving of [undefined, false, true]) {
    conditionObjects.push(
      Object.freeze({
        ...(ready === undefined ? {} : { ready }),
        ...(serving === undefined ? {} : { serving }),
      }),
    );
  }
}
const tri = (b: boolean | undefined) => (b === undefined ? 0 : b ? 2 : 1);
/** A shared, frozen copy of an endpoint's ready/serving conditions. */
function conditions(c: { ready?: boolean; serving?: boolean } | undefined) {
  return conditionObjects[tri(c?.ready) * 3 + tri(c?.serving)];
}

/** A Service as the speaker keeps it: identity, barelb's annotations, type, class, policy, IPs. */
export function slimService(svc: V1Service): V1Service {
  const m = svc.metadata ?? {};
  const annotations = Object.entries(m.annotations ?? {})
    .filter(([k]) => ANNOTATION_PREFIXES.some((p) => k.startsWith(p)))
    .map(([k, v]) => [k, intern(v)] as const);
  const spec = svc.spec ?? {};
  const ingress = svc.status?.loadBalancer?.ingress;
  // The speakers' own announced conditions, type and status only: whether some node announced
  // the IP before (an IP nobody announced yet is probed first, see address-conflict.ts).
  const announced = (svc.status?.conditions ?? [])
    .filter((c) => ANNOUNCED_TYPES.has(c.type))
    // Type and status only: the other fields V1Condition requires are never read here.
    .map((c) => ({ type: intern(c.type), status: intern(c.status) }) as V1Condition);
  const status = {
    ...(ingress === undefined
      ? {}
      : { loadBalancer: { ingress: ingress.map((i) => ({ ip: i.ip })) } }),
    ...(announced.length === 0 ? {} : { conditions: announced }),
  };
  return {
    metadata: {
      name: m.name,
      namespace: intern(m.namespace),
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      ...(annotations.length > 0 ? { annotations: Object.fromEntries(annotations) } : {}),
    },
    spec: {
      type: intern(spec.type),
      loadBalancerClass: intern(spec.loadBalancerClass),
      externalTrafficPolicy: intern(spec.externalTrafficPolicy),
    },
    ...(Object.keys(status).length === 0 ? {} : { status }),
  };
}

const ANNOUNCED_TYPES: ReadonlySet<string> = new Set(Object.values(ANNOUNCED_CONDITION));

/** An EndpointSlice as the speaker keeps it: its Service, and each endpoint's node and state. */
export function slimEndpointSlice(slice: V1EndpointSlice): V1EndpointSlice {
  const m = slice.metadata ?? {};
  const service = m.labels?.[SERVICE_NAME_LABEL];
  return {
    addressType: intern(slice.addressType),
    metadata: {
      name: m.name,
      namespace: intern(m.namespace),
      resourceVersion: m.resourceVersion,
      ...(service === undefined ? {} : { labels: { [SERVICE_NAME_LABEL]: service } }),
    },
    endpoints: (slice.endpoints ?? []).map((e) => ({
      addresses: NO_ADDRESSES,
      nodeName: intern(e.nodeName),
      conditions: conditions(e.conditions),
    })),
  };
}

/** A Node as the speaker keeps it: name, labels and the NetworkUnavailable condition. */
export function slimNode(n: V1Node): V1Node {
  const m = n.metadata ?? {};
  const conditions = (n.status?.conditions ?? [])
    .filter((c) => c.type === NETWORK_UNAVAILABLE)
    .map((c) => ({ type: c.type, status: c.status }));
  return {
    metadata: { name: m.name, resourceVersion: m.resourceVersion, labels: m.labels },
    status: { conditions },
  };
}

// ---- election facts ---------------------------------------------------------------------

export function nodeFacts(n: V1Node): NodeFacts {
  const cond = n.status?.conditions?.find((c) => c.type === NETWORK_UNAVAILABLE);
  return {
    name: n.metadata?.name ?? "",
    labels: n.metadata?.labels ?? {},
    networkUnavailable: cond?.status === "True",
  };
}

interface EndpointSummary {
  nodes: Set<string>;
  ready: number;
}

/** Ready (or still serving) endpoints per Service (namespace/name), from its EndpointSlices. */
export function endpointSummaries(slices: Iterable<V1EndpointSlice>): Map<string, EndpointSummary> {
  const out = new Map<string, EndpointSummary>();
  for (const slice of slices) {
    const svc = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (svc === undefined) continue;
    const key = `${slice.metadata?.namespace ?? ""}/${svc}`;
    let sum = out.get(key);
    if (sum === undefined) {
      sum = { nodes: new Set(), ready: 0 };
      out.set(key, sum);
    }
    for (const ep of slice.endpoints ?? []) {
      // Kubernetes: a nil `ready` means ready; a terminating endpoint may still be serving.
      const c = ep.conditions ?? {};
      if (c.ready === false && c.serving !== true) continue;
      sum.ready++;
      if (ep.nodeName !== undefined) sum.nodes.add(ep.nodeName);
    }
  }
  return out;
}

export interface AnnouncedIP extends IPFacts {
  /** The pool's `interfaces`: where to announce; empty = every usable interface. */
  readonly interfaces: readonly string[];
  readonly pool: string | undefined;
  /**
   * How the IP is announced: its pool's protocol. `bgp` IPs are advertised by every eligible
   * node (bgp-routes.ts) and never answered for over ARP/NDP; an IP in no pool counts as layer 2.
   */
  readonly protocol: "layer2" | "bgp";
  /** The Services holding the IP. */
  readonly holders: readonly V1Service[];
}

/** Every IP in a handled Service's status, with what the election needs to know about it. */
export function announcedIPs(
  services: Iterable<V1Service>,
  endpoints: ReadonlyMap<string, EndpointSummary>,
  config: Config,
  lbClass: string | undefined,
): Map<string, AnnouncedIP> {
  const byIP = new Map<
    string,
    { holders: V1Service[]; facts: ServiceFacts[]; pool: Pool | undefined }
  >();
  for (const svc of services) {
    if (!isHandled(svc, lbClass)) continue;
    const key = serviceKey(svc);
    const ep = endpoints.get(key);
    const facts: ServiceFacts = {
      key,
      local: svc.spec?.externalTrafficPolicy === "Local",
      endpointNodes: ep?.nodes ?? new Set(),
      readyEndpoints: ep?.ready ?? 0,
      preferredNode: preferredNode(svc),
    };
    for (const text of statusIPs(svc)) {
      const parsed = parseIP(text);
      if (!parsed.ok) continue;
      const ip = formatIP(parsed.value);
      let entry = byIP.get(ip);
      if (entry === undefined) {
        const named = svc.metadata?.annotations?.[ALLOCATED_FROM_POOL];
        const pool =
          (named !== undefined ? findPool(config, named) : undefined) ??
          findPoolForIP(config, parsed.value);
        entry = { holders: [], facts: [], pool };
        byIP.set(ip, entry);
      }
      entry.holders.push(svc);
      entry.facts.push(facts);
    }
  }
  const out = new Map<string, AnnouncedIP>();
  for (const [ip, e] of byIP) {
    out.set(ip, {
      ip,
      services: e.facts,
      nodeSelectors: e.pool?.nodeSelectors ?? [],
      interfaces: e.pool?.interfaces ?? [],
      pool: e.pool?.name,
      protocol: e.pool?.protocol ?? "layer2",
      holders: e.holders,
    });
  }
  return out;
}

/** The IPs that layer 2 announces (ARP/NDP from one elected node): those not in a BGP pool. */
export function* layer2IPs(ips: Iterable<AnnouncedIP>): Generator<AnnouncedIP> {
  for (const ip of ips) if (ip.protocol !== "bgp") yield ip;
}
