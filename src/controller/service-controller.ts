import type { V1Service } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { Allocator } from "../allocator/allocator.js";
import { normalizeRequest, type ServiceRequest } from "../allocator/request.js";
import type { Config } from "../config/index.js";
import type { EventSink } from "../k8s/events.js";
import { formatIP, parseIP } from "../net/ip.js";
import {
  ALLOCATED_FROM_POOL,
  ANNOTATION_PREFIXES,
  IPS_ANNOTATION,
  ipMode,
  ipModeDiffers,
  isHandled,
  serviceKey,
  statusIPs,
  toRequest,
  eventTarget,
  type IPMode,
} from "../adapters/service.js";
import {
  FOREIGN_KINDS,
  loadBalancerWriter,
  standsBack,
  type ForeignFinding,
  type ForeignKind,
} from "../adapters/foreign-lb.js";

/**
 * The controller's core: decides, for one Service at a time, which IPs it holds, and asks a
 * narrow port to write them. It sees Kubernetes only through `lookup` (the informer cache),
 * the `AssignmentWriter` and the `EventSink`, so it is tested with recording fakes.
 *
 * Stability rules it keeps:
 *  - `restore()` re-takes every IP already in a Service's status, oldest Service first,
 *    before any new allocation: a restart or a new leader moves nothing.
 *  - A Service keeps its IPs while they stay valid for it; only a change to the Service
 *    itself or to its pool can take them away, and then it is told why (ClearAssignment).
 *  - A Service that cannot be read (bad annotation, unusable requested IPs) keeps what it
 *    has, also across a restart: bad input loses nothing.
 *  - A PreferDualStack Service that got one family of two gets the other, from the same
 *    pool and keeping its IP, once that pool has one: it stays among the pending Services
 *    retried after a config change or a release.
 *  - Whenever IPs are freed, the pending Services are retried ("reprocessAll"), even when
 *    the write that followed the release failed and the Service is retried.
 *  - While another LoadBalancer implementation acts on a Service (`foreignFinding`), the
 *    controller does not write its status: not while k3s ServiceLB's pods serve it, and not
 *    for a minute after someone else wrote it (then it writes its IPs back once), so two
 *    controllers never rewrite each other in a loop. It keeps what it holds meanwhile, says so
 *    once (Warning ForeignLoadBalancer) and allocates nothing new for it.
 */

/**
 * What to do after a reconcile: "reprocessAll" when IPs were freed that others may want (by
 * this reconcile, or by an earlier one whose write then failed), so `pendingKeys()` are due;
 * `{ after }` when it stands back from another implementation: reconcile the key again after
 * that many ms (Infinity: only when the Service or the other implementation's pods change).
 */
export type ReconcileOutcome = "ok" | "reprocessAll" | { after: number };

/** The controller's writes to Kubernetes. Each is a single merge patch of the status. */
export interface AssignmentWriter {
  /**
   * Sets `status.loadBalancer.ingress` to `ips`, each with `ipMode`, and the
   * ip-allocated-from-pool annotation.
   */
  write(svc: V1Service, ips: readonly string[], pool: string, ipMode: IPMode): Promise<void>;
  /**
   * Removes both; with `keepIngress`, only the annotation (the ingress is another
   * implementation's).
   */
  clear(svc: V1Service, opts?: { keepIngress?: boolean }): Promise<void>;
  /**
   * Sets only the ip-allocated-from-pool annotation, leaving the ingress as it is: a Service
   * whose status IPs barelb keeps as they are (taking over from MetalLB, a renamed pool).
   */
  recordPool(svc: V1Service, pool: string): Promise<void>;
}

export interface ControllerObserver {
  allocationFailed(code: string): void;
  /** Handled Services another implementation acts on now, by kind. */
  foreignLoadBalancers?(byKind: Readonly<Record<ForeignKind, number>>): void;
}

