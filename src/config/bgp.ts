/**
 * MetalLB v0.12's BGP settings in the legacy ConfigMap: the top-level `peers`,
 * `bgp-communities` and `bfd-profiles`, and a `protocol: bgp` pool's `bgp-advertisements`.
 * `parse.ts` calls these; each reports every problem with its key and returns a value only
 * when its part is wholly valid.
 *
 * The rules are MetalLB's (`internal/config` of v0.12), kept so that a ConfigMap MetalLB
 * accepted parses unchanged, plus a few checks for settings that could never work (an IPv6
 * router ID, a keepalive of 0 with a hold time, an MD5 key longer than Linux takes):
 * - ASNs 1-4294967295 (4-octet); a hold time of 0 or at least 3s (rounded down to seconds,
 *   default 90s); a keepalive time not above the hold time (default a third of it);
 * - a community is `AS:value` (two 16-bit numbers), `large:A:B:C` (three 32-bit numbers, the
 *   spelling of later MetalLB versions) or a name from `bgp-communities`;
 * - an aggregation length may not be shorter than the shortest prefix that any one
 *   `addresses` entry of its family summarises to (a range counts as its CIDRs).
 *
 * `BGP_MODE_AVAILABLE` gates the whole mode (on).
 */
import { familyBits, formatIP, parseIP, type IP, type IPFamily } from "../net/ip.js";
import { describeValue, typeName } from "./errors.js";
import { parseSelector, selectorKey, type Report } from "./selector.js";
import type {
  AddressBlock,
  BfdProfile,
  BgpAdvertisement,
  BgpCommunity,
  BgpPeer,
  Config,
  LabelSelector,
} from "./types.js";

/**
 * Whether barelb's speaker can announce BGP pools (it can). Were it false, `parseConfig` would
 * check every BGP setting and then refuse a config that uses BGP with `BGP_NOT_IMPLEMENTED`;
 * `ParseOptions.bgpAvailable` still closes the gate for one parse (tests).
 */
export const BGP_MODE_AVAILABLE = true;

export const BGP_NOT_IMPLEMENTED =
  "BGP mode is not implemented yet in this version of barelb (the BGP settings were checked " +
  "and are shown above if wrong); use protocol: layer2 for now";

/** Whether a parsed config needs the BGP speaker: BGP pools or peers. */
export function usesBgp(config: Pick<Config, "pools" | "peers">): boolean {
  return config.peers.length > 0 || config.pools.some((p) => p.protocol === "bgp");
}

export const PEER_KEYS = [
  "peer-address",
  "peer-asn",
  "my-asn",
  "peer-port",
  "source-address",
  "hold-time",
  "keepalive-time",
  "router-id",
  "password",
  "node-selectors",
  "bfd-profile",
  "ebgp-multihop",
] as const;

export const BFD_PROFILE_KEYS = [
  "name",
  "receive-interval",
  "transmit-interval",
  "detect-multiplier",
  "echo-interval",
  "echo-mode",
  "passive-mode",
  "minimum-ttl",
] as const;

export const ADVERTISEMENT_KEYS = [
  "aggregation-length",
  "aggregation-length-v6",
  "localpref",
  "communities",
] as const;

const MAX_ASN = 4294967295;
const DEFAULT_PORT = 179;
const DEFAULT_HOLD_SECONDS = 90;
/** Linux's TCP_MD5SIG_MAXKEYLEN. */
const MAX_PASSWORD_BYTES = 80;

const ASN_RANGE = "out of range: an AS number is 1-4294967295";
const COMMUNITY_FORMS =
  "write AS:value (two numbers 0-65535), large:A:B:C (three numbers 0-4294967295) or a name from bgp-communities";

type Unknown = Record<string, unknown>;

