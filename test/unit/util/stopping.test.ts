import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { abortAfter, StopSteps, whenAborted } from "../../../src/util/stopping.js";

const log = pino({ level: "silent" });
const never = () => new Promise<never>(() => undefined);

describe("StopSteps", () => {
  it("reports a step that finishes, and one that fails, as finished", async () => {
    const steps = new StopSteps(log);
    expect(await steps.run("quick", 10_000, () => Promise.resolve(1))).toBe(true);
    expect(await steps.run("sync", 10_000, () => 1)).toBe(true);
    expect(await steps.run("failing", 10_000, () => Promise.reject(new Error("no")))).toBe(true);
    expect(
      await steps.run("throwing", 10_000, () => {
        throw new Error("no");
      }),
    ).toBe(true);
    expect(steps.waitingFor()).toEqual([]);
  });

  it("gives up a step that never ends, aborting its signal", async () => {
    const steps = new StopSteps(log);
    let seen: AbortSignal | undefined;
    const finished = await steps.run("hanging", 20, (signal) => {
      seen = signal;
      return never();
    });
    expect(finished).toBe(false);
    expect(seen?.aborted).toBe(true);
    expect(steps.waitingFor()).toEqual([]);
  });

  it("names the steps still running", async () => {
    const steps = new StopSteps(log);
    let release: () => void = () => undefined;
    const a = steps.run(
      "release the leader Lease",
      10_000,
      () => new Promise<void>((r) => (release = r)),
    );
    const b = steps.run("write the last Events", 10_000, never);
    expect(steps.waitingFor()).toEqual(["release the leader Lease", "write the last Events"]);
    release();
    expect(await a).toBe(true);
    expect(steps.waitingFor()).toEqual(["write the last Events"]);
    void b;
  });
});

describe("abortAfter", () => {
  it("aborts only after the first signal has, and then after the delay", async () => {
    const stop = new AbortController();
    const later = abortAfter(stop.signal, 20);
    await new Promise((r) => setTimeout(r, 40));
    expect(later.aborted).toBe(false);
    stop.abort();
    expect(later.aborted).toBe(false);
    await whenAborted(later);
    expect(later.aborted).toBe(true);
  });

  it("starts counting at once for a signal already aborted", async () => {
    const later = abortAfter(AbortSignal.abort(), 1);
    await whenAborted(later);
    expect(later.aborted).toBe(true);
  });
});
