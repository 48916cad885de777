import type {
  V1ConfigMap,
  V1EndpointSlice,
  V1Node,
  V1Pod,
  V1Service,
} from "@kubernetes/client-node";
import { ApiError, RESOURCES, resourcePath, type KubeClient } from "../k8s/api.js";
import type { LeaseJson } from "../k8s/microtime.js";
import type { StatusSnapshot } from "./explain.js";

/**
 * `barelb status`, the reading part: one GET of the pool ConfigMap and one list of each kind
 * of object the report needs, with the caller's credentials. Only reads: a user who may only
 * read (`view`, plus nodes and the Leases of barelb's namespace) gets the whole report. What
 * the caller may not read is named in the report rather than failing it, except Services,
 * without which there is nothing to report.
 */

export interface GatherOptions {
  client: KubeClient;
  namespace: string;
  configMapName: string;
  lbClass: string | undefined;
  /** Wall clock (tests). */
  now?: () => number;
  /**
   * Messages about Services another implementation acts on, from the Pods and Services read
   * (src/adapters/foreign-lb.ts); none when not given.
   */
  foreign?: (pods: readonly V1Pod[], services: readonly V1Service[]) => ReadonlyMap<string, string>;
  /** Label selector of the Pods `foreign` looks at; no Pods are read without it. */
  foreignPodSelector?: string;
}

export async function gather(opts: GatherOptions): Promise<StatusSnapshot> {
  const { client, namespace } = opts;
  const unreadable: string[] = [];
  /** A read that may be forbidden: then `fallback`, and the report says so. */
  const maybe = async <T>(what: string, read: () => Promise<T>, fallback: T): Promise<T> => {
    try {
      return await read();
    } catch (e: unknown) {
      if (e instanceof ApiError && (e.code === 403 || e.code === 401)) {
        unreadable.push(what);
        return fallback;
      }
      throw e;
    }
  };
  const list = async <T>(path: string, query?: Record<string, string>): Promise<T[]> =>
    (await client.list<T>(path, query)).items;

  const [configMap, services, slices, nodes, leases, pods] = await Promise.all([
    maybe(
      `configmaps in ${namespace}`,
      async (): Promise<V1ConfigMap | null | "unreadable"> => {
        try {
          return await client.get<V1ConfigMap>(
            resourcePath(RESOURCES.configMaps, { namespace, name: opts.configMapName }),
          );
        } catch (e: unknown) {
          if (e instanceof ApiError && e.code === 404) return null;
          throw e;
        }
      },
      "unreadable",
    ),
    list<V1Service>(resourcePath(RESOURCES.services)),
    maybe(
      "endpointslices",
      () => list<V1EndpointSlice>(resourcePath(RESOURCES.endpointSlices)),
      [],
    ),
    maybe("nodes", () => list<V1Node>(resourcePath(RESOURCES.nodes)), []),
    maybe(
      `leases in ${namespace}`,
      () => list<LeaseJson>(resourcePath(RESOURCES.leases, { namespace })),
      [],
    ),
    opts.foreignPodSelector === undefined
      ? Promise.resolve([])
      : maybe(
          "pods",
          () =>
            list<V1Pod>(resourcePath({ version: "v1", resource: "pods" }), {
              labelSelector: opts.foreignPodSelector ?? "",
            }),
          [],
        ),
  ]);
  return {
    now: (opts.now ?? Date.now)(),
    namespace,
    configMapName: opts.configMapName,
    lbClass: opts.lbClass,
    server: client.credentials.server,
    configMap,
    services,
    slices,
    nodes,
    leases,
    foreign: opts.foreign?.(pods, services) ?? new Map(),
    unreadable: unreadable.sort(),
  };
}
