/**
 * IP addresses of both families, as text, as numbers and as bytes: the one parser and the one
 * formatter of the project, for the config parser, the allocator, the speaker and the data
 * plane's codecs alike. No dependency on Node's `net` module.
 *
 * An address is `{ family, value }` where `value` is the address as an unsigned integer
 * (`bigint`, 32 bits for IPv4, 128 bits for IPv6). One representation for both families keeps
 * the allocator and the config parser free of per-family branches; `bigint` is the only
 * JavaScript number type that holds 128 bits exactly, and the allocator benchmark shows it is
 * fast enough (see `bench/allocator.ts`). The codecs see addresses as bytes in network order
 * (4 or 16): `ipToBytes`, `ipFromBytes`, and `formatIPBytes`, which formats straight from a
 * packet without building a `bigint` (the ARP and NDP responders call it per packet).
 *
 * Parsing is strict on purpose, because these strings come from a config a human wrote:
 * - IPv4 is dotted-quad only, four decimal octets, and an octet with a leading zero (`010`)
 *   is refused: some tools read it as octal, so its meaning is ambiguous.
 * - IPv6 follows RFC 4291 section 2.2 (hex groups, one `::`, an optional dotted IPv4 tail).
 * - A zone (`fe80::1%eth0`) is refused: a pool address is not tied to a link.
 * - No surrounding whitespace inside an address; ranges tolerate spaces around `-`.
 *
 * Formatting is canonical: IPv4 dotted-quad, IPv6 per RFC 5952 section 4 (lowercase, no
 * leading zeros, the longest run of two or more zero groups compressed to `::`, the first one
 * on a tie, a single zero group not compressed), so one address always has one text and one
 * map key. The output is what the WHATWG URL serializer prints (the unit tests check it).
 *
 * IPv4-mapped IPv6 addresses (`::ffff:0:0/96`), one rule for every user:
 * - As text, in any spelling (`::ffff:192.0.2.1`, `::FFFF:c000:201`), they are refused with a
 *   message naming the IPv4 address to write instead: Go, and so Kubernetes, treats such an
 *   address as the IPv4 one, so it is ambiguous. The data plane's owned set is built by the
 *   same parser, so it never holds one either. Only single addresses are checked: a pool's
 *   CIDR or range may span `::ffff:0:0/96` (as in MetalLB), and its ends are checked as
 *   addresses like any other.
 * - As a number or bytes (a packet can carry anything), they are formatted like every other
 *   IPv6 address, in hex (`::ffff:c000:201`): RFC 5952's mixed notation (section 5) is only a
 *   recommendation, and one rule for all 2^128 values keeps the formatter total and its output
 *   equal to the URL serializer's. Such an address is never on the wire in valid traffic
 *   (RFC 4291 2.5.5.2), and, never being owned, a solicitation for one is ignored as not owned.
 */

export type IPFamily = 4 | 6;

/** An address: `value` is the address as an unsigned integer of 32 (IPv4) or 128 bits. */
export interface IP {
  readonly family: IPFamily;
  readonly value: bigint;
}

/** An inclusive range of addresses of one family: `start <= end`. */
export interface IPRange {
  readonly family: IPFamily;
  readonly start: bigint;
  readonly end: bigint;
}

/** A CIDR prefix, as a network address plus prefix length (and the range it covers). */
export interface CIDR extends IPRange {
  readonly prefix: number;
  /**
   * True when the text had host bits set (`192.168.1.5/24`): like Go's `net.ParseCIDR`, and
   * so like MetalLB, the prefix is widened to its network (`192.168.1.0/24`), not refused.
   */
  readonly widened: boolean;
}

/** The address syntaxes a pool accepts, each reduced to an inclusive range. */
export type AddressBlockKind = "cidr" | "range" | "ip";

