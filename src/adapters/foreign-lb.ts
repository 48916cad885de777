import type { V1ManagedFieldsEntry, V1Pod, V1Service } from "@kubernetes/client-node";
import { serviceKey } from "./service.js";

/**
 * Another LoadBalancer implementation acting on a Service barelb handles: k3s ServiceLB, seen
 * by its `svclb-*` pods, or anyone else, seen by who wrote `status.loadBalancer`. Pure: Pods
 * and Services in, one finding per Service out. The controller (which stands back from such a
 * Service, see `standsBack`) and `barelb status` both read it, so they say the same thing.
 *
 * Who wrote the status comes from `metadata.managedFields`: an entry of the `status`
 * subresource that owns `f:status.f:loadBalancer`. Only the last writer of the ingress list
 * owns it (the list is atomic: a write that changes it takes it from everyone else), so:
 *  - a status written by someone else and never by barelb is not a finding: it is what MetalLB
 *    or ServiceLB left before barelb took over (barelb keeps the IPs that fit its pools and
 *    replaces the others, saying so with ClearAssignment);
 *  - a status written by someone else after barelb's own last status write is: someone keeps
 *    writing it. managedFields times have whole seconds, and a write in the same second as
 *    barelb's cannot be ordered: it does not count (a takeover writes the pool annotation within
 *    a second of the Service's creation in tests; a real fight crosses a second soon enough).
 * barelb's own managers: the controller's `barelb-controller` (and `barelb`, the name the API
 * server derived from the user agent before the controller named itself), and the speakers'
 * `barelb-speaker-*`, which write only their conditions.
 */

/** k3s ServiceLB's labels on its DaemonSets and pods (k3s `pkg/cloudprovider/servicelb.go`). */
export const SERVICELB_NAME_LABEL = "svccontroller.k3s.cattle.io/svcname";
/** Newer k3s only; older k3s ran the pods in the Service's own namespace. */
export const SERVICELB_NAMESPACE_LABEL = "svccontroller.k3s.cattle.io/svcnamespace";

/** The field manager of the controller's status writes. */
export const CONTROLLER_FIELD_MANAGER = "barelb-controller";
const CONTROLLER_MANAGERS: ReadonlySet<string> = new Set([CONTROLLER_FIELD_MANAGER, "barelb"]);
/** Managers that are never another implementation (the API server's own bookkeeping). */
const NOT_AN_IMPLEMENTATION: ReadonlySet<string> = new Set(["before-first-apply"]);

/**
 * How long the controller leaves a status alone after someone else wrote it, before writing
 * its own IPs back once: a fight with another controller costs one write per this period.
 */
export const FOREIGN_WRITE_HOLD_MS = 60_000;

export type ForeignKind = "ServiceLB" | "StatusWriter";
export const FOREIGN_KINDS: readonly ForeignKind[] = ["ServiceLB", "StatusWriter"];

export interface ForeignFinding {
  /** ServiceLB when its pods are there (whoever wrote the status), else StatusWriter. */
  kind: ForeignKind;
  /** One line a user can act on; stable while the facts stay (no times, no counts of writes). */
  message: string;
  /** The ServiceLB pods, "namespace/name", sorted. */
  pods: string[];
  /** Other field managers that wrote `status.loadBalancer` after barelb did, sorted. */
  managers: string[];
  /** When the newest of those wrote it (ms since the epoch), or undefined. */
  writtenAt: number | undefined;
}

/** The Service each ServiceLB pod serves, "namespace/name": pods indexed for `foreignFinding`. */
export function serviceLBPods(pods: readonly V1Pod[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const pod of pods) {
    const key = serviceLBTarget(pod);
    if (key === undefined) continue;
    const name = `${pod.metadata?.namespace ?? ""}/${pod.metadata?.name ?? ""}`;
    const list = out.get(key);
    if (list === undefined) out.set(key, [name]);
    else list.push(name);
  }
  for (const list of out.values()) list.sort();
  return out;
}

