import { ipFromBytes, ipToBytes, type IP } from "../net/ip.js";
import {
  ERR_UPDATE,
  fail,
  ok,
  UPDATE_ATTRIBUTE_FLAGS,
  UPDATE_ATTRIBUTE_LENGTH,
  UPDATE_INVALID_ORIGIN,
  UPDATE_MALFORMED_AS_PATH,
  UPDATE_MALFORMED_ATTRIBUTE_LIST,
  UPDATE_OPTIONAL_ATTRIBUTE,
  UPDATE_UNRECOGNIZED_WELL_KNOWN,
  type BgpResult,
} from "./notification.js";
import { afiFamily, readPrefixes, SAFI_UNICAST, writePrefixes, type Prefix } from "./prefix.js";
import { copy, u16, u32, u8, Writer } from "./wire.js";

/**
 * Path attributes of an UPDATE (RFC 4271 4.3 and 5): the well-known ones, MED, AGGREGATOR,
 * communities (RFC 1997), large communities (RFC 8092), and the multiprotocol reach and
 * unreach attributes (RFC 4760) that carry IPv6 routes.
 *
 * Every session barelb runs has the 4-octet AS capability on both sides (the state machine
 * refuses a peer without it), so AS_PATH and AGGREGATOR are always read and written with
 * 4-byte AS numbers, and AS4_PATH/AS4_AGGREGATOR never appear (RFC 6793 4.1).
 *
 * The flags are checked against each known type (RFC 4271 6.3): a known attribute with the
 * wrong optional or transitive bit, or a partial bit where only an optional transitive one
 * may have it, is refused with Attribute Flags Error. An unknown optional attribute is kept
 * as raw bytes with its flags; an unknown well-known one is an error. The extended-length bit
 * is not kept: the encoder sets it exactly when a value passes 255 bytes.
 */

export const FLAG_OPTIONAL = 0x80;
export const FLAG_TRANSITIVE = 0x40;
export const FLAG_PARTIAL = 0x20;
export const FLAG_EXTENDED_LENGTH = 0x10;

export const ATTR_ORIGIN = 1;
export const ATTR_AS_PATH = 2;
export const ATTR_NEXT_HOP = 3;
export const ATTR_MED = 4;
export const ATTR_LOCAL_PREF = 5;
export const ATTR_ATOMIC_AGGREGATE = 6;
export const ATTR_AGGREGATOR = 7;
export const ATTR_COMMUNITIES = 8;
export const ATTR_MP_REACH_NLRI = 14;
export const ATTR_MP_UNREACH_NLRI = 15;
export const ATTR_LARGE_COMMUNITY = 32;

const WELL_KNOWN = FLAG_TRANSITIVE;
const OPTIONAL_NON_TRANSITIVE = FLAG_OPTIONAL;
const OPTIONAL_TRANSITIVE = FLAG_OPTIONAL | FLAG_TRANSITIVE;

/** The flags each known type is sent with (and must arrive with, partial bit aside). */
const KNOWN_FLAGS: ReadonlyMap<number, number> = new Map([
  [ATTR_ORIGIN, WELL_KNOWN],
  [ATTR_AS_PATH, WELL_KNOWN],
  [ATTR_NEXT_HOP, WELL_KNOWN],
  [ATTR_MED, OPTIONAL_NON_TRANSITIVE],
  [ATTR_LOCAL_PREF, WELL_KNOWN],
  [ATTR_ATOMIC_AGGREGATE, WELL_KNOWN],
  [ATTR_AGGREGATOR, OPTIONAL_TRANSITIVE],
  [ATTR_COMMUNITIES, OPTIONAL_TRANSITIVE],
  [ATTR_MP_REACH_NLRI, OPTIONAL_NON_TRANSITIVE],
  [ATTR_MP_UNREACH_NLRI, OPTIONAL_NON_TRANSITIVE],
  [ATTR_LARGE_COMMUNITY, OPTIONAL_TRANSITIVE],
]);

export type Origin = "igp" | "egp" | "incomplete";
const ORIGINS: readonly Origin[] = ["igp", "egp", "incomplete"];

export type AsPathSegmentType = "set" | "sequence" | "confed-sequence" | "confed-set";
/** Wire codes 1-4: AS_SET, AS_SEQUENCE (RFC 4271), AS_CONFED_SEQUENCE, AS_CONFED_SET (RFC 5065). */
const SEGMENT_TYPES: readonly AsPathSegmentType[] = [
  "set",
  "sequence",
  "confed-sequence",
  "confed-set",
];