export interface ParsedAddressBlock extends IPRange {
  readonly kind: AddressBlockKind;
  /** Set for `kind: "cidr"` only. */
  readonly prefix?: number;
  /** Set for `kind: "cidr"` only: host bits were set and the prefix was widened. */
  readonly widened?: boolean;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

const V4_BITS = 32;
const V6_BITS = 128;
const V4_MAX = (1n << 32n) - 1n;
const V6_MAX = (1n << 128n) - 1n;
const MAPPED_PREFIX = 0xffffn; // ::ffff:0:0/96, shifted right by 32

export function familyBits(family: IPFamily): 32 | 128 {
  return family === 4 ? V4_BITS : V6_BITS;
}

export function familyName(family: IPFamily): "IPv4" | "IPv6" {
  return family === 4 ? "IPv4" : "IPv6";
}

export function maxValue(family: IPFamily): bigint {
  return family === 4 ? V4_MAX : V6_MAX;
}

function ok<T>(value: T): ParseResult<T> {
  return { ok: true, value };
}

function fail<T>(error: string): ParseResult<T> {
  return { ok: false, error };
}

const V4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parses a dotted-quad IPv4 address into its 32-bit value, or returns an error string. */
function parseV4Value(text: string): ParseResult<bigint> {
  const m = V4_RE.exec(text);
  if (m === null) return fail("invalid IPv4 address");
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = m[i] ?? "";
    if (octet.length > 1 && octet.startsWith("0")) {
      return fail(`invalid IPv4 address: octet "${octet}" has a leading zero (ambiguous: octal?)`);
    }
    const v = Number(octet);
    if (v > 255) return fail("invalid IPv4 address");
    n = n * 256 + v;
  }
  return ok(BigInt(n));
}

const HEX_GROUP_RE = /^[0-9a-fA-F]{1,4}$/;

/** Parses the groups on one side of `::` into 16-bit numbers; null when malformed. */
function parseV6Groups(part: string, allowV4Tail: boolean): number[] | null {
  if (part === "") return [];
  const pieces = part.split(":");
  const groups: number[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i] ?? "";
    if (allowV4Tail && i === pieces.length - 1 && piece.includes(".")) {
      const v4 = parseV4Value(piece);
      if (!v4.ok) return null;
      const n = Number(v4.value);
      groups.push(Math.floor(n / 65536), n % 65536);
      continue;
    }
    if (!HEX_GROUP_RE.test(piece)) return null;
    groups.push(parseInt(piece, 16));
  }
  return groups;
}

function parseV6Value(text: string): ParseResult<bigint> {
  const bad = fail<bigint>("invalid IPv6 address");
  const first = text.indexOf("::");
  let groups: number[];
  if (first === -1) {
    const all = parseV6Groups(text, true);
    if (all?.length !== 8) return bad;
    groups = all;
  } else {
    if (text.indexOf("::", first + 1) !== -1) return bad; // two "::" (or ":::")
    const head = parseV6Groups(text.slice(0, first), false);
    const tail = parseV6Groups(text.slice(first + 2), true);
    if (head === null || tail === null || head.length + tail.length > 7) return bad;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  return ok(value);
}

/**
 * Parses one IPv4 or IPv6 address. Errors start with "invalid IPv4 address" or
 * "invalid IPv6 address" (chosen by whether the text contains a `:`), then a detail when
 * one helps the user (zone, IPv4-mapped, leading zero).
 */
export function parseIP(text: string): ParseResult<IP> {
  if (text.includes(":")) {
    const zone = text.indexOf("%");
    if (zone !== -1) {
      return fail(
        `invalid IPv6 address: zone "${text.slice(zone)}" is not allowed (an address here is not tied to one link)`,
      );
    }
    const v = parseV6Value(text);
    if (!v.ok) return v;
    if (v.value >> 32n === MAPPED_PREFIX) {
      return fail(
        `invalid IPv6 address: IPv4-mapped address; write the IPv4 address ${formatV4Value(v.value & V4_MAX)} instead`,
      );
    }
    return ok({ family: 6, value: v.value });
  }
  if (text.includes(".")) {
    const v = parseV4Value(text);
    return v.ok ? ok({ family: 4, value: v.value }) : v;
  }
  return fail("invalid IP address");
}

/** Dotted quad from four octets. */
function formatV4(a: number, b: number, c: number, d: number): string {
  return `${a}.${b}.${c}.${d}`;
}

function formatV4Value(value: bigint): string {
  const n = Number(value);
  return formatV4(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
}

/**
 * RFC 5952 section 4 text of eight 16-bit groups: lowercase hex without leading zeros, the
 * longest run of two or more zero groups compressed to `::` (the first one on a tie).
 */
function formatV6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  let text = "";
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      text += "::";
      i += bestLen - 1;
      continue;
    }
    if (i !== 0 && i !== bestStart + bestLen) text += ":";
    text += (groups[i] ?? 0).toString(16);
  }
  return text;
}

