import type { Logger } from "pino";
import type { EventSink, EventTarget } from "../k8s/events.js";
import {
  formatNodeWarnings,
  NODE_WARNING_KINDS,
  nodeWarnings,
  type HostFacts,
  type NodeWarning,
  type NodeWarningKind,
} from "./node-warnings.js";

/**
 * Runs the node checks (node-warnings.ts) every `intervalMs` and when asked (the interfaces
 * changed), and reports what they find: the gauge per kind on every check, the Lease
 * annotation (written with the Lease's next renewal, never on its own), and for a warning not
 * said yet a log line and a Warning Event on the Node. A warning still there is said again
 * every `sayAgainMs`, before its Event expires (the API server keeps Events one hour by
 * default); a warning gone is logged as cleared.
 */

export interface NodeWarnerOptions {
  /** Reads the host (node-facts.ts); a failure keeps the last findings. */
  read: () => Promise<HostFacts>;
  intervalMs: number;
  events: EventSink;
  /** The Node the Events are about. */
  node: EventTarget;
  gauge: (kind: NodeWarningKind, value: number) => void;
  /** Publishes the annotation's value (OwnLease.annotate: sent with the next renewal). */
  publish: (value: string) => void;
  log: Logger;
  sayAgainMs?: number;
  now?: () => number;
}

export class NodeWarner {
  private found: readonly NodeWarning[] = [];
  /** When each warning (kind and message) was last said. */
  private said = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** Bumped by every check asked for; a check that started before the last bump runs again. */
  private requested = 0;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly opts: NodeWarnerOptions) {
    this.now = opts.now ?? (() => performance.now());
  }

  /** Checks now, then every interval. */
  start(): void {
    void this.check();
  }

  /** The warnings of the last check. */
  current(): readonly NodeWarning[] {
    return this.found;
  }

  /** Checks now (once more after a check in flight); resolves when done. */
  check(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.requested++;
    if (this.running !== undefined) return this.running;
    clearTimeout(this.timer);
    this.running = (async () => {
      let done = -1;
      while (done !== this.requested && !this.stopped) {
        done = this.requested;
        await this.checkOnce();
      }
    })().finally(() => {
      this.running = undefined;
      if (!this.stopped) {
        this.timer = setTimeout(() => void this.check(), Math.max(100, this.opts.intervalMs));
        this.timer.unref();
      }
    });
    return this.running;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async checkOnce(): Promise<void> {
    const { log } = this.opts;
    let facts: HostFacts;
    try {
      facts = await this.opts.read();
    } catch (e: unknown) {
      log.warn({ err: e }, "cannot check this node's setup");
      return;
    }
    if (this.stopped) return;
    const found = nodeWarnings(facts);
    for (const kind of NODE_WARNING_KINDS) {
      this.opts.gauge(kind, found.some((w) => w.kind === kind) ? 1 : 0);
    }
    this.opts.publish(formatNodeWarnings(found));
    const now = this.now();
    const sayAgainMs = this.opts.sayAgainMs ?? 50 * 60_000;
    const said = new Map<string, number>();
    for (const w of found) {
      const key = `${w.kind}\n${w.message}`;
      const last = this.said.get(key);
      if (last === undefined || now - last >= sayAgainMs) {
        log.warn({ kind: w.kind, warning: w.message }, "node warning");
        this.opts.events.emit(this.opts.node, "Warning", w.kind, w.message);
        said.set(key, now);
      } else {
        said.set(key, last);
      }
    }
    for (const w of this.found) {
      if (!found.some((f) => f.kind === w.kind)) log.info({ kind: w.kind }, "node warning cleared");
    }
    this.said = said;
    this.found = found;
  }
}