/** "namespace/name" of the Service a ServiceLB pod serves, or undefined for any other pod. */
export function serviceLBTarget(pod: V1Pod): string | undefined {
  const labels = pod.metadata?.labels ?? {};
  const name = labels[SERVICELB_NAME_LABEL];
  if (name === undefined || name === "") return undefined;
  const namespace = labels[SERVICELB_NAMESPACE_LABEL] ?? pod.metadata?.namespace ?? "";
  return `${namespace}/${name}`;
}

/**
 * The finding for one Service barelb handles, or undefined. `pods`: the ServiceLB pods serving
 * it (`serviceLBPods(...).get(key)`).
 */
export function foreignFinding(
  svc: V1Service,
  pods: readonly string[] = [],
): ForeignFinding | undefined {
  if (svc.spec?.type !== "LoadBalancer") return undefined;
  const writers = foreignWriters(svc.metadata?.managedFields ?? []);
  const managers = [...new Set(writers.map((w) => w.manager))].sort();
  const writtenAt = writers.length > 0 ? Math.max(...writers.map((w) => w.at)) : undefined;
  const byWhom =
    managers.length === 0
      ? ""
      : `; field manager ${managers.map((m) => JSON.stringify(m)).join(", ")} wrote its status.loadBalancer after barelb did`;
  if (pods.length > 0) {
    const first = pods[0] ?? "";
    const more = pods.length > 1 ? ` and ${pods.length - 1} more` : "";
    return {
      kind: "ServiceLB",
      message:
        `k3s ServiceLB also acts on this Service (pod ${first}${more})${byWhom}: barelb leaves ` +
        `its status alone until ServiceLB stops, then gives it an IP from its pools; start k3s with --disable servicelb, or run barelb ` +
        `with --lb-class and give the Services it should handle that loadBalancerClass (ServiceLB ` +
        `leaves Services with a class alone)`,
      pods: [...pods],
      managers,
      writtenAt,
    };
  }
  if (managers.length === 0) return undefined;
  return {
    kind: "StatusWriter",
    message:
      `another LoadBalancer implementation acts on this Service${byWhom}: barelb writes its IPs ` +
      `back at most once a minute; remove the other one (k3s: --disable servicelb), or give the ` +
      `Service a loadBalancerClass only one of the two handles`,
    pods: [],
    managers,
    writtenAt,
  };
}

/** `foreignFinding` for each Service: "namespace/name" → its message. Pass the handled ones. */
export function foreignLoadBalancers(
  pods: readonly V1Pod[],
  services: readonly V1Service[],
): Map<string, string> {
  const byService = serviceLBPods(pods);
  const out = new Map<string, string>();
  for (const svc of services) {
    const key = serviceKey(svc);
    const f = foreignFinding(svc, byService.get(key));
    if (f !== undefined) out.set(key, f.message);
  }
  return out;
}

/**
 * Whether the controller leaves the Service's status alone now: always while ServiceLB's pods
 * serve it (they come back at once; barelb resumes when they are gone), and for
 * `FOREIGN_WRITE_HOLD_MS` after another writer's last write. Returns the ms left, 0 when it
 * does not (Infinity: until the facts change).
 */
export function standsBack(
  f: ForeignFinding | undefined,
  nowMs: number,
  holdMs = FOREIGN_WRITE_HOLD_MS,
): number {
  if (f === undefined) return 0;
  if (f.kind === "ServiceLB") return Infinity;
  if (f.writtenAt === undefined) return 0;
  // The API server's clock: a skewed one never holds longer than holdMs from now.
  return Math.max(0, Math.min(holdMs, f.writtenAt + holdMs - nowMs));
}

/** Who wrote `status.loadBalancer` after barelb's controller last wrote the status. */
function foreignWriters(
  fields: readonly V1ManagedFieldsEntry[],
): { manager: string; at: number }[] {
  let own: number | undefined;
  const others: { manager: string; at: number }[] = [];
  for (const e of fields) {
    if (e.subresource !== "status" || e.manager === undefined) continue;
    const at = timeOf(e);
    if (CONTROLLER_MANAGERS.has(e.manager)) {
      if (at !== undefined) own = Math.max(own ?? at, at);
      continue;
    }
    if (at !== undefined && isForeignWriter(e)) others.push({ manager: e.manager, at });
  }
  if (own === undefined) return [];
  const since = own;
  return others.filter((o) => o.at > since);
}

