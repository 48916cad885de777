import { KubeConfig, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";

/**
 * Loads cluster credentials: an explicit kubeconfig path, else $KUBECONFIG / ~/.kube/config,
 * else the in-cluster ServiceAccount (what the controller and speaker use in a pod).
 */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path !== undefined) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

/** Request options that send a JSON merge patch (RFC 7386) instead of the JSON-patch default. */
export const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
