import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { GratuitousAnnouncer } from "../../../src/dataplane/announcer.js";

describe("GratuitousAnnouncer", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const setup = () => {
    const sent: [string, number][] = [];
    const a = new GratuitousAnnouncer((ip) => sent.push([ip, Date.now()]), {
      intervalMs: 1100,
      count: 5,
    });
    return { a, sent, t0: Date.now() };
  };

  it("sends at once, then every 1.1 s, five times in all", () => {
    const { a, sent, t0 } = setup();
    a.announce("192.0.2.40");
    expect(sent).toEqual([["192.0.2.40", t0]]);
    vi.advanceTimersByTime(10_000);
    expect(sent.map(([, t]) => t - t0)).toEqual([0, 1100, 2200, 3300, 4400]);
    expect(a.active()).toEqual([]);
  });

  it("stops at once when cancelled", () => {
    const { a, sent } = setup();
    a.announce("192.0.2.40");
    vi.advanceTimersByTime(1200);
    a.cancel("192.0.2.40");
    vi.advanceTimersByTime(10_000);
    expect(sent.length).toBe(2);
  });

  it("starts over when announced again, and keeps IPs apart", () => {
    const { a, sent, t0 } = setup();
    a.announce("192.0.2.40");
    vi.advanceTimersByTime(2000);
    a.announce("192.0.2.40");
    a.announce("192.0.2.41");
    expect(a.active().sort()).toEqual(["192.0.2.40", "192.0.2.41"]);
    vi.advanceTimersByTime(10_000);
    const times40 = sent.filter(([ip]) => ip === "192.0.2.40").map(([, t]) => t - t0);
    expect(times40).toEqual([0, 1100, 2000, 3100, 4200, 5300, 6400]);
    expect(sent.filter(([ip]) => ip === "192.0.2.41").length).toBe(5);
  });

  it("rejects a schedule that would never send", () => {
    expect(() => new GratuitousAnnouncer(() => undefined, { intervalMs: 0, count: 5 })).toThrow(
      RangeError,
    );
    expect(() => new GratuitousAnnouncer(() => undefined, { intervalMs: 1000, count: 0 })).toThrow(
      RangeError,
    );
  });
});
