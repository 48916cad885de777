/**
 * Gratuitous announcement bursts: when an IP becomes owned here, neighbors holding another
 * node's MAC for it must learn the new one without asking. One send at once, then more at
 * `intervalMs`, `count` in all. The interval is longer than Linux's ARP lock time
 * (neigh/default/locktime, 1 s), during which a host ignores a second update of an entry it
 * just changed; sends inside that window could be dropped.
 */

export interface AnnounceSchedule {
  /** Time between sends; > 1000 ms to step past the Linux ARP lock time. */
  intervalMs: number;
  /** Sends per burst, the first at once. */
  count: number;
}

export const DEFAULT_ANNOUNCE_SCHEDULE: AnnounceSchedule = { intervalMs: 1100, count: 5 };

export class GratuitousAnnouncer {
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; left: number }>();

  /** `send(ip)` sends one round (every protocol and interface the IP is announced on). */
  constructor(
    private readonly send: (ip: string) => void,
    private readonly schedule: AnnounceSchedule = DEFAULT_ANNOUNCE_SCHEDULE,
  ) {
    if (!(schedule.count >= 1) || !(schedule.intervalMs > 0)) {
      throw new RangeError("an announcement schedule needs count >= 1 and intervalMs > 0");
    }
  }

  /** Starts a burst for `ip` now; a burst already running for it starts over. */
  announce(ip: string): void {
    this.cancel(ip);
    this.send(ip);
    if (this.schedule.count > 1) this.arm(ip, this.schedule.count - 1);
  }

  /** Stops the burst for `ip` at once (ownership lost). */
  cancel(ip: string): void {
    const t = this.timers.get(ip);
    if (t === undefined) return;
    clearTimeout(t.timer);
    this.timers.delete(ip);
  }

  cancelAll(): void {
    for (const ip of [...this.timers.keys()]) this.cancel(ip);
  }

  /** IPs with a burst in progress. */
  active(): string[] {
    return [...this.timers.keys()];
  }

  private arm(ip: string, left: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(ip);
      this.send(ip);
      if (left > 1) this.arm(ip, left - 1);
    }, this.schedule.intervalMs);
    timer.unref();
    this.timers.set(ip, { timer, left });
  }
}