export interface AsPathSegment {
  readonly type: AsPathSegmentType;
  /** 1 to 255 AS numbers. */
  readonly asns: readonly number[];
}

export interface LargeCommunity {
  readonly global: number;
  readonly local1: number;
  readonly local2: number;
}

/**
 * MP_REACH_NLRI for a unicast family (RFC 4760 3). An IPv6 next hop is the global address,
 * optionally followed by the link-local one (RFC 2545 3: 32 bytes then).
 */
export interface MpReach {
  readonly afi: number;
  readonly safi: number;
  readonly nextHop: IP;
  readonly linkLocalNextHop?: IP;
  readonly nlri: readonly Prefix[];
}

export interface MpUnreach {
  readonly afi: number;
  readonly safi: number;
  readonly withdrawn: readonly Prefix[];
}

/** An attribute this codec does not read, kept as sent (flags without the length bit). */
export interface RawAttribute {
  readonly flags: number;
  readonly type: number;
  readonly value: Uint8Array;
}

/** The path attributes of one UPDATE; an absent key is an attribute not sent. */
export interface PathAttributes {
  readonly origin?: Origin;
  readonly asPath?: readonly AsPathSegment[];
  /** IPv4 only (the classic NEXT_HOP); IPv6 next hops go in `mpReach`. */
  readonly nextHop?: IP;
  readonly med?: number;
  readonly localPref?: number;
  readonly atomicAggregate?: true;
  readonly aggregator?: { readonly asn: number; readonly ip: IP };
  /** RFC 1997: each a 32-bit value, AS in the high 16 bits. */
  readonly communities?: readonly number[];
  readonly largeCommunities?: readonly LargeCommunity[];
  readonly mpReach?: MpReach;
  readonly mpUnreach?: MpUnreach;
  /**
   * Unknown optional attributes, and MP attributes of families this codec does not read, in type
   * code order.
   */
  readonly unknown?: readonly RawAttribute[];
}

// ---- encoding ----

function encodeAsPath(segments: readonly AsPathSegment[]): Uint8Array {
  const w = new Writer();
  for (const s of segments) {
    if (s.asns.length === 0 || s.asns.length > 255) {
      throw new RangeError(`an AS path segment holds 1 to 255 AS numbers, not ${s.asns.length}`);
    }
    w.u8(SEGMENT_TYPES.indexOf(s.type) + 1).u8(s.asns.length);
    for (const asn of s.asns) w.u32(asn);
  }
  return w.bytes();
}

function unicastFamily(afi: number, safi: number): 4 | 6 {
  const family = afiFamily(afi);
  if (family === undefined || safi !== SAFI_UNICAST) {
    throw new RangeError(`AFI ${afi} SAFI ${safi} is not a unicast family this codec writes`);
  }
  return family;
}

function encodeMpReach(r: MpReach): Uint8Array {
  const family = unicastFamily(r.afi, r.safi);
  if (r.nextHop.family !== family || (r.linkLocalNextHop && family === 4)) {
    throw new RangeError(`next hop of family IPv${r.nextHop.family} for AFI ${r.afi}`);
  }
  const hops = [r.nextHop, ...(r.linkLocalNextHop ? [r.linkLocalNextHop] : [])];
  if (hops.some((h) => h.family !== family)) throw new RangeError("link-local next hop not IPv6");
  const w = new Writer()
    .u16(r.afi)
    .u8(r.safi)
    .u8(hops.length * (family === 4 ? 4 : 16));
  for (const h of hops) w.raw(ipToBytes(h));
  w.u8(0); // Reserved (RFC 4760 3; was the SNPA count of RFC 2858)
  writePrefixes(w, family, r.nlri);
  return w.bytes();
}

function encodeMpUnreach(u: MpUnreach): Uint8Array {
  const w = new Writer().u16(u.afi).u8(u.safi);
  writePrefixes(w, unicastFamily(u.afi, u.safi), u.withdrawn);
  return w.bytes();
}

