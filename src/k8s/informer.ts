import type { IncomingMessage } from "node:http";
import type { KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { ApiError, type KubeClient, type Query } from "./api.js";
import { LineSplitter, eventResourceVersion, parseWatchEvent } from "./watch-stream.js";
import { sleep } from "../util/wait.js";

/**
 * A list+watch cache of one resource that keeps going: list (in pages), then watch from the
 * list's resourceVersion with bookmarks; when the watch ends, watch again from the last
 * resourceVersion seen; on 410 Gone (the version is too old) list again, telling the
 * handlers what changed meanwhile (deletes for vanished objects, adds and updates); on any
 * other error retry with a capped backoff (1 s to 30 s). A watch that sends nothing, not even
 * the server's own end, for longer than it should is treated as a dead connection.
 */

export interface ResourceHandlers<T> {
  add?: (obj: T) => void;
  update?: (obj: T) => void;
  delete?: (obj: T) => void;
}

export interface ObjectCache<T> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): T[];
}

export interface WatchedResource<T> {
  readonly cache: ObjectCache<T>;
  /** Resolves once the first list has filled the cache. */
  readonly synced: Promise<void>;
  stop(): Promise<void>;
}

export interface WatchResourceOptions<T> {
  client: KubeClient;
  /** The collection, e.g. /api/v1/services (see `resourcePath`). */
  path: string;
  fieldSelector?: string;
  labelSelector?: string;
  handlers: ResourceHandlers<T>;
  log: Logger;
  what: string;
  /** Asked of the server per watch request; default 60-90 s (spread so watches do not align). */
  timeoutSeconds?: number;
  /** A watch silent for this long is dropped; default timeoutSeconds + 30 s. */
  idleTimeoutMs?: number;
  /** Objects per list page; default 500. */
  pageSize?: number;
  /**
   * Applied to every object as it arrives (list, watch, delete), before the cache keeps it and
   * the handlers see it: a reader that needs few fields keeps only those (a real Node object
   * carries its image list, a Service its last-applied annotation). It must keep
   * metadata.name, namespace and resourceVersion. Default: drop metadata.managedFields.
   */
  transform?: (obj: T) => T;
}

const MIN_DELAY_MS = 1_000;
const MAX_DELAY_MS = 30_000;

/** Thrown inside the loop to ask for a relist (410 Gone). */
class Gone extends Error {}

