/**
 * The IP allocator: which Service holds which IPs. Pure: no Kubernetes client, no I/O, no
 * clock. The controller owns one instance and is its only writer.
 *
 * ## How the controller uses it
 *
 * 1. `new Allocator(config)` with the current config.
 * 2. On start (and on leadership), before any new allocation: for every LoadBalancer Service
 *    that has IPs in `status.loadBalancer.ingress`, `assign(req, ips)`. A restart therefore
 *    never moves an IP. A failure means the old IP is no longer valid: emit
 *    `ClearAssignment` with the reason and treat the Service as new.
 * 3. For each Service change: `assign(req, currentIPs)` when it holds IPs (re-validates them
 *    against the changed Service: annotation, requested IPs, labels, ports, sharing key);
 *    on failure, or when it holds none, `allocate(req)`. Write the IPs and the pool
 *    (`barelb.io/ip-allocated-from-pool`) to the Service, or the reason to an
 *    `AllocationFailed` Event.
 * 4. Service deleted / no longer a LoadBalancer / class changed: `release(key)`.
 * 5. Config changed (valid): `setConfig(config)`; it evicts exactly the Services whose IPs
 *    are no longer valid and returns them (with a reason, for `ClearAssignment`); reallocate
 *    those with `allocate`.
 * 6. After any `release` or eviction, retry the Services left pending: addresses freed up,
 *    and `complete(key)` the PreferDualStack Services that hold one family of two
 *    (`missingFamily(key)`): they take the second family when their pool has room for it.
 *
 * ## Allocation order (`allocate`)
 *
 * 1. Requested IPs (`requestedIPs`): exactly those, or a reason (outside every pool, avoided
 *    by `avoid-buggy-ips`, in a pool the Service may not use, not in the annotated pool,
 *    held by a Service it may not share with, IPs in two pools).
 * 2. Else the `address-pool` annotation: that pool, even when it has `auto-assign: false`;
 *    an unknown pool or a pool the Service may not use is a reason.
 * 3. Else, in this order, the first pool with a free address:
 *    a. pools that have `namespaces` or `service-selectors` that admit the Service and
 *       `auto-assign: true`;
 *    b. pools without `namespaces` and `service-selectors` and with `auto-assign: true`.
 *    Within each group: pools with a `priority` first, lowest first; then pools without;
 *    ties keep the order of the config file.
 *
 * A pool "may be used" by a Service when its `namespaces` is empty or lists the Service's
 * namespace, and its `service-selectors` is empty or one of them matches the Service's
 * labels. This is checked for every way of getting an IP, including requested IPs.
 *
 * Within a pool the lowest free address wins (skipping .0/.255 with `avoid-buggy-ips`).
 * A Service with a sharing key first looks for an IP already held under that key in the
 * pool that it may share (lowest first), so Services meant to share end up on one IP.
 *
 * Families: SingleStack gets one IP of its family; RequireDualStack one IP per family, both
 * from one pool; PreferDualStack (with two families) prefers a pool with free addresses of
 * both, else one IP of the primary family, else one of the secondary (each pass in the pool
 * order above). A PreferDualStack Service left with one family gets the other later, from
 * the pool of the IP it holds, without moving that IP (`complete`): when the pool gains
 * addresses of that family in a config edit, or one is released. It does not move to another
 * pool to get both (MetalLB neither).
 *
 * Sharing: an IP is held by several Services only when all have the same non-empty sharing
 * key, equal backend keys and no protocol+port in common.
 *
 * Failures are returned as a `Reason` from `./reasons.ts`, never thrown.
 */
import type { Config, Pool } from "../config/types.js";
import { matchesAny } from "../config/selector.js";
import { formatIPValue, type IP, type IPFamily } from "../net/ip.js";
import { AddressSpace } from "./address-space.js";
import { reason, type Reason } from "./reasons.js";
import {
  familyPlans,
  normalizeRequest,
  parseServiceIPs,
  portOverlap,
  type NormalizedRequest,
  type ServiceRequest,
} from "./request.js";