export interface ServiceControllerDeps {
  config: Config;
  lookup: (key: string) => V1Service | undefined;
  all: () => Iterable<V1Service>;
  writer: AssignmentWriter;
  events: EventSink;
  log: Logger;
  lbClass: string | undefined;
  observer?: ControllerObserver;
  /** Another implementation acting on a handled Service (`foreignFinding`), if any. */
  foreign?: (svc: V1Service) => ForeignFinding | undefined;
  /** The clock for `standsBack` (ms since the epoch). */
  now?: () => number;
  /** `standsBack`'s hold after another writer's write; default FOREIGN_WRITE_HOLD_MS. */
  foreignHoldMs?: number;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The same addresses, whatever the order and spelling (`2001:DB8::1` is `2001:db8::1`). */
function sameAddresses(a: readonly string[], b: readonly string[]): boolean {
  const canonical = (ips: readonly string[]) =>
    ips
      .map((t) => {
        const p = parseIP(t.trim());
        return p.ok ? formatIP(p.value) : t;
      })
      .sort();
  return a.length === b.length && sameList(canonical(a), canonical(b));
}

function poolAnnotation(svc: V1Service): string | undefined {
  return svc.metadata?.annotations?.[ALLOCATED_FROM_POOL];
}

/** Oldest first (creation time, then namespace/name): who keeps an IP two Services claim. */
function byAge(a: V1Service, b: V1Service): number {
  const ta = new Date(a.metadata?.creationTimestamp ?? 0).getTime();
  const tb = new Date(b.metadata?.creationTimestamp ?? 0).getTime();
  if (ta !== tb) return ta - tb;
  const ka = serviceKey(a);
  const kb = serviceKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

const plural = (ips: readonly string[]) => (ips.length === 1 ? "IP" : "IPs");

export class ServiceController {
  readonly allocator: Allocator;
  /** Handled Services left without IPs; retried whenever addresses may have freed up. */
  private readonly pending = new Set<string>();
  /** PreferDualStack Services holding one family of two; retried like the pending ones. */
  private readonly partial = new Set<string>();
  /** IPs were freed and the pending Services not retried since (see `reconcile`). */
  private freed = false;
  /** Handled Services another implementation acts on, with what was said about each. */
  private readonly foreign = new Map<string, ForeignFinding>();

  constructor(private readonly deps: ServiceControllerDeps) {
    this.allocator = new Allocator(deps.config);
  }

  /**
   * Takes back every IP already written in a Service's status, oldest Service first. Run
   * once, before the first reconcile. Returns the keys of every Service, to reconcile next.
   */
  restore(): string[] {
    const { log, lbClass } = this.deps;
    const services = [...this.deps.all()].sort(byAge);
    let restored = 0;
    for (const svc of services) {
      const ips = statusIPs(svc);
      if (ips.length === 0 || !isHandled(svc, lbClass)) continue;
      // A Service whose requested IPs cannot be read still keeps the IPs it has.
      let read = readRequest(svc);
      if (!read.ok) read = readRequest(unrequested(svc));
      if (!read.ok) continue;
      const res = this.allocator.assign(read.request, ips);
      if (res.ok) restored++;
      else
        log.info(
          { service: serviceKey(svc), ips, reason: res.reason.code },
          "existing IPs not restored",
        );
    }
    log.info({ restored, services: services.length }, "restored existing assignments");
    return services.map(serviceKey);
  }

  /**
   * Installs a new config. Returns the Services to reconcile: the evicted, then the pending
   * (`pendingKeys`).
   */
  setConfig(config: Config): string[] {
    const evicted = this.allocator.setConfig(config);
    for (const ev of evicted) {
      this.partial.delete(ev.key);
      this.deps.log.info(
        { service: ev.key, ips: ev.ips, reason: ev.reason.code },
        "config change evicts IPs",
      );
    }
    return [...new Set([...evicted.map((e) => e.key), ...this.pendingKeys()])];
  }

  /**
   * The Services to retry when addresses free up, in the order they should get them: those
   * without IPs (longest waiting first), then the PreferDualStack ones missing a family.
   */
  pendingKeys(): string[] {
    return [...this.pending, ...this.partial];
  }

  /**
   * Reconciles one Service: keeps, takes, changes or releases its IPs and writes the result.
   * A rejected write rejects the returned promise (the caller retries the key); the
   * allocator keeps its decision, so the retry writes the same IPs.
   */
  async reconcile(key: string): Promise<ReconcileOutcome> {
    const after = await this.converge(key);
    // Standing back frees nothing: a pending "reprocessAll" waits for the next reconcile.
    if (after > 0) return { after };
    if (!this.freed) return "ok";
    this.freed = false;
    return "reprocessAll";
  }

  /** Frees the Service's IPs, remembering that pending Services may now get them. */
  private release(key: string) {
    this.partial.delete(key);
    const released = this.allocator.release(key);
    if (released !== undefined) this.freed = true;
    return released;
  }

  /** Records whether the Service, now holding IPs, still lacks a family. */
  private holds(key: string): void {
    this.pending.delete(key);
    if (this.allocator.missingFamily(key) === undefined) this.partial.delete(key);
    else this.partial.add(key);
  }

  /**
   * Records what another implementation does to the Service (undefined: nothing, or not
   * handled) and says it once per new finding: a Warning Event, a log line, the gauge.
   */
  private noteForeign(key: string, svc: V1Service | undefined): ForeignFinding | undefined {
    const found = svc === undefined ? undefined : this.deps.foreign?.(svc);
    const before = this.foreign.get(key);
    if (found === undefined) {
      if (before === undefined) return undefined;
      this.foreign.delete(key);
      this.deps.log.info(
        { service: key },
        "no other LoadBalancer implementation acts on the Service now",
      );
    } else {
      this.foreign.set(key, found);
      if (before?.message === found.message) return found;
      if (svc !== undefined) {
        this.deps.events.emit(eventTarget(svc), "Warning", "ForeignLoadBalancer", found.message);
      }
      this.deps.log.warn(
        { service: key, kind: found.kind, pods: found.pods, managers: found.managers },
        "another LoadBalancer implementation acts on the Service",
      );
    }
    if (this.deps.observer?.foreignLoadBalancers !== undefined) {
      const byKind = Object.fromEntries(FOREIGN_KINDS.map((k) => [k, 0])) as Record<
        ForeignKind,
        number
      >;
      for (const f of this.foreign.values()) byKind[f.kind]++;
      this.deps.observer.foreignLoadBalancers(byKind);
    }
    return found;
  }

  /** Returns ms to wait before reconciling again when it stands back, else 0. */
  private async converge(key: string): Promise<number> {
    const { events, writer, log, lbClass } = this.deps;
    const svc = this.deps.lookup(key);
    const held = this.allocator.get(key);
    const foreign = this.noteForeign(
      key,
      svc !== undefined && isHandled(svc, lbClass) ? svc : undefined,
    );

    if (svc === undefined) {
      this.pending.delete(key);
      if (held === undefined) return 0;
      this.release(key);
      log.info({ service: key, ips: held.ips }, "Service deleted: IPs released");
      return 0;
    }

    if (!isHandled(svc, lbClass)) {
      this.pending.delete(key);
      const released = held !== undefined ? this.release(key) : undefined;
      // Another LoadBalancer class is another barelb's (or another implementation's) to write,
      // unless this controller held the Service: two barelb controllers with different
      // --lb-class must not clear each other's Services. (A class is fixed while the type is
      // LoadBalancer; a type change is always this controller's to clear.)
      const ours = released !== undefined || svc.spec?.type !== "LoadBalancer";
      if (ours && poolAnnotation(svc) !== undefined) {
        // Handed to another implementation that has written its own status already: keep it.
        // The IPs barelb held are barelb's, whoever managedFields say wrote them (a status
        // taken over from MetalLB as it was keeps MetalLB's controller as their owner); an
        // ingress the API server already emptied (a type change) has nothing to keep.
        const left = statusIPs(svc);
        const keepIngress =
          left.length > 0 &&
          !(released !== undefined && sameAddresses(released.ips, left)) &&
          loadBalancerWriter(svc) === "other";
        await writer.clear(svc, { keepIngress });
        const ips = released?.ips ?? (keepIngress ? [] : left);
        events.emit(
          eventTarget(svc),
          "Normal",
          "ClearAssignment",
          `${ips.length > 0 ? `released ${plural(ips)} ${ips.join(", ")}` : "released its assignment"}: ` +
            `the Service is no longer one barelb handles ` +
            `(type ${svc.spec?.type ?? "?"}${svc.spec?.loadBalancerClass ? `, class ${svc.spec.loadBalancerClass}` : ""})` +
            (keepIngress
              ? "; its status.loadBalancer, written by another implementation, stays"
              : ""),
        );
      }
      return 0;
    }

    // Another implementation writes this status: keep what is held, write nothing.
    const wait = standsBack(foreign, this.deps.now?.() ?? Date.now(), this.deps.foreignHoldMs);
    if (wait > 0) {
      this.pending.delete(key);
      return wait;
    }

    // The ipMode is read with the request; restore() ignores it (it never blocks keeping IPs).
    const modeRead = ipMode(svc);
    const read: ReturnType<typeof readRequest> = modeRead.ok
      ? readRequest(svc)
      : { ok: false, code: "InvalidServiceRequest", message: modeRead.message };
    if (!read.ok) {
      // The user's new input is unusable: say so, and keep whatever the Service has.
      events.emit(eventTarget(svc), "Warning", "AllocationFailed", read.message);
      this.deps.observer?.allocationFailed(read.code);
      if (held === undefined) this.pending.add(key);
      return 0;
    }
    const req = read.request;
    const mode = modeRead.ok ? modeRead.mode : "VIP";
    const current = statusIPs(svc);

    // Keep what it holds (or, after a restart, what its status shows) while still valid.
    const keep = held?.ips ?? current;
    if (keep.length > 0) {
      let res = this.allocator.assign(req, keep);
      if (res.ok) {
        // PreferDualStack with one family of two: the other, if its pool now has one.
        const more = this.allocator.complete(key);
        if (more?.ok === true) {
          log.info({ service: key, ips: more.ips }, "second IP family added");
          res = more;
        }
        this.holds(key);
        // The same IPs in another order or spelling (MetalLB's dual-stack order need not
        // follow ipFamilies) are the same assignment: the status stays as it is.
        const sameIPs = sameAddresses(current, res.ips);
        if (!sameIPs || ipModeDiffers(svc, mode)) {
          await writer.write(svc, res.ips, res.pool, mode);
          if (!sameIPs) {
            events.emit(
              eventTarget(svc),
              "Normal",
              "IPAllocated",
              `Assigned ${plural(res.ips)} ${res.ips.join(", ")} from pool ${res.pool}`,
            );
          }
        } else if (poolAnnotation(svc) !== res.pool) {
          // Taking over what MetalLB left (or a pool renamed): one write, no Event.
          await writer.recordPool(svc, res.pool);
        }
        return 0;
      }
      if (held !== undefined) this.release(key);
      events.emit(
        eventTarget(svc),
        "Normal",
        "ClearAssignment",
        held === undefined && poolAnnotation(svc) === undefined
          ? // Never barelb's: left by MetalLB, k3s ServiceLB or someone else before barelb.
            `${plural(keep)} ${keep.join(", ")} in its status, set before barelb handled the ` +
              `Service, cannot be kept (${res.reason.message}); choosing new ones`
          : `current ${plural(keep)} ${keep.join(", ")} no longer allowed (${res.reason.message}); choosing new ones`,
      );
    }

    const res = this.allocator.allocate(req);
    if (res.ok) {
      this.holds(key);
      await writer.write(svc, res.ips, res.pool, mode);
      events.emit(
        eventTarget(svc),
        "Normal",
        "IPAllocated",
        `Assigned ${plural(res.ips)} ${res.ips.join(", ")} from pool ${res.pool}`,
      );
      return 0;
    }
    this.pending.add(key);
    this.deps.observer?.allocationFailed(res.reason.code);
    if (current.length > 0 || poolAnnotation(svc) !== undefined) await writer.clear(svc);
    events.emit(eventTarget(svc), "Warning", "AllocationFailed", res.reason.message);
    log.info({ service: key, reason: res.reason.code }, "no IP for Service");
    return 0;
  }
}

/**
 * The allocator request for a handled Service, or why the Service's own input is unusable
 * whatever the pools (conflicting or unparseable requested IPs, families that do not fit).
 */
function readRequest(
  svc: V1Service,
): { ok: true; request: ServiceRequest } | { ok: false; code: string; message: string } {
  const adapted = toRequest(svc);
  if (!adapted.ok) return { ok: false, code: "InvalidServiceRequest", message: adapted.message };
  const n = normalizeRequest(adapted.request);
  return n.ok ? adapted : { ok: false, code: n.reason.code, message: n.reason.message };
}

/** The Service without the IPs it requests (to restore what it holds when they are unusable). */
function unrequested(svc: V1Service): V1Service {
  const ipsKeys = new Set(ANNOTATION_PREFIXES.map((prefix) => prefix + IPS_ANNOTATION));
  const annotations = Object.fromEntries(
    Object.entries(svc.metadata?.annotations ?? {}).filter(([k]) => !ipsKeys.has(k)),
  );
  return {
    ...svc,
    metadata: { ...svc.metadata, annotations },
    spec: { ...svc.spec, loadBalancerIP: undefined },
  };
}