/** The attributes to write, each as (flags, type, value), in no particular order. */
function attributeList(a: PathAttributes): RawAttribute[] {
  const list: RawAttribute[] = [];
  const add = (type: number, value: Uint8Array) =>
    list.push({ flags: KNOWN_FLAGS.get(type) ?? 0, type, value });
  if (a.origin !== undefined) add(ATTR_ORIGIN, Uint8Array.of(ORIGINS.indexOf(a.origin)));
  if (a.asPath !== undefined) add(ATTR_AS_PATH, encodeAsPath(a.asPath));
  if (a.nextHop !== undefined) {
    if (a.nextHop.family !== 4) throw new RangeError("NEXT_HOP is IPv4: use mpReach for IPv6");
    add(ATTR_NEXT_HOP, ipToBytes(a.nextHop));
  }
  if (a.med !== undefined) add(ATTR_MED, new Writer().u32(a.med).bytes());
  if (a.localPref !== undefined) add(ATTR_LOCAL_PREF, new Writer().u32(a.localPref).bytes());
  if (a.atomicAggregate) add(ATTR_ATOMIC_AGGREGATE, new Uint8Array(0));
  if (a.aggregator !== undefined) {
    if (a.aggregator.ip.family !== 4) throw new RangeError("AGGREGATOR's address is IPv4");
    add(
      ATTR_AGGREGATOR,
      new Writer().u32(a.aggregator.asn).raw(ipToBytes(a.aggregator.ip)).bytes(),
    );
  }
  if (a.communities !== undefined) {
    const w = new Writer();
    for (const c of a.communities) w.u32(c);
    add(ATTR_COMMUNITIES, w.bytes());
  }
  if (a.mpReach !== undefined) add(ATTR_MP_REACH_NLRI, encodeMpReach(a.mpReach));
  if (a.mpUnreach !== undefined) add(ATTR_MP_UNREACH_NLRI, encodeMpUnreach(a.mpUnreach));
  if (a.largeCommunities !== undefined) {
    const w = new Writer();
    for (const c of a.largeCommunities) w.u32(c.global).u32(c.local1).u32(c.local2);
    add(ATTR_LARGE_COMMUNITY, w.bytes());
  }
  for (const r of a.unknown ?? []) {
    if (
      KNOWN_FLAGS.has(r.type) &&
      r.type !== ATTR_MP_REACH_NLRI &&
      r.type !== ATTR_MP_UNREACH_NLRI
    ) {
      throw new RangeError(`attribute ${r.type} is known: set its field, not a raw one`);
    }
    if ((r.flags & FLAG_OPTIONAL) === 0) {
      throw new RangeError(`unknown attribute ${r.type} must be optional`);
    }
    list.push({ flags: r.flags & 0xe0, type: r.type, value: r.value });
  }
  return list;
}

/**
 * The path attributes field of an UPDATE, in type code order (RFC 4271 5 recommends it for
 * the well-known ones; one order also makes the bytes a pure function of the value). Throws a
 * RangeError on a value the message cannot carry or a type given twice.
 */
export function encodeAttributes(a: PathAttributes): Uint8Array {
  const list = attributeList(a).sort((x, y) => x.type - y.type);
  const w = new Writer();
  let previous = -1;
  for (const { flags, type, value } of list) {
    if (type === previous) throw new RangeError(`attribute ${type} given twice`);
    previous = type;
    if (value.length > 0xffff) throw new RangeError(`attribute ${type} too long`);
    if (value.length > 255)
      w.u8(flags | FLAG_EXTENDED_LENGTH)
        .u8(type)
        .u16(value.length);
    else w.u8(flags).u8(type).u8(value.length);
    w.raw(value);
  }
  return w.bytes();
}

// ---- decoding ----

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** An error about one attribute: RFC 4271 6.3 puts the whole attribute in the data. */
const bad = (subcode: number, reason: string, attribute: Uint8Array) =>
  fail<never>(ERR_UPDATE, subcode, reason, copy(attribute));

function decodeAsPath(v: Uint8Array): AsPathSegment[] | string {
  const segments: AsPathSegment[] = [];
  let o = 0;
  while (o < v.length) {
    if (o + 2 > v.length) return "segment header cut short";
    const type = SEGMENT_TYPES[u8(v, o) - 1];
    if (type === undefined) return `segment type ${u8(v, o)}`;
    const count = u8(v, o + 1);
    if (count === 0) return "empty segment";
    if (o + 2 + 4 * count > v.length) return "segment runs past the attribute";
    const asns: number[] = [];
    for (let i = 0; i < count; i++) asns.push(u32(v, o + 2 + 4 * i));
    segments.push({ type, asns });
    o += 2 + 4 * count;
  }
  return segments;
}

