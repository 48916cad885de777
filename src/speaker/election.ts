import { createHash } from "node:crypto";
import { matchesAny } from "../config/index.js";
import type { LabelSelector } from "../config/index.js";

/**
 * Who announces each IP: a pure function of facts every speaker sees alike, so all of them
 * reach the same answer without talking to each other (MetalLB's layer-2 election, with
 * barelb's liveness). For an IP, the eligible nodes are ranked by a rendezvous hash of
 * (node, IP) and the first one announces. Hashing by IP (not Service) keeps Services that
 * share an IP on one node; adding or removing a node moves only the IPs it wins or held.
 *
 * A Service may name a preferred node (`barelb.io/preferred-node`): while that node is an
 * eligible member for the IP, it announces; otherwise the hash decides as usual, and the IP
 * goes back to the preferred node as soon as it is eligible again. When Services sharing an
 * IP prefer different nodes, the first eligible one in the order of the Services' keys wins.
 */

export const EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers";

export interface NodeFacts {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The node's NetworkUnavailable condition is True. */
  readonly networkUnavailable: boolean;
}

export interface ServiceFacts {
  /** namespace/name */
  readonly key: string;
  /** externalTrafficPolicy: Local */
  readonly local: boolean;
  /** Nodes with at least one ready (or serving) endpoint of the Service. */
  readonly endpointNodes: ReadonlySet<string>;
  /** Ready endpoints anywhere (an endpoint whose node is unknown counts too). */
  readonly readyEndpoints: number;
  /** The node the Service asks to announce its IPs while that node is eligible. */
  readonly preferredNode?: string | undefined;
}

export interface IPFacts {
  readonly ip: string;
  /** The Services holding the IP (several when they share it). */
  readonly services: readonly ServiceFacts[];
  /** The pool's node-selectors: empty = every node. */
  readonly nodeSelectors: readonly LabelSelector[];
}

export type ElectedOwner =
  | { readonly ip: string; readonly owner: string; readonly candidates: number }
  | { readonly ip: string; readonly owner: null; readonly why: string };

const scoreCache = new Map<string, bigint>();

/** The rendezvous score of a node for an IP: lower wins. */
export function score(node: string, ip: string): bigint {
  const key = `${node}#${ip}`;
  let s = scoreCache.get(key);
  if (s === undefined) {
    s = createHash("sha256").update(key).digest().readBigUInt64BE(0);
    if (scoreCache.size > 200_000) scoreCache.clear();
    scoreCache.set(key, s);
  }
  return s;
}

/** Why `node` may not announce `ip`, or null when it may. */
export function ineligibility(
  node: NodeFacts | undefined,
  ip: IPFacts,
  live: boolean,
): string | null {
  if (!live) return "speaker not live";
  if (node === undefined) return "no Node object";
  if (EXCLUDE_LABEL in node.labels) return `labelled ${EXCLUDE_LABEL}`;
  if (node.networkUnavailable) return "NetworkUnavailable";
  if (ip.nodeSelectors.length > 0 && !matchesAny(ip.nodeSelectors, node.labels)) {
    return "not selected by the pool's node-selectors";
  }
  for (const svc of ip.services) {
    if (svc.local && svc.readyEndpoints > 0 && !svc.endpointNodes.has(node.name)) {
      return `no ready endpoint of ${svc.key} (externalTrafficPolicy: Local)`;
    }
  }
  return null;
}

/**
 * The owner of each IP. `members` are the speakers that may announce (live, not fenced);
 * `nodes` the Node objects by name. Services with no ready endpoint are left out of the
 * decision; an IP none of whose Services has one is announced by nobody.
 */
export function elect(
  ips: Iterable<IPFacts>,
  nodes: ReadonlyMap<string, NodeFacts>,
  members: ReadonlySet<string>,
): Map<string, ElectedOwner> {
  const out = new Map<string, ElectedOwner>();
  for (const ip of ips) {
    const serving = ip.services.filter((s) => s.readyEndpoints > 0);
    if (serving.length === 0) {
      out.set(ip.ip, { ip: ip.ip, owner: null, why: "no ready endpoints" });
      continue;
    }
    const facts: IPFacts = { ...ip, services: serving };
    const preferred = preferredOwner(facts, nodes, members);
    let best: string | null = null;
    let bestScore = 0n;
    let candidates = 0;
    for (const name of members) {
      if (ineligibility(nodes.get(name), facts, true) !== null) continue;
      candidates++;
      if (preferred !== undefined) continue;
      const s = score(name, ip.ip);
      if (best === null || s < bestScore || (s === bestScore && name < best)) {
        best = name;
        bestScore = s;
      }
    }
    if (preferred !== undefined) best = preferred;
    out.set(
      ip.ip,
      best === null
        ? { ip: ip.ip, owner: null, why: "no eligible node" }
        : { ip: ip.ip, owner: best, candidates },
    );
  }
  return out;
}

/** The first preferred node of the IP's Services (by key) that may announce it, if any. */
function preferredOwner(
  ip: IPFacts,
  nodes: ReadonlyMap<string, NodeFacts>,
  members: ReadonlySet<string>,
): string | undefined {
  const wanted = ip.services
    .filter((s) => s.preferredNode !== undefined && s.preferredNode !== "")
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const s of wanted) {
    const name = s.preferredNode ?? "";
    if (members.has(name) && ineligibility(nodes.get(name), ip, true) === null) return name;
  }
  return undefined;
}
