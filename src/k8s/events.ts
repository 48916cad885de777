import type { Logger } from "pino";
import { RESOURCES, resourcePath, type KubeClient } from "./api.js";

/**
 * Writes core/v1 Events, the way `kubectl describe` shows why a Service is pending or where
 * its IP is announced. An Event that repeats the previous one for the same object, reason
 * and message within `repeatWindowMs` is not written again (the log still has it), so a
 * Service retried in a loop cannot flood the API server.
 */

export interface EventTarget {
  kind: string;
  apiVersion: string;
  /** "" for a cluster-scoped object (a Node). */
  namespace: string;
  name: string;
  uid?: string | undefined;
  resourceVersion?: string | undefined;
}

export type EventType = "Normal" | "Warning";

export interface EventSink {
  emit(target: EventTarget, type: EventType, reason: string, message: string): void;
}

export class EventRecorder implements EventSink {
  /**
   * The last Event per object and reason: hashes of the key and the message, not the strings
   * (a speaker taking over thousands of IPs writes an Event for each).
   */
  private readonly last = new Map<number, { message: number; at: number }>();
  /** Events waiting to be written; up to `maxInFlight` are written at once. */
  private readonly waiting: (() => Promise<void>)[] = [];
  private inFlight = 0;
  private readonly maxInFlight = 8;
  private drained: (() => void)[] = [];
  /** Aborts the writes in flight when a bounded flush gives up. */
  private readonly abandon = new AbortController();

  constructor(
    private readonly client: KubeClient,
    private readonly component: string,
    private readonly instance: string,
    private readonly log: Logger,
    private readonly repeatWindowMs = 10 * 60_000,
  ) {}

  emit(target: EventTarget, type: EventType, reason: string, message: string): void {
    const key = hash53(`${target.namespace}/${target.name}/${target.uid ?? ""}/${reason}`);
    const said = hash53(message);
    const now = Date.now();
    const prev = this.last.get(key);
    if (prev !== undefined && prev.message === said && now - prev.at < this.repeatWindowMs) return;
    // Oldest first: an entry is moved to the end when renewed, so expired ones are at the front.
    this.last.delete(key);
    this.last.set(key, { message: said, at: now });
    for (const [k, v] of this.last) {
      if (now - v.at < this.repeatWindowMs && this.last.size <= 10_000) break;
      this.last.delete(k);
    }
    if (this.abandon.signal.aborted) return;
    // Written off the caller's path, a few at a time; failures are logged only.
    this.waiting.push(() => this.write(target, type, reason, message));
    this.pump();
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight) {
      const next = this.waiting.shift();
      if (next === undefined) break;
      this.inFlight++;
      void next().finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
    if (this.inFlight === 0 && this.waiting.length === 0) {
      for (const resolve of this.drained.splice(0)) resolve();
    }
  }

  /**
   * Resolves when every Event emitted so far has been written (or has failed), or when
   * `signal` aborts: then the Events not yet written are dropped (and counted in the log),
   * the writes in flight aborted, and nothing is written any more (a stop that cannot wait).
   */
  flush(signal?: AbortSignal): Promise<void> {
    if (this.inFlight === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.drained.push(() => {
        signal?.removeEventListener("abort", giveUp);
        resolve();
      });
      const giveUp = () => {
        const dropped = this.waiting.length + this.inFlight;
        this.waiting.length = 0;
        this.abandon.abort();
        if (dropped > 0) this.log.warn({ events: dropped }, "gave up writing Events");
        resolve();
      };
      if (signal?.aborted === true) giveUp();
      else signal?.addEventListener("abort", giveUp, { once: true });
    });
  }

  private async write(target: EventTarget, type: EventType, reason: string, message: string) {
    const ts = new Date().toISOString();
    const { signal } = this.abandon;
    // A cluster-scoped object's (a Node's) Events live in "default", as the kubelet's do.
    const namespace = target.namespace === "" ? "default" : target.namespace;
    try {
      await this.client.create(
        resourcePath(RESOURCES.events, { namespace }),
        {
          apiVersion: "v1",
          kind: "Event",
          metadata: { generateName: `${target.name}.`, namespace },
          involvedObject: {
            kind: target.kind,
            apiVersion: target.apiVersion,
            namespace: target.namespace,
            name: target.name,
            uid: target.uid,
            resourceVersion: target.resourceVersion,
          },
          type,
          reason,
          message,
          count: 1,
          firstTimestamp: ts,
          lastTimestamp: ts,
          source: { component: this.component, host: this.instance },
          reportingComponent: this.component,
          reportingInstance: this.instance,
        },
        { signal },
      );
    } catch (e: unknown) {
      if (signal.aborted) return; // counted by the flush that gave up
      this.log.warn(
        { err: e, reason, object: `${target.namespace}/${target.name}` },
        "cannot write Event",
      );
    }
  }
}

/**
 * A 53-bit hash of a string (two 32-bit FNV-1a passes with different offsets): exact as a
 * JS number, and with at most 10,000 entries alive a collision is about a 1 in 10^12 chance.
 */
export function hash53(text: string): number {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return (a >>> 0) * 0x200000 + ((b >>> 0) >>> 11);
}