/** The IPs a Service holds. */
export interface Assignment {
  readonly key: string;
  readonly pool: string;
  /** Canonical text, ordered like the Service's `ipFamilies`. */
  readonly ips: readonly string[];
}

export type AllocationResult =
  | { readonly ok: true; readonly pool: string; readonly ips: readonly string[] }
  | { readonly ok: false; readonly reason: Reason };

/** A Service that lost its IPs to a config change, and why. */
export interface Eviction extends Assignment {
  readonly reason: Reason;
}

/** Addresses of one pool and family. */
export interface PoolStats {
  readonly pool: string;
  readonly family: IPFamily;
  /** Addresses the pool can hand out (without .0/.255 when avoid-buggy-ips). */
  readonly total: bigint;
  /** Distinct addresses held; an IP shared by several Services counts once. */
  readonly inUse: number;
}

/** One pool of the current config, with its per-family address spaces. */
interface PoolState {
  readonly pool: Pool;
  readonly order: number;
  readonly namespaces: ReadonlySet<string> | undefined;
  readonly restricted: boolean;
  readonly spaces: Partial<Record<IPFamily, AddressSpace>>;
}

/** One held IP and the Services holding it (several only when they share). */
interface Holding {
  readonly family: IPFamily;
  readonly value: bigint;
  readonly text: string;
  space: AddressSpace;
  /** Common sharing key of the holders ("" when the single holder does not share). */
  sharingKey: string;
  /** Common backend key of the holders. */
  backendKey: string;
  readonly holders: Entry[];
}

/**
 * What the allocator keeps per Service. Kept small on purpose (memory per held address is a
 * target): arrays are created at their final size, views are built on demand.
 */
interface Entry {
  readonly req: NormalizedRequest;
  /** Ordered like `ips`. */
  holdings: readonly Holding[];
  /** Canonical text, ordered like the Service's `ipFamilies`; frozen, replaced on change. */
  ips: readonly string[];
  pool: PoolState;
}

function view(e: Entry): Assignment {
  return { key: e.req.key, pool: e.pool.pool.name, ips: e.ips };
}

/** A validated choice, ready to commit. */
interface Choice {
  readonly pool: PoolState;
  readonly ips: readonly IP[];
}

type Check<T> = { ok: true; value: T } | { ok: false; reason: Reason };

function byPriority(a: PoolState, b: PoolState): number {
  const pa = a.pool.priority;
  const pb = b.pool.priority;
  if (pa !== pb) {
    if (pa === undefined) return 1;
    if (pb === undefined) return -1;
    return pa - pb;
  }
  return a.order - b.order;
}

export class Allocator {
  private readonly held: Record<IPFamily, Map<bigint, Holding>> = { 4: new Map(), 6: new Map() };
  private readonly services = new Map<string, Entry>();
  /** Holdings per non-empty sharing key. */
  private readonly bySharingKey = new Map<string, Set<Holding>>();
  private pools: PoolState[] = [];
  private config: Config;
  /** Addresses never picked automatically: nodes' and the API server's (see `setReserved`). */
  private reserved: Record<IPFamily, Set<bigint>> = { 4: new Set(), 6: new Set() };
  private poolsByName = new Map<string, PoolState>();
  /** `pools` sorted by priority, then file order. */
  private ordered: PoolState[] = [];
  /** Every block of every pool, per family, sorted by start: finds an IP's pool. */
  private blocks: Record<IPFamily, { start: bigint; end: bigint; pool: PoolState }[]> = {
    4: [],
    6: [],
  };

  constructor(config: Config) {
    this.config = config;
    this.installPools(config);
  }

  // ---- queries -------------------------------------------------------------------------

  /** The IPs `key` holds, if any. */
  get(key: string): Assignment | undefined {
    const e = this.services.get(key);
    return e === undefined ? undefined : view(e);
  }

