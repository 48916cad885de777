import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { GratuitousAnnouncer } from "../../../src/dataplane/announcer.js";

describe("GratuitousAnnouncer", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const setup = () => {
    const sent: [string, number][] = [];
    const a = new GratuitousAnnouncer(
      (ip) => {
        sent.push([ip, Date.now()]);
        return "sent";
      },
      {
        intervalMs: 1100,
        count: 5,
      },
    );
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

  it("paces a takeover of many IPs: a batch at once, the rest in later turns, none lost", () => {
    const sent: [string, number][] = [];
    const a = new GratuitousAnnouncer(
      (ip) => {
        sent.push([ip, Date.now()]);
        return "sent";
      },
      { intervalMs: 1100, count: 3 },
      { batch: 50, retryMs: 5 },
    );
    const t0 = Date.now();
    const ips = Array.from({ length: 1000 }, (_, i) => `2001:db8::1:${i.toString(16)}`);
    for (const ip of ips) a.announce(ip);
    expect(sent.length).toBe(50);
    vi.advanceTimersByTime(0);
    expect(sent.length).toBe(100); // one more batch in the next turn, not all at once
    vi.advanceTimersByTime(10_000);
    expect(sent.length).toBe(3000);
    for (const ip of ips) {
      const times = sent.filter(([x]) => x === ip).map(([, t]) => t - t0);
      expect(times).toHaveLength(3);
      const [a0 = NaN, a1 = NaN, a2 = NaN] = times;
      expect(a1 - a0).toBeGreaterThanOrEqual(1100);
      expect(a2 - a1).toBeGreaterThanOrEqual(1100);
    }
    // First rounds in the order the IPs were announced.
    expect(sent.slice(0, 1000).map(([ip]) => ip)).toEqual(ips);
    expect(a.active()).toEqual([]);
  });

  it("sends a round again after the kernel had no room, ahead of the others", () => {
    const sent: [string, number][] = [];
    let busyLeft = 3;
    const a = new GratuitousAnnouncer(
      (ip) => {
        if (ip === "192.0.2.41" && busyLeft > 0) {
          busyLeft--;
          return "busy";
        }
        sent.push([ip, Date.now()]);
        return "sent";
      },
      { intervalMs: 1100, count: 2 },
      { batch: 10, retryMs: 5 },
    );
    const t0 = Date.now();
    a.announce("192.0.2.40");
    a.announce("192.0.2.41");
    a.announce("192.0.2.42");
    expect(sent.map(([ip]) => ip)).toEqual(["192.0.2.40"]);
    vi.advanceTimersByTime(5);
    expect(sent.map(([ip]) => ip)).toEqual(["192.0.2.40"]); // busy again at 5 ms
    vi.advanceTimersByTime(10);
    expect(sent.map(([ip, t]) => [ip, t - t0])).toEqual([
      ["192.0.2.40", 0],
      ["192.0.2.41", 15],
      ["192.0.2.42", 15],
    ]);
    vi.advanceTimersByTime(5000);
    expect(sent.filter(([ip]) => ip === "192.0.2.41").map(([, t]) => t - t0)).toEqual([15, 1115]);
    expect(sent).toHaveLength(6);
  });

  it("drops queued rounds of a cancelled IP, and of a burst that started over", () => {
    const sent: string[] = [];
    const a = new GratuitousAnnouncer(
      (ip) => {
        sent.push(ip);
        return "sent";
      },
      { intervalMs: 1100, count: 3 },
      { batch: 2, retryMs: 5 },
    );
    for (const ip of ["192.0.2.40", "192.0.2.41", "192.0.2.42", "192.0.2.43"]) a.announce(ip);
    a.cancel("192.0.2.42"); // still queued: never sent
    a.announce("192.0.2.43"); // restarted while queued: one burst, not two
    vi.advanceTimersByTime(10_000);
    expect(sent.filter((ip) => ip === "192.0.2.42")).toHaveLength(0);
    expect(sent.filter((ip) => ip === "192.0.2.43")).toHaveLength(3);
    expect(sent.filter((ip) => ip === "192.0.2.40")).toHaveLength(3);
    a.announce("192.0.2.44");
    a.cancelAll();
    vi.advanceTimersByTime(10_000);
    expect(sent.filter((ip) => ip === "192.0.2.44")).toHaveLength(1);
  });

  it("rejects a schedule that would never send", () => {
    expect(() => new GratuitousAnnouncer(() => "sent", { intervalMs: 0, count: 5 })).toThrow(
      RangeError,
    );
    expect(() => new GratuitousAnnouncer(() => "sent", { intervalMs: 1000, count: 0 })).toThrow(
      RangeError,
    );
    expect(
      () => new GratuitousAnnouncer(() => "sent", { intervalMs: 1000, count: 1 }, { batch: 0 }),
    ).toThrow(RangeError);
  });
  describe("refresh while owned", () => {
    const refreshing = (refreshMs: number | undefined, count = 2, batch = 64) => {
      const sent: [string, number][] = [];
      const a = new GratuitousAnnouncer(
        (ip) => {
          sent.push([ip, Date.now()]);
          return "sent";
        },
        { intervalMs: 1100, count },
        { batch, refreshMs },
      );
      return { a, sent, t0: Date.now() };
    };

    it("is off by default: nothing after the burst", () => {
      const { a, sent } = refreshing(undefined);
      a.announce("192.0.2.40");
      vi.advanceTimersByTime(600_000);
      expect(sent).toHaveLength(2);
      expect(a.refreshed()).toBe(0);
    });

    it("sends one round every interval after the burst, until cancelled", () => {
      const { a, sent, t0 } = refreshing(30_000);
      a.announce("192.0.2.40");
      vi.advanceTimersByTime(100_000);
      const times = sent.map(([, t]) => t - t0);
      // The burst (0, 1.1 s), then the first IP's phase (0 → the burst's interval), then every 30 s.
      expect(times).toEqual([0, 1100, 2200, 32_200, 62_200, 92_200]);
      expect(a.refreshed()).toBe(1);
      expect(a.active()).toEqual([]);
      a.cancel("192.0.2.40");
      vi.advanceTimersByTime(100_000);
      expect(sent).toHaveLength(6);
      expect(a.refreshed()).toBe(0);
    });

    it("starts over with a new burst when announced again (interface back, owner change)", () => {
      const { a, sent, t0 } = refreshing(30_000);
      a.announce("192.0.2.40");
      vi.advanceTimersByTime(10_000);
      a.announce("192.0.2.40");
      vi.advanceTimersByTime(40_000);
      const times = sent.map(([, t]) => t - t0);
      // Old refresh (due at 32.2 s) dropped; the new burst's refresh is on its own phase.
      expect(times.slice(0, 5)).toEqual([0, 1100, 2200, 10_000, 11_100]);
      expect(times.filter((t) => t > 11_100 && t < 50_000)).toHaveLength(1);
      expect(times).not.toContain(32_200);
    });

    it("spreads thousands of IPs taken over at once evenly over the interval", () => {
      const refreshMs = 60_000;
      const { a, sent, t0 } = refreshing(refreshMs, 1, 10_000);
      const ips = Array.from({ length: 5000 }, (_, i) => `2001:db8::2:${i.toString(16)}`);
      for (const ip of ips) a.announce(ip);
      expect(sent).toHaveLength(5000);
      // Three full intervals of refreshes, well after the spread's start.
      vi.advanceTimersByTime(refreshMs * 4);
      const window = sent.filter(([, t]) => t - t0 >= refreshMs && t - t0 < refreshMs * 2);
      expect(window).toHaveLength(5000); // each IP once per interval
      expect(new Set(window.map(([ip]) => ip)).size).toBe(5000);
      // Per 1 s slot of the interval: close to 5000 / 60 ≈ 83, never a pile-up.
      const perSecond = new Map<number, number>();
      for (const [, t] of window) {
        const s = Math.floor((t - t0) / 1000);
        perSecond.set(s, (perSecond.get(s) ?? 0) + 1);
      }
      expect(perSecond.size).toBeGreaterThanOrEqual(58);
      expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(100);
      // Each IP keeps its phase: exactly refreshMs between its rounds.
      const ofFirst = sent.filter(([ip]) => ip === ips[1]).map(([, t]) => t);
      const gaps = ofFirst.slice(2).map((t, i) => t - (ofFirst[i + 1] ?? NaN));
      expect(new Set(gaps)).toEqual(new Set([refreshMs]));
    });

    it("sends burst rounds ahead of refresh rounds, within the same pacing", () => {
      const { a, sent } = refreshing(30_000, 1, 2);
      a.announce("192.0.2.40"); // refresh phase 0 → due 1.1 s after
      vi.advanceTimersByTime(1100);
      expect(sent.map(([ip]) => ip)).toEqual(["192.0.2.40", "192.0.2.40"]);
      sent.length = 0;
      vi.advanceTimersByTime(30_000 - 1);
      for (const ip of ["192.0.2.41", "192.0.2.42", "192.0.2.43"]) a.announce(ip);
      vi.advanceTimersByTime(1);
      // 40's refresh falls due now; the new IPs' first rounds go first, two per turn.
      expect(sent.map(([ip]) => ip)).toEqual([
        "192.0.2.41",
        "192.0.2.42",
        "192.0.2.43",
        "192.0.2.40",
      ]);
    });

    it("rejects a refresh shorter than a second", () => {
      expect(
        () =>
          new GratuitousAnnouncer(() => "sent", { intervalMs: 1000, count: 1 }, { refreshMs: 500 }),
      ).toThrow(RangeError);
    });
  });
});
