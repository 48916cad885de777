import { Counter, Gauge, type Registry } from "prom-client";
import type { PoolStats } from "../allocator/allocator.js";
import { familyName } from "../net/ip.js";
import type { ControllerObserver } from "./service-controller.js";
import { SETUP_WARNING_KINDS, type SetupWarning } from "./setup-warnings.js";
import { FOREIGN_KINDS, type ForeignKind } from "../adapters/foreign-lb.js";

/** The controller's Prometheus metrics, registered on the registry passed in. */
export class ControllerMetrics implements ControllerObserver {
  readonly addressesTotal: Gauge<"pool" | "family">;
  readonly addressesInUse: Gauge<"pool" | "family">;
  readonly allocationFailures: Counter<"reason">;
  readonly leader: Gauge;
  readonly servicesWithIP: Gauge;
  readonly statusWrites: Counter;
  readonly setupWarnings: Gauge<"kind">;
  readonly foreign: Gauge<"kind">;

  constructor(registry: Registry) {
    const registers = [registry];
    this.addressesTotal = new Gauge({
      name: "barelb_address_pool_addresses_total",
      help: "Addresses a pool can hand out, per family (without .0/.255 when avoid-buggy-ips)",
      labelNames: ["pool", "family"],
      registers,
    });
    this.addressesInUse = new Gauge({
      name: "barelb_address_pool_addresses_in_use",
      help: "Addresses of a pool held by Services, per family (a shared IP counts once)",
      labelNames: ["pool", "family"],
      registers,
    });
    this.allocationFailures = new Counter({
      name: "barelb_allocation_failures_total",
      help: "Allocations that left a Service without an IP, by reason code",
      labelNames: ["reason"],
      registers,
    });
    this.leader = new Gauge({
      name: "barelb_controller_leader",
      help: "1 while this replica is the leader",
      registers,
    });
    this.servicesWithIP = new Gauge({
      name: "barelb_services_assigned",
      help: "LoadBalancer Services holding IPs",
      registers,
    });
    this.statusWrites = new Counter({
      name: "barelb_service_status_writes_total",
      help: "Service status patches made by the controller",
      registers,
    });
    this.setupWarnings = new Gauge({
      name: "barelb_config_warnings",
      help: "Things a valid setup gets wrong, by kind: addresses a pool shares with a node or the API server, nodes all excluded",
      labelNames: ["kind"],
      registers,
    });
    for (const kind of SETUP_WARNING_KINDS) this.setupWarnings.set({ kind }, 0);
    this.foreign = new Gauge({
      name: "barelb_controller_foreign_load_balancers",
      help: "LoadBalancer Services barelb handles that another implementation acts on, by kind: ServiceLB (k3s ServiceLB pods serve it), StatusWriter (another field manager writes its status)",
      labelNames: ["kind"],
      registers,
    });
    for (const kind of FOREIGN_KINDS) this.foreign.set({ kind }, 0);
  }

  foreignLoadBalancers(byKind: Readonly<Record<ForeignKind, number>>): void {
    for (const kind of FOREIGN_KINDS) this.foreign.set({ kind }, byKind[kind]);
  }

  allocationFailed(code: string): void {
    this.allocationFailures.inc({ reason: code });
  }

  updateSetupWarnings(found: readonly SetupWarning[]): void {
    for (const kind of SETUP_WARNING_KINDS) {
      this.setupWarnings.set({ kind }, found.find((w) => w.kind === kind)?.count ?? 0);
    }
  }

  updatePools(stats: readonly PoolStats[], services: number): void {
    this.addressesTotal.reset();
    this.addressesInUse.reset();
    for (const s of stats) {
      const labels = { pool: s.pool, family: familyName(s.family) };
      this.addressesTotal.set(labels, Number(s.total));
      this.addressesInUse.set(labels, s.inUse);
    }
    this.servicesWithIP.set(services);
  }
}
