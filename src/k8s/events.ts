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
  private readonly last = new Map<string, { message: string; at: number }>();
  /** Events waiting to be written; up to `maxInFlight` are written at once. */
  private readonly waiting: (() => Promise<void>)[] = [];
  private inFlight = 0;
  private readonly maxInFlight = 8;
  private drained: (() => void)[] = [];

  constructor(
    private readonly client: KubeClient,
    private readonly component: string,
    private readonly instance: string,
    private readonly log: Logger,
    private readonly repeatWindowMs = 10 * 60_000,
  ) {}

  emit(target: EventTarget, type: EventType, reason: string, message: string): void {
    const key = `${target.namespace}/${target.name}/${target.uid ?? ""}/${reason}`;
    const now = Date.now();
    const prev = this.last.get(key);
    if (prev !== undefined && prev.message === message && now - prev.at < this.repeatWindowMs)
      return;
    // Oldest first: an entry is moved to the end when renewed, so expired ones are at the front.
    this.last.delete(key);
    this.last.set(key, { message, at: now });
    for (const [k, v] of this.last) {
      if (now - v.at < this.repeatWindowMs && this.last.size <= 10_000) break;
      this.last.delete(k);
    }
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

  /** Resolves when every Event emitted so far has been written (or has failed). */
  flush(): Promise<void> {
    if (this.inFlight === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  private async write(target: EventTarget, type: EventType, reason: string, message: string) {
    const ts = new Date().toISOString();
    try {
      await this.client.create(resourcePath(RESOURCES.events, { namespace: target.namespace }), {
        apiVersion: "v1",
        kind: "Event",
        metadata: { generateName: `${target.name}.`, namespace: target.namespace },
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
      });
    } catch (e: unknown) {
      this.log.warn(
        { err: e, reason, object: `${target.namespace}/${target.name}` },
        "cannot write Event",
      );
    }
  }
}
