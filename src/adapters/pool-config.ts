import type { V1ConfigMap } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { parseConfig, type Config } from "../config/index.js";
import { RESOURCES, resourcePath, type KubeClient } from "../k8s/api.js";
import { watchResource } from "../k8s/informer.js";
import { Gauge } from "../observability/prom-lite.js";

/**
 * The pool ConfigMap as both programs see it: one watch, one parser, one rule. The config in
 * force is the last one that parsed; nothing that arrives later can take it away except a
 * better one. A refused edit, a ConfigMap without its `config` key and a deleted ConfigMap
 * all leave it in force and make the watch *stale*, with a reason, until a good config (or
 * the text in force) comes back. Both programs export the same two gauges and log the same
 * lines; only the controller turns a refusal into an Event (it passes `onRefused`).
 */

/** The data key that holds the config text (MetalLB's legacy format). */
export const CONFIG_KEY = "config";

/** What one look at the ConfigMap (or its absence) does to the config in force. */
export type ConfigStep =
  | { kind: "loaded"; config: Config; warnings: string[] }
  /** The text in force came back (after a refused edit, or a resync): nothing to apply. */
  | { kind: "same" }
  | { kind: "refused"; errors: string[] };

/**
 * The last good config, and why the ConfigMap's content is not in force when it is not.
 * Pure: fed ConfigMaps (or `undefined` for a deleted one) in the order they were seen.
 */
export class LastGoodConfig {
  private text: string | null = null;
  private _config: Config | null = null;
  private _stale: string | null = null;

  constructor(
    private readonly namespace: string,
    private readonly name: string,
  ) {}

  /** The config in force: the last one that parsed; null before the first. */
  get config(): Config | null {
    return this._config;
  }

  /** Why the ConfigMap's content is not in force (one line), or null when it is. */
  get stale(): string | null {
    return this._stale;
  }

  observe(cm: V1ConfigMap | undefined): ConfigStep {
    const where = `ConfigMap ${this.namespace}/${this.name}`;
    if (cm === undefined) return this.refuse([`${where} was deleted`]);
    const text = cm.data?.[CONFIG_KEY];
    if (text === undefined) return this.refuse([`${where} has no data key "${CONFIG_KEY}"`]);
    if (text === this.text) {
      this._stale = null;
      return { kind: "same" };
    }
    const r = parseConfig(text);
    if (!r.ok) return this.refuse(r.errors.map((e) => e.message));
    this.text = text;
    this._config = r.config;
    this._stale = null;
    return { kind: "loaded", config: r.config, warnings: r.warnings.map((w) => w.message) };
  }

  private refuse(errors: string[]): ConfigStep {
    this._stale = summarize(errors);
    return { kind: "refused", errors };
  }
}

/** Up to ten errors on one line, then how many more. */
export function summarize(errors: readonly string[]): string {
  return (
    errors.slice(0, 10).join("; ") + (errors.length > 10 ? `; and ${errors.length - 10} more` : "")
  );
}

export interface PoolConfigOptions {
  client: KubeClient;
  namespace: string;
  /** The ConfigMap's name. */
  name: string;
  /** Where `barelb_config_loaded` and `barelb_config_stale` are registered. */
  registry: Registry;
  log: Logger;
  /** A new config is in force. */
  onLoaded: (config: Config) => void;
  /**
   * A ConfigMap was refused (`cm` undefined: it was deleted); the config in force stays.
   * The controller writes the `InvalidConfig` Event here; the speaker passes nothing.
   */
  onRefused?: (cm: V1ConfigMap | undefined, summary: string) => void;
}

export interface PoolConfigWatch {
  /** The config in force, or null before the first good one. */
  current(): Config | null;
  /** Why the ConfigMap's content is not in force, or null. */
  stale(): string | null;
  /** Resolves at the first good config. */
  readonly loaded: Promise<void>;
  /** Resolves once the ConfigMap has been listed (whether or not it exists). */
  readonly synced: Promise<void>;
  stop(): Promise<void>;
}

export function watchPoolConfig(opts: PoolConfigOptions): PoolConfigWatch {
  const { log, namespace, name } = opts;
  const keeper = new LastGoodConfig(namespace, name);
  const registers = [opts.registry];
  const loadedGauge = new Gauge({
    name: "barelb_config_loaded",
    help: "1 once a valid pool config has been loaded",
    registers,
  });
  const staleGauge = new Gauge({
    name: "barelb_config_stale",
    help: "1 while the ConfigMap holds a config that was refused, lacks its key or is gone (the last good one is in force)",
    registers,
  });
  let markLoaded: () => void = () => undefined;
  const loaded = new Promise<void>((resolve) => (markLoaded = resolve));

  const observe = (cm: V1ConfigMap | undefined) => {
    const wasStale = keeper.stale !== null;
    const step = keeper.observe(cm);
    staleGauge.set(keeper.stale === null ? 0 : 1);
    switch (step.kind) {
      case "loaded":
        for (const w of step.warnings) log.warn({ configMap: name, warning: w }, "config warning");
        log.info({ pools: step.config.pools.map((p) => p.name) }, "config loaded");
        loadedGauge.set(1);
        markLoaded();
        opts.onLoaded(step.config);
        return;
      case "same":
        if (wasStale)
          log.info({ configMap: name }, "the ConfigMap holds the config in force again");
        return;
      case "refused":
        log.error(
          { configMap: name, errors: step.errors, inForce: keeper.config !== null },
          keeper.config === null
            ? "config refused; no config is in force yet, so nothing is assigned or announced"
            : cm === undefined
              ? "ConfigMap deleted: keeping the last good config (to remove every pool, set address-pools: [])"
              : "config refused; the last good config stays in force",
        );
        opts.onRefused?.(cm, keeper.stale ?? "");
        return;
    }
  };
  const watch = watchResource<V1ConfigMap>({
    client: opts.client,
    path: resourcePath(RESOURCES.configMaps, { namespace }),
    fieldSelector: `metadata.name=${name}`,
    handlers: { add: observe, update: observe, delete: () => observe(undefined) },
    log,
    what: "configmap",
  });
  return {
    current: () => keeper.config,
    stale: () => keeper.stale,
    loaded,
    synced: watch.synced,
    stop: () => watch.stop(),
  };
}
