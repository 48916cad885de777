import type { AddressBlockKind, IPFamily } from "../net/ip.js";

/**
 * The parsed, validated pool configuration. Produced only by `parseConfig`, deeply frozen, and
 * shared by the controller, the speaker and `barelb config validate`.
 */
export interface Config {
  /** Pools in the order the file lists them. Names are unique. */
  readonly pools: readonly Pool[];
}

export interface Pool {
  readonly name: string;
  /** Only `layer2` is supported; `bgp` is refused by the parser. */
  readonly protocol: "layer2";
  /** The `addresses` entries as written, each parsed to an inclusive range. */
  readonly addresses: readonly AddressBlock[];
  /** `auto-assign` (default true): false means only Services that ask for this pool get it. */
  readonly autoAssign: boolean;
  /** `avoid-buggy-ips` (default false): never hand out IPv4 addresses ending in .0 or .255. */
  readonly avoidBuggyIPs: boolean;
  /**
   * `priority`: lower is preferred. Pools with a priority come before pools without one;
   * among equals, the order of the file decides. Undefined when not set.
   */
  readonly priority: number | undefined;
  /** `namespaces`: when non-empty, only Services in these namespaces may use the pool. */
  readonly namespaces: readonly string[];
  /** `service-selectors`: when non-empty, only Services matching one of them may use the pool. */
  readonly serviceSelectors: readonly LabelSelector[];
  /** `node-selectors`: when non-empty, only nodes matching one of them announce its IPs. */
  readonly nodeSelectors: readonly LabelSelector[];
  /** `interfaces`: when non-empty, announce only on these interfaces. */
  readonly interfaces: readonly string[];
  /** Families with at least one address, IPv4 first. */
  readonly families: readonly IPFamily[];
  /**
   * Addresses the allocator may hand out, per family: every address of every block, minus
   * the .0/.255 IPv4 addresses when `avoid-buggy-ips` is set.
   */
  readonly size: Readonly<Record<IPFamily, bigint>>;
}

export interface AddressBlock {
  /** The entry as the user wrote it (for messages). */
  readonly text: string;
  readonly kind: AddressBlockKind;
  readonly family: IPFamily;
  /** First address, inclusive (a CIDR with host bits set is widened to its network). */
  readonly start: bigint;
  /** Last address, inclusive. */
  readonly end: bigint;
}

/** A Kubernetes `metav1.LabelSelector`. An empty selector matches everything. */
export interface LabelSelector {
  readonly matchLabels: Readonly<Record<string, string>>;
  readonly matchExpressions: readonly LabelSelectorRequirement[];
}

export type SelectorOperator = "In" | "NotIn" | "Exists" | "DoesNotExist";

export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: SelectorOperator;
  /** Non-empty for In/NotIn, empty for Exists/DoesNotExist. */
  readonly values: readonly string[];
}
