import {
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesObject,
  type ListPromise,
  type ObjectCache,
} from "@kubernetes/client-node";
import type { Logger } from "pino";

/**
 * A list+watch cache of one resource that keeps going. @kubernetes/client-node 2.x informers
 * stop on any error other than 410 Gone; this restarts them with a capped backoff (1 s to
 * 30 s), resuming from the last resourceVersion, until `stop()`.
 */

export interface ResourceHandlers<T> {
  add?: (obj: T) => void;
  update?: (obj: T) => void;
  delete?: (obj: T) => void;
}

export interface WatchedResource<T> {
  readonly cache: ObjectCache<T>;
  /** Resolves once the first list has filled the cache. */
  readonly synced: Promise<void>;
  stop(): Promise<void>;
}

export function watchResource<T extends KubernetesObject>(opts: {
  kubeConfig: KubeConfig;
  /** e.g. /api/v1/services */
  path: string;
  list: ListPromise<T>;
  fieldSelector?: string;
  labelSelector?: string;
  handlers: ResourceHandlers<T>;
  log: Logger;
  what: string;
}): WatchedResource<T> {
  const { log, what } = opts;
  const lw = new ListWatch<T>(
    opts.path,
    new Watch(opts.kubeConfig),
    opts.list,
    false,
    opts.labelSelector,
    opts.fieldSelector,
  );
  let stopped = false;
  let delay = 1_000;
  let timer: NodeJS.Timeout | undefined;
  // The cache keeps the very objects it hands out: dropping managedFields here (barelb never
  // reads them, and they are often larger than the rest of a Service) shrinks the cache.
  const slim =
    (handler: ((obj: T) => void) | undefined) =>
    (obj: T): void => {
      if (obj.metadata?.managedFields !== undefined) delete obj.metadata.managedFields;
      handler?.(obj);
    };
  lw.on("add", slim(opts.handlers.add));
  lw.on("update", slim(opts.handlers.update));
  if (opts.handlers.delete) lw.on("delete", opts.handlers.delete);
  lw.on("connect", () => {
    delay = 1_000;
  });
  lw.on("error", (err: unknown) => {
    if (stopped) return;
    log.warn({ err, resource: what, retryInMs: delay }, "watch failed; restarting");
    timer = setTimeout(() => {
      timer = undefined;
      if (!stopped) start();
    }, delay);
    delay = Math.min(delay * 2, 30_000);
  });

  let resolveSynced: () => void = () => undefined;
  const synced = new Promise<void>((resolve) => (resolveSynced = resolve));
  function start(): void {
    lw.start().then(resolveSynced, (err: unknown) => {
      // A failed first list also lands here: retry the same way as a failed watch.
      if (stopped) return;
      log.warn({ err, resource: what, retryInMs: delay }, "list failed; retrying");
      timer = setTimeout(start, delay);
      delay = Math.min(delay * 2, 30_000);
    });
  }
  start();
  return {
    cache: lw,
    synced,
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await lw.stop();
    },
  };
}
