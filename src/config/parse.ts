/**
 * `parseConfig`: the pool configuration YAML → a frozen, typed `Config`, or every problem.
 *
 * The format is MetalLB v0.12's legacy ConfigMap format, accepted verbatim, plus barelb's
 * per-pool keys (same kebab-case style):
 *
 * ```yaml
 * address-pools:
 * - name: default              # required, unique, non-empty
 *   protocol: layer2           # required: layer2, or bgp (its settings: see bgp.ts)
 *   addresses:                 # required, non-empty: CIDR, start-end range or single IP
 *   - 192.168.3.100-192.168.3.200
 *   - 2001:db8:1::/120
 *   auto-assign: true          # default true
 *   avoid-buggy-ips: false     # default false
 *   priority: 10               # barelb: integer, lower is preferred
 *   namespaces: [prod]         # barelb: only Services in these namespaces
 *   service-selectors:         # barelb: only Services matching one of these
 *   - matchLabels: {tier: web}
 *   node-selectors:            # barelb: only these nodes announce the pool's IPs
 *   - matchExpressions: [{key: rack, operator: In, values: [a, b]}]
 *   interfaces: [eth0]         # barelb: announce only on these interfaces
 * ```
 *
 * Parsing is strict and whole: unknown keys are errors anywhere, and one bad pool rejects the
 * whole config. All problems are collected, each naming pool, key and value.
 *
 * Compatibility notes (MetalLB read this YAML with go-yaml v2, a YAML 1.1 parser):
 * - booleans also accept the YAML 1.1 words `yes/no/on/off/y/n` (any of their case forms);
 * - `<<` merge keys work;
 * - a CIDR with host bits set is widened to its network like Go's `net.ParseCIDR` does
 *   (`192.168.1.5/24` → `192.168.1.0/24`), with a warning;
 * - MetalLB's BGP settings (`peers`, `bgp-communities`, `bfd-profiles`, a pool's
 *   `protocol: bgp` and `bgp-advertisements`) are parsed and checked by `bgp.ts` (a build
 *   with `BGP_MODE_AVAILABLE` false would then refuse a config that uses them with one error).
 */
import { parseAllDocuments } from "yaml";

import {
  countBuggyIPv4,
  formatIPValue,
  parseAddressBlock,
  rangeSize,
  type IP,
  type IPFamily,
} from "../net/ip.js";
import {
  configError,
  describeValue,
  typeName,
  type ConfigError,
  type ErrorLocation,
} from "./errors.js";
import {
  BGP_MODE_AVAILABLE,
  BGP_NOT_IMPLEMENTED,
  parseAdvertisements,
  parseBfdProfiles,
  parseNamedCommunities,
  parsePeers,
  unknownKeyReason,
} from "./bgp.js";
import { namespaceNameError, parseSelector, selectorKey } from "./selector.js";
import type { AddressBlock, BgpCommunity, Config, LabelSelector, Pool } from "./types.js";

export type ConfigResult =
  | {
      ok: true;
      config: Config;
      /** Things worth telling the user that do not make the config invalid. */
      warnings: readonly ConfigError[];
    }
  | { ok: false; errors: readonly ConfigError[] };

const TOP_KEYS = ["address-pools", "peers", "bgp-communities", "bfd-profiles"] as const;

/** A pool's keys, in the order the docs (and `config import`) write them. */
export const POOL_KEYS = [
  "name",
  "protocol",
  "addresses",
  "auto-assign",
  "avoid-buggy-ips",
  "priority",
  "namespaces",
  "service-selectors",
  "node-selectors",
  "interfaces",
  "bgp-advertisements",
] as const;

/** The named communities, and every name written (also those whose value is wrong). */
interface NamedCommunities {
  readonly communities: Readonly<Record<string, BgpCommunity>>;
  readonly names: ReadonlySet<string>;
}

const YAML11_TRUE = new Set(["y", "Y", "yes", "Yes", "YES", "on", "On", "ON"]);
const YAML11_FALSE = new Set(["n", "N", "no", "No", "NO", "off", "Off", "OFF"]);

/** Linux interface names: 1-15 bytes, no '/', ':' or whitespace, not "." or "..". */
const IFNAME_RE = /^[^\s/:]{1,15}$/;

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

interface Located {
  readonly block: AddressBlock;
  readonly index: number;
  readonly poolIndex: number;
  readonly at: ErrorLocation;
}