function isMap(v: unknown): v is Unknown {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Suggests the kebab-case key for a camelCase spelling (`peerAddress` → `peer-address`). */
export function unknownKeyReason(key: string, known: readonly string[]): string {
  const kebab = key.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
  if (kebab !== key && known.includes(kebab)) return `unknown key (did you mean ${kebab}?)`;
  return `unknown key (expected one of ${known.join(", ")})`;
}

function refuseUnknownKeys(
  raw: Unknown,
  known: readonly string[],
  report: Report,
  hints: Readonly<Record<string, string>> = {},
): void {
  for (const key of Object.keys(raw)) {
    if (known.includes(key)) continue;
    report(key, undefined, hints[key] ?? unknownKeyReason(key, known));
  }
}

/**
 * An integer in `[min, max]`, or undefined (reported) when it is not; `fallback` when the
 * key is absent.
 */
function parseInteger<T extends number | undefined>(
  raw: unknown,
  key: string,
  min: number,
  max: number,
  fallback: T,
  report: Report,
  rangeReason = `out of range (${min}-${max})`,
): number | T | null {
  if (raw === undefined || raw === null) return fallback;
  if (typeof raw !== "number" || !Number.isInteger(raw)) {
    report(key, describeValue(raw), `must be an integer, not ${typeName(raw)}`);
    return null;
  }
  if (raw < min || raw > max) {
    report(key, String(raw), rangeReason);
    return null;
  }
  return raw;
}

function parseBoolean(raw: unknown, key: string, report: Report): boolean | null {
  if (raw === undefined || raw === null) return false;
  if (typeof raw === "boolean") return raw;
  report(key, describeValue(raw), `must be true or false, not ${typeName(raw)}`);
  return null;
}

function parseAddress(raw: unknown, key: string, report: Report): IP | null | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== "string") {
    report(key, describeValue(raw), `must be an IP address, not ${typeName(raw)}`);
    return null;
  }
  const ip = parseIP(raw.trim());
  if (!ip.ok) {
    report(key, raw, ip.error);
    return null;
  }
  return ip.value;
}

const GO_DURATION_UNITS: Readonly<Record<string, number>> = {
  ns: 1e-9,
  us: 1e-6,
  µs: 1e-6,
  μs: 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
};

/**
 * Seconds in a Go duration (`time.ParseDuration`: `90s`, `1m30s`, `1.5h`, `500ms`, `0`), or
 * undefined when the text is not one.
 */
export function parseGoDuration(text: string): number | undefined {
  const m = /^([-+]?)(.*)$/.exec(text);
  let rest = m?.[2] ?? "";
  if (rest === "0") return 0;
  if (rest === "") return undefined;
  let seconds = 0;
  while (rest !== "") {
    const part = /^(\d*(?:\.\d*)?)(ns|us|µs|μs|ms|s|m|h)/.exec(rest);
    const num = part?.[1];
    const unit = part?.[2];
    if (num === undefined || unit === undefined || !/\d/.test(num)) return undefined;
    seconds += Number(num) * (GO_DURATION_UNITS[unit] ?? 0);
    rest = rest.slice(part?.[0].length ?? rest.length);
  }
  return m?.[1] === "-" ? -seconds : seconds;
}

/** A duration key in whole seconds (rounded down, as MetalLB does), or null when invalid. */
function parseSeconds(raw: unknown, key: string, report: Report): number | null | undefined {
  if (raw === undefined || raw === null) return undefined;
  const text = typeof raw === "number" ? String(raw) : raw;
  if (typeof text !== "string") {
    report(key, describeValue(raw), `must be a duration like 90s, not ${typeName(raw)}`);
    return null;
  }
  const seconds = parseGoDuration(text.trim());
  if (seconds === undefined) {
    report(key, text, "must be a duration with a unit, like 90s, 1m30s or 3m");
    return null;
  }
  return Math.trunc(seconds);
}

/** A standard (`AS:value`) or large (`large:A:B:C`) community, or undefined. */
export function parseCommunity(text: string): BgpCommunity | undefined {
  const std = /^(\d{1,5}):(\d{1,5})$/.exec(text);
  if (std !== null) {
    const as = Number(std[1]);
    const value = Number(std[2]);
    if (as > 0xffff || value > 0xffff) return undefined;
    return { kind: "standard", text: `${as}:${value}`, value: as * 0x10000 + value };
  }
  const large = /^large:(\d{1,10}):(\d{1,10}):(\d{1,10})$/.exec(text);
  if (large !== null) {
    const parts = [Number(large[1]), Number(large[2]), Number(large[3])] as const;
    if (parts.some((p) => p > MAX_ASN)) return undefined;
    return {
      kind: "large",
      text: `large:${parts.join(":")}`,
      globalAdmin: parts[0],
      localData1: parts[1],
      localData2: parts[2],
    };
  }
  return undefined;
}

/**
 * `bgp-communities`: a map of names to community values. Returns the names that parsed (a
 * name with a bad value is reported here and not again where it is used).
 */
