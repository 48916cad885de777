import type { NodeState } from "./membership.js";

/**
 * Setups of a node that make announcements fail without a word, found from what the speaker
 * can see of its own host (read at the edge, node-facts.ts). Pure: facts in, one warning per
 * kind out.
 *
 * - `KubeProxyIPVSWithoutStrictARP`: kube-proxy in IPVS mode binds every Service IP (the
 *   LoadBalancer IPs among them) to the interface `kube-ipvs0`, so they are local addresses
 *   of every node. With `net.ipv4.conf.*.arp_ignore` at 0 (Linux' default) the kernel answers
 *   an ARP request for any local address on any interface: every node answers for every
 *   LoadBalancer IP, beside the one barelb chose, and the LAN reaches whichever answered last.
 *   kube-proxy's `ipvs.strictARP: true` sets `arp_ignore=1` and `arp_announce=2` on every node.
 *   IPv6 is not affected: the kernel answers a Neighbor Solicitation only for addresses of the
 *   interface it came in on.
 * - `WirelessInterface`: the speaker announces on a Wi-Fi interface. The firmware of some
 *   Wi-Fi chips (the Raspberry Pi's brcmfmac) answers ARP itself and drops requests for any
 *   address but the host's own unless the interface is promiscuous, so the speaker never sees
 *   them. Once the interface is promiscuous the warning goes, as that is all barelb can check;
 *   Wi-Fi stays less reliable than a cable (reports of failures even then).
 *
 * They are published on the speaker's own Lease (annotation `barelb.io/node-warnings`, read by
 * `barelb status`), as a Warning Event on the Node, a log line and the gauge
 * `barelb_speaker_node_warnings{kind}`.
 */

export type NodeWarningKind = "KubeProxyIPVSWithoutStrictARP" | "WirelessInterface";

/** Every kind, sorted (the order of the annotation). */
export const NODE_WARNING_KINDS: readonly NodeWarningKind[] = [
  "KubeProxyIPVSWithoutStrictARP",
  "WirelessInterface",
];

export interface NodeWarning {
  kind: NodeWarningKind;
  /** One line a user can act on. */
  message: string;
}

/** The interface kube-proxy's IPVS mode binds Service IPs to. */
export const IPVS_INTERFACE = "kube-ipvs0";

/** What the checks need of the host. */
export interface HostFacts {
  /** The IPv4 addresses on `kube-ipvs0`; null when this node has no such interface. */
  ipvsAddresses: readonly string[] | null;
  /** `net.ipv4.conf.all.arp_ignore`; null when it cannot be read. */
  arpIgnoreAll: number | null;
  /** The interfaces the speaker announces on. */
  interfaces: readonly InterfaceFacts[];
  /** The LoadBalancer IPs barelb handles now (to name the ones kube-ipvs0 holds). */
  lbIPs: { has(ip: string): boolean };
}

export interface InterfaceFacts {
  name: string;
  /** `net.ipv4.conf.<name>.arp_ignore` (the kernel uses the larger of it and `all`'s). */
  arpIgnore: number | null;
  /** A Wi-Fi device (`/sys/class/net/<name>/wireless` or `phy80211` exists). */
  wireless: boolean;
  /** IFF_PROMISC is set. */
  promiscuous: boolean;
}

const SHOWN = 3;

/** The warnings `facts` call for, sorted by kind. */
export function nodeWarnings(facts: HostFacts): NodeWarning[] {
  const out: NodeWarning[] = [];
  const ipvs = ipvsWarning(facts);
  if (ipvs !== null) out.push(ipvs);
  const wifi = facts.interfaces.filter((i) => i.wireless && !i.promiscuous).map((i) => i.name);
  if (wifi.length > 0) {
    const names = [...wifi].sort();
    out.push({
      kind: "WirelessInterface",
      message:
        `barelb announces on Wi-Fi interface${names.length > 1 ? "s" : ""} ${names.join(", ")}: ` +
        `Wi-Fi firmware (Raspberry Pi and others) drops ARP requests for LoadBalancer IPs unless ` +
        `the interface is promiscuous; use wired Ethernet, or run ` +
        names.map((n) => `ip link set ${n} promisc on`).join(" and ") +
        ` on this node (it does not survive a reboot)`,
    });
  }
  return out;
}