/** The eight 16-bit groups of a 128-bit value. */
function v6Groups(value: bigint): number[] {
  const hi = value >> 64n;
  const lo = value & 0xffff_ffff_ffff_ffffn;
  const words = [hi >> 32n, hi & 0xffff_ffffn, lo >> 32n, lo & 0xffff_ffffn];
  const groups = new Array<number>(8);
  for (let i = 0; i < 4; i++) {
    const w = Number(words[i] ?? 0n);
    groups[2 * i] = w >>> 16;
    groups[2 * i + 1] = w & 0xffff;
  }
  return groups;
}

/** Formats an address canonically (dotted-quad; RFC 5952 for IPv6). */
export function formatIP(ip: IP): string {
  return ip.family === 4 ? formatV4Value(ip.value) : formatV6(v6Groups(ip.value));
}

/** Same as `formatIP`, without building an object. */
export function formatIPValue(family: IPFamily, value: bigint): string {
  return family === 4 ? formatV4Value(value) : formatV6(v6Groups(value));
}

/** Number of bytes of an address: 4 (IPv4) or 16 (IPv6). */
function familyBytes(family: IPFamily): 4 | 16 {
  return family === 4 ? 4 : 16;
}

/**
 * Formats the address held in `bytes` at `offset` (network order, `familyBytes(family)` long)
 * exactly as `formatIP` does, without building a `bigint`: for codecs, per packet. Bytes past
 * the end of the array read as 0; callers check lengths first.
 */
export function formatIPBytes(family: IPFamily, bytes: Uint8Array, offset = 0): string {
  const o = offset;
  if (family === 4) {
    return formatV4(bytes[o] ?? 0, bytes[o + 1] ?? 0, bytes[o + 2] ?? 0, bytes[o + 3] ?? 0);
  }
  const groups = new Array<number>(8);
  for (let i = 0; i < 8; i++) {
    groups[i] = ((bytes[o + 2 * i] ?? 0) << 8) | (bytes[o + 2 * i + 1] ?? 0);
  }
  return formatV6(groups);
}

/** The address as bytes in network order: 4 for IPv4, 16 for IPv6. */
export function ipToBytes(ip: IP): Uint8Array {
  const out = new Uint8Array(familyBytes(ip.family));
  if (ip.family === 4) {
    const n = Number(ip.value);
    out[0] = n >>> 24;
    out[1] = (n >>> 16) & 255;
    out[2] = (n >>> 8) & 255;
    out[3] = n & 255;
    return out;
  }
  const groups = v6Groups(ip.value);
  for (let i = 0; i < 8; i++) {
    const g = groups[i] ?? 0;
    out[2 * i] = g >>> 8;
    out[2 * i + 1] = g & 255;
  }
  return out;
}

/**
 * The address held in `bytes` at `offset`, in network order (`familyBytes(family)` long).
 * Throws a RangeError when the bytes are too few: a codec has checked lengths before.
 */
export function ipFromBytes(family: IPFamily, bytes: Uint8Array, offset = 0): IP {
  const length = familyBytes(family);
  if (offset < 0 || offset + length > bytes.length) {
    throw new RangeError(`${familyName(family)} address needs ${length} bytes at offset ${offset}`);
  }
  let value = 0n;
  for (let i = 0; i < length; i++) value = (value << 8n) | BigInt(bytes[offset + i] ?? 0);
  return { family, value };
}

/** The netmask of a prefix length, as a value (`/24` → 0xffffff00). */
function maskOf(family: IPFamily, prefix: number): bigint {
  const bits = BigInt(familyBits(family));
  const hostBits = bits - BigInt(prefix);
  return maxValue(family) ^ ((1n << hostBits) - 1n);
}

/**
 * Parses `address/prefix`. Host bits set are accepted and widened to the network, like Go's
 * `net.ParseCIDR` (so `192.168.1.5/24` is `192.168.1.0/24`, with `widened: true`); callers
 * may warn about it. The prefix length must be 0-32 (IPv4) or 0-128 (IPv6).
 */
