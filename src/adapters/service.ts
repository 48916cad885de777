import type { V1Service } from "@kubernetes/client-node";
import type { FamilyPolicy, ServiceRequest } from "../allocator/request.js";
import type { EventTarget } from "../k8s/events.js";
import type { IPFamily } from "../net/ip.js";

/**
 * What both programs read from a Kubernetes Service: whether barelb handles it, its status
 * IPs, barelb's annotations and their MetalLB aliases, the allocator request it makes, and
 * the Event target naming it. The only place that knows Service field and annotation names;
 * the controller and the speaker both read Services through it.
 */

/** Annotation prefixes, in order of precedence: barelb's own, then MetalLB's two spellings. */
export const ANNOTATION_PREFIXES = ["barelb.io/", "metallb.io/", "metallb.universe.tf/"] as const;

export const POOL_ANNOTATION = "address-pool";
export const IPS_ANNOTATION = "loadBalancerIPs";
export const SHARING_ANNOTATION = "allow-shared-ip";
/**
 * barelb's only (MetalLB has no such annotation; its issue #2797 asks for one): the node that
 * should announce the Service's IPs while it is eligible.
 */
export const PREFERRED_NODE_ANNOTATION = "barelb.io/preferred-node";
/**
 * barelb's only (no peer has one): `VIP` (the default) or `Proxy`, written by the controller
 * as `status.loadBalancer.ingress[].ipMode` (Kubernetes 1.30+).
 */
export const IP_MODE_ANNOTATION = "barelb.io/ip-mode";
export type IPMode = "VIP" | "Proxy";
/** Written by the controller: the pool the Service's IPs came from. */
export const ALLOCATED_FROM_POOL = "barelb.io/ip-allocated-from-pool";

/**
 * MetalLB's own record of the pool (`metallb.io/…`, older `metallb.universe.tf/…`) on the
 * Service: never read (barelb's pool holding the IP is what counts, whatever MetalLB called
 * it), and removed by the controller's next write, so a Service names one pool only.
 */
export function metallbPoolAnnotations(svc: V1Service): string[] {
  const all = svc.metadata?.annotations ?? {};
  return ANNOTATION_PREFIXES.filter((p) => p !== "barelb.io/")
    .map((p) => `${p}ip-allocated-from-pool`)
    .filter((k) => all[k] !== undefined);
}

export function serviceKey(svc: V1Service): string {
  return `${svc.metadata?.namespace ?? ""}/${svc.metadata?.name ?? ""}`;
}

/** The value of an annotation under the first prefix that has it, with the key used. */
export function annotation(
  svc: V1Service,
  name: string,
): { key: string; value: string } | undefined {
  const all = svc.metadata?.annotations ?? {};
  for (const prefix of ANNOTATION_PREFIXES) {
    const value = all[prefix + name];
    if (value !== undefined) return { key: prefix + name, value };
  }
  return undefined;
}

/**
 * Whether this controller handles the Service: `type: LoadBalancer` and, without
 * `--lb-class`, no `spec.loadBalancerClass`; with `--lb-class X`, exactly class X.
 */
export function isHandled(svc: V1Service, lbClass: string | undefined): boolean {
  if (svc.spec?.type !== "LoadBalancer") return false;
  const cls = svc.spec.loadBalancerClass;
  return lbClass === undefined || lbClass === ""
    ? cls === undefined || cls === ""
    : cls === lbClass;
}

/** The node named by `barelb.io/preferred-node`, trimmed; undefined when unset or empty. */
export function preferredNode(svc: V1Service): string | undefined {
  const v = svc.metadata?.annotations?.[PREFERRED_NODE_ANNOTATION]?.trim();
  return v === undefined || v === "" ? undefined : v;
}

/**
 * The ipMode the Service asks for: `VIP` when the annotation is unset or empty; `VIP` or
 * `Proxy` in any case; anything else is an error naming the annotation.
 */
export function ipMode(
  svc: V1Service,
): { ok: true; mode: IPMode } | { ok: false; message: string } {
  const v = (svc.metadata?.annotations?.[IP_MODE_ANNOTATION] ?? "").trim().toLowerCase();
  if (v === "" || v === "vip") return { ok: true, mode: "VIP" };
  if (v === "proxy") return { ok: true, mode: "Proxy" };
  return {
    ok: false,
    message:
      `the ${IP_MODE_ANNOTATION} annotation is ${JSON.stringify(svc.metadata?.annotations?.[IP_MODE_ANNOTATION])}: ` +
      `it must be VIP or Proxy; the Service keeps what it has`,
  };
}

/**
 * Whether the status shows another ipMode than `mode` for one of its IPs. An ingress entry
 * without one counts as matching: an API server before Kubernetes 1.30 drops the field, and
 * the controller must not write it again and again.
 */
export function ipModeDiffers(svc: V1Service, mode: IPMode): boolean {
  return (svc.status?.loadBalancer?.ingress ?? []).some(
    (i) => i.ipMode !== undefined && i.ipMode !== mode,
  );
}

/** The IPs in `status.loadBalancer.ingress`, in order. */
export function statusIPs(svc: V1Service): string[] {
  return (svc.status?.loadBalancer?.ingress ?? [])
    .map((i) => i.ip)
    .filter((ip): ip is string => !!ip);
}

export type AdapterResult =
  { ok: true; request: ServiceRequest } | { ok: false; field: string; message: string };

/** The allocator request for a handled Service, or what is wrong with the Service. */
export function toRequest(svc: V1Service): AdapterResult {
  const spec = svc.spec ?? {};
  const families = (spec.ipFamilies ?? ["IPv4"]).map((f): IPFamily => (f === "IPv6" ? 6 : 4));
  const policy = (spec.ipFamilyPolicy ?? "SingleStack") as FamilyPolicy;

  const fromSpec = (spec.loadBalancerIP ?? "").trim();
  const ipsAnnotation = annotation(svc, IPS_ANNOTATION);
  const fromAnnotation = (ipsAnnotation?.value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (
    fromSpec !== "" &&
    ipsAnnotation !== undefined &&
    !(fromAnnotation.length === 1 && fromAnnotation[0] === fromSpec)
  ) {
    return {
      ok: false,
      field: ipsAnnotation.key,
      message:
        `spec.loadBalancerIP (${fromSpec}) and the ${ipsAnnotation.key} annotation ` +
        `(${ipsAnnotation.value}) ask for different IPs; set only one of them`,
    };
  }
  const requestedIPs =
    fromAnnotation.length > 0 ? fromAnnotation : fromSpec === "" ? [] : [fromSpec];

  const local = spec.externalTrafficPolicy === "Local";
  const selector = Object.entries(spec.selector ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");

  return {
    ok: true,
    request: {
      key: serviceKey(svc),
      namespace: svc.metadata?.namespace ?? "",
      labels: svc.metadata?.labels ?? {},
      families,
      familyPolicy: policy,
      requestedIPs,
      pool: annotation(svc, POOL_ANNOTATION)?.value.trim() || undefined,
      sharingKey: annotation(svc, SHARING_ANNOTATION)?.value.trim() ?? "",
      ports: (spec.ports ?? []).map((p) => ({ protocol: p.protocol ?? "TCP", port: p.port })),
      backendKey: local ? `local:${selector}` : "",
    },
  };
}

/** The Service as the object of an Event. */
export function eventTarget(svc: V1Service): EventTarget {
  return {
    kind: "Service",
    apiVersion: "v1",
    namespace: svc.metadata?.namespace ?? "",
    name: svc.metadata?.name ?? "",
    uid: svc.metadata?.uid,
    resourceVersion: svc.metadata?.resourceVersion,
  };
}