  /**
   * The family a Service could still get: for a PreferDualStack Service with two families
   * that holds an IP of one of them and requests no IPs, the other one; else undefined (also
   * when it holds nothing).
   */
  missingFamily(key: string): IPFamily | undefined {
    const e = this.services.get(key);
    return e === undefined ? undefined : lacking(e);
  }

  /** How many Services hold IPs. */
  get size(): number {
    return this.services.size;
  }

  /** Every Service holding IPs, in the order they were assigned. */
  *assignments(): IterableIterator<Assignment> {
    for (const e of this.services.values()) yield view(e);
  }

  /** The Services holding an IP (canonical or not), in the order they got it. */
  holdersOf(ip: IP): readonly string[] {
    return this.held[ip.family].get(ip.value)?.holders.map((r) => r.req.key) ?? [];
  }

  /** Total and used addresses per pool and family, pools in config order, IPv4 first. */
  stats(): PoolStats[] {
    const out: PoolStats[] = [];
    for (const ps of this.pools) {
      for (const family of ps.pool.families) {
        const space = ps.spaces[family];
        out.push({
          pool: ps.pool.name,
          family,
          total: ps.pool.size[family],
          inUse: space?.inUse ?? 0,
        });
      }
    }
    return out;
  }

  // ---- changes -------------------------------------------------------------------------

  /**
   * Picks IPs for the Service (see the order in the module comment). Any IPs `req.key` held
   * before are released first: on failure it holds none. To keep a Service's current IPs,
   * use `assign`.
   */
  allocate(request: ServiceRequest): AllocationResult {
    this.release(request.key);
    const n = normalizeRequest(request);
    if (!n.ok) return n;
    const req = n.req;
    const choice = this.choose(req);
    if (!choice.ok) return choice;
    const e = this.commit(req, choice.value);
    return { ok: true, pool: e.pool.pool.name, ips: e.ips };
  }

  /**
   * Gives `req.key` exactly `ips` (e.g. from `status.loadBalancer.ingress`), if that is
   * valid for the Service now: parseable, one per family of its `ipFamilies`, all in one pool
   * it may use, the annotated pool if any, equal to its requested IPs if any, and not held
   * by a Service it may not share with. Pool `auto-assign` does not matter. Idempotent;
   * re-validates and updates the stored request when the Service already holds them. On
   * failure nothing changes (the Service keeps what it held).
   */
  assign(request: ServiceRequest, ips: readonly string[]): AllocationResult {
    const n = normalizeRequest(request);
    if (!n.ok) return n;
    const req = n.req;
    const parsed = parseServiceIPs(ips, req.families, req.familyPolicy);
    if (!parsed.ok) return parsed;
    if (parsed.ips.length === 0) {
      return {
        ok: false,
        reason: reason("InvalidIP", { ip: "", detail: "no IP given to assign" }),
      };
    }
    if (req.requested.length > 0 && !sameIPs(req.requested, parsed.ips)) {
      return {
        ok: false,
        reason: reason("RequestedIPsChanged", {
          ips: parsed.ips.map(text),
          requested: req.requested.map(text),
        }),
      };
    }
    const choice = this.checkExplicit(req, parsed.ips);
    if (!choice.ok) return choice;
    this.release(req.key);
    const e = this.commit(req, choice.value);
    return { ok: true, pool: e.pool.pool.name, ips: e.ips };
  }

