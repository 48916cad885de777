import { randomBytes } from "node:crypto";
import { inject } from "vitest";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { KubeClient } from "../../src/k8s/api.js";
import { loadKubeConfig } from "../../src/k8s/client.js";
import { credentialsFromText } from "../../src/k8s/kubeconfig.js";

/** Admin KubeConfig for the integration project's API server, or null (reason printed). */
export function integrationKubeConfig(): KubeConfig | null {
  const path = inject("kubeconfig");
  if (path === "") {
    console.warn(`SKIPPED ${inject("controlPlaneMissing")}`);
    return null;
  }
  return loadKubeConfig(path);
}

export async function createTestNamespace(kc: KubeConfig, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString("hex")}`;
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  return name;
}

/** A KubeConfig for the same cluster that authenticates with `token` only. */
export function kubeConfigWithToken(admin: KubeConfig, token: string): KubeConfig {
  const cluster = admin.getCurrentCluster();
  if (cluster === null) throw new Error("admin kubeconfig has no current cluster");
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: "token-user", token }],
    contexts: [{ name: "token", cluster: cluster.name, user: "token-user" }],
    currentContext: "token",
  });
  return kc;
}

/** barelb's own API client with the same credentials as a client-node KubeConfig. */
export function kubeClientFor(kc: KubeConfig): KubeClient {
  return new KubeClient(credentialsFromText(kc.exportConfig(), { source: "test kubeconfig" }));
}

export { eventually } from "../../src/util/wait.js";
