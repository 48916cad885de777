/**
 * Gratuitous announcement bursts: when an IP becomes owned here, neighbors holding another
 * node's MAC for it must learn the new one without asking. One send at once, then more at
 * `intervalMs`, `count` in all. The interval is longer than Linux's ARP lock time
 * (neigh/default/locktime, 1 s), during which a host ignores a second update of an entry it
 * just changed; sends inside that window could be dropped.
 *
 * Sends are paced: a node taking over thousands of IPs at once (its peer died) would fill
 * the socket's send buffer and the interface queue in one loop, and the kernel would refuse
 * most frames (ENOBUFS). So at most `batch` rounds go out per turn of the event loop, and a
 * round the kernel has no room for ("busy") is tried again after `retryMs`, ahead of the
 * rest. The first `batch` rounds go out synchronously, so a single takeover loses no time.
 */

export interface AnnounceSchedule {
  /** Time between sends; > 1000 ms to step past the Linux ARP lock time. */
  intervalMs: number;
  /** Sends per burst, the first at once. */
  count: number;
}

export const DEFAULT_ANNOUNCE_SCHEDULE: AnnounceSchedule = { intervalMs: 1100, count: 5 };

/** What one round did: "sent" (or failed for good), or "busy": no room now, try again soon. */
export type RoundResult = "sent" | "busy";

export interface AnnouncerPacing {
  /** Rounds sent per turn of the event loop. Default 64. */
  batch?: number;
  /** Wait after a busy round before trying again. Default 5 ms. */
  retryMs?: number;
}

interface Due {
  ip: string;
  /** The burst this round belongs to; a round of a cancelled or restarted burst is skipped. */
  burst: number;
  /** When it is due (ms on `Date.now()`'s clock, which fake timers in tests also drive). */
  at: number;
}

/** A FIFO of rounds in the order they fall due, without Array.shift's copying. */
class DueQueue {
  private items: Due[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }
  peek(): Due | undefined {
    return this.items[this.head];
  }
  push(d: Due): void {
    this.items.push(d);
  }
  shift(): Due | undefined {
    const d = this.items[this.head];
    if (d === undefined) return undefined;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return d;
  }
  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

export class GratuitousAnnouncer {
  /** IPs with a burst in progress: rounds left, and the burst's number. */
  private readonly bursts = new Map<string, { left: number; burst: number }>();
  /** First rounds, sent as soon as pacing allows. */
  private readonly now = new DueQueue();
  /** Later rounds, each due `intervalMs` after the previous one went out (so in order). */
  private readonly later = new DueQueue();
  private lastBurst = 0;
  private readonly batch: number;
  private readonly retryMs: number;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  /** While set, the kernel had no room: nothing is sent before this time. */
  private busyUntil = 0;
  /** Rounds left to send in this turn of the event loop. */
  private budget: number;

  /** `send(ip)` sends one round (every protocol and interface the IP is announced on). */
  constructor(
    private readonly send: (ip: string) => RoundResult,
    private readonly schedule: AnnounceSchedule = DEFAULT_ANNOUNCE_SCHEDULE,
    pacing: AnnouncerPacing = {},
  ) {
    if (!(schedule.count >= 1) || !(schedule.intervalMs > 0)) {
      throw new RangeError("an announcement schedule needs count >= 1 and intervalMs > 0");
    }
    this.batch = pacing.batch ?? 64;
    this.retryMs = pacing.retryMs ?? 5;
    this.budget = this.batch;
    if (!(this.batch >= 1) || !(this.retryMs > 0)) {
      throw new RangeError("announcement pacing needs batch >= 1 and retryMs > 0");
    }
  }

  /** Starts a burst for `ip` now; a burst already running for it starts over. */
  announce(ip: string): void {
    const burst = ++this.lastBurst;
    this.bursts.set(ip, { left: this.schedule.count, burst });
    this.now.push({ ip, burst, at: Date.now() });
    this.pump();
  }

  /** Stops the burst for `ip` at once (ownership lost). */
  cancel(ip: string): void {
    this.bursts.delete(ip);
  }

  cancelAll(): void {
    this.bursts.clear();
    this.now.clear();
    this.later.clear();
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
  }

  /** IPs with a burst in progress. */
  active(): string[] {
    return [...this.bursts.keys()];
  }

  /** Sends what is due, up to `batch` rounds, then arranges the next turn. */
  private pump(): void {
    this.sendDue();
    this.arm();
  }

  private sendDue(): void {
    const t = Date.now();
    if (t < this.busyUntil) return;
    while (this.budget > 0) {
      const queue = this.now.length > 0 ? this.now : this.later;
      const d = queue.peek();
      if (d === undefined || d.at > t) return;
      const b = this.bursts.get(d.ip);
      if (b === undefined || b.burst !== d.burst) {
        queue.shift();
        continue;
      }
      if (this.send(d.ip) === "busy") {
        this.busyUntil = t + this.retryMs;
        return;
      }
      queue.shift();
      this.budget--;
      if (--b.left > 0)
        this.later.push({ ip: d.ip, burst: d.burst, at: t + this.schedule.intervalMs });
      else this.bursts.delete(d.ip);
    }
  }

  /**
   * The next turn: at once if rounds are due (or this turn's budget needs renewing), else a
   * timer for the first round that will be due.
   */
  private arm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.skipStale(this.now);
    this.skipStale(this.later);
    const next = this.now.peek() ?? this.later.peek();
    const wait = next === undefined ? Infinity : Math.max(next.at, this.busyUntil) - Date.now();
    if (wait <= 0 || this.budget < this.batch) {
      // Not unref'd: an unref'd immediate does not keep the event loop from blocking in poll,
      // and would wait for some other event to run.
      this.immediate ??= setImmediate(() => this.turn());
    }
    if (wait > 0 && wait !== Infinity) {
      this.timer = setTimeout(() => this.turn(), wait);
      this.timer.unref();
    }
  }

  /** A new turn of the event loop: a fresh budget, and whatever is due. */
  private turn(): void {
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
    this.budget = this.batch;
    this.pump();
  }

  private skipStale(queue: DueQueue): void {
    for (let d = queue.peek(); d !== undefined; d = queue.peek()) {
      if (this.bursts.get(d.ip)?.burst === d.burst) return;
      queue.shift();
    }
  }
}
