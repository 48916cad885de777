import type { V1Pod } from "@kubernetes/client-node";
import type { Logger } from "pino";
import {
  SERVICELB_NAME_LABEL,
  SERVICELB_NAMESPACE_LABEL,
  serviceLBPods,
  serviceLBTarget,
} from "../adapters/foreign-lb.js";
import { RESOURCES, resourcePath, type KubeClient } from "../k8s/api.js";
import { watchResource } from "../k8s/informer.js";

/**
 * Watches k3s ServiceLB's pods, in every namespace (k3s runs them in kube-system, or where
 * `--servicelb-namespace` says; older k3s in the Service's own namespace). The label selector
 * is applied by the API server, so a cluster without ServiceLB sends nothing and the cache
 * holds only ServiceLB's pods, each cut to its name and two labels.
 */
export interface ForeignWatch {
  /** The ServiceLB pods serving a Service ("namespace/name"), sorted. */
  pods(service: string): readonly string[];
  /** Resolves once the pods have been listed. */
  readonly synced: Promise<void>;
  stop(): Promise<void>;
}

export function watchForeign(opts: {
  client: KubeClient;
  log: Logger;
  /** A pod of the Service appeared, changed or went away. */
  onChange: (service: string) => void;
}): ForeignWatch {
  let index: Map<string, string[]> | undefined;
  const changed = (pod: V1Pod) => {
    index = undefined;
    const target = serviceLBTarget(pod);
    if (target !== undefined) opts.onChange(target);
  };
  const watch = watchResource<V1Pod>({
    client: opts.client,
    path: resourcePath(RESOURCES.pods),
    labelSelector: SERVICELB_NAME_LABEL,
    handlers: { add: changed, update: changed, delete: changed },
    log: opts.log,
    what: "ServiceLB pods",
    transform: (p) => {
      const labels = p.metadata?.labels ?? {};
      const keep: Record<string, string> = {};
      for (const k of [SERVICELB_NAME_LABEL, SERVICELB_NAMESPACE_LABEL]) {
        const v = labels[k];
        if (v !== undefined) keep[k] = v;
      }
      return {
        metadata: {
          name: p.metadata?.name ?? "",
          namespace: p.metadata?.namespace ?? "",
          resourceVersion: p.metadata?.resourceVersion ?? "",
          labels: keep,
        },
      };
    },
  });
  return {
    synced: watch.synced,
    pods: (service) => (index ??= serviceLBPods(watch.cache.list())).get(service) ?? [],
    stop: () => watch.stop(),
  };
}