interface PoolDraft {
  readonly at: ErrorLocation;
  readonly index: number;
  pool: Pool | undefined;
}

class Collector {
  readonly errors: ConfigError[] = [];
  readonly warnings: ConfigError[] = [];
}

function parseBool(
  raw: unknown,
  key: string,
  fallback: boolean,
  report: (key: string, value: string | undefined, reason: string) => void,
): boolean | undefined {
  if (raw === undefined || raw === null) return fallback;
  if (typeof raw === "boolean") return raw;
  if (typeof raw === "string" && YAML11_TRUE.has(raw)) return true;
  if (typeof raw === "string" && YAML11_FALSE.has(raw)) return false;
  report(key, describeValue(raw), `must be true or false, not ${typeName(raw)}`);
  return undefined;
}

/** Parses a list of unique strings, each checked by `check` (returns an error or undefined). */
function parseStringList(
  raw: unknown,
  key: string,
  what: string,
  check: (s: string) => string | undefined,
  report: (key: string, value: string | undefined, reason: string) => void,
): string[] | undefined {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    report(key, describeValue(raw), `must be a list of ${what}, not ${typeName(raw)}`);
    return undefined;
  }
  const out: string[] = [];
  let valid = true;
  for (const [i, item] of (raw as unknown[]).entries()) {
    const k = `${key}[${i}]`;
    if (typeof item !== "string") {
      report(k, describeValue(item), `must be a string, not ${typeName(item)} (quote it)`);
      valid = false;
      continue;
    }
    const err = check(item);
    if (err !== undefined) {
      report(k, item, err);
      valid = false;
    } else if (out.includes(item)) {
      report(k, item, `duplicate ${what.replace(/s$/, "")}`);
      valid = false;
    } else {
      out.push(item);
    }
  }
  return valid ? out : undefined;
}

function parseSelectorList(
  raw: unknown,
  key: string,
  report: (key: string, value: string | undefined, reason: string) => void,
): LabelSelector[] | undefined {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    report(key, describeValue(raw), `must be a list of label selectors, not ${typeName(raw)}`);
    return undefined;
  }
  const out: LabelSelector[] = [];
  const seen = new Set<string>();
  let valid = true;
  for (const [i, item] of (raw as unknown[]).entries()) {
    const k = `${key}[${i}]`;
    const sel = parseSelector(item, k, report);
    if (sel === undefined) {
      valid = false;
      continue;
    }
    const sk = selectorKey(sel);
    if (seen.has(sk)) {
      report(k, undefined, "duplicate selector");
      valid = false;
      continue;
    }
    seen.add(sk);
    out.push(sel);
  }
  return valid ? out : undefined;
}

function interfaceNameError(name: string): string | undefined {
  if (!IFNAME_RE.test(name) || name === "." || name === "..") {
    return "invalid interface name: 1-15 characters, no '/', ':' or whitespace";
  }
  return undefined;
}