export function parseNamedCommunities(
  raw: unknown,
  report: Report,
): { communities: Record<string, BgpCommunity>; names: Set<string> } {
  const communities: Record<string, BgpCommunity> = {};
  const names = new Set<string>();
  if (raw === undefined || raw === null) return { communities, names };
  if (!isMap(raw)) {
    report(
      "bgp-communities",
      describeValue(raw),
      `must be a map of names to communities (no-advertise: 65535:65282), not ${typeName(raw)}`,
    );
    return { communities, names };
  }
  for (const [name, value] of Object.entries(raw)) {
    names.add(name);
    const key = `bgp-communities.${name}`;
    if (typeof value !== "string") {
      report(
        key,
        describeValue(value),
        `must be a community such as 65535:65282, not ${typeName(value)}`,
      );
      continue;
    }
    const c = parseCommunity(value.trim());
    if (c === undefined) {
      report(key, value, `invalid community: write AS:value (two numbers 0-65535) or large:A:B:C`);
      continue;
    }
    communities[name] = c;
  }
  return { communities, names };
}

/** `bfd-profiles`: a list of named profiles (intervals in milliseconds, as in FRR). */
export function parseBfdProfiles(raw: unknown, report: Report): BfdProfile[] | undefined {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    report("bfd-profiles", describeValue(raw), `must be a list of profiles, not ${typeName(raw)}`);
    return undefined;
  }
  const out: BfdProfile[] = [];
  const firstIndex = new Map<string, number>();
  let valid = true;
  for (const [i, item] of (raw as unknown[]).entries()) {
    const prefix = `bfd-profiles[${i}]`;
    const sub: Report = (key, value, reason) => report(`${prefix}.${key}`, value, reason);
    if (!isMap(item)) {
      report(prefix, describeValue(item), `a BFD profile must be a map, not ${typeName(item)}`);
      valid = false;
      continue;
    }
    const before = { valid: true };
    const track: Report = (k, v, r) => {
      before.valid = false;
      sub(k, v, r);
    };
    refuseUnknownKeys(item, BFD_PROFILE_KEYS, track, {
      "echo-receive-interval": "unknown key (MetalLB v0.12 reads echo-interval)",
      "echo-transmit-interval": "unknown key (MetalLB v0.12 reads echo-interval)",
    });
    const name = item.name;
    if (typeof name !== "string" || name.trim() === "") {
      track(
        "name",
        name === undefined || name === null ? undefined : describeValue(name),
        name === undefined || name === null
          ? "missing: every BFD profile needs a name"
          : "must be a non-empty string",
      );
    } else if (firstIndex.has(name)) {
      track("name", name, `duplicate BFD profile name (bfd-profiles[${firstIndex.get(name)}])`);
    } else {
      firstIndex.set(name, i);
    }
    const ms = (k: string): number | null | undefined =>
      parseInteger(item[k], k, 10, 60000, undefined, track, "out of range (10-60000 milliseconds)");
    const receiveInterval = ms("receive-interval");
    const transmitInterval = ms("transmit-interval");
    const echoInterval = ms("echo-interval");
    const detectMultiplier = parseInteger(
      item["detect-multiplier"],
      "detect-multiplier",
      2,
      255,
      undefined,
      track,
    );
    const minimumTtl = parseInteger(item["minimum-ttl"], "minimum-ttl", 1, 254, undefined, track);
    const echoMode = parseBoolean(item["echo-mode"], "echo-mode", track);
    const passiveMode = parseBoolean(item["passive-mode"], "passive-mode", track);
    if (
      !before.valid ||
      typeof name !== "string" ||
      receiveInterval === null ||
      transmitInterval === null ||
      echoInterval === null ||
      detectMultiplier === null ||
      minimumTtl === null ||
      echoMode === null ||
      passiveMode === null
    ) {
      valid = false;
      continue;
    }
    out.push({
      name,
      receiveInterval,
      transmitInterval,
      detectMultiplier,
      echoInterval,
      echoMode,
      passiveMode,
      minimumTtl,
    });
  }
  return valid ? out : undefined;
}

