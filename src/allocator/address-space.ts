/**
 * The addresses of one pool in one family, and a fast answer to "which is the lowest free
 * one?" with memory proportional to the addresses in use, not to the pool's size.
 *
 * Which addresses are held is known to the allocator (one map per family, shared by all
 * pools); this class only keeps, per range of the pool:
 *
 * - `next[i]`, a hint: every *free* address of range i below `next[i]` is in `freed`;
 *   addresses at or above it may be free or held;
 * - `freed`, a set plus a min-heap of the free addresses below their range's hint (the heap
 *   is lazy: entries no longer in the set are dropped when they reach the top).
 *
 * The lowest free address is then the smaller of the heap's top and the first free address
 * at or above the hint of the first range that still has one; scanning from a hint skips
 * held (or avoided) addresses and moves the hint past them, so each address is skipped once
 * per hint pass. An allocation costs O(log freed) plus amortised O(1) skips. Releasing the
 * address just below a hint lowers the hint instead of growing `freed`, so a pool that empties
 * returns to a tiny state.
 */
import { isBuggyIPv4, type IPFamily } from "../net/ip.js";

/** Min-heap of bigints. */
class BigIntHeap {
  private readonly items: bigint[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): bigint | undefined {
    return this.items[0];
  }

  push(v: bigint): void {
    const a = this.items;
    a.push(v);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = a[parent] as bigint;
      if (p <= v) break;
      a[i] = p;
      i = parent;
    }
    a[i] = v;
  }

  pop(): bigint | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined || a.length === 0) return top;
    let i = 0;
    const n = a.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && (a[r] as bigint) < (a[l] as bigint)) c = r;
      const cv = a[c] as bigint;
      if (last <= cv) break;
      a[i] = cv;
      i = c;
    }
    a[i] = last;
    return top;
  }

  /** Replaces the contents with `values`. */
  reset(values: Iterable<bigint>): void {
    this.items.length = 0;
    for (const v of values) this.push(v);
  }
}

export class AddressSpace {
  readonly family: IPFamily;
  readonly avoidBuggy: boolean;
  /** Sorted, disjoint, inclusive ranges. */
  private readonly starts: bigint[];
  private readonly ends: bigint[];
  private readonly next: bigint[];
  private firstOpen = 0;
  private readonly freed = new Set<bigint>();
  private readonly heap = new BigIntHeap();
  private readonly isHeld: (v: bigint) => boolean;
  private readonly isReserved: (v: bigint) => boolean;
  /** Distinct addresses of this space currently held (maintained by take/release). */
  inUse = 0;

  constructor(
    family: IPFamily,
    ranges: readonly { readonly start: bigint; readonly end: bigint }[],
    avoidBuggy: boolean,
    isHeld: (v: bigint) => boolean,
    /** Never handed out by `lowestFree` (a node's or the API server's address); fixed for the space's life. */
    isReserved: (v: bigint) => boolean = () => false,
  ) {
    this.family = family;
    this.avoidBuggy = avoidBuggy && family === 4;
    const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    this.starts = sorted.map((r) => r.start);
    this.ends = sorted.map((r) => r.end);
    this.next = [...this.starts];
    this.isHeld = isHeld;
    this.isReserved = isReserved;
  }

  /** Index of the range holding `v`, or -1. */
  private rangeIndex(v: bigint): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((this.starts[mid] as bigint) > v) hi = mid - 1;
      else if ((this.ends[mid] as bigint) < v) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  /** Whether `v` is skipped because of `avoid-buggy-ips`. */
  isAvoided(v: bigint): boolean {
    return this.avoidBuggy && isBuggyIPv4(v);
  }

  /** The lowest address that is in the space, not avoided and not held; undefined if full. */
  lowestFree(): bigint | undefined {
    let fromFreed: bigint | undefined;
    for (;;) {
      const top = this.heap.peek();
      if (top === undefined) break;
      if (this.freed.has(top)) {
        fromFreed = top;
        break;
      }
      this.heap.pop(); // stale: taken again since it was freed
    }
    const n = this.starts.length;
    for (let i = this.firstOpen; i < n; i++) {
      const end = this.ends[i] as bigint;
      let p = this.next[i] as bigint;
      if (fromFreed !== undefined && fromFreed < p) return fromFreed;
      while (p <= end && (this.isHeld(p) || this.isAvoided(p) || this.isReserved(p))) p++;
      this.next[i] = p;
      if (p <= end) return fromFreed !== undefined && fromFreed < p ? fromFreed : p;
      if (i === this.firstOpen) this.firstOpen = i + 1;
    }
    return fromFreed;
  }

  /** Records that `v` (in this space, not held before) is now held. */
  take(v: bigint): void {
    const i = this.rangeIndex(v);
    if (i === -1) return;
    this.inUse++;
    const next = this.next[i] as bigint;
    if (v < next) this.freed.delete(v);
    else if (v === next) this.next[i] = v + 1n;
  }

  /** Records that `v` (in this space, held before) is free again. */
  release(v: bigint): void {
    const i = this.rangeIndex(v);
    if (i === -1) return;
    this.inUse--;
    let next = this.next[i] as bigint;
    if (v >= next) return;
    if (v !== next - 1n) {
      if (this.isReserved(v)) return; // below the hint and never handed out: nothing to keep
      this.freed.add(v);
      this.heap.push(v);
      if (this.heap.size > 2 * this.freed.size + 64) this.heap.reset(this.freed);
      return;
    }
    // v is just below the hint: lower the hint over it and over any free run below it.
    const start = this.starts[i] as bigint;
    next = v;
    while (next > start) {
      const prev = next - 1n;
      if (this.freed.delete(prev) || this.isAvoided(prev) || this.isReserved(prev)) next = prev;
      else break;
    }
    this.next[i] = next;
    if (i < this.firstOpen) this.firstOpen = i;
  }

  /** Entries kept besides the held addresses (for tests and the memory benchmark). */
  get overhead(): number {
    return this.freed.size + this.heap.size + this.starts.length;
  }
}