function parsePool(
  raw: Record<string, unknown>,
  index: number,
  at: ErrorLocation,
  c: Collector,
  located: Located[],
  named: NamedCommunities,
): Pool | undefined {
  const errorsBefore = c.errors.length;
  const report = (key: string, value: string | undefined, reason: string): void => {
    c.errors.push(configError(at, key, value, reason));
  };
  const warn = (key: string, value: string | undefined, reason: string): void => {
    c.warnings.push(configError(at, key, value, reason));
  };

  for (const key of Object.keys(raw)) {
    if ((POOL_KEYS as readonly string[]).includes(key)) continue;
    report(key, undefined, unknownKeyReason(key, POOL_KEYS));
  }

  // protocol
  const rawProtocol = raw.protocol;
  let protocol: Pool["protocol"] | undefined;
  if (rawProtocol === undefined || rawProtocol === null) {
    report("protocol", undefined, "missing (write protocol: layer2, or protocol: bgp)");
  } else if (typeof rawProtocol !== "string") {
    report(
      "protocol",
      describeValue(rawProtocol),
      `must be a string, not ${typeName(rawProtocol)}`,
    );
  } else if (rawProtocol === "layer2" || rawProtocol === "bgp") {
    protocol = rawProtocol;
  } else {
    report("protocol", rawProtocol, "unknown protocol (expected layer2 or bgp)");
  }
  if (protocol === "layer2" && raw["bgp-advertisements"] !== undefined) {
    report(
      "bgp-advertisements",
      undefined,
      "only for protocol: bgp pools (MetalLB refuses it in a layer2 pool too): remove it or set protocol: bgp",
    );
  }
  if (protocol === "bgp" && raw.interfaces !== undefined) {
    report(
      "interfaces",
      undefined,
      "only for protocol: layer2 pools (BGP routes are not tied to an interface): remove it",
    );
  }

  const autoAssign = parseBool(raw["auto-assign"], "auto-assign", true, report);
  const avoidBuggyIPs = parseBool(raw["avoid-buggy-ips"], "avoid-buggy-ips", false, report);

  // addresses
  const blocks: AddressBlock[] = [];
  const rawAddresses = raw.addresses;
  if (rawAddresses === undefined || rawAddresses === null) {
    report("addresses", undefined, "missing: list at least one CIDR, range or IP address");
  } else if (!Array.isArray(rawAddresses)) {
    report(
      "addresses",
      describeValue(rawAddresses),
      `must be a list of CIDRs, ranges or IP addresses, not ${typeName(rawAddresses)}`,
    );
  } else if (rawAddresses.length === 0) {
    report("addresses", undefined, "empty: list at least one CIDR, range or IP address");
  } else {
    rawAddresses.forEach((item: unknown, i) => {
      const key = `addresses[${i}]`;
      if (typeof item !== "string") {
        report(key, describeValue(item), `must be a string, not ${typeName(item)}`);
        return;
      }
      const parsed = parseAddressBlock(item);
      if (!parsed.ok) {
        report(key, item, parsed.error);
        return;
      }
      const { kind, family, start, end } = parsed.value;
      if (parsed.value.widened === true) {
        warn(
          key,
          item,
          `host bits set; using the whole network ${formatIPValue(family, start)}/${String(parsed.value.prefix)}`,
        );
      }
      const block: AddressBlock = { text: item, kind, family, start, end };
      blocks.push(block);
      located.push({ block, index: i, poolIndex: index, at });
    });
  }

  // priority
  let priority: number | undefined;
  const rawPriority = raw.priority;
  if (rawPriority !== undefined && rawPriority !== null) {
    if (typeof rawPriority !== "number" || !Number.isSafeInteger(rawPriority)) {
      report("priority", describeValue(rawPriority), "must be an integer (lower is preferred)");
    } else {
      priority = rawPriority;
    }
  }

  const namespaces = parseStringList(
    raw.namespaces,
    "namespaces",
    "namespaces",
    namespaceNameError,
    report,
  );
  const serviceSelectors = parseSelectorList(raw["service-selectors"], "service-selectors", report);
  const nodeSelectors = parseSelectorList(raw["node-selectors"], "node-selectors", report);
  const interfaces = parseStringList(
    raw.interfaces,
    "interfaces",
    "interfaces",
    interfaceNameError,
    report,
  );

  const bgpAdvertisements =
    protocol === "bgp" ? parseAdvertisements(raw["bgp-advertisements"], blocks, named, report) : [];

  if (
    c.errors.length > errorsBefore ||
    protocol === undefined ||
    bgpAdvertisements === undefined ||
    autoAssign === undefined ||
    avoidBuggyIPs === undefined ||
    namespaces === undefined ||
    serviceSelectors === undefined ||
    nodeSelectors === undefined ||
    interfaces === undefined ||
    at.pool === undefined
  ) {
    return undefined;
  }

  const size: Record<IPFamily, bigint> = { 4: 0n, 6: 0n };
  for (const b of blocks) {
    size[b.family] += rangeSize(b) - (avoidBuggyIPs ? countBuggyIPv4(b) : 0n);
  }
  const families: IPFamily[] = blocks.some((b) => b.family === 4) ? [4] : [];
  if (blocks.some((b) => b.family === 6)) families.push(6);
  if (size[4] === 0n && size[6] === 0n) {
    warn("addresses", undefined, "no usable address (avoid-buggy-ips excludes .0 and .255)");
  }
  return {
    name: at.pool,
    protocol,
    bgpAdvertisements,
    addresses: blocks,
    autoAssign,
    avoidBuggyIPs,
    priority,
    namespaces,
    serviceSelectors,
    nodeSelectors,
    interfaces,
    families,
    size,
  };
}