export function watchResource<T extends KubernetesObject>(
  opts: WatchResourceOptions<T>,
): WatchedResource<T> {
  const { client, log, what, handlers } = opts;
  const timeoutSeconds = opts.timeoutSeconds ?? 60 + Math.floor(Math.random() * 30);
  const idleTimeoutMs = opts.idleTimeoutMs ?? (timeoutSeconds + 30) * 1_000;
  const pageSize = opts.pageSize ?? 500;
  const selectors: Query = {
    fieldSelector: opts.fieldSelector,
    labelSelector: opts.labelSelector,
  };
  let objects = new Map<string, T>();
  const abort = new AbortController();
  let resolveSynced: () => void = () => undefined;
  const synced = new Promise<void>((resolve) => (resolveSynced = resolve));

  const keyOf = (obj: T) => `${obj.metadata?.namespace ?? ""}/${obj.metadata?.name ?? ""}`;
  const slim = opts.transform ?? dropManagedFields;
  const upsert = (received: T) => {
    const obj = slim(received);
    const key = keyOf(obj);
    const old = objects.get(key);
    objects.set(key, obj);
    if (old === undefined) handlers.add?.(obj);
    else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion)
      handlers.update?.(obj);
  };

  /** Lists every page; swaps the cache and tells the handlers what changed. Returns the RV. */
  async function relist(): Promise<string> {
    const fresh: T[] = [];
    let cont: string | undefined;
    let rv: string;
    do {
      const page = await client.request<{
        metadata?: { resourceVersion?: string; continue?: string };
        items?: T[];
      }>("GET", opts.path, {
        query: { ...selectors, limit: pageSize, continue: cont },
        signal: abort.signal,
        timeoutMs: 60_000,
      });
      for (const item of page.items ?? []) fresh.push(slim(item));
      rv = page.metadata?.resourceVersion ?? "";
      cont = page.metadata?.continue || undefined;
    } while (cont !== undefined);
    const old = objects;
    objects = new Map();
    for (const obj of fresh) {
      const key = keyOf(obj);
      const prev = old.get(key);
      old.delete(key);
      objects.set(key, obj);
      if (prev === undefined) handlers.add?.(obj);
      else if (prev.metadata?.resourceVersion !== obj.metadata?.resourceVersion) {
        handlers.update?.(obj);
      }
    }
    for (const gone of old.values()) handlers.delete?.(gone);
    return rv;
  }

  /** Where the next watch resumes: the last resourceVersion seen; undefined means list. */
  let resumeFrom: string | undefined;
  /** 410s with no event between them: the second and later relist only after a backoff. */
  let goneInARow = 0;

  /** One watch request from `rv`, until the server ends it or it fails. */
  async function watchOnce(rv: string, connected: () => void): Promise<void> {
    const res = await client.stream(
      opts.path,
      {
        ...selectors,
        watch: 1,
        resourceVersion: rv,
        allowWatchBookmarks: true,
        timeoutSeconds,
      },
      abort.signal,
    );
    connected();
    return consume(res);
  }

  function consume(res: IncomingMessage): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const lines = new LineSplitter();
      let finished = false;
      const finish = (err?: unknown) => {
        if (finished) return;
        finished = true;
        clearTimeout(idle);
        res.destroy();
        if (err === undefined) resolve();
        else reject(err instanceof Error ? err : new Error("watch failed", { cause: err }));
      };
      let idle = setTimeout(onIdle, idleTimeoutMs);
      function onIdle() {
        finish(new Error(`watch sent nothing for ${idleTimeoutMs} ms; reconnecting`));
      }
      res.on("data", (chunk: Buffer) => {
        clearTimeout(idle);
        idle = setTimeout(onIdle, idleTimeoutMs);
        try {
          for (const line of lines.push(chunk)) {
            const ev = parseWatchEvent<T>(line);
            switch (ev.type) {
              case "ADDED":
              case "MODIFIED":
                upsert(ev.object);
                break;
              case "DELETED": {
                const obj = slim(ev.object);
                objects.delete(keyOf(obj));
                handlers.delete?.(obj);
                break;
              }
              case "BOOKMARK":
                break;
              case "ERROR": {
                const s = ev.object;
                if (s.code === 410) throw new Gone(s.message ?? "resource version too old");
                throw new ApiError(
                  `watch ${opts.path}: ${s.code ?? 0} ${s.reason ?? ""}: ${s.message ?? ""}`,
                  s.code ?? 0,
                  s.reason ?? "",
                  s,
                );
              }
            }
            // Kept even if the watch fails later: the next one resumes from here.
            resumeFrom = eventResourceVersion(ev) ?? resumeFrom;
            goneInARow = 0;
          }
        } catch (e: unknown) {
          finish(e);
        }
      });
      res.on("end", () => finish());
      res.on("error", (e: unknown) => finish(e));
      res.on("close", () => {
        if (abort.signal.aborted) finish(new Error("stopped"));
        else finish(new Error("watch connection closed before the end of the stream"));
      });
    });
  }

  // Read afresh each time (it changes across awaits, which control-flow narrowing ignores).
  const stopped = () => abort.signal.aborted;
  const loop = (async () => {
    let delay = MIN_DELAY_MS;
    while (!abort.signal.aborted) {
      try {
        if (resumeFrom === undefined) {
          resumeFrom = await relist();
          delay = MIN_DELAY_MS;
          resolveSynced();
        }
        await watchOnce(resumeFrom, () => (delay = MIN_DELAY_MS));
        // The server ended the watch (timeoutSeconds): watch again at once.
      } catch (e: unknown) {
        if (stopped()) break;
        if (e instanceof Gone || (e instanceof ApiError && e.code === 410)) {
          log.info({ resource: what }, "watch expired (410 Gone); listing again");
          resumeFrom = undefined;
          if (++goneInARow === 1) continue;
        } else {
          log.warn(
            { err: e, resource: what, retryInMs: delay },
            resumeFrom === undefined ? "list failed; retrying" : "watch failed; restarting",
          );
        }
        await sleep(delay, abort.signal);
        delay = Math.min(delay * 2, MAX_DELAY_MS);
      }
    }
  })();

  return {
    cache: {
      get: (name, namespace) => objects.get(`${namespace ?? ""}/${name}`),
      list: (namespace) => {
        const all = [...objects.values()];
        return namespace === undefined
          ? all
          : all.filter((o) => o.metadata?.namespace === namespace);
      },
    },
    synced,
    async stop() {
      abort.abort();
      await loop;
    },
  };
}

/**
 * The cache keeps the very objects it hands out: dropping managedFields (barelb never reads
 * them, and they are often larger than the rest of a Service) shrinks it.
 */
export function dropManagedFields<T extends KubernetesObject>(obj: T): T {
  if (obj.metadata?.managedFields !== undefined) delete obj.metadata.managedFields;
  return obj;
}