export function parseCIDR(text: string): ParseResult<CIDR> {
  const slash = text.indexOf("/");
  if (slash === -1 || text.indexOf("/", slash + 1) !== -1) return fail("invalid CIDR");
  const addr = parseIP(text.slice(0, slash));
  if (!addr.ok) return addr;
  const { family, value } = addr.value;
  const prefixText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) {
    return fail(`invalid prefix length "${prefixText}"`);
  }
  const prefix = Number(prefixText);
  const bits = familyBits(family);
  if (prefix > bits) {
    return fail(`prefix length /${prefix} out of range for ${familyName(family)} (0-${bits})`);
  }
  const mask = maskOf(family, prefix);
  const start = value & mask;
  const end = start | (maxValue(family) ^ mask);
  return ok({ family, start, end, prefix, widened: start !== value });
}

/**
 * Parses `start-end` (inclusive). Spaces around the `-` are tolerated and a single-address
 * range (`a-a`) is fine; both ends must be one family, and `start > end` is an error.
 */
export function parseRange(text: string): ParseResult<IPRange> {
  const parts = text.split("-");
  if (parts.length !== 2) return fail("invalid range: expected exactly one '-' (start-end)");
  const [startText, endText] = parts.map((p) => p.trim()) as [string, string];
  if (startText.includes("/") || endText.includes("/")) {
    return fail("invalid range: its ends must be single addresses, not CIDRs");
  }
  const start = parseIP(startText);
  if (!start.ok) return fail(`invalid range start "${startText}": ${start.error}`);
  const end = parseIP(endText);
  if (!end.ok) return fail(`invalid range end "${endText}": ${end.error}`);
  if (start.value.family !== end.value.family) {
    return fail("invalid range: start and end are not the same IP family");
  }
  if (start.value.value > end.value.value) {
    return fail(`reversed range: start ${startText} is after end ${endText}`);
  }
  return ok({ family: start.value.family, start: start.value.value, end: end.value.value });
}

/**
 * Parses one entry of a pool's `addresses`: a CIDR (`a.b.c.d/n`), a range (`start-end`) or a
 * single address. Leading and trailing whitespace is ignored.
 */
export function parseAddressBlock(input: string): ParseResult<ParsedAddressBlock> {
  const text = input.trim();
  if (text === "") return fail("empty address");
  if (text.includes("-")) {
    const r = parseRange(text);
    return r.ok ? ok({ kind: "range", ...r.value }) : r;
  }
  if (text.includes("/")) {
    const c = parseCIDR(text);
    if (!c.ok) return c;
    const { family, start, end, prefix, widened } = c.value;
    return ok({ kind: "cidr", family, start, end, prefix, widened });
  }
  const ip = parseIP(text);
  if (!ip.ok) return ip;
  return ok({ kind: "ip", family: ip.value.family, start: ip.value.value, end: ip.value.value });
}

/** Number of addresses in an inclusive range. */
export function rangeSize(range: IPRange): bigint {
  return range.end - range.start + 1n;
}

/** Whether two ranges of the same family share at least one address. */
export function rangesOverlap(a: IPRange, b: IPRange): boolean {
  return a.family === b.family && a.start <= b.end && b.start <= a.end;
}

/** Whether `range` holds the address. */
export function rangeContains(range: IPRange, ip: IP): boolean {
  return range.family === ip.family && range.start <= ip.value && ip.value <= range.end;
}

/**
 * Whether an IPv4 address ends in `.0` or `.255`. Some old client firmware treats those as
 * network or broadcast addresses whatever the prefix, so pools with `avoid-buggy-ips` skip
 * them (IPv6 has no such addresses).
 */
export function isBuggyIPv4(value: bigint): boolean {
  const low = value & 0xffn;
  return low === 0n || low === 0xffn;
}

/** Count of `x` in `[start, end]` with `x mod 256 == residue` (`0 <= start <= end`). */
function countResidue(start: bigint, end: bigint, residue: bigint): bigint {
  // Numbers <= n congruent to residue: floor((n - residue) / 256) + 1 when n >= residue.
  const upTo = (n: bigint): bigint => (n < residue ? 0n : (n - residue) / 256n + 1n);
  return upTo(end) - (start === 0n ? 0n : upTo(start - 1n));
}

/** Number of `.0`/`.255` IPv4 addresses in a range (0 for IPv6). */
export function countBuggyIPv4(range: IPRange): bigint {
  if (range.family !== 4) return 0n;
  return countResidue(range.start, range.end, 0n) + countResidue(range.start, range.end, 255n);
}