function describeBlock(l: Located, relativeTo: Located): string {
  const where =
    l.poolIndex === relativeTo.poolIndex
      ? `addresses[${l.index}]`
      : l.at.pool !== undefined
        ? `pool ${JSON.stringify(l.at.pool)} addresses[${l.index}]`
        : `${l.at.keyPrefix ?? ""}.addresses[${l.index}]`;
  return `${where} ${JSON.stringify(l.block.text)}`;
}

/** Reports each block that overlaps an earlier one (by address), naming both. */
function checkOverlaps(located: readonly Located[], c: Collector): void {
  for (const family of [4, 6] as const) {
    const sorted = located
      .filter((l) => l.block.family === family)
      .sort((a, b) =>
        a.block.start < b.block.start
          ? -1
          : a.block.start > b.block.start
            ? 1
            : a.poolIndex - b.poolIndex || a.index - b.index,
      );
    let reach: Located | undefined; // the block seen so far that ends last
    const found: { later: Located; earlier: Located }[] = [];
    for (const cur of sorted) {
      if (reach !== undefined && cur.block.start <= reach.block.end) {
        // Put the error on the entry that comes later in the file.
        const curFirst =
          cur.poolIndex < reach.poolIndex ||
          (cur.poolIndex === reach.poolIndex && cur.index < reach.index);
        found.push(curFirst ? { later: reach, earlier: cur } : { later: cur, earlier: reach });
      }
      if (reach === undefined || cur.block.end > reach.block.end) reach = cur;
    }
    found.sort((a, b) => a.later.poolIndex - b.later.poolIndex || a.later.index - b.later.index);
    for (const { later, earlier } of found) {
      c.errors.push(
        configError(
          later.at,
          `addresses[${later.index}]`,
          later.block.text,
          `overlaps ${describeBlock(earlier, later)}`,
        ),
      );
    }
  }
}

export interface ParseOptions {
  /**
   * Whether BGP pools and peers may be used (default `BGP_MODE_AVAILABLE`). When false, a
   * config that uses them is refused with `BGP_NOT_IMPLEMENTED` after every other check.
   */
  readonly bgpAvailable?: boolean;
}

/**
 * Parses and validates the whole config. Never throws on bad input: every problem is returned
 * with its location. On success the config is deeply frozen.
 */