/**
 * Whose `status.loadBalancer` it is: "barelb" (its controller), "other", or undefined when
 * managedFields do not say (none kept, or nobody wrote it). The owner of the ingress is the last
 * one who changed it, but a status barelb took over keeps MetalLB's owner: barelb kept the IPs
 * as they were and wrote only its pool annotation. So another owner's ingress is barelb's when
 * barelb's controller wrote the status in a later second (the same second cannot be ordered:
 * the controller, which knows the IPs it held, decides that case).
 */
export function loadBalancerWriter(svc: V1Service): "barelb" | "other" | undefined {
  let owner: V1ManagedFieldsEntry | undefined;
  let own: number | undefined;
  for (const e of svc.metadata?.managedFields ?? []) {
    if (e.subresource !== "status" || e.manager === undefined) continue;
    const at = timeOf(e);
    if (CONTROLLER_MANAGERS.has(e.manager) && at !== undefined) own = Math.max(own ?? at, at);
    if (owner === undefined && ownsLoadBalancer(e)) owner = e;
  }
  if (owner?.manager === undefined) return undefined;
  if (CONTROLLER_MANAGERS.has(owner.manager)) return "barelb";
  const at = timeOf(owner);
  return own !== undefined && at !== undefined && own > at ? "barelb" : "other";
}

/** An entry of another implementation that owns `status.loadBalancer`. */
function isForeignWriter(e: V1ManagedFieldsEntry): boolean {
  return (
    e.subresource === "status" &&
    e.manager !== undefined &&
    !CONTROLLER_MANAGERS.has(e.manager) &&
    !e.manager.startsWith("barelb-") &&
    !NOT_AN_IMPLEMENTATION.has(e.manager) &&
    ownsLoadBalancer(e)
  );
}

function timeOf(e: V1ManagedFieldsEntry): number | undefined {
  // Plain JSON (barelb's own client) holds the string; client-node's ObjectSerializer a Date.
  const t = e.time as unknown;
  const ms = t instanceof Date ? t.getTime() : typeof t === "string" ? Date.parse(t) : Number.NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

function ownsLoadBalancer(e: V1ManagedFieldsEntry): boolean {
  const f = e.fieldsV1 as Record<string, unknown> | undefined;
  const status = f?.["f:status"] as Record<string, unknown> | undefined;
  return status?.["f:loadBalancer"] !== undefined;
}

const LOAD_BALANCER_FIELDS = Object.freeze({ "f:status": Object.freeze({ "f:loadBalancer": {} }) });

/**
 * What the controller's Service cache keeps of managedFields (the informer drops them by
 * default): when someone other than barelb owns `status.loadBalancer`, the status entries of
 * barelb's controller and of that owner, with only that much of their fields; otherwise
 * nothing, which is the common case and costs no memory. Enough for `foreignFinding` and
 * `loadBalancerWriter` (which reads "nobody said" as barelb's own).
 */
export function slimManagedFields(
  fields: readonly V1ManagedFieldsEntry[] | undefined,
): V1ManagedFieldsEntry[] | undefined {
  if (fields === undefined || !fields.some(isForeignWriter)) return undefined;
  const out: V1ManagedFieldsEntry[] = [];
  for (const e of fields) {
    if (e.subresource !== "status" || e.manager === undefined) continue;
    const lb = ownsLoadBalancer(e);
    if (!lb && !CONTROLLER_MANAGERS.has(e.manager)) continue;
    out.push({
      manager: e.manager,
      operation: e.operation,
      subresource: "status",
      time: e.time,
      ...(lb ? { fieldsV1: LOAD_BALANCER_FIELDS } : {}),
    });
  }
  return out.length > 0 ? out : undefined;
}