/** `peers`: the routers to open BGP sessions with. */
export function parsePeers(
  raw: unknown,
  bfdProfileNames: ReadonlySet<string>,
  report: Report,
): BgpPeer[] | undefined {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    report("peers", describeValue(raw), `must be a list of peers, not ${typeName(raw)}`);
    return undefined;
  }
  const out: BgpPeer[] = [];
  const seen = new Map<string, number>();
  let valid = true;
  for (const [i, item] of (raw as unknown[]).entries()) {
    const prefix = `peers[${i}]`;
    if (!isMap(item)) {
      report(prefix, describeValue(item), `a peer must be a map, not ${typeName(item)}`);
      valid = false;
      continue;
    }
    let problems = 0;
    const r: Report = (key, value, reason) => {
      problems++;
      report(`${prefix}.${key}`, value, reason);
    };
    const peer = parsePeer(item, bfdProfileNames, r);
    if (problems > 0 || peer === undefined) {
      valid = false;
      continue;
    }
    const identity = JSON.stringify(peer, (_k, v: unknown) =>
      typeof v === "bigint" ? v.toString() : v,
    );
    const first = seen.get(identity);
    if (first !== undefined) {
      report(prefix, undefined, `the same peer as peers[${first}]: remove one`);
      valid = false;
      continue;
    }
    seen.set(identity, i);
    out.push(peer);
  }
  return valid ? out : undefined;
}

function parsePeer(
  raw: Unknown,
  bfdProfileNames: ReadonlySet<string>,
  report: Report,
): BgpPeer | undefined {
  refuseUnknownKeys(raw, PEER_KEYS, report);
  const asn = (key: string, what: string): number | null => {
    const v = parseInteger(raw[key], key, 1, MAX_ASN, undefined, report, ASN_RANGE);
    if (v === undefined) {
      report(key, undefined, `missing: ${what} (1-4294967295)`);
      return null;
    }
    return v;
  };
  const myASN = asn("my-asn", "the AS number barelb speaks as");
  const peerASN = asn("peer-asn", "the router's AS number");

  let address = parseAddress(raw["peer-address"], "peer-address", report);
  if (address === undefined) {
    report("peer-address", undefined, "missing: the router's IP address");
    address = null;
  }
  const sourceAddress = parseAddress(raw["source-address"], "source-address", report);
  if (address && sourceAddress && address.family !== sourceAddress.family) {
    report(
      "source-address",
      formatIP(sourceAddress),
      `not the same IP family as peer-address ${formatIP(address)}`,
    );
  }
  const port = parseInteger(raw["peer-port"], "peer-port", 1, 65535, DEFAULT_PORT, report);

  let holdTime = parseSeconds(raw["hold-time"], "hold-time", report);
  if (holdTime !== undefined && holdTime !== null && holdTime !== 0 && holdTime < 3) {
    report(
      "hold-time",
      String(raw["hold-time"]),
      "must be 0 (no keepalives) or at least 3s (RFC 4271)",
    );
    holdTime = null;
  }
  const hold = holdTime === undefined ? DEFAULT_HOLD_SECONDS : holdTime;
  let keepaliveTime = parseSeconds(raw["keepalive-time"], "keepalive-time", report);
  if (hold !== null && keepaliveTime !== null && keepaliveTime !== undefined) {
    if (keepaliveTime < 0 || keepaliveTime > hold) {
      report(
        "keepalive-time",
        String(raw["keepalive-time"]),
        `must not be longer than hold-time (${hold}s); a third of it is usual`,
      );
      keepaliveTime = null;
    } else if (keepaliveTime === 0 && hold !== 0) {
      report(
        "keepalive-time",
        String(raw["keepalive-time"]),
        `must be at least 1s while hold-time is ${hold}s (only hold-time 0 turns keepalives off)`,
      );
      keepaliveTime = null;
    }
  }
  const keepalive =
    keepaliveTime === undefined ? (hold === null ? null : Math.trunc(hold / 3)) : keepaliveTime;

  let routerID = parseAddress(raw["router-id"], "router-id", report);
  if (routerID && (routerID.family !== 4 || routerID.value === 0n)) {
    report(
      "router-id",
      String(raw["router-id"]),
      "must be a non-zero IPv4 address (a BGP router ID is 4 bytes), also for IPv6 sessions",
    );
    routerID = null;
  }

  let password: string | undefined | null;
  const rawPassword = raw.password;
  if (rawPassword === undefined || rawPassword === null) {
    password = undefined;
  } else if (typeof rawPassword !== "string") {
    report("password", undefined, `must be a string, not ${typeName(rawPassword)} (quote it)`);
    password = null;
  } else if (/[\r\n]/.test(rawPassword)) {
    report("password", undefined, "must not contain a line break");
    password = null;
  } else if (Buffer.byteLength(rawPassword) > MAX_PASSWORD_BYTES) {
    report("password", undefined, `too long: TCP MD5 keys are at most ${MAX_PASSWORD_BYTES} bytes`);
    password = null;
  } else {
    password = rawPassword === "" ? undefined : rawPassword;
  }

  const nodeSelectors = parsePeerNodeSelectors(raw["node-selectors"], report);

  let bfdProfile: string | undefined | null;
  const rawBfd = raw["bfd-profile"];
  if (rawBfd === undefined || rawBfd === null || rawBfd === "") {
    bfdProfile = undefined;
  } else if (typeof rawBfd !== "string") {
    report("bfd-profile", describeValue(rawBfd), `must be a profile name, not ${typeName(rawBfd)}`);
    bfdProfile = null;
  } else if (!bfdProfileNames.has(rawBfd)) {
    report("bfd-profile", rawBfd, "no such profile in bfd-profiles");
    bfdProfile = null;
  } else {
    bfdProfile = rawBfd;
  }

  const ebgpMultiHop = parseBoolean(raw["ebgp-multihop"], "ebgp-multihop", report);
  if (ebgpMultiHop === true && myASN !== null && myASN === peerASN) {
    report(
      "ebgp-multihop",
      "true",
      "only for eBGP peers (my-asn equals peer-asn here, an iBGP session): remove it",
    );
    return undefined;
  }

  if (
    myASN === null ||
    peerASN === null ||
    address === null ||
    sourceAddress === null ||
    port === null ||
    hold === null ||
    keepalive === null ||
    routerID === null ||
    password === null ||
    nodeSelectors === undefined ||
    bfdProfile === null ||
    ebgpMultiHop === null
  ) {
    return undefined;
  }
  return {
    myASN,
    peerASN,
    address,
    port,
    sourceAddress,
    holdTime: hold,
    keepaliveTime: keepalive,
    routerID,
    password,
    nodeSelectors,
    bfdProfile,
    ebgpMultiHop,
  };
}