function ipvsWarning(facts: HostFacts): NodeWarning | null {
  const addresses = facts.ipvsAddresses;
  if (addresses === null || addresses.length === 0) return null;
  const all = facts.arpIgnoreAll;
  if (all === null) return null;
  // The kernel answers on an interface with the larger of `all` and the interface's own value:
  // one interface barelb announces on that still answers is enough. With none, `all` decides.
  const answering =
    facts.interfaces.length === 0
      ? all === 0
      : facts.interfaces.some((i) => Math.max(all, i.arpIgnore ?? 0) === 0);
  if (!answering) return null;
  const lb = addresses.filter((a) => facts.lbIPs.has(a)).sort(compareText);
  const held =
    lb.length > 0
      ? `holds the LoadBalancer IP${lb.length > 1 ? "s" : ""} ${list(lb)}`
      : `holds ${addresses.length} address${addresses.length > 1 ? "es" : ""} (LoadBalancer IPs too, once assigned)`;
  return {
    kind: "KubeProxyIPVSWithoutStrictARP",
    message:
      `kube-proxy runs in IPVS mode without strictARP: ${IPVS_INTERFACE} ${held} and ` +
      `net.ipv4.conf.all.arp_ignore is 0, so this node's kernel answers ARP for them beside ` +
      `the node barelb chose; run kubectl edit configmap -n kube-system kube-proxy, set ` +
      `ipvs.strictARP: true and restart kube-proxy`,
  };
}

function list(items: readonly string[]): string {
  const shown = items.slice(0, SHOWN).join(", ");
  return items.length > SHOWN ? `${shown} and ${items.length - SHOWN} more` : shown;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---- on the speaker's Lease -----------------------------------------------------------------

/** The speaker Lease's annotation holding this node's warnings (a JSON array, sorted by kind). */
export const NODE_WARNINGS_ANNOTATION = "barelb.io/node-warnings";
/** The speaker Lease's annotation holding this speaker's view of itself. */
export const MEMBERSHIP_ANNOTATION = "barelb.io/membership";

/** The annotation's value: `[{"kind", "message"}]`, sorted by kind; `[]` for none. */
export function formatNodeWarnings(warnings: readonly NodeWarning[]): string {
  const sorted = [...warnings].sort((a, b) => compareText(a.kind, b.kind));
  return JSON.stringify(sorted.map((w) => ({ kind: w.kind, message: w.message })));
}

/**
 * Reads the annotation back (for `barelb status`): entries that are not `{kind, message}`
 * strings are skipped, an unknown kind is kept (a newer speaker may know more kinds).
 */
export function parseNodeWarnings(text: string | undefined): { kind: string; message: string }[] {
  if (text === undefined || text === "") return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(parsed)) return [];
  const out: { kind: string; message: string }[] = [];
  for (const e of parsed as unknown[]) {
    if (typeof e !== "object" || e === null) continue;
    const { kind, message } = e as Record<string, unknown>;
    if (typeof kind === "string" && typeof message === "string") out.push({ kind, message });
  }
  return out;
}

/** What a speaker says of itself on its Lease. */
export type SelfMembership = "eligible" | "held" | "fenced" | "starting" | "leaving";

/**
 * This node's state for the membership annotation: `starting` until the membership knows it
 * (and during the start-up quiet period, when it announces nothing yet), `leaving` once it
 * stops, else its membership state.
 */
export function selfMembership(
  state: NodeState | undefined,
  opts: { leaving: boolean; quiet: boolean },
): SelfMembership {
  if (opts.leaving || state === "dead") return "leaving";
  if (state === undefined || state === "absent") return "starting";
  if (state === "held" || state === "fenced") return state;
  return opts.quiet ? "starting" : "eligible";
}