  /**
   * Gives a PreferDualStack Service that holds one family of two (`missingFamily`) an IP of
   * the other family, from the pool of the IP it holds, keeping that IP: it got one family
   * because only that one had room or a pool, and gets the second once its pool has one free
   * (after a config edit or a release). A Service with a sharing key takes an IP it may share
   * first, as in `allocate`. Returns the assignment with both IPs, or why the pool cannot
   * give the second family now (the Service keeps its one IP); undefined when the Service
   * lacks nothing.
   */
  complete(key: string): AllocationResult | undefined {
    const e = this.services.get(key);
    if (e === undefined) return undefined;
    const family = lacking(e);
    if (family === undefined) return undefined;
    const pool = e.pool.pool.name;
    const space = e.pool.spaces[family];
    if (space === undefined) {
      return { ok: false, reason: reason("PoolLacksFamily", { pool, family }) };
    }
    const value = this.pick(space, e.req);
    if (value === undefined) {
      return { ok: false, reason: reason("PoolExhausted", { pool, family }) };
    }
    const added = this.hold(e, { family, value }, text({ family, value }));
    const order = e.req.families;
    const holdings = [...e.holdings, added].sort(
      (x, y) => order.indexOf(x.family) - order.indexOf(y.family),
    );
    e.holdings = holdings;
    e.ips = Object.freeze(holdings.map((h) => h.text));
    return { ok: true, pool, ips: e.ips };
  }

  /** Frees the Service's IPs (a shared IP stays held by the others). */
  release(key: string): Assignment | undefined {
    const r = this.services.get(key);
    if (r === undefined) return undefined;
    this.services.delete(key);
    for (const h of r.holdings) this.dropHolder(h, r);
    return view(r);
  }

  /**
   * Installs a new config. Services whose IPs are no longer valid under it (pool removed or
   * shrunk, `avoid-buggy-ips` enabled, pool no longer admitting the Service, IPs now split
   * over two pools, annotated pool renamed) lose them and are returned, in assignment
   * order; every other assignment stays exactly as it is (a renamed pool keeps its IPs
   * unless a Service's annotation names the old name).
   */
  setConfig(config: Config): Eviction[] {
    this.config = config;
    this.installPools(config);
    const evictions: Eviction[] = [];
    for (const e of this.services.values()) {
      const ips = e.holdings.map((h): IP => ({ family: h.family, value: h.value }));
      const check = this.checkPlacement(e.req, ips);
      if (check.ok) {
        e.pool = check.value; // may be a renamed pool: it keeps its IPs
      } else {
        evictions.push({ ...view(e), reason: check.reason });
      }
    }
    for (const ev of evictions) {
      const e = this.services.get(ev.key);
      if (e === undefined) continue;
      this.services.delete(ev.key);
      for (const h of e.holdings) removeHolder(h, e);
    }
    // Move the remaining holdings onto the new pools' address spaces.
    for (const family of [4, 6] as const) {
      const map = this.held[family];
      for (const [value, h] of map) {
        const space = h.holders[0]?.pool.spaces[family];
        if (space === undefined) {
          map.delete(value);
          this.unindex(h);
          continue;
        }
        h.space = space;
        space.take(value);
      }
    }
    return evictions;
  }

  /**
   * Addresses the allocator never picks by itself (nodes' own and the API server's): a
   * Service that asks for one by `loadBalancerIP` still gets it, and one that holds one keeps
   * it (an assigned IP never moves). Returns true when the set changed, so pending Services
   * may be retried (one of these may have been freed for them).
   */
  setReserved(ips: readonly IP[]): boolean {
    const next: Record<IPFamily, Set<bigint>> = { 4: new Set(), 6: new Set() };
    for (const ip of ips) next[ip.family].add(ip.value);
    const same = ([4, 6] as const).every(
      (f) =>
        next[f].size === this.reserved[f].size &&
        [...next[f]].every((v) => this.reserved[f].has(v)),
    );
    if (same) return false;
    this.reserved = next;
    this.setConfig(this.config); // rebuilds the address spaces; nothing is evicted by it
    return true;
  }

  // ---- internals -----------------------------------------------------------------------

