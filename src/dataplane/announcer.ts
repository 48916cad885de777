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
 *
 * Refresh (off by default): with `refreshMs` set, an IP whose burst has ended gets one more
 * round every `refreshMs` for as long as it is owned, for switches whose MAC table forgets
 * the node's MAC before the router's ARP entry expires. Refresh rounds come after burst
 * rounds, share their pacing, and are spread over the interval: the k-th IP to start
 * refreshing gets its first round k times the golden ratio (mod 1) of the way through the
 * interval after its burst (and at least a burst interval after its last round), so any
 * number of IPs, even taken over at once, fall evenly over the interval instead of all
 * together; each IP then keeps its own phase.
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

/** The golden ratio's fraction: k * GOLDEN mod 1 spreads any k evenly over [0, 1). */
const GOLDEN = (Math.sqrt(5) - 1) / 2;

export interface AnnouncerPacing {
  /** Rounds sent per turn of the event loop. Default 64. */
  batch?: number;
  /** Wait after a busy round before trying again. Default 5 ms. */
  retryMs?: number;
  /** One more round every `refreshMs` while an IP is owned, after its burst. Default: none. */
  refreshMs?: number | undefined;
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

/** A min-heap of rounds by due time: refresh rounds, each IP on its own phase. */
class DueHeap {
  private readonly items: Due[] = [];

  get length(): number {
    return this.items.length;
  }
  peek(): Due | undefined {
    return this.items[0];
  }
  push(d: Due): void {
    const a = this.items;
    a.push(d);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = a[p] as Due;
      if (parent.at <= d.at) break;
      a[i] = parent;
      i = p;
    }
    a[i] = d;
  }
  shift(): Due | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined || a.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const c = r < a.length && (a[r] as Due).at < (a[l] as Due).at ? r : l;
      const child = a[c] as Due;
      if (child.at >= last.at) break;
      a[i] = child;
      i = c;
    }
    a[i] = last;
    return top;
  }
  clear(): void {
    this.items.length = 0;
  }
}

export class GratuitousAnnouncer {
  /** IPs with a burst in progress: rounds left, and the burst's number. */
  private readonly bursts = new Map<string, { left: number; burst: number }>();
  /** First rounds, sent as soon as pacing allows. */
  private readonly now = new DueQueue();
  /** Later rounds, each due `intervalMs` after the previous one went out (so in order). */
  private readonly later = new DueQueue();
  /** IPs refreshed while owned (burst over): the burst number their refresh rounds carry. */
  private readonly refreshing = new Map<string, number>();
  /** Refresh rounds by due time. */
  private readonly refreshes = new DueHeap();
  private readonly refreshMs: number | undefined;
  /** How many IPs have started refreshing: the next one's phase. */
  private refreshStarts = 0;
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
    this.refreshMs = pacing.refreshMs;
    if (!(this.batch >= 1) || !(this.retryMs > 0)) {
      throw new RangeError("announcement pacing needs batch >= 1 and retryMs > 0");
    }
    if (this.refreshMs !== undefined && !(this.refreshMs >= 1000)) {
      throw new RangeError("an announcement refresh needs refreshMs >= 1000");
    }
  }

  /** Starts a burst for `ip` now; a burst already running for it starts over. */
  announce(ip: string): void {
    const burst = ++this.lastBurst;
    this.refreshing.delete(ip);
    this.bursts.set(ip, { left: this.schedule.count, burst });
    this.now.push({ ip, burst, at: Date.now() });
    this.pump();
  }

  /** Stops the burst for `ip` at once (ownership lost). */
  cancel(ip: string): void {
    this.bursts.delete(ip);
    this.refreshing.delete(ip);
  }

  cancelAll(): void {
    this.bursts.clear();
    this.refreshing.clear();
    this.now.clear();
    this.later.clear();
    this.refreshes.clear();
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
  }

  /** IPs with a burst in progress. */
  active(): string[] {
    return [...this.bursts.keys()];
  }

  /** How many IPs are refreshed periodically (burst over, still owned). */
  refreshed(): number {
    return this.refreshing.size;
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
      const queue = this.nextQueue();
      const d = queue?.peek();
      if (queue === undefined || d === undefined || d.at > t) return;
      const refresh = queue === this.refreshes;
      if (!this.current(d, refresh)) {
        queue.shift();
        continue;
      }
      if (this.send(d.ip) === "busy") {
        this.busyUntil = t + this.retryMs;
        return;
      }
      queue.shift();
      this.budget--;
      if (refresh) {
        // Keeps the IP's phase; after a long stall, no catching up in a rush.
        const at = Math.max(d.at + (this.refreshMs ?? 0), t + this.schedule.intervalMs);
        this.refreshes.push({ ip: d.ip, burst: d.burst, at });
        continue;
      }
      const b = this.bursts.get(d.ip);
      if (b === undefined) continue;
      if (--b.left > 0)
        this.later.push({ ip: d.ip, burst: d.burst, at: t + this.schedule.intervalMs });
      else {
        this.bursts.delete(d.ip);
        this.startRefresh(d.ip, d.burst, t);
      }
    }
  }

  /** First rounds, then whichever of the burst's later rounds and the refreshes is due first. */
  private nextQueue(): DueQueue | DueHeap | undefined {
    if (this.now.length > 0) return this.now;
    const l = this.later.peek();
    const r = this.refreshes.peek();
    if (l === undefined) return r === undefined ? undefined : this.refreshes;
    return r !== undefined && r.at < l.at ? this.refreshes : this.later;
  }

  /** Whether a queued round still belongs to the IP's running burst or refresh. */
  private current(d: Due, refresh: boolean): boolean {
    return refresh
      ? this.refreshing.get(d.ip) === d.burst
      : this.bursts.get(d.ip)?.burst === d.burst;
  }

  private startRefresh(ip: string, burst: number, t: number): void {
    const every = this.refreshMs;
    if (every === undefined) return;
    const phase = (this.refreshStarts++ * GOLDEN) % 1;
    this.refreshing.set(ip, burst);
    // Never sooner than a burst's interval after its last round (the ARP lock time).
    const gap = this.schedule.intervalMs;
    const first = gap + Math.round(Math.max(0, every - gap) * phase);
    this.refreshes.push({ ip, burst, at: t + first });
  }

  /**
   * The next turn: at once if rounds are due (or this turn's budget needs renewing), else a
   * timer for the first round that will be due.
   */
  private arm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.skipStale(this.now, false);
    this.skipStale(this.later, false);
    this.skipStale(this.refreshes, true);
    const next = this.nextQueue()?.peek();
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

  private skipStale(queue: DueQueue | DueHeap, refresh: boolean): void {
    for (let d = queue.peek(); d !== undefined; d = queue.peek()) {
      if (this.current(d, refresh)) return;
      queue.shift();
    }
  }
}
