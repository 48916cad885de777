import { CoreV1Api, type V1Node } from "@kubernetes/client-node";
import { loadKubeConfig, mergePatch } from "../k8s/client.js";

/**
 * The lab has no kubelet, so it registers a Node object per node namespace itself: the
 * name, a Ready condition, its InternalIP(s) and the labels a kubelet would set.
 */

export interface LabNode {
  name: string;
  ipv4: string;
  ipv6: string;
}

export async function registerNodes(kubeconfig: string, nodes: readonly LabNode[]): Promise<void> {
  const core = loadKubeConfig(kubeconfig).makeApiClient(CoreV1Api);
  const now = new Date().toISOString();
  for (const n of nodes) {
    const body: V1Node = {
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        name: n.name,
        labels: {
          "kubernetes.io/hostname": n.name,
          "kubernetes.io/os": "linux",
          "kubernetes.io/arch": process.arch === "x64" ? "amd64" : process.arch,
        },
      },
    };
    await core.createNode({ body });
    // The API server ignores status on create: set it through the status subresource.
    await core.patchNodeStatus(
      {
        name: n.name,
        body: {
          status: {
            conditions: [
              {
                type: "Ready",
                status: "True",
                reason: "BarelbLab",
                message: "lab node (no kubelet)",
                lastHeartbeatTime: now,
                lastTransitionTime: now,
              },
            ],
            addresses: [
              { type: "InternalIP", address: n.ipv4 },
              { type: "InternalIP", address: n.ipv6 },
              { type: "Hostname", address: n.name },
            ],
          },
        },
      },
      mergePatch,
    );
  }
}