  private installPools(config: Config): void {
    this.pools = config.pools.map((pool, order): PoolState => {
      const spaces: Partial<Record<IPFamily, AddressSpace>> = {};
      for (const family of pool.families) {
        const held = this.held[family];
        const reserved = this.reserved[family];
        spaces[family] = new AddressSpace(
          family,
          pool.addresses.filter((b) => b.family === family),
          pool.avoidBuggyIPs,
          (v) => held.has(v),
          (v) => reserved.has(v),
        );
      }
      return {
        pool,
        order,
        namespaces: pool.namespaces.length > 0 ? new Set(pool.namespaces) : undefined,
        restricted: pool.namespaces.length > 0 || pool.serviceSelectors.length > 0,
        spaces,
      };
    });
    this.poolsByName = new Map(this.pools.map((p) => [p.pool.name, p]));
    this.ordered = [...this.pools].sort(byPriority);
    this.blocks = { 4: [], 6: [] };
    for (const ps of this.pools) {
      for (const b of ps.pool.addresses) {
        this.blocks[b.family].push({ start: b.start, end: b.end, pool: ps });
      }
    }
    for (const list of Object.values(this.blocks)) {
      list.sort((x, y) => (x.start < y.start ? -1 : x.start > y.start ? 1 : 0));
    }
  }

  private admits(ps: PoolState, req: NormalizedRequest): boolean {
    if (ps.namespaces !== undefined && !ps.namespaces.has(req.namespace)) return false;
    const sel = ps.pool.serviceSelectors;
    return sel.length === 0 || matchesAny(sel, req.labels);
  }

  private notAllowed(ps: PoolState, req: NormalizedRequest): Reason {
    return reason("PoolNotAllowed", {
      pool: ps.pool.name,
      namespace: req.namespace,
      namespaces: ps.pool.namespaces,
    });
  }

