/**
 * A queue of keys to process in the order they became dirty, by up to `workers` handlers at
 * once, never two for the same key. A key added while queued is not queued twice; a key
 * added while being processed is processed again afterwards (it changed meanwhile). A
 * handler returns an outcome; "retry" requeues the key after an exponential backoff, "ok"
 * forgets its failures.
 */

export type Outcome = "ok" | "retry";

export interface WorkQueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Handlers running at once (default 1). */
  workers?: number;
}

export class WorkQueue<K> {
  private readonly order: K[] = [];
  private readonly queued = new Set<K>();
  private readonly failures = new Map<K, number>();
  private readonly timers = new Map<K, NodeJS.Timeout>();
  private readonly processing = new Set<K>();
  /** Keys added while being processed: queued again when their handler finishes. */
  private readonly dirtyWhileProcessing = new Set<K>();
  private wake: (() => void) | undefined;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly workers: number;

  constructor(opts: WorkQueueOptions = {}) {
    this.baseDelayMs = opts.baseDelayMs ?? 100;
    this.maxDelayMs = opts.maxDelayMs ?? 60_000;
    this.workers = Math.max(1, opts.workers ?? 1);
  }

  add(key: K): void {
    const timer = this.timers.get(key);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.timers.delete(key);
    }
    if (this.processing.has(key)) {
      this.dirtyWhileProcessing.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.order.push(key);
    this.wake?.();
  }

  /** Adds the key after `ms` (unless it is added sooner); a later call replaces the timer. */
  addAfter(key: K, ms: number): void {
    const timer = this.timers.get(key);
    if (timer !== undefined) clearTimeout(timer);
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    t.unref();
    this.timers.set(key, t);
  }

  get length(): number {
    return this.order.length;
  }

  /** True when nothing is queued, waiting for a retry, or being processed. */
  get idle(): boolean {
    return this.order.length === 0 && this.timers.size === 0 && this.processing.size === 0;
  }

  /** Processes keys until `stop` is aborted. Handler exceptions count as "retry". */
  async run(
    stop: AbortSignal,
    handle: (key: K) => Promise<Outcome>,
    onError?: (key: K, e: unknown) => void,
  ) {
    const running = new Set<Promise<void>>();
    const onAbort = () => this.wake?.();
    stop.addEventListener("abort", onAbort);
    const process = async (key: K) => {
      let outcome: Outcome;
      try {
        outcome = await handle(key);
      } catch (e: unknown) {
        onError?.(key, e);
        outcome = "retry";
      }
      this.processing.delete(key);
      if (outcome === "ok") this.failures.delete(key);
      else this.retryLater(key);
      if (this.dirtyWhileProcessing.delete(key)) this.add(key);
    };
    try {
      while (!stop.aborted) {
        const key = running.size < this.workers ? this.order.shift() : undefined;
        if (key === undefined) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          this.wake = undefined;
          continue;
        }
        this.queued.delete(key);
        this.processing.add(key);
        // Free the worker slot first, then wake the loop to fill it.
        const p = process(key).finally(() => {
          running.delete(p);
          this.wake?.();
        });
        running.add(p);
      }
      await Promise.all(running);
    } finally {
      stop.removeEventListener("abort", onAbort);
      for (const t of this.timers.values()) clearTimeout(t);
      this.timers.clear();
    }
  }

  private retryLater(key: K): void {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    const delay = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (n - 1));
    if (this.queued.has(key) || this.timers.has(key)) return;
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delay);
    timer.unref();
    this.timers.set(key, timer);
  }
}
