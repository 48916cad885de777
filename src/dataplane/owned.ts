import { formatIP, ipToBytes, parseIP, type IPFamily } from "../net/ip.js";

/**
 * The IPs this node answers for, each with the interfaces it may be answered on. The
 * speaker's election decides this set; the data plane only follows it.
 */

export interface Ownership {
  /** Interface names the IP is announced on; absent or empty: every usable interface. */
  interfaces?: readonly string[];
}

export interface OwnedEntry {
  /** Canonical text; the bytes are parsed from it when needed (see `ownedBytes`). */
  ip: string;
  family: IPFamily;
  /** undefined: every interface. */
  interfaces: ReadonlySet<string> | undefined;
}

/**
 * The address bytes of an entry. Not kept in the entry: a speaker may own thousands of IPs, a
 * small typed array costs about 300 bytes of heap each, and the bytes are needed only to join
 * a multicast group and for the few rounds of a gratuitous burst.
 */
export function ownedBytes(e: OwnedEntry): Uint8Array {
  const ip = parseIP(e.ip);
  if (!ip.ok) throw new Error(`owned entry with an invalid IP: ${e.ip}`);
  return ipToBytes(ip.value);
}

export class OwnedSet {
  private constructor(private readonly entries: ReadonlyMap<string, OwnedEntry>) {}

  static readonly empty = new OwnedSet(new Map());

  /**
   * Builds the set from IP text (any valid spelling; keys become canonical). Invalid IPs, and
   * IPv4-mapped IPv6 ones (see `src/net/ip.ts`), are left out and listed in `errors`, so one
   * bad entry does not stop the others.
   */
  static from(input: Iterable<readonly [string, Ownership]>): {
    owned: OwnedSet;
    errors: string[];
  } {
    const map = new Map<string, OwnedEntry>();
    const errors: string[] = [];
    for (const [text, o] of input) {
      const parsed = parseIP(text);
      if (!parsed.ok) {
        errors.push(`${JSON.stringify(text)}: ${parsed.error}`);
        continue;
      }
      const ip = formatIP(parsed.value);
      const names = o.interfaces ?? [];
      map.set(ip, {
        ip,
        family: parsed.value.family,
        interfaces: names.length === 0 ? undefined : new Set(names),
      });
    }
    return { owned: new OwnedSet(map), errors };
  }

  get size(): number {
    return this.entries.size;
  }

  get(ip: string): OwnedEntry | undefined {
    return this.entries.get(ip);
  }

  /** Whether `ip` (canonical text) is owned and may be answered on `iface`. */
  allows(ip: string, iface: string): boolean {
    const e = this.entries.get(ip);
    return e !== undefined && (e.interfaces === undefined || e.interfaces.has(iface));
  }

  values(): IterableIterator<OwnedEntry> {
    return this.entries.values();
  }

  /** IPs that are new in `this` (or whose interfaces changed) and those no longer owned. */
  diff(previous: OwnedSet): { added: OwnedEntry[]; changed: OwnedEntry[]; removed: OwnedEntry[] } {
    const added: OwnedEntry[] = [];
    const changed: OwnedEntry[] = [];
    const removed: OwnedEntry[] = [];
    for (const e of this.entries.values()) {
      const before = previous.entries.get(e.ip);
      if (before === undefined) added.push(e);
      else if (!sameInterfaces(before.interfaces, e.interfaces)) changed.push(e);
    }
    for (const e of previous.entries.values()) if (!this.entries.has(e.ip)) removed.push(e);
    return { added, changed, removed };
  }
}

function sameInterfaces(
  a: ReadonlySet<string> | undefined,
  b: ReadonlySet<string> | undefined,
): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.size === b.size && [...a].every((x) => b.has(x));
}