  /** The pool holding an address (blocks never overlap: the config parser checks it). */
  private locate(ip: IP): PoolState | undefined {
    const list = this.blocks[ip.family];
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const b = list[mid];
      if (b === undefined) break;
      if (b.start > ip.value) hi = mid - 1;
      else if (b.end < ip.value) lo = mid + 1;
      else return b.pool;
    }
    return undefined;
  }

  /**
   * Whether these IPs are a valid placement for the Service under the current config,
   * sharing aside: one pool that contains them (not avoided), admits the Service and is the
   * annotated one if any.
   */
  private checkPlacement(req: NormalizedRequest, ips: readonly IP[]): Check<PoolState> {
    let pool: PoolState | undefined;
    for (const ip of ips) {
      const ps = this.locate(ip);
      if (ps === undefined) return { ok: false, reason: reason("IPNotInPool", { ip: text(ip) }) };
      if (ps.spaces[ip.family]?.isAvoided(ip.value) === true) {
        return { ok: false, reason: reason("IPAvoided", { ip: text(ip), pool: ps.pool.name }) };
      }
      if (pool !== undefined && pool !== ps) {
        return {
          ok: false,
          reason: reason("IPsInDifferentPools", {
            ips: ips.map(text),
            pools: [pool.pool.name, ps.pool.name],
          }),
        };
      }
      pool = ps;
    }
    if (pool === undefined) {
      return { ok: false, reason: reason("InvalidIP", { ip: "", detail: "no IP given" }) };
    }
    const first = ips[0];
    if (req.pool !== undefined && req.pool !== pool.pool.name && first !== undefined) {
      return {
        ok: false,
        reason: reason("IPNotInRequestedPool", {
          ip: text(first),
          pool: pool.pool.name,
          requestedPool: req.pool,
        }),
      };
    }
    if (!this.admits(pool, req)) return { ok: false, reason: this.notAllowed(pool, req) };
    return { ok: true, value: pool };
  }

  /** Why `req` may not hold `h` alongside its current holders, or undefined. */
  private sharingProblem(h: Holding, req: NormalizedRequest): Reason | undefined {
    for (const r of h.holders) {
      if (r.req.key === req.key) continue;
      if (req.sharingKey === "" || h.sharingKey === "") {
        return reason("IPInUse", { ip: h.text, otherService: r.req.key });
      }
      if (req.sharingKey !== h.sharingKey) {
        return reason("SharingKeyMismatch", {
          ip: h.text,
          otherService: r.req.key,
          sharingKey: h.sharingKey,
        });
      }
      if (req.backendKey !== h.backendKey) {
        return reason("SharedTrafficPolicyMismatch", { ip: h.text, otherService: r.req.key });
      }
      const clash = portOverlap(req.ports, r.req.ports);
      if (clash !== undefined) {
        return reason("SharedPortConflict", {
          ip: h.text,
          otherService: r.req.key,
          protocol: clash.protocol,
          port: clash.port,
        });
      }
    }
    return undefined;
  }

  /** Validates explicit IPs (requested or restored): placement and sharing. */
  private checkExplicit(req: NormalizedRequest, ips: readonly IP[]): Check<Choice> {
    const placed = this.checkPlacement(req, ips);
    if (!placed.ok) return placed;
    for (const ip of ips) {
      const h = this.held[ip.family].get(ip.value);
      const problem = h === undefined ? undefined : this.sharingProblem(h, req);
      if (problem !== undefined) return { ok: false, reason: problem };
    }
    return { ok: true, value: { pool: placed.value, ips } };
  }

  private choose(req: NormalizedRequest): Check<Choice> {
    if (req.requested.length > 0) return this.checkExplicit(req, req.requested);
    if (req.pool !== undefined) {
      const ps = this.poolsByName.get(req.pool);
      if (ps === undefined) return { ok: false, reason: reason("UnknownPool", { pool: req.pool }) };
      if (!this.admits(ps, req)) return { ok: false, reason: this.notAllowed(ps, req) };
      return this.chooseFrom([ps], req, true);
    }
    if (this.pools.length === 0) return { ok: false, reason: reason("NoPools", {}) };
    const pinned: PoolState[] = [];
    const open: PoolState[] = [];
    for (const ps of this.ordered) {
      if (!ps.pool.autoAssign) continue;
      if (!ps.restricted) open.push(ps);
      else if (this.admits(ps, req)) pinned.push(ps);
    }
    const candidates = pinned.length === 0 ? open : [...pinned, ...open];
    if (candidates.length === 0) {
      return { ok: false, reason: reason("NoEligiblePool", { namespace: req.namespace }) };
    }
    return this.chooseFrom(candidates, req, false);
  }

  /** The best address of `space` for the Service: a shareable one first, else the lowest free. */
  private pick(space: AddressSpace, req: NormalizedRequest): bigint | undefined {
    if (req.sharingKey !== "") {
      const shared = this.bySharingKey.get(req.sharingKey);
      if (shared !== undefined) {
        let best: bigint | undefined;
        for (const h of shared) {
          if (h.space !== space || (best !== undefined && h.value >= best)) continue;
          if (this.sharingProblem(h, req) === undefined) best = h.value;
        }
        if (best !== undefined) return best;
      }
    }
    return space.lowestFree();
  }

  private chooseFrom(
    candidates: readonly PoolState[],
    req: NormalizedRequest,
    annotated: boolean,
  ): Check<Choice> {
    const plans = familyPlans(req);
    let exhausted: { pool: string; family: IPFamily } | undefined;
    const exhaustedPools = new Set<string>();
    let anyHasFamilies = false;
    for (const plan of plans) {
      for (const ps of candidates) {
        const ips: IP[] = [];
        for (const family of plan) {
          const space = ps.spaces[family];
          if (space === undefined) break;
          const v = this.pick(space, req);
          if (v === undefined) {
            anyHasFamilies = true;
            exhausted ??= { pool: ps.pool.name, family };
            exhaustedPools.add(ps.pool.name);
            break;
          }
          ips.push({ family, value: v });
        }
        if (ips.length === plan.length) return { ok: true, value: { pool: ps, ips } };
        if (plan.every((f) => ps.spaces[f] !== undefined)) anyHasFamilies = true;
      }
    }
    if (anyHasFamilies && exhausted !== undefined) {
      if (exhaustedPools.size === 1)
        return { ok: false, reason: reason("PoolExhausted", exhausted) };
      return {
        ok: false,
        reason: reason("AllPoolsExhausted", {
          pools: [...exhaustedPools],
          families: plans[0] ?? [],
        }),
      };
    }
    const only = candidates[0];
    const primary = req.families[0] ?? 4;
    if (annotated && only !== undefined) {
      if (req.familyPolicy === "RequireDualStack") {
        return { ok: false, reason: reason("PoolNotDualStack", { pool: only.pool.name }) };
      }
      return {
        ok: false,
        reason: reason("PoolLacksFamily", { pool: only.pool.name, family: primary }),
      };
    }
    if (req.familyPolicy === "RequireDualStack") {
      return { ok: false, reason: reason("NoDualStackPool", {}) };
    }
    return { ok: false, reason: reason("NoPoolForFamily", { families: req.families }) };
  }

  private commit(req: NormalizedRequest, choice: Choice): Entry {
    const entry: Entry = {
      req,
      holdings: [],
      ips: Object.freeze(choice.ips.map(text)),
      pool: choice.pool,
    };
    entry.holdings = choice.ips.map((ip, i): Holding => this.hold(entry, ip, entry.ips[i]));
    this.services.set(req.key, entry);
    return entry;
  }

  /** Makes `entry` a holder of `ip`, in `entry.pool` (whose space for the family must exist). */
  private hold(entry: Entry, ip: IP, canonical = text(ip)): Holding {
    const map = this.held[ip.family];
    let h = map.get(ip.value);
    if (h === undefined) {
      const space = entry.pool.spaces[ip.family];
      if (space === undefined) throw new Error("allocator: pool lost a family it had");
      h = {
        family: ip.family,
        value: ip.value,
        text: canonical,
        space,
        sharingKey: entry.req.sharingKey,
        backendKey: entry.req.backendKey,
        holders: [entry], // a literal: sized 1, not grown from empty
      };
      map.set(ip.value, h);
      space.take(ip.value);
    } else {
      // Existing holders have this very sharing and backend key: checkExplicit or pick
      // verified it.
      h.holders.push(entry);
    }
    if (h.sharingKey !== "") this.index(h);
    return h;
  }

  private index(h: Holding): void {
    let set = this.bySharingKey.get(h.sharingKey);
    if (set === undefined) {
      set = new Set();
      this.bySharingKey.set(h.sharingKey, set);
    }
    set.add(h);
  }

  private unindex(h: Holding): void {
    if (h.sharingKey === "") return;
    const set = this.bySharingKey.get(h.sharingKey);
    if (set === undefined) return;
    set.delete(h);
    if (set.size === 0) this.bySharingKey.delete(h.sharingKey);
  }

  private dropHolder(h: Holding, r: Entry): void {
    removeHolder(h, r);
    if (h.holders.length > 0) return;
    this.held[h.family].delete(h.value);
    this.unindex(h);
    h.space.release(h.value);
  }
}

/** See `Allocator.missingFamily`. */
function lacking(e: Entry): IPFamily | undefined {
  const { req, holdings } = e;
  if (req.familyPolicy !== "PreferDualStack" || req.requested.length > 0) return undefined;
  if (req.families.length !== 2 || holdings.length !== 1) return undefined;
  return req.families.find((f) => f !== holdings[0]?.family);
}

function removeHolder(h: Holding, r: Entry): void {
  const i = h.holders.indexOf(r);
  if (i !== -1) h.holders.splice(i, 1);
}

function text(ip: IP): string {
  return formatIPValue(ip.family, ip.value);
}

function sameIPs(a: readonly IP[], b: readonly IP[]): boolean {
  return (
    a.length === b.length &&
    a.every((x, i) => {
      const y = b[i];
      return y !== undefined && x.family === y.family && x.value === y.value;
    })
  );
}
