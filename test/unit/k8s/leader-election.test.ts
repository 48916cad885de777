import { describe, expect, it } from "vitest";
import { decide, type LeaseRecord, type Observation } from "../../../src/k8s/leader-election.js";

// Expiry is judged on the candidate's own clock, from when it first saw the current record,
// never from the timestamps the holder wrote: a holder whose clock runs fast or slow cannot
// make others take over early or late.

const rec = (holder: string, renewTime: string, leaseDurationSeconds = 15): LeaseRecord => ({
  holder,
  renewTime,
  leaseDurationSeconds,
  transitions: 0,
});

describe("leader election decision", () => {
  it("creates the Lease when there is none", () => {
    expect(decide("a", null, null, 0).decision).toEqual({ kind: "create" });
  });

  it("renews its own Lease", () => {
    expect(decide("a", rec("a", "t1"), null, 0).decision).toEqual({ kind: "renew" });
  });

  it("takes over a released Lease (empty holder) at once", () => {
    expect(decide("b", rec("", "t1"), null, 0).decision).toEqual({ kind: "takeover" });
  });

  it("waits a full lease duration from first sight, whatever the holder's clock says", () => {
    // The record says it was renewed long ago (skewed clock): still wait 15 s from now.
    const first = decide("b", rec("a", "1999-01-01T00:00:00.000000Z"), null, 1_000);
    expect(first.decision).toEqual({ kind: "wait", holder: "a", expiresInMs: 15_000 });
    const later = decide("b", rec("a", "1999-01-01T00:00:00.000000Z"), first.observation, 15_999);
    expect(later.decision).toEqual({ kind: "wait", holder: "a", expiresInMs: 1 });
    expect(
      decide("b", rec("a", "1999-01-01T00:00:00.000000Z"), later.observation, 16_000).decision,
    ).toEqual({
      kind: "takeover",
    });
  });

  it("restarts the wait whenever the holder renews", () => {
    let obs: Observation | null = null;
    let now = 0;
    for (const t of ["t1", "t2", "t3", "t4"]) {
      const r = decide("b", rec("a", t, 2), obs, now);
      expect(r.decision.kind).toBe("wait");
      obs = r.observation;
      now += 1_500; // renewed every 1.5 s, under the 2 s duration: never expires
    }
    expect(decide("b", rec("a", "t4", 2), obs, now + 499).decision.kind).toBe("wait");
    expect(decide("b", rec("a", "t4", 2), obs, now + 500).decision.kind).toBe("takeover");
  });

  it("treats a new holder as a new record", () => {
    const first = decide("c", rec("a", "t1", 10), null, 0);
    const changed = decide("c", rec("b", "t1", 10), first.observation, 9_000);
    expect(changed.decision).toEqual({ kind: "wait", holder: "b", expiresInMs: 10_000 });
  });
});
