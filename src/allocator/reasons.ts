/**
 * The one catalogue of reasons a Service gets no IP, or loses the one it had.
 *
 * Each reason has a stable `code` (for metrics labels, logs and docs; never renamed) and a
 * `message` a user can act on, naming the pool, IP or other Service involved. The controller
 * shows the message in the Service's `AllocationFailed` (or `ClearAssignment`) Event; the
 * structured details travel along for logs. Messages are built here and nowhere else.
 */
import { familyName, type IPFamily } from "../net/ip.js";

/** The details each reason carries, by code. */
export interface ReasonDetails {
  /** `ipFamilies` does not fit `ipFamilyPolicy` (normally prevented by the API server). */
  InvalidIPFamilies: { policy: string; families: readonly number[] };
  /** A requested or restored IP does not parse. */
  InvalidIP: { ip: string; detail: string };
  /** Two requested/restored IPs of one family. */
  DuplicateFamily: { ips: readonly string[]; family: IPFamily };
  /** An IP of a family the Service does not have in `ipFamilies`. */
  IPFamilyNotEnabled: { ip: string; family: IPFamily; families: readonly IPFamily[] };
  /** RequireDualStack with IPs of one family only. */
  IncompleteDualStack: { ips: readonly string[] };
  /** The Service holds IPs other than the ones it now requests. */
  RequestedIPsChanged: { ips: readonly string[]; requested: readonly string[] };
  /** The IP lies outside every pool. */
  IPNotInPool: { ip: string };
  /** The IP ends in .0/.255 and its pool has `avoid-buggy-ips`. */
  IPAvoided: { ip: string; pool: string };
  /** The IPs (one per family) lie in different pools. */
  IPsInDifferentPools: { ips: readonly string[]; pools: readonly string[] };
  /** The IP's pool is not the one the `address-pool` annotation names. */
  IPNotInRequestedPool: { ip: string; pool: string; requestedPool: string };
  /** The pool's `namespaces` / `service-selectors` exclude the Service. */
  PoolNotAllowed: { pool: string; namespace: string; namespaces: readonly string[] };
  /** The IP is held by a Service that does not share (no `allow-shared-ip` on one side). */
  IPInUse: { ip: string; otherService: string };
  /** The IP is held by a Service with a different `allow-shared-ip` key. */
  SharingKeyMismatch: { ip: string; otherService: string; sharingKey: string };
  /** The IP is shared with a Service that uses the same protocol and port. */
  SharedPortConflict: { ip: string; otherService: string; protocol: string; port: number };
  /** The IP is shared with a Service of incompatible `externalTrafficPolicy` / selector. */
  SharedTrafficPolicyMismatch: { ip: string; otherService: string };
  /** The `address-pool` annotation names a pool that does not exist. */
  UnknownPool: { pool: string };
  /** The annotated pool has no addresses of a family the Service needs. */
  PoolLacksFamily: { pool: string; family: IPFamily };
  /** RequireDualStack, but the annotated pool does not have both families. */
  PoolNotDualStack: { pool: string };
  /** The pool has no free address of the family. */
  PoolExhausted: { pool: string; family: IPFamily };
  /** Every pool tried is full. */
  AllPoolsExhausted: { pools: readonly string[]; families: readonly IPFamily[] };
  /** The config has no pools at all. */
  NoPools: Record<string, never>;
  /** No pool may serve the Service automatically. */
  NoEligiblePool: { namespace: string };
  /** Pools exist for the Service, but none has the family it needs. */
  NoPoolForFamily: { families: readonly IPFamily[] };
  /** RequireDualStack, but no eligible pool has both families. */
  NoDualStackPool: Record<string, never>;
}

export type ReasonCode = keyof ReasonDetails;

/** A reason: its code, its user-facing message and its details. */
export type Reason = {
  [C in ReasonCode]: { readonly code: C; readonly message: string } & Readonly<ReasonDetails[C]>;
}[ReasonCode];

const fam = (f: IPFamily): string => familyName(f);
const fams = (fs: readonly number[]): string =>
  fs.length === 0
    ? "none"
    : fs.map((f) => (f === 4 || f === 6 ? familyName(f) : String(f))).join(", ");
const quoted = (xs: readonly string[]): string => xs.map((x) => JSON.stringify(x)).join(", ");