/** MP_REACH_NLRI of a unicast family, or undefined for another family (kept raw). */
function decodeMpReach(v: Uint8Array): MpReach | undefined | string {
  if (v.length < 5) return "shorter than its fixed fields";
  const afi = u16(v, 0);
  const safi = u8(v, 2);
  const family = afiFamily(afi);
  if (family === undefined || safi !== SAFI_UNICAST) return undefined;
  const nhLen = u8(v, 3);
  const valid = family === 4 ? [4] : [16, 32];
  if (!valid.includes(nhLen)) return `next hop of ${nhLen} bytes for AFI ${afi}`;
  if (4 + nhLen + 1 > v.length) return "next hop runs past the attribute";
  const nextHop = ipFromBytes(family, v, 4);
  const prefixes = readPrefixes(v.subarray(4 + nhLen + 1), family);
  if (!prefixes.ok) return prefixes.reason;
  const reach: Mutable<MpReach> = { afi, safi, nextHop, nlri: prefixes.value };
  if (nhLen === 32) reach.linkLocalNextHop = ipFromBytes(6, v, 20);
  return reach;
}

function decodeMpUnreach(v: Uint8Array): MpUnreach | undefined | string {
  if (v.length < 3) return "shorter than its fixed fields";
  const afi = u16(v, 0);
  const safi = u8(v, 2);
  const family = afiFamily(afi);
  if (family === undefined || safi !== SAFI_UNICAST) return undefined;
  const prefixes = readPrefixes(v.subarray(3), family);
  return prefixes.ok ? { afi, safi, withdrawn: prefixes.value } : prefixes.reason;
}

function fixedLength(type: number): number | undefined {
  switch (type) {
    case ATTR_ORIGIN:
      return 1;
    case ATTR_NEXT_HOP:
    case ATTR_MED:
    case ATTR_LOCAL_PREF:
      return 4;
    case ATTR_ATOMIC_AGGREGATE:
      return 0;
    case ATTR_AGGREGATOR:
      return 8;
    default:
      return undefined;
  }
}

/**
 * Reads one known attribute's value into `out`; a string says what is wrong and the subcode
 * to send. Lengths of fixed-size attributes are already checked.
 */
function readKnown(
  type: number,
  v: Uint8Array,
  out: Mutable<PathAttributes>,
): [number, string] | undefined {
  switch (type) {
    case ATTR_ORIGIN: {
      const origin = ORIGINS[u8(v, 0)];
      if (origin === undefined) return [UPDATE_INVALID_ORIGIN, `ORIGIN ${u8(v, 0)}`];
      out.origin = origin;
      return undefined;
    }
    case ATTR_AS_PATH: {
      const path = decodeAsPath(v);
      if (typeof path === "string") return [UPDATE_MALFORMED_AS_PATH, `AS_PATH: ${path}`];
      out.asPath = path;
      return undefined;
    }
    case ATTR_NEXT_HOP:
      out.nextHop = ipFromBytes(4, v);
      return undefined;
    case ATTR_MED:
      out.med = u32(v, 0);
      return undefined;
    case ATTR_LOCAL_PREF:
      out.localPref = u32(v, 0);
      return undefined;
    case ATTR_ATOMIC_AGGREGATE:
      out.atomicAggregate = true;
      return undefined;
    case ATTR_AGGREGATOR:
      out.aggregator = { asn: u32(v, 0), ip: ipFromBytes(4, v, 4) };
      return undefined;
    case ATTR_COMMUNITIES: {
      if (v.length % 4 !== 0) return [UPDATE_OPTIONAL_ATTRIBUTE, "COMMUNITIES not 4-byte values"];
      const cs: number[] = [];
      for (let o = 0; o < v.length; o += 4) cs.push(u32(v, o));
      out.communities = cs;
      return undefined;
    }
    case ATTR_LARGE_COMMUNITY: {
      if (v.length % 12 !== 0) {
        return [UPDATE_OPTIONAL_ATTRIBUTE, "LARGE_COMMUNITY not 12-byte values"];
      }
      const cs: LargeCommunity[] = [];
      for (let o = 0; o < v.length; o += 12) {
        cs.push({ global: u32(v, o), local1: u32(v, o + 4), local2: u32(v, o + 8) });
      }
      out.largeCommunities = cs;
      return undefined;
    }
    default:
      return undefined; // MP attributes: read by the caller, which may keep them raw
  }
}