export function parseConfig(text: string, options: ParseOptions = {}): ConfigResult {
  const bgpAvailable = options.bgpAvailable ?? BGP_MODE_AVAILABLE;
  const c = new Collector();
  const top: ErrorLocation = {};
  const docs = parseAllDocuments(text, { merge: true, prettyErrors: true, uniqueKeys: true });
  if (!Array.isArray(docs)) {
    // An empty stream (empty text or only comments): a valid config with no pools.
    return emptyConfig(c);
  }
  if (docs.length > 1) {
    return {
      ok: false,
      errors: [
        configError(top, undefined, undefined, "expected one YAML document, found several (---)"),
      ],
    };
  }
  const doc = docs[0];
  if (doc === undefined) return emptyConfig(c);
  for (const e of [...doc.errors, ...doc.warnings]) {
    c.errors.push(configError(top, undefined, undefined, `YAML: ${firstLine(e.message)}`));
  }
  if (c.errors.length > 0) return { ok: false, errors: c.errors };

  let root: unknown;
  try {
    root = doc.toJS({ maxAliasCount: 100 });
  } catch (e: unknown) {
    const msg = e instanceof Error ? e.message : String(e);
    return {
      ok: false,
      errors: [configError(top, undefined, undefined, `YAML: ${firstLine(msg)}`)],
    };
  }
  if (root === null || root === undefined) return emptyConfig(c);
  if (!isMap(root)) {
    return {
      ok: false,
      errors: [
        configError(
          top,
          undefined,
          undefined,
          `the config must be a map with address-pools, not ${typeName(root)}`,
        ),
      ],
    };
  }
  for (const key of Object.keys(root)) {
    if ((TOP_KEYS as readonly string[]).includes(key)) continue;
    c.errors.push(configError(top, key, undefined, unknownKeyReason(key, TOP_KEYS)));
  }
  const reportTop = (key: string, value: string | undefined, reason: string): void => {
    c.errors.push(configError(top, key, value, reason));
  };
  const named = parseNamedCommunities(root["bgp-communities"], reportTop);
  const bfdProfiles = parseBfdProfiles(root["bfd-profiles"], reportTop);
  // Peers may name any profile written, also one with a mistake (reported on its own).
  const bfdNames = new Set<string>();
  for (const p of Array.isArray(root["bfd-profiles"]) ? (root["bfd-profiles"] as unknown[]) : []) {
    if (isMap(p) && typeof p.name === "string") bfdNames.add(p.name);
  }
  const peers = parsePeers(root.peers, bfdNames, reportTop);

  const rawPools = root["address-pools"];
  const drafts: PoolDraft[] = [];
  const located: Located[] = [];
  if (rawPools !== undefined && rawPools !== null && !Array.isArray(rawPools)) {
    c.errors.push(
      configError(
        top,
        "address-pools",
        describeValue(rawPools),
        `must be a list of pools, not ${typeName(rawPools)}`,
      ),
    );
  } else if (Array.isArray(rawPools)) {
    const firstIndexOf = new Map<string, number>();
    rawPools.forEach((raw: unknown, i) => {
      const prefix = `address-pools[${i}]`;
      if (!isMap(raw)) {
        c.errors.push(
          configError(
            { keyPrefix: prefix },
            undefined,
            describeValue(raw),
            `a pool must be a map, not ${typeName(raw)}`,
          ),
        );
        return;
      }
      const name = raw.name;
      let at: ErrorLocation = { keyPrefix: prefix };
      if (name === undefined || name === null) {
        c.errors.push(configError(at, "name", undefined, "missing: every pool needs a name"));
      } else if (typeof name !== "string") {
        c.errors.push(
          configError(at, "name", describeValue(name), `must be a string, not ${typeName(name)}`),
        );
      } else if (name.trim() === "") {
        c.errors.push(configError(at, "name", name, "empty: every pool needs a name"));
      } else {
        const first = firstIndexOf.get(name);
        if (first !== undefined) {
          c.errors.push(
            configError(
              { pool: name },
              "name",
              name,
              `duplicate pool name (address-pools[${first}] and address-pools[${i}])`,
            ),
          );
        } else {
          firstIndexOf.set(name, i);
          at = { pool: name };
        }
      }
      drafts.push({ at, index: i, pool: parsePool(raw, i, at, c, located, named) });
    });
  }
  checkOverlaps(located, c);

  // Every real mistake first; then, while the speaker has no BGP, one line for using it.
  if (!bgpAvailable && writesBgp(root)) {
    c.errors.push(configError(top, undefined, undefined, BGP_NOT_IMPLEMENTED));
  }
  if (c.errors.length > 0 || peers === undefined || bfdProfiles === undefined) {
    return { ok: false, errors: c.errors };
  }
  const pools = drafts.map((d) => d.pool).filter((p): p is Pool => p !== undefined);
  if (pools.length === 0) {
    c.warnings.push(
      configError(top, "address-pools", undefined, "no address pools: no Service will get an IP"),
    );
  }
  const config: Config = { pools, peers, bfdProfiles, communities: named.communities };
  return { ok: true, config: deepFreeze(config), warnings: c.warnings };
}

/**
 * Whether the document asks for BGP: a non-empty `peers` or a pool with `protocol: bgp`
 * (read from the raw YAML, so that it is known also when the rest has mistakes).
 */
function writesBgp(root: Record<string, unknown>): boolean {
  const peers = root.peers;
  if (Array.isArray(peers) ? peers.length > 0 : peers !== undefined && peers !== null) {
    return true;
  }
  const pools = root["address-pools"];
  return Array.isArray(pools) && pools.some((p: unknown) => isMap(p) && p.protocol === "bgp");
}

/** The YAML library's message without its code frame, so that every error fits one line. */
function firstLine(message: string): string {
  return (message.split("\n")[0] ?? message).replace(/:$/, "");
}

function emptyConfig(c: Collector): ConfigResult {
  c.warnings.push(
    configError({}, "address-pools", undefined, "no address pools: no Service will get an IP"),
  );
  const config: Config = { pools: [], peers: [], bfdProfiles: [], communities: {} };
  return { ok: true, config: deepFreeze(config), warnings: c.warnings };
}

/** The pool with this name, if any. */
export function findPool(config: Config, name: string): Pool | undefined {
  return config.pools.find((p) => p.name === name);
}

/** The pool whose addresses hold `ip`, if any (pools never overlap). */
export function findPoolForIP(config: Config, ip: IP): Pool | undefined {
  return config.pools.find((p) =>
    p.addresses.some((b) => b.family === ip.family && b.start <= ip.value && ip.value <= b.end),
  );
}
