import { describe, expect, it } from "vitest";
import { WorkQueue, type Outcome } from "../../../src/util/workqueue.js";

const tick = () => new Promise((r) => setTimeout(r, 1));

async function drain<K>(q: WorkQueue<K>, stop: AbortController) {
  for (let i = 0; i < 500 && !q.idle; i++) await tick();
  stop.abort();
}

describe("work queue", () => {
  it("processes keys in order, each once even when added repeatedly while queued", async () => {
    const q = new WorkQueue<string>();
    const seen: string[] = [];
    for (const k of ["a", "b", "a", "c", "b"]) q.add(k);
    const stop = new AbortController();
    const run = q.run(stop.signal, (k) => {
      seen.push(k);
      return Promise.resolve<Outcome>("ok");
    });
    await drain(q, stop);
    await run;
    expect(seen).toEqual(["a", "b", "c"]);
  });

  it("runs up to `workers` handlers at once, never two for one key, and re-runs a key changed meanwhile", async () => {
    const q = new WorkQueue<string>({ workers: 3 });
    let active = 0;
    let maxActive = 0;
    const activeKeys = new Set<string>();
    const runs: string[] = [];
    const stop = new AbortController();
    const run = q.run(stop.signal, async (k) => {
      expect(activeKeys.has(k)).toBe(false);
      activeKeys.add(k);
      active++;
      maxActive = Math.max(maxActive, active);
      runs.push(k);
      if (k === "a" && runs.filter((x) => x === "a").length === 1) q.add("a"); // changed mid-flight
      await tick();
      await tick();
      active--;
      activeKeys.delete(k);
      return "ok";
    });
    for (const k of ["a", "b", "c", "d", "e", "f"]) q.add(k);
    await drain(q, stop);
    await run;
    expect(maxActive).toBe(3);
    expect(runs.filter((k) => k === "a")).toHaveLength(2);
    expect(runs.slice().sort()).toEqual(["a", "a", "b", "c", "d", "e", "f"]);
  });

  it("retries a failing key with backoff, and counts a thrown error as a retry", async () => {
    const q = new WorkQueue<string>({ baseDelayMs: 5, maxDelayMs: 20 });
    const attempts: number[] = [];
    const errors: unknown[] = [];
    const stop = new AbortController();
    const run = q.run(
      stop.signal,
      () => {
        attempts.push(Date.now());
        if (attempts.length === 1) throw new Error("API down");
        return Promise.resolve<Outcome>(attempts.length < 4 ? "retry" : "ok");
      },
      (_k, e) => errors.push(e),
    );
    q.add("x");
    await drain(q, stop);
    await run;
    expect(attempts).toHaveLength(4);
    expect(errors).toHaveLength(1);
    expect(q.idle).toBe(true);
  });

  it("stops when aborted, even while idle", async () => {
    const q = new WorkQueue<string>();
    const stop = new AbortController();
    const run = q.run(stop.signal, () => Promise.resolve<Outcome>("ok"));
    stop.abort();
    await expect(run).resolves.toBeUndefined();
  });

  it("adds a key after a delay, and an add before then replaces the timer", async () => {
    const q = new WorkQueue<string>();
    const seen: string[] = [];
    const stop = new AbortController();
    const run = q.run(stop.signal, (k) => {
      seen.push(k);
      return Promise.resolve<Outcome>("ok");
    });
    q.addAfter("later", 30);
    q.addAfter("sooner", 60_000);
    expect(q.idle).toBe(false);
    q.add("sooner");
    await tick();
    expect(seen).toEqual(["sooner"]);
    await drain(q, stop);
    await run;
    expect(seen).toEqual(["sooner", "later"]);
  });
});
