import type { AddressBlockKind, IP, IPFamily } from "../net/ip.js";

/**
 * The parsed, validated pool configuration. Produced only by `parseConfig`, deeply frozen, and
 * shared by the controller, the speaker and `barelb config validate`.
 */
export interface Config {
  /** Pools in the order the file lists them. Names are unique. */
  readonly pools: readonly Pool[];
  /** `peers`: BGP routers, in the order of the file (MetalLB v0.12 format). */
  readonly peers: readonly BgpPeer[];
  /** `bfd-profiles`, in the order of the file. Names are unique. */
  readonly bfdProfiles: readonly BfdProfile[];
  /** `bgp-communities`: named communities that advertisements may use by name. */
  readonly communities: Readonly<Record<string, BgpCommunity>>;
}

export interface Pool {
  readonly name: string;
  /**
   * `layer2` (ARP/NDP) or `bgp`. While `BGP_MODE_AVAILABLE` is false the parser checks a BGP
   * pool and then refuses the config.
   */
  readonly protocol: "layer2" | "bgp";
  /**
   * `bgp-advertisements` of a `bgp` pool (at least one: MetalLB's default when none are
   * written); empty for a `layer2` pool.
   */
  readonly bgpAdvertisements: readonly BgpAdvertisement[];
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

/** One BGP peering session, opened from every node its node selectors choose. */
export interface BgpPeer {
  /** `my-asn`: the AS number barelb speaks as (1-4294967295). */
  readonly myASN: number;
  /** `peer-asn`: the AS number the router must announce. Equal to `myASN` means iBGP. */
  readonly peerASN: number;
  /** `peer-address`. */
  readonly address: IP;
  /** `peer-port` (default 179). */
  readonly port: number;
  /** `source-address`: the local address to connect from; undefined lets the kernel choose. */
  readonly sourceAddress: IP | undefined;
  /** `hold-time` in whole seconds (default 90; 0 means no keepalives). */
  readonly holdTime: number;
  /** `keepalive-time` in whole seconds (default a third of the hold time). */
  readonly keepaliveTime: number;
  /** `router-id` (IPv4); undefined means the node's own address. */
  readonly routerID: IP | undefined;
  /** `password` for TCP MD5 (RFC 2385); undefined when not set. */
  readonly password: string | undefined;
  /** `node-selectors` (written `match-labels`/`match-expressions`); empty means every node. */
  readonly nodeSelectors: readonly LabelSelector[];
  /** `bfd-profile`: the name of one of `Config.bfdProfiles`. */
  readonly bfdProfile: string | undefined;
  /** `ebgp-multihop`: the router is more than one hop away (eBGP only). */
  readonly ebgpMultiHop: boolean;
}

/** A BGP community: standard (RFC 1997, `AS:value`) or large (RFC 8092, `large:A:B:C`). */
export type BgpCommunity =
  | { readonly kind: "standard"; readonly text: string; readonly value: number }
  | {
      readonly kind: "large";
      readonly text: string;
      readonly globalAdmin: number;
      readonly localData1: number;
      readonly localData2: number;
    };

/** How a BGP pool's IPs are announced: one route per IP, or per aggregate, with attributes. */
export interface BgpAdvertisement {
  /** `aggregation-length` for IPv4 (default 32: each IP alone). */
  readonly aggregationLength: number;
  /** `aggregation-length-v6` for IPv6 (default 128). */
  readonly aggregationLengthV6: number;
  /** `localpref` (LOCAL_PREF, sent to iBGP peers only); undefined when not set. */
  readonly localPref: number | undefined;
  /** `communities`, names resolved, in the order written. */
  readonly communities: readonly BgpCommunity[];
}

/** A named BFD profile (`bfd-profiles`); undefined fields take the BFD speaker's defaults. */
export interface BfdProfile {
  readonly name: string;
  /** `receive-interval`, milliseconds (10-60000). */
  readonly receiveInterval: number | undefined;
  /** `transmit-interval`, milliseconds (10-60000). */
  readonly transmitInterval: number | undefined;
  /** `detect-multiplier` (2-255). */
  readonly detectMultiplier: number | undefined;
  /** `echo-interval`, milliseconds (10-60000). */
  readonly echoInterval: number | undefined;
  /** `echo-mode` (default false). */
  readonly echoMode: boolean;
  /** `passive-mode` (default false): wait for the peer to start the session. */
  readonly passiveMode: boolean;
  /** `minimum-ttl` (1-254). */
  readonly minimumTtl: number | undefined;
}