/** A peer's `node-selectors`, in MetalLB v0.12's spelling (`match-labels`, `match-expressions`). */
function parsePeerNodeSelectors(raw: unknown, report: Report): LabelSelector[] | undefined {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    report(
      "node-selectors",
      describeValue(raw),
      `must be a list of node selectors (match-labels, match-expressions), not ${typeName(raw)}`,
    );
    return undefined;
  }
  const out: LabelSelector[] = [];
  const seen = new Set<string>();
  let valid = true;
  for (const [i, item] of (raw as unknown[]).entries()) {
    const key = `node-selectors[${i}]`;
    const sel = parseSelector(item, key, report, PEER_SELECTOR_SPELLING);
    if (sel === undefined) {
      valid = false;
      continue;
    }
    const sk = selectorKey(sel);
    if (seen.has(sk)) {
      report(key, undefined, "duplicate selector");
      valid = false;
      continue;
    }
    seen.add(sk);
    out.push(sel);
  }
  return valid ? out : undefined;
}

const PEER_SELECTOR_SPELLING = {
  labels: "match-labels",
  expressions: "match-expressions",
} as const;

/**
 * The shortest prefix length among the CIDRs that `[start, end]` summarises to (what MetalLB
 * calls the lowest mask of an `addresses` entry).
 */
export function shortestPrefix(family: IPFamily, start: bigint, end: bigint): number {
  const bits = familyBits(family);
  let shortest: number = bits;
  let cur = start;
  while (cur <= end) {
    // The largest aligned block starting at `cur` that ends within `end`.
    let size = 0;
    while (size < bits) {
      const next = 1n << BigInt(size + 1);
      if (cur % next !== 0n || cur + next - 1n > end) break;
      size++;
    }
    shortest = Math.min(shortest, bits - size);
    cur += 1n << BigInt(size);
  }
  return shortest;
}

/**
 * A BGP pool's `bgp-advertisements` (none → one advertisement with MetalLB's defaults: each
 * IP as a /32 or /128, no local preference, no communities).
 */
