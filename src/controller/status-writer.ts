import { CoreV1Api, type KubeConfig, type V1Service } from "@kubernetes/client-node";
import { mergePatch } from "../k8s/client.js";
import { ALLOCATED_FROM_POOL } from "./service-adapter.js";
import type { AssignmentWriter } from "./service-controller.js";

/**
 * The controller's only writes to Services: one JSON merge patch of the status subresource
 * that sets (or clears) both `status.loadBalancer.ingress` and the ip-allocated-from-pool
 * annotation, so an assignment costs one API request.
 */
export class ServiceStatusWriter implements AssignmentWriter {
  private readonly api: CoreV1Api;
  /** Requests made, for the API-load benchmark. */
  writes = 0;

  constructor(
    kubeConfig: KubeConfig,
    private readonly onWrite: () => void = () => undefined,
  ) {
    this.api = kubeConfig.makeApiClient(CoreV1Api);
  }

  async write(svc: V1Service, ips: readonly string[], pool: string): Promise<void> {
    await this.patch(
      svc,
      pool,
      ips.map((ip) => ({ ip, ipMode: "VIP" })),
    );
  }

  async clear(svc: V1Service): Promise<void> {
    await this.patch(svc, null, null);
  }

  private async patch(
    svc: V1Service,
    pool: string | null,
    ingress: { ip: string; ipMode: string }[] | null,
  ) {
    this.writes++;
    this.onWrite();
    await this.api.patchNamespacedServiceStatus(
      {
        name: svc.metadata?.name ?? "",
        namespace: svc.metadata?.namespace ?? "",
        body: {
          metadata: { annotations: { [ALLOCATED_FROM_POOL]: pool } },
          status: { loadBalancer: { ingress } },
        },
      },
      mergePatch,
    );
  }
}
