import type { Logger } from "pino";
import { ApiError, RESOURCES, resourcePath, type KubeClient } from "../k8s/api.js";
import { WorkQueue, type Outcome } from "../util/workqueue.js";
import type { ConditionApply } from "./announced-condition.js";

/**
 * Sends the speaker's "announced" conditions (see announced-condition.ts): one server-side
 * apply per Service and family, a few at once, retried with backoff while the API server
 * fails. Only the latest apply of a Service and family is sent, and only while it is still
 * true (`current`, asked just before sending): a node that lost the IP meanwhile leaves it to
 * the new owner.
 */
export class ConditionWriter {
  /** Applies sent, for tests and the API-load benchmark. */
  writes = 0;
  private readonly pending = new Map<string, ConditionApply>();
  private readonly queue = new WorkQueue<string>({
    workers: 4,
    baseDelayMs: 500,
    maxDelayMs: 30_000,
  });

  constructor(
    private readonly client: KubeClient,
    private readonly current: (apply: ConditionApply) => boolean,
    private readonly log: Logger,
  ) {}

  add(applies: readonly ConditionApply[]): void {
    for (const a of applies) {
      const key = `${a.namespace}/${a.name}/${a.family}`;
      this.pending.set(key, a);
      this.queue.add(key);
    }
  }

  /** Sends until `stop` is aborted; what is still queued then is dropped. */
  run(stop: AbortSignal): Promise<void> {
    return this.queue.run(
      stop,
      (key) => this.send(key),
      (key, e) =>
        this.log.warn({ err: e, service: key }, "could not write the announced condition"),
    );
  }

  private async send(key: string): Promise<Outcome> {
    const a = this.pending.get(key);
    if (a === undefined) return "ok";
    if (!this.current(a)) {
      this.pending.delete(key);
      return "ok";
    }
    const path = resourcePath(RESOURCES.services, {
      namespace: a.namespace,
      name: a.name,
      subresource: "status",
    });
    this.writes++;
    try {
      await this.client.apply(path, a.body, a.fieldManager, { force: true });
    } catch (e: unknown) {
      // Gone, or refused for good (no RBAC, invalid): nothing a retry would change.
      if (
        e instanceof ApiError &&
        e.code >= 400 &&
        e.code < 500 &&
        e.code !== 409 &&
        e.code !== 429
      ) {
        if (this.pending.get(key) === a) this.pending.delete(key);
        if (e.code !== 404)
          this.log.warn({ err: e, service: key }, "could not write the announced condition");
        return "ok";
      }
      throw e;
    }
    // A newer apply queued meanwhile is sent by the queue's next round (the key is dirty).
    if (this.pending.get(key) === a) this.pending.delete(key);
    return "ok";
  }
}
