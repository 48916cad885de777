/**
 * Which network interfaces the data plane answers on: a pure function of the link facts the
 * kernel reports (netlink.ts gathers them), so the policy is tested without a kernel.
 */

/** An interface the data plane uses. */
export interface NetInterface {
  index: number;
  name: string;
  mac: Uint8Array;
  /** Has an IPv6 link-local address, the source of the Neighbor Advertisements it sends. */
  ipv6LinkLocal: boolean;
}

/** What the kernel says about a link, reduced to what the policy needs. */
export interface LinkFacts {
  index: number;
  name: string;
  /** ARPHRD_* type; only Ethernet (1) links carry ARP and NDP the way we speak them. */
  type: number;
  mac?: Uint8Array;
  /** IFF_UP: administratively up. */
  up: boolean;
  /** IFF_RUNNING: operationally up (carrier, peer up). */
  running: boolean;
  broadcast: boolean;
  noarp: boolean;
  loopback: boolean;
  /** Index of the device this one is enslaved to (a bridge, bond or VRF). */
  master?: number;
  /** rtnetlink link kind: "bridge", "bond", "veth", "vlan", ...; absent for plain NICs. */
  kind?: string;
}

/**
 * Interfaces never used by default: container, overlay and virtual plumbing (MetalLB's
 * default list; the same names, so users moving over see the same behaviour).
 */
export const DEFAULT_EXCLUDED_INTERFACES: readonly string[] = [
  "^docker.*",
  "^cbr.*",
  "^dummy.*",
  "^virbr.*",
  "^lxcbr.*",
  "^veth.*",
  "^lo$",
  "^cali.*",
  "^tunl.*",
  "^flannel.*",
  "^kube-ipvs.*",
  "^cni.*",
  "^nodelocaldns.*",
  "^lxc.*",
];

export interface InterfacePolicy {
  /** Name patterns (regular expressions) of interfaces never used. */
  exclude: readonly RegExp[];
}

/** Builds a policy; `exclude` replaces the default list (pass [] to exclude nothing). */
export function interfacePolicy(
  exclude: readonly string[] = DEFAULT_EXCLUDED_INTERFACES,
): InterfacePolicy {
  return { exclude: exclude.map((p) => new RegExp(p)) };
}

export interface SkippedInterface {
  name: string;
  reason: string;
}

const ARPHRD_ETHER = 1;
/** Masters whose ports do not own addresses themselves; a VRF member still does. */
const PORT_MASTER_KINDS = new Set(["bridge", "bond", "team", "openvswitch"]);

/**
 * Splits links into the usable ones and the rest, with the reason for each skipped link.
 * `linkLocal6` holds the indexes of links that have an IPv6 link-local address.
 */
export function classifyLinks(
  links: readonly LinkFacts[],
  linkLocal6: ReadonlySet<number>,
  policy: InterfacePolicy,
): { usable: NetInterface[]; skipped: SkippedInterface[] } {
  const byIndex = new Map(links.map((l) => [l.index, l]));
  const usable: NetInterface[] = [];
  const skipped: SkippedInterface[] = [];
  for (const l of links) {
    const reason = skipReason(l, byIndex, policy);
    if (reason !== undefined) {
      skipped.push({ name: l.name, reason });
      continue;
    }
    // skipReason rejects links without a MAC.
    const mac = l.mac ?? new Uint8Array(6);
    usable.push({ index: l.index, name: l.name, mac, ipv6LinkLocal: linkLocal6.has(l.index) });
  }
  usable.sort((a, b) => a.index - b.index);
  return { usable, skipped };
}

function skipReason(
  l: LinkFacts,
  byIndex: ReadonlyMap<number, LinkFacts>,
  policy: InterfacePolicy,
): string | undefined {
  const pattern = policy.exclude.find((re) => re.test(l.name));
  if (pattern !== undefined) return `excluded by pattern ${pattern.source}`;
  if (l.loopback) return "loopback";
  if (l.type !== ARPHRD_ETHER) return `link type ${l.type} is not Ethernet`;
  if (l.mac?.length !== 6) return "no MAC address";
  if (!l.up) return "administratively down";
  if (!l.running) return "no carrier";
  if (!l.broadcast) return "not broadcast-capable";
  if (l.noarp) return "NOARP";
  if (l.master !== undefined && l.master !== 0) {
    const master = byIndex.get(l.master);
    const kind = master?.kind;
    if (kind === undefined || PORT_MASTER_KINDS.has(kind)) {
      return `enslaved to ${master?.name ?? `link ${l.master}`}${kind === undefined ? "" : ` (${kind})`}`;
    }
  }
  return undefined;
}

/** True when the two lists describe the same interfaces (order by index, as classifyLinks). */
export function sameInterfaces(a: readonly NetInterface[], b: readonly NetInterface[]): boolean {
  return (
    a.length === b.length &&
    a.every((x, i) => {
      const y = b[i];
      return (
        y !== undefined &&
        x.index === y.index &&
        x.name === y.name &&
        x.ipv6LinkLocal === y.ipv6LinkLocal &&
        Buffer.compare(x.mac, y.mac) === 0
      );
    })
  );
}

/** A live view of the usable interfaces. */
export interface InterfaceSource {
  current(): readonly NetInterface[];
  /** Calls `listener` with the new list whenever it changes; returns the unsubscribe. */
  subscribe(listener: (interfaces: readonly NetInterface[]) => void): () => void;
}

/** A fixed list, for tests and for running on interfaces named on the command line. */
export function staticInterfaces(list: readonly NetInterface[]): InterfaceSource {
  return { current: () => list, subscribe: () => () => undefined };
}