/**
 * Decodes a path attributes field (RFC 4271 6.3 checks): the list must tile the field exactly
 * and hold each type once (else 3/1); known types must have their flags (3/4) and lengths
 * (3/5) and valid values (ORIGIN 3/6, AS_PATH 3/11, optional ones 3/9); an unknown
 * well-known type is 3/2. Missing well-known attributes are the UPDATE's check: which are
 * needed depends on its NLRI.
 */
export function decodeAttributes(b: Uint8Array): BgpResult<PathAttributes> {
  const out: Mutable<PathAttributes> = {};
  const unknown: RawAttribute[] = [];
  const seen = new Set<number>();
  let o = 0;
  while (o < b.length) {
    if (o + 3 > b.length) {
      return fail(ERR_UPDATE, UPDATE_MALFORMED_ATTRIBUTE_LIST, "attribute header cut short");
    }
    const flags = u8(b, o);
    const type = u8(b, o + 1);
    const extended = (flags & FLAG_EXTENDED_LENGTH) !== 0;
    const headerLen = extended ? 4 : 3;
    if (o + headerLen > b.length) {
      return fail(ERR_UPDATE, UPDATE_MALFORMED_ATTRIBUTE_LIST, "attribute header cut short");
    }
    const len = extended ? u16(b, o + 2) : u8(b, o + 2);
    const end = o + headerLen + len;
    if (end > b.length) {
      return fail(
        ERR_UPDATE,
        UPDATE_MALFORMED_ATTRIBUTE_LIST,
        `attribute ${type} runs past the list`,
      );
    }
    const whole = b.subarray(o, end);
    const v = b.subarray(o + headerLen, end);
    if (seen.has(type)) {
      return fail(ERR_UPDATE, UPDATE_MALFORMED_ATTRIBUTE_LIST, `attribute ${type} twice`);
    }
    seen.add(type);
    o = end;

    const expected = KNOWN_FLAGS.get(type);
    if (expected === undefined) {
      if ((flags & FLAG_OPTIONAL) === 0) {
        return bad(UPDATE_UNRECOGNIZED_WELL_KNOWN, `unknown well-known attribute ${type}`, whole);
      }
      unknown.push({ flags: flags & 0xe0, type, value: copy(v) });
      continue;
    }
    // Only an optional transitive attribute may carry the partial bit (RFC 4271 4.3).
    const mask = expected === OPTIONAL_TRANSITIVE ? 0xc0 : 0xe0;
    if ((flags & mask) !== expected) {
      return bad(
        UPDATE_ATTRIBUTE_FLAGS,
        `attribute ${type} with flags 0x${flags.toString(16)}`,
        whole,
      );
    }
    const fixed = fixedLength(type);
    if (fixed !== undefined && len !== fixed) {
      return bad(UPDATE_ATTRIBUTE_LENGTH, `attribute ${type} of ${len} bytes, not ${fixed}`, whole);
    }
    if (type === ATTR_MP_REACH_NLRI || type === ATTR_MP_UNREACH_NLRI) {
      const mp = type === ATTR_MP_REACH_NLRI ? decodeMpReach(v) : decodeMpUnreach(v);
      // RFC 4760 7: an error in either is an Optional Attribute Error.
      if (typeof mp === "string") {
        return bad(UPDATE_OPTIONAL_ATTRIBUTE, `attribute ${type}: ${mp}`, whole);
      }
      if (mp === undefined) unknown.push({ flags: flags & 0xe0, type, value: copy(v) });
      else if ("nlri" in mp) out.mpReach = mp;
      else out.mpUnreach = mp;
      continue;
    }
    const error = readKnown(type, v, out);
    if (error !== undefined) return bad(error[0], error[1], whole);
  }
  // In type code order, as the encoder writes them: one value, one encoding.
  if (unknown.length > 0) out.unknown = unknown.sort((x, y) => x.type - y.type);
  return ok(out);
}

/** "65000:100" for a RFC 1997 community value, as configs and routers write it. */
export function formatCommunity(c: number): string {
  return `${Math.floor(c / 0x10000)}:${c % 0x10000}`;
}
