import { foreignLoadBalancers, SERVICELB_NAME_LABEL } from "../adapters/foreign-lb.js";
import { isHandled } from "../adapters/service.js";
import { loadKubeClient } from "../k8s/api.js";
import { explain } from "../status/explain.js";
import { gather } from "../status/gather.js";
import { renderStatus } from "../status/render.js";
import type { StatusArgs } from "./program.js";

/**
 * `barelb status` (also `kubectl barelb status`): reads the API with the caller's kubeconfig
 * and prints what barelb is doing and why. Returns the exit code (0: the report was made,
 * whatever it says).
 */
export async function statusCommand(args: StatusArgs, out: (s: string) => void): Promise<number> {
  const client = loadKubeClient(args.kubeconfig, { userAgent: "barelb-status", timeoutMs: 15_000 });
  try {
    const snapshot = await gather({
      client,
      namespace: args.namespace,
      configMapName: args.configMap,
      lbClass: args.lbClass,
      foreign: (pods, services) =>
        foreignLoadBalancers(
          pods,
          services.filter((svc) => isHandled(svc, args.lbClass)),
        ),
      foreignPodSelector: SERVICELB_NAME_LABEL,
    });
    const report = await explain(snapshot);
    out(args.output === "json" ? `${JSON.stringify(report, null, 2)}\n` : renderStatus(report));
    return 0;
  } finally {
    client.close();
  }
}