export function parseAdvertisements(
  raw: unknown,
  blocks: readonly AddressBlock[],
  named: { communities: Readonly<Record<string, BgpCommunity>>; names: ReadonlySet<string> },
  report: Report,
): BgpAdvertisement[] | undefined {
  const defaults: BgpAdvertisement = {
    aggregationLength: 32,
    aggregationLengthV6: 128,
    localPref: undefined,
    communities: [],
  };
  if (raw === undefined || raw === null) return [defaults];
  if (!Array.isArray(raw)) {
    report(
      "bgp-advertisements",
      describeValue(raw),
      `must be a list of advertisements, not ${typeName(raw)}`,
    );
    return undefined;
  }
  if (raw.length === 0) return [defaults];
  const out: BgpAdvertisement[] = [];
  let valid = true;
  for (const [i, item] of (raw as unknown[]).entries()) {
    const prefix = `bgp-advertisements[${i}]`;
    if (!isMap(item)) {
      report(prefix, describeValue(item), `an advertisement must be a map, not ${typeName(item)}`);
      valid = false;
      continue;
    }
    let problems = 0;
    const r: Report = (key, value, reason) => {
      problems++;
      report(`${prefix}.${key}`, value, reason);
    };
    refuseUnknownKeys(item, ADVERTISEMENT_KEYS, r);
    const lengths: Record<IPFamily, number | null> = {
      4: parseInteger(item["aggregation-length"], "aggregation-length", 0, 32, 32, r),
      6: parseInteger(item["aggregation-length-v6"], "aggregation-length-v6", 0, 128, 128, r),
    };
    for (const family of [4, 6] as const) {
      const length = lengths[family];
      if (length === null) continue;
      const key = family === 4 ? "aggregation-length" : "aggregation-length-v6";
      for (const [bi, b] of blocks.entries()) {
        if (b.family !== family) continue;
        const shortest = shortestPrefix(family, b.start, b.end);
        if (length < shortest) {
          r(
            key,
            String(length),
            `shorter than addresses[${bi}] ${JSON.stringify(b.text)} (/${shortest}): an aggregate ` +
              `may not be wider than the pool's own prefixes; use ${shortest} or more`,
          );
          lengths[family] = null;
          break;
        }
      }
    }
    const localPref = parseInteger(item.localpref, "localpref", 0, MAX_ASN, undefined, r);
    const communities = parseAdvertisementCommunities(item.communities, named, r);
    if (
      problems > 0 ||
      lengths[4] === null ||
      lengths[6] === null ||
      localPref === null ||
      communities === undefined
    ) {
      valid = false;
      continue;
    }
    out.push({
      aggregationLength: lengths[4],
      aggregationLengthV6: lengths[6],
      localPref,
      communities,
    });
  }
  return valid ? out : undefined;
}

/**
 * The most communities one advertisement may list. A route's attributes travel in one UPDATE
 * of at most 4096 bytes; 64 large communities are 768 bytes, so even two advertisements'
 * merged for one prefix leave room for the prefixes.
 */
export const MAX_COMMUNITIES = 64;

function parseAdvertisementCommunities(
  raw: unknown,
  named: { communities: Readonly<Record<string, BgpCommunity>>; names: ReadonlySet<string> },
  report: Report,
): BgpCommunity[] | undefined {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    report(
      "communities",
      describeValue(raw),
      `must be a list of communities, not ${typeName(raw)}`,
    );
    return undefined;
  }
  if (raw.length > MAX_COMMUNITIES) {
    report(
      "communities",
      `${raw.length} communities`,
      `at most ${MAX_COMMUNITIES} per advertisement: the routes' attributes must fit in one BGP message`,
    );
    return undefined;
  }
  const out: BgpCommunity[] = [];
  let valid = true;
  for (const [i, item] of (raw as unknown[]).entries()) {
    const key = `communities[${i}]`;
    if (typeof item !== "string") {
      report(
        key,
        describeValue(item),
        `must be a string, not ${typeName(item)}: ${COMMUNITY_FORMS}`,
      );
      valid = false;
      continue;
    }
    let c: BgpCommunity | undefined;
    if (named.names.has(item)) {
      c = named.communities[item];
      if (c === undefined) {
        valid = false; // its bad value is reported under bgp-communities
        continue;
      }
    } else {
      c = parseCommunity(item.trim());
      if (c === undefined) {
        report(key, item, `not a community: ${COMMUNITY_FORMS}`);
        valid = false;
        continue;
      }
    }
    if (out.some((o) => o.text === c.text)) {
      report(key, item, `duplicate community (${c.text})`);
      valid = false;
      continue;
    }
    out.push(c);
  }
  return valid ? out : undefined;
}
