import type { V1Service } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { Allocator } from "../allocator/allocator.js";
import type { Config } from "../config/index.js";
import type { EventSink } from "../k8s/events.js";
import {
  ALLOCATED_FROM_POOL,
  isHandled,
  serviceKey,
  statusIPs,
  toRequest,
  eventTarget,
} from "../adapters/service.js";

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
 *  - A Service that cannot be read (bad annotation) keeps what it has: bad input loses nothing.
 */

/** What to do after a reconcile: "reprocessAll" when IPs were freed that others may want. */
export type ReconcileOutcome = "ok" | "reprocessAll";

/** The controller's writes to Kubernetes. Each is a single merge patch of the status. */
export interface AssignmentWriter {
  /** Sets `status.loadBalancer.ingress` to `ips` and the ip-allocated-from-pool annotation. */
  write(svc: V1Service, ips: readonly string[], pool: string): Promise<void>;
  /** Removes both. */
  clear(svc: V1Service): Promise<void>;
}

export interface ControllerObserver {
  allocationFailed(code: string): void;
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
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
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
      const adapted = toRequest(svc);
      if (!adapted.ok) continue;
      const res = this.allocator.assign(adapted.request, ips);
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

  /** Installs a new config. Returns the Services to reconcile: the evicted and the pending. */
  setConfig(config: Config): string[] {
    const evicted = this.allocator.setConfig(config);
    for (const ev of evicted) {
      this.deps.log.info(
        { service: ev.key, ips: ev.ips, reason: ev.reason.code },
        "config change evicts IPs",
      );
    }
    return [...new Set([...evicted.map((e) => e.key), ...this.pending])];
  }

  pendingKeys(): string[] {
    return [...this.pending];
  }

  async reconcile(key: string): Promise<ReconcileOutcome> {
    const { events, writer, log, lbClass } = this.deps;
    const svc = this.deps.lookup(key);
    const held = this.allocator.get(key);

    if (svc === undefined) {
      this.pending.delete(key);
      if (held === undefined) return "ok";
      this.allocator.release(key);
      log.info({ service: key, ips: held.ips }, "Service deleted: IPs released");
      return "reprocessAll";
    }

    if (!isHandled(svc, lbClass)) {
      this.pending.delete(key);
      const released = held !== undefined ? this.allocator.release(key) : undefined;
      if (poolAnnotation(svc) !== undefined) {
        await writer.clear(svc);
        const ips = released?.ips ?? statusIPs(svc);
        events.emit(
          eventTarget(svc),
          "Normal",
          "ClearAssignment",
          `released ${plural(ips)} ${ips.join(", ")}: the Service is no longer one barelb handles ` +
            `(type ${svc.spec?.type ?? "?"}${svc.spec?.loadBalancerClass ? `, class ${svc.spec.loadBalancerClass}` : ""})`,
        );
      }
      return released !== undefined ? "reprocessAll" : "ok";
    }

    const adapted = toRequest(svc);
    if (!adapted.ok) {
      // The user's new input is unusable: say so, and keep whatever the Service has.
      events.emit(eventTarget(svc), "Warning", "AllocationFailed", adapted.message);
      this.deps.observer?.allocationFailed("InvalidServiceRequest");
      if (held === undefined) this.pending.add(key);
      return "ok";
    }
    const req = adapted.request;
    const current = statusIPs(svc);
    let freed = false;

    // Keep what it holds (or, after a restart, what its status shows) while still valid.
    const keep = held?.ips ?? current;
    if (keep.length > 0) {
      const res = this.allocator.assign(req, keep);
      if (res.ok) {
        this.pending.delete(key);
        if (!sameList(current, res.ips) || poolAnnotation(svc) !== res.pool) {
          await writer.write(svc, res.ips, res.pool);
          if (!sameList(current, res.ips)) {
            events.emit(
              eventTarget(svc),
              "Normal",
              "IPAllocated",
              `Assigned ${plural(res.ips)} ${res.ips.join(", ")} from pool ${res.pool}`,
            );
          }
        }
        return "ok";
      }
      if (held !== undefined) {
        this.allocator.release(key);
        freed = true;
      }
      events.emit(
        eventTarget(svc),
        "Normal",
        "ClearAssignment",
        `current ${plural(keep)} ${keep.join(", ")} no longer allowed (${res.reason.message}); choosing new ones`,
      );
    }

    const res = this.allocator.allocate(req);
    if (res.ok) {
      this.pending.delete(key);
      await writer.write(svc, res.ips, res.pool);
      events.emit(
        eventTarget(svc),
        "Normal",
        "IPAllocated",
        `Assigned ${plural(res.ips)} ${res.ips.join(", ")} from pool ${res.pool}`,
      );
      return freed ? "reprocessAll" : "ok";
    }
    this.pending.add(key);
    this.deps.observer?.allocationFailed(res.reason.code);
    if (current.length > 0 || poolAnnotation(svc) !== undefined) await writer.clear(svc);
    events.emit(eventTarget(svc), "Warning", "AllocationFailed", res.reason.message);
    log.info({ service: key, reason: res.reason.code }, "no IP for Service");
    return freed ? "reprocessAll" : "ok";
  }
}
