import type { V1ConfigMap, V1Node } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { Config } from "../config/types.js";
import type { IP } from "../net/ip.js";
import { RESOURCES, resourcePath, type KubeClient } from "../k8s/api.js";
import type { EventSink } from "../k8s/events.js";
import { watchResource, type WatchedResource } from "../k8s/informer.js";
import type { ControllerMetrics } from "./metrics.js";
import {
  apiServerAddresses,
  nodeFacts,
  reservedAddresses,
  setupWarnings,
  type SetupWarning,
} from "./setup-warnings.js";

/**
 * Watches Nodes (name, labels, addresses only) and runs `setupWarnings` whenever they or the
 * config change. Every replica keeps the gauge; the leader also writes a Warning Event on the
 * pool ConfigMap and logs, once per finding it has not said yet.
 */
export interface SetupWatch {
  /** Checks again (after a config change, or once leading). `leading` false: gauge only. */
  check(config: Config | null, leading: boolean): void;
  /** Resolves once Nodes have been listed. */
  readonly synced: Promise<void>;
  /** Nodes' and the API server's addresses, for `Allocator.setReserved`. */
  reserved(): IP[];
  /** Forgets what was said, so a new leader says it again. */
  forget(): void;
  stop(): Promise<void>;
}

export function watchSetup(opts: {
  client: KubeClient;
  namespace: string;
  configMap: string;
  events: EventSink;
  metrics: ControllerMetrics;
  log: Logger;
  current: () => { config: Config | null; leading: boolean };
  /** Called after Nodes changed and were checked (to hand `reserved()` to the allocator). */
  onNodes: () => void;
}): SetupWatch {
  const { client, log } = opts;
  const apiServer = apiServerAddresses(client.credentials.server);
  let said = new Set<string>();
  // Node updates come in bursts (status heartbeats of a large cluster): check once per burst.
  let timer: NodeJS.Timeout | undefined;
  const again = () => {
    timer ??= setTimeout(() => {
      timer = undefined;
      const { config, leading } = opts.current();
      check(config, leading);
      opts.onNodes();
    }, 200);
  };
  const nodes: WatchedResource<V1Node> = watchResource<V1Node>({
    client,
    path: resourcePath(RESOURCES.nodes),
    handlers: { add: again, update: again, delete: again },
    log,
    what: "nodes",
    transform: (n) => ({
      metadata: {
        name: n.metadata?.name ?? "",
        resourceVersion: n.metadata?.resourceVersion ?? "",
        // All labels: a BGP peer's node-selectors are matched against them.
        ...(n.metadata?.labels === undefined ? {} : { labels: n.metadata.labels }),
      },
      ...(n.status?.addresses === undefined ? {} : { status: { addresses: n.status.addresses } }),
    }),
  });
  let synced = false;
  void nodes.synced.then(() => {
    synced = true;
    again();
  });

  function check(config: Config | null, leading: boolean): void {
    if (!synced) return;
    const found = setupWarnings(config, nodes.cache.list().map(nodeFacts), apiServer);
    opts.metrics.updateSetupWarnings(found);
    const now = new Set(found.map((w) => `${w.kind}\n${w.message}`));
    if (leading) {
      for (const w of found) {
        if (!said.has(`${w.kind}\n${w.message}`)) tell(w);
      }
      said = now;
    }
  }

  function tell(w: SetupWarning): void {
    log.warn({ kind: w.kind }, w.message);
    void client
      .get<V1ConfigMap>(
        resourcePath(RESOURCES.configMaps, { namespace: opts.namespace, name: opts.configMap }),
      )
      .catch(() => undefined)
      .then((cm) =>
        opts.events.emit(
          {
            kind: "ConfigMap",
            apiVersion: "v1",
            namespace: opts.namespace,
            name: opts.configMap,
            uid: cm?.metadata?.uid,
            resourceVersion: cm?.metadata?.resourceVersion,
          },
          "Warning",
          w.kind,
          w.message,
        ),
      );
  }

  return {
    synced: nodes.synced,
    check,
    reserved: () => (synced ? reservedAddresses(nodes.cache.list().map(nodeFacts), apiServer) : []),
    forget: () => (said = new Set()),
    stop: () => {
      clearTimeout(timer);
      return nodes.stop();
    },
  };
}