const messages: { [C in ReasonCode]: (d: ReasonDetails[C]) => string } = {
  InvalidIPFamilies: (d) =>
    `ipFamilies [${fams(d.families)}] do not fit ipFamilyPolicy ${d.policy}`,
  InvalidIP: (d) => `${JSON.stringify(d.ip)} is not a valid IP address (${d.detail})`,
  DuplicateFamily: (d) =>
    `${d.ips.join(" and ")} are both ${fam(d.family)}: give at most one IP per family`,
  IPFamilyNotEnabled: (d) =>
    `${d.ip} is ${fam(d.family)}, but the Service's ipFamilies are [${fams(d.families)}]`,
  IncompleteDualStack: (d) =>
    `ipFamilyPolicy RequireDualStack needs one IP per family, but only ${d.ips.join(", ")} was requested`,
  RequestedIPsChanged: (d) =>
    `the Service requests ${d.requested.join(", ")} but holds ${d.ips.join(", ")}`,
  IPNotInPool: (d) => `${d.ip} is not in any address pool of the barelb config`,
  IPAvoided: (d) =>
    `${d.ip} ends in .0 or .255, which pool ${JSON.stringify(d.pool)} avoids (avoid-buggy-ips: true)`,
  IPsInDifferentPools: (d) =>
    `${d.ips.join(" and ")} are in different pools (${quoted(d.pools)}); all IPs of a Service must come from one pool`,
  IPNotInRequestedPool: (d) =>
    `${d.ip} is in pool ${JSON.stringify(d.pool)}, but the address-pool annotation asks for pool ${JSON.stringify(d.requestedPool)}`,
  PoolNotAllowed: (d) =>
    d.namespaces.length > 0 && !d.namespaces.includes(d.namespace)
      ? `pool ${JSON.stringify(d.pool)} is limited to namespaces ${quoted(d.namespaces)}; this Service is in ${JSON.stringify(d.namespace)}`
      : `pool ${JSON.stringify(d.pool)} is limited to Services matching its service-selectors; this Service's labels do not match`,
  IPInUse: (d) =>
    `${d.ip} is already used by Service ${d.otherService}; to share it, give both Services the same allow-shared-ip annotation`,
  SharingKeyMismatch: (d) =>
    `${d.ip} is already used by Service ${d.otherService} with allow-shared-ip ${JSON.stringify(d.sharingKey)}; only Services with the same key share an IP`,
  SharedPortConflict: (d) =>
    `${d.ip} is shared with Service ${d.otherService}, which also uses ${d.protocol}/${d.port}; shared Services need distinct ports`,
  SharedTrafficPolicyMismatch: (d) =>
    `${d.ip} is shared with Service ${d.otherService}, whose externalTrafficPolicy or pod selector differs (Cluster shares only with Cluster, Local only with the same selector)`,
  UnknownPool: (d) =>
    `the address-pool annotation names pool ${JSON.stringify(d.pool)}, which is not in the barelb config`,
  PoolLacksFamily: (d) => `pool ${JSON.stringify(d.pool)} has no ${fam(d.family)} addresses`,
  PoolNotDualStack: (d) =>
    `ipFamilyPolicy RequireDualStack needs IPv4 and IPv6 from one pool, but pool ${JSON.stringify(d.pool)} does not have both`,
  PoolExhausted: (d) =>
    `pool ${JSON.stringify(d.pool)} has no free ${fam(d.family)} address; free one or add addresses to the pool`,
  AllPoolsExhausted: (d) =>
    `no free ${d.families.map(fam).join("/")} address in pools ${quoted(d.pools)}; free one or add addresses`,
  NoPools: () => "the barelb config has no address pools",
  NoEligiblePool: (d) =>
    `no address pool serves this Service automatically: none has auto-assign and allows namespace ${JSON.stringify(d.namespace)} and these labels (set the address-pool annotation, or check the pools' namespaces and service-selectors)`,
  NoPoolForFamily: (d) => `no address pool this Service may use has ${fams(d.families)} addresses`,
  NoDualStackPool: () =>
    "ipFamilyPolicy RequireDualStack needs a pool with both IPv4 and IPv6 addresses that this Service may use; there is none",
};

/** Builds a reason from its code and details; the only way to make one. */
export function reason<C extends ReasonCode>(code: C, details: ReasonDetails[C]): Reason {
  const message = messages[code](details);
  return Object.freeze({ ...details, code, message }) as Reason;
}

/** Every code, e.g. to initialise a `barelb_allocation_failures_total{reason}` metric. */
export const reasonCodes: readonly ReasonCode[] = Object.freeze(
  Object.keys(messages) as ReasonCode[],
);
