/**
 * What the allocator needs to know about a Service: plain data, built from the Service by the
 * controller's adapter, so the allocator never sees a Kubernetes object.
 */
import { formatIPValue, parseIP, type IP, type IPFamily } from "../net/ip.js";
import { reason, type Reason } from "./reasons.js";

export type FamilyPolicy = "SingleStack" | "PreferDualStack" | "RequireDualStack";

export interface ServicePort {
  /** `TCP`, `UDP` or `SCTP`, as in the Service spec. */
  readonly protocol: string;
  readonly port: number;
}

export interface ServiceRequest {
  /** `namespace/name`: identifies the Service in the allocator. */
  readonly key: string;
  readonly namespace: string;
  /** The Service's labels (for pools' `service-selectors`). Not copied: do not mutate. */
  readonly labels: Readonly<Record<string, string>>;
  /** `spec.ipFamilies`, in order (the first is the primary family); one or two entries. */
  readonly families: readonly IPFamily[];
  /** `spec.ipFamilyPolicy` (Kubernetes defaults it to SingleStack). */
  readonly familyPolicy: FamilyPolicy;
  /**
   * IPs the Service asks for: `spec.loadBalancerIP`, or the `loadBalancerIPs` annotation split
   * on commas; at most one per family. Empty strings are ignored; `[]` means none.
   */
  readonly requestedIPs: readonly string[];
  /** The `address-pool` annotation, if set. */
  readonly pool?: string | undefined;
  /** The `allow-shared-ip` annotation; `""` means the Service does not share its IP. */
  readonly sharingKey: string;
  /** `spec.ports` as protocol and port; Services sharing an IP may not overlap here. */
  readonly ports: readonly ServicePort[];
  /**
   * `""` for `externalTrafficPolicy: Cluster`; for `Local`, a string that is equal for
   * Services with the same pod selector (e.g. the selector's labels, sorted and joined).
   * Services share an IP only with an equal backend key.
   */
  readonly backendKey: string;
}

/** A request after validation, as the allocator stores it. */
export interface NormalizedRequest {
  readonly key: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly families: readonly IPFamily[];
  readonly familyPolicy: FamilyPolicy;
  /** Parsed requested IPs, ordered like `families`. */
  readonly requested: readonly IP[];
  readonly pool: string | undefined;
  readonly sharingKey: string;
  readonly ports: readonly ServicePort[];
  readonly backendKey: string;
}

export type Normalized = { ok: true; req: NormalizedRequest } | { ok: false; reason: Reason };

/** The families to ask for, in order of preference, as sets that must come from one pool. */
export function familyPlans(req: NormalizedRequest): readonly (readonly IPFamily[])[] {
  const [primary, secondary] = req.families;
  if (primary === undefined) return [];
  if (req.familyPolicy === "SingleStack" || secondary === undefined) return [[primary]];
  if (req.familyPolicy === "RequireDualStack") return [[primary, secondary]];
  return [[primary, secondary], [primary], [secondary]];
}

const NO_IPS = Object.freeze({ ok: true, ips: Object.freeze([]) }) satisfies {
  ok: true;
  ips: readonly IP[];
};

/**
 * Parses a list of IPs (requested or restored) and checks them against the Service's
 * families: valid addresses, at most one per family, each family enabled, both families
 * for RequireDualStack. Returns them ordered like `families`.
 */
export function parseServiceIPs(
  texts: readonly string[],
  families: readonly IPFamily[],
  policy: FamilyPolicy,
): { ok: true; ips: readonly IP[] } | { ok: false; reason: Reason } {
  if (texts.length === 0) return NO_IPS;
  const ips: IP[] = [];
  for (const raw of texts) {
    const text = raw.trim();
    if (text === "") continue;
    const p = parseIP(text);
    if (!p.ok) return { ok: false, reason: reason("InvalidIP", { ip: text, detail: p.error }) };
    const ip = p.value;
    const same = ips.find((x) => x.family === ip.family);
    if (same !== undefined) {
      return {
        ok: false,
        reason: reason("DuplicateFamily", {
          ips: [formatIPValue(same.family, same.value), formatIPValue(ip.family, ip.value)],
          family: ip.family,
        }),
      };
    }
    if (!families.includes(ip.family)) {
      return {
        ok: false,
        reason: reason("IPFamilyNotEnabled", {
          ip: formatIPValue(ip.family, ip.value),
          family: ip.family,
          families,
        }),
      };
    }
    ips.push(ip);
  }
  if (policy === "RequireDualStack" && ips.length === 1) {
    const only = ips.map((x) => formatIPValue(x.family, x.value));
    return { ok: false, reason: reason("IncompleteDualStack", { ips: only }) };
  }
  ips.sort((a, b) => families.indexOf(a.family) - families.indexOf(b.family));
  return { ok: true, ips };
}

/** Validates a request's families and requested IPs; the result is what the allocator keeps. */
export function normalizeRequest(req: ServiceRequest): Normalized {
  const f = req.families;
  const distinct = f.length === 2 ? f[0] !== f[1] : f.length === 1;
  const fits =
    distinct &&
    (req.familyPolicy === "SingleStack"
      ? f.length === 1
      : req.familyPolicy === "RequireDualStack"
        ? f.length === 2
        : true); // PreferDualStack: one or two
  if (!fits) {
    return {
      ok: false,
      reason: reason("InvalidIPFamilies", { policy: req.familyPolicy, families: [...f] }),
    };
  }
  const parsed = parseServiceIPs(req.requestedIPs, f, req.familyPolicy);
  if (!parsed.ok) return parsed;
  return {
    ok: true,
    req: {
      key: req.key,
      namespace: req.namespace,
      labels: req.labels,
      families: f,
      familyPolicy: req.familyPolicy,
      requested: parsed.ips,
      pool: req.pool === undefined || req.pool === "" ? undefined : req.pool,
      sharingKey: req.sharingKey,
      ports: req.ports,
      backendKey: req.backendKey,
    },
  };
}

/** The first protocol/port the two lists have in common, if any. */
export function portOverlap(
  a: readonly ServicePort[],
  b: readonly ServicePort[],
): ServicePort | undefined {
  for (const p of a) {
    for (const q of b) if (p.port === q.port && p.protocol === q.protocol) return p;
  }
  return undefined;
}
