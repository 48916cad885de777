import type { V1Service } from "@kubernetes/client-node";
import { RESOURCES, resourcePath, type KubeClient } from "../k8s/api.js";
import { ALLOCATED_FROM_POOL, metallbPoolAnnotations, type IPMode } from "../adapters/service.js";
import { CONTROLLER_FIELD_MANAGER } from "../adapters/foreign-lb.js";
import type { AssignmentWriter } from "./service-controller.js";

/**
 * The controller's only writes to Services: one JSON merge patch of the status subresource
 * that sets (or clears) both `status.loadBalancer.ingress` and the ip-allocated-from-pool
 * annotation, so an assignment costs one API request (`recordPool`: the annotation only). Its field manager is
 * `barelb-controller`: how `foreignFinding` tells barelb's writes from another implementation's.
 */
export class ServiceStatusWriter implements AssignmentWriter {
  /** Requests made, for the API-load benchmark. */
  writes = 0;
  /** Requests made, by the Service's namespace (tests sharing one API server count their own). */
  readonly writesIn = new Map<string, number>();

  constructor(
    private readonly client: KubeClient,
    private readonly onWrite: () => void = () => undefined,
  ) {}

  async write(
    svc: V1Service,
    ips: readonly string[],
    pool: string,
    ipMode: IPMode = "VIP",
  ): Promise<void> {
    await this.patch(
      svc,
      pool,
      ips.map((ip) => ({ ip, ipMode })),
    );
  }

  async clear(svc: V1Service, opts: { keepIngress?: boolean } = {}): Promise<void> {
    await this.patch(svc, null, opts.keepIngress === true ? undefined : null);
  }

  async recordPool(svc: V1Service, pool: string): Promise<void> {
    await this.patch(svc, pool, undefined);
  }

  private async patch(
    svc: V1Service,
    pool: string | null,
    /** undefined: leave the ingress as it is. */
    ingress: { ip: string; ipMode: string }[] | null | undefined,
  ) {
    this.writes++;
    const ns = svc.metadata?.namespace ?? "";
    this.writesIn.set(ns, (this.writesIn.get(ns) ?? 0) + 1);
    this.onWrite();
    const path = resourcePath(RESOURCES.services, {
      namespace: svc.metadata?.namespace ?? "",
      name: svc.metadata?.name ?? "",
      subresource: "status",
    });
    await this.client.mergePatch(
      path,
      {
        metadata: {
          annotations: {
            [ALLOCATED_FROM_POOL]: pool,
            // MetalLB's record of the pool goes with barelb's first write (never a write of its
            // own: a MetalLB controller still running would put it back, and they would fight).
            ...Object.fromEntries(metallbPoolAnnotations(svc).map((k) => [k, null])),
          },
        },
        ...(ingress === undefined ? {} : { status: { loadBalancer: { ingress } } }),
      },
      { fieldManager: CONTROLLER_FIELD_MANAGER },
    );
  }
}
