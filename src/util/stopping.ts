import type { Logger } from "pino";

/**
 * A bounded graceful stop. Each step of a program's stop (release a Lease, write the last
 * Events, close the watches) gets a time limit and a signal that aborts when it runs out, so
 * an API server that has gone silent cannot hold the process: the step is given up, logged,
 * and the stop goes on. The steps still running are named for the last log line if even
 * that is not enough (runProgram's overall deadline).
 */
export class StopSteps {
  private readonly running = new Map<number, string>();
  private next = 0;

  constructor(private readonly log: Logger) {}

  /**
   * Runs `step` for at most `timeoutMs`: true if it finished in time (a failure is logged and
   * counts as finished), false if it was given up, its signal aborted.
   */
  async run(
    what: string,
    timeoutMs: number,
    step: (signal: AbortSignal) => unknown,
  ): Promise<boolean> {
    const id = this.next++;
    this.running.set(id, what);
    const limit = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => {
      timer = setTimeout(() => {
        limit.abort(new Error(`${what}: gave up after ${timeoutMs} ms`));
        resolve(false);
      }, timeoutMs);
    });
    try {
      let started: unknown;
      try {
        started = step(limit.signal);
      } catch (e: unknown) {
        started = Promise.reject(e instanceof Error ? e : new Error(String(e)));
      }
      const done = Promise.resolve(started).then(
        () => true as const,
        (e: unknown) => {
          if (!limit.signal.aborted) this.log.warn({ err: e, step: what }, "stop step failed");
          return true as const;
        },
      );
      const finished = await Promise.race([done, late]);
      if (!finished) this.log.warn({ step: what, timeoutMs }, "stop step given up");
      return finished;
    } finally {
      clearTimeout(timer);
      this.running.delete(id);
    }
  }

  /** The steps started and not yet finished or given up, oldest first. */
  waitingFor(): string[] {
    return [...this.running.values()];
  }
}

/** A signal that aborts `ms` after `signal` does: how long work in flight may go on once told to stop. */
export function abortAfter(signal: AbortSignal, ms: number): AbortSignal {
  const later = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const start = () => {
    timer = setTimeout(() => later.abort(signal.reason), ms);
    timer.unref();
  };
  if (signal.aborted) start();
  else signal.addEventListener("abort", start, { once: true });
  later.signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
  return later.signal;
}

/** Resolves when `signal` aborts (at once if it has). */
export function whenAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
