import {
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type RequestContext,
} from "@kubernetes/client-node";

/*
 * @kubernetes/client-node for the lab tooling and the tests only: the controller and speaker
 * use barelb's own client (api.ts) and never import this module (client-node costs ~90 MiB
 * of RSS on import; eslint.config.js refuses such an import outside the lab).
 */

/**
 * @kubernetes/client-node 2.0.1 builds a new undici Agent for every request, so each API call
 * opens a new TCP connection with a new TLS handshake and TLS context: slow on a Raspberry Pi,
 * heavy on the API server, and native memory that grows with the request rate. This
 * KubeConfig keeps the first dispatcher made for each cluster and user and hands it to every
 * later request, so connections are kept alive and reused (watches hold their own).
 */
export class PooledKubeConfig extends KubeConfig {
  private readonly dispatchers = new Map<string, ReturnType<RequestContext["getDispatcher"]>>();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const fresh = context.getDispatcher();
    if (fresh === undefined) return;
    const key = `${this.getCurrentCluster()?.server ?? ""}\n${this.getCurrentUser()?.name ?? ""}`;
    const shared = this.dispatchers.get(key);
    if (shared === undefined) {
      this.dispatchers.set(key, fresh);
    } else {
      context.setDispatcher(shared);
      void fresh.close(); // never connected: nothing to wait for
    }
  }
}

/**
 * Loads cluster credentials: an explicit kubeconfig path, else $KUBECONFIG / ~/.kube/config,
 * else the in-cluster ServiceAccount (what the controller and speaker use in a pod).
 */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new PooledKubeConfig();
  if (path !== undefined) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

/** Request options that send a JSON merge patch (RFC 7386) instead of the JSON-patch default. */
export const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
