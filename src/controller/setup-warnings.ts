import type { Config } from "../config/types.js";
import { formatIP, parseIP, type IP } from "../net/ip.js";
import { matchesAny } from "../config/selector.js";

/**
 * Setups that are valid but fail without a word: a pool holding a node's own address or the
 * API server's (a Service given it would take the address from the host), and every node
 * carrying `node.kubernetes.io/exclude-from-external-load-balancers` (nobody may announce),
 * and a BGP peer whose `node-selectors` select no node (no node opens a session with it).
 * Pure: the config and what the controller saw of Nodes in, one finding per kind out.
 */

export const EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers";

export type SetupWarningKind =
  "PoolOverlapsNode" | "PoolOverlapsAPIServer" | "AllNodesExcluded" | "BGPPeerSelectsNoNode";

export const SETUP_WARNING_KINDS: readonly SetupWarningKind[] = [
  "PoolOverlapsNode",
  "PoolOverlapsAPIServer",
  "AllNodesExcluded",
  "BGPPeerSelectsNoNode",
];

export interface SetupWarning {
  kind: SetupWarningKind;
  /** How many things it is about (addresses in a pool, or excluded nodes): the metric's value. */
  count: number;
  message: string;
}

/** What the check needs of a Node. */
export interface NodeFacts {
  name: string;
  /** Its InternalIP and ExternalIP addresses, as written in `status.addresses`. */
  addresses: readonly string[];
  /** Whether it carries the exclude label (any value, as kube's own check). */
  excluded: boolean;
  /** Its labels (a BGP peer's node selectors are matched against them). */
  labels: Readonly<Record<string, string>>;
}

/** The addresses of a Node that a pool must not hold, and whether it is excluded. */
export function nodeFacts(node: {
  metadata?: { name?: string; labels?: Record<string, string> };
  status?: { addresses?: readonly { type: string; address: string }[] };
}): NodeFacts {
  return {
    name: node.metadata?.name ?? "",
    addresses: (node.status?.addresses ?? [])
      .filter((a) => a.type === "InternalIP" || a.type === "ExternalIP")
      .map((a) => a.address),
    excluded: node.metadata?.labels?.[EXCLUDE_LABEL] !== undefined,
    labels: node.metadata?.labels ?? {},
  };
}

/**
 * The findings, in `SETUP_WARNING_KINDS` order, each at most once. `apiServer` holds the API
 * server's addresses (host names that are not IP literals are skipped).
 */
export function setupWarnings(
  config: Config | null,
  nodes: readonly NodeFacts[],
  apiServer: readonly string[],
): SetupWarning[] {
  const out: SetupWarning[] = [];
  if (config !== null) {
    const byNode: string[] = [];
    for (const n of [...nodes].sort((a, b) => a.name.localeCompare(b.name))) {
      for (const text of n.addresses) {
        const pool = poolHolding(config, text);
        if (pool !== null)
          byNode.push(`pool "${pool.pool}" holds ${pool.ip}, node ${n.name}'s address`);
      }
    }
    if (byNode.length > 0) {
      out.push({
        kind: "PoolOverlapsNode",
        count: byNode.length,
        message: `${byNode.join("; ")}: a Service given it would take the address from the node; remove it from the pool`,
      });
    }
    const byAPI: string[] = [];
    for (const text of new Set(apiServer)) {
      const pool = poolHolding(config, text);
      if (pool !== null)
        byAPI.push(`pool "${pool.pool}" holds ${pool.ip}, the API server's address`);
    }
    if (byAPI.length > 0) {
      out.push({
        kind: "PoolOverlapsAPIServer",
        count: byAPI.length,
        message: `${byAPI.join("; ")}: a Service given it would cut the cluster off from its API server; remove it from the pool`,
      });
    }
  }
  if (nodes.length > 0 && nodes.every((n) => n.excluded)) {
    const names = nodes.map((n) => n.name).sort();
    const shown = names.slice(0, 5);
    const more = names.length > shown.length ? ` and ${names.length - shown.length} more` : "";
    out.push({
      kind: "AllNodesExcluded",
      count: names.length,
      message:
        `every node (${shown.join(", ")}${more}) has the label ${EXCLUDE_LABEL}, so no node may ` +
        `announce a LoadBalancer IP; remove it, for example: kubectl label node ${names[0]} ${EXCLUDE_LABEL}-`,
    });
  }
  if (config !== null && nodes.length > 0) {
    const lonely = config.peers.filter(
      (p) =>
        p.nodeSelectors.length > 0 && !nodes.some((n) => matchesAny(p.nodeSelectors, n.labels)),
    );
    if (lonely.length > 0) {
      const names = lonely.map((p) => formatIP(p.address));
      out.push({
        kind: "BGPPeerSelectsNoNode",
        count: lonely.length,
        message: `BGP peer ${names.join(", ")}: its node-selectors select no node, so no node opens a session with it; fix the selectors or label the nodes that should peer`,
      });
    }
  }
  return out;
}

function poolHolding(config: Config, text: string): { pool: string; ip: string } | null {
  const parsed = parseIP(text.trim());
  if (!parsed.ok) return null;
  const ip: IP = parsed.value;
  for (const pool of config.pools) {
    for (const b of pool.addresses) {
      if (b.family === ip.family && b.start <= ip.value && ip.value <= b.end) {
        return { pool: pool.name, ip: formatIP(ip) };
      }
    }
  }
  return null;
}

/** Every node address and API server address, parsed (the allocator never picks these). */
export function reservedAddresses(nodes: readonly NodeFacts[], apiServer: readonly string[]): IP[] {
  const out: IP[] = [];
  for (const text of [...nodes.flatMap((n) => n.addresses), ...apiServer]) {
    const r = parseIP(text.trim());
    if (r.ok) out.push(r.value);
  }
  return out;
}

/** The API server's address from the client's server URL, when it is an IP literal. */
export function apiServerAddresses(server: string): string[] {
  let host: string;
  try {
    host = new URL(server).hostname;
  } catch {
    return [];
  }
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  return parseIP(host).ok ? [host] : [];
}
