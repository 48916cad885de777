import { formatIPBytes, ipToBytes, parseIP } from "../net/ip.js";
import {
  ERR_OPEN,
  fail,
  ok,
  OPEN_BAD_BGP_ID,
  OPEN_BAD_PEER_AS,
  OPEN_UNACCEPTABLE_HOLD_TIME,
  OPEN_UNSPECIFIC,
  OPEN_UNSUPPORTED_PARAMETER,
  OPEN_UNSUPPORTED_VERSION,
  type BgpResult,
} from "./notification.js";
import { copy, u16, u32, u8, Writer } from "./wire.js";

/**
 * The OPEN message (RFC 4271 4.2) and the capabilities it carries (RFC 5492): multiprotocol
 * (RFC 4760), route refresh (RFC 2918) and 4-octet AS numbers (RFC 6793).
 *
 * `asn` is the speaker's real AS number. The 2-byte My AS field cannot hold one above 65535,
 * so such a speaker writes AS_TRANS (23456) there and its real number in the 4-octet AS
 * capability; the encoder does this, and the decoder reads the capability first. Capabilities
 * are kept in the order sent, unknown ones as raw bytes: which of them a session needs is the
 * state machine's decision (RFC 5492 says to ignore unknown ones), not the codec's.
 */

export const BGP_VERSION = 4;
/** Written in My AS by a speaker whose AS number does not fit 16 bits (RFC 6793 9). */
export const AS_TRANS = 23456;

export const CAP_MULTIPROTOCOL = 1;
export const CAP_ROUTE_REFRESH = 2;
export const CAP_FOUR_OCTET_AS = 65;
/** The only optional parameter of RFC 5492; others were never defined for use. */
const PARAM_CAPABILITIES = 2;

export type Capability =
  | { readonly kind: "multiprotocol"; readonly afi: number; readonly safi: number }
  | { readonly kind: "route-refresh" }
  | { readonly kind: "four-octet-as"; readonly asn: number }
  | { readonly kind: "unknown"; readonly code: number; readonly value: Uint8Array };

export interface Open {
  /** The real AS number, up to 2^32 - 1. */
  readonly asn: number;
  /** Seconds: 0 (no keepalives) or at least 3 (RFC 4271 4.2). */
  readonly holdTime: number;
  /** The BGP Identifier, dotted quad (RFC 6286: any non-zero 32-bit value). */
  readonly routerId: string;
  readonly capabilities: readonly Capability[];
}

function encodeCapability(c: Capability): Uint8Array {
  const w = new Writer();
  switch (c.kind) {
    case "multiprotocol":
      return w.u8(CAP_MULTIPROTOCOL).u8(4).u16(c.afi).u8(0).u8(c.safi).bytes();
    case "route-refresh":
      return w.u8(CAP_ROUTE_REFRESH).u8(0).bytes();
    case "four-octet-as":
      return w.u8(CAP_FOUR_OCTET_AS).u8(4).u32(c.asn).bytes();
    case "unknown":
      return w.u8(c.code).u8(c.value.length).raw(c.value).bytes();
  }
}

/**
 * The body of an OPEN (after the header). All capabilities go in one Capabilities parameter,
 * as BIRD and FRR send them. Throws a RangeError on a value the message cannot carry: an AS
 * number above 65535 without the 4-octet AS capability that carries it, a hold time of 1 or 2,
 * a router ID that is not a non-zero IPv4 address.
 */
export function encodeOpenBody(open: Open): Uint8Array {
  const fourOctet = open.capabilities.find((c) => c.kind === "four-octet-as");
  if (open.asn > 0xffff && fourOctet?.asn !== open.asn) {
    throw new RangeError(`AS ${open.asn} needs the 4-octet AS capability carrying it`);
  }
  if (open.holdTime === 1 || open.holdTime === 2) {
    throw new RangeError(`hold time ${open.holdTime} is neither 0 nor at least 3`);
  }
  const id = parseIP(open.routerId);
  if (!id.ok || id.value.family !== 4 || id.value.value === 0n) {
    throw new RangeError(`router ID ${open.routerId} is not a non-zero IPv4 address`);
  }
  const caps = new Writer();
  for (const c of open.capabilities) caps.raw(encodeCapability(c));
  const params = new Writer();
  if (caps.length > 0) params.u8(PARAM_CAPABILITIES).u8(caps.length).raw(caps.bytes());
  return new Writer()
    .u8(BGP_VERSION)
    .u16(open.asn > 0xffff ? AS_TRANS : open.asn)
    .u16(open.holdTime)
    .raw(ipToBytes(id.value))
    .u8(params.length)
    .raw(params.bytes())
    .bytes();
}

const malformed = (reason: string) => fail<never>(ERR_OPEN, OPEN_UNSPECIFIC, reason);

/** The capabilities of one Capabilities parameter's value (RFC 5492 4). */
function decodeCapabilities(b: Uint8Array, out: Capability[]): BgpResult<null> {
  let o = 0;
  while (o < b.length) {
    if (o + 2 > b.length) return malformed("capability header cut short");
    const code = u8(b, o);
    const len = u8(b, o + 1);
    const v = o + 2;
    if (v + len > b.length) return malformed(`capability ${code} runs past its parameter`);
    switch (code) {
      case CAP_MULTIPROTOCOL:
        if (len !== 4) return malformed(`multiprotocol capability of ${len} bytes, not 4`);
        out.push({ kind: "multiprotocol", afi: u16(b, v), safi: u8(b, v + 3) });
        break;
      case CAP_ROUTE_REFRESH:
        if (len !== 0) return malformed(`route refresh capability of ${len} bytes, not 0`);
        out.push({ kind: "route-refresh" });
        break;
      case CAP_FOUR_OCTET_AS:
        if (len !== 4) return malformed(`4-octet AS capability of ${len} bytes, not 4`);
        out.push({ kind: "four-octet-as", asn: u32(b, v) });
        break;
      default:
        out.push({ kind: "unknown", code, value: copy(b, v, v + len) });
    }
    o = v + len;
  }
  return ok(null);
}

/**
 * Decodes an OPEN body, with the checks of RFC 4271 6.2 that need no configuration: version 4
 * (else 2/1, with 4 as data), a non-zero AS (2/2, RFC 7607), a hold time of 0 or at least 3
 * (2/6), a non-zero BGP Identifier (2/3), Capabilities the only optional parameter (2/4).
 * Lengths that disagree with each other have no subcode of their own: 2/0 (Unspecific).
 * Whether the AS is the one configured for the peer is the session's check (also 2/2).
 */
export function decodeOpenBody(b: Uint8Array): BgpResult<Open> {
  if (b.length < 10) return malformed(`OPEN body of ${b.length} bytes, not at least 10`);
  const version = u8(b, 0);
  if (version !== BGP_VERSION) {
    return fail(
      ERR_OPEN,
      OPEN_UNSUPPORTED_VERSION,
      `version ${version} is not 4`,
      Uint8Array.of(0, BGP_VERSION),
    );
  }
  const myAs = u16(b, 1);
  const holdTime = u16(b, 3);
  if (holdTime === 1 || holdTime === 2) {
    return fail(ERR_OPEN, OPEN_UNACCEPTABLE_HOLD_TIME, `hold time ${holdTime} is under 3`);
  }
  if (u32(b, 5) === 0) return fail(ERR_OPEN, OPEN_BAD_BGP_ID, "BGP Identifier is 0");
  const paramsLen = u8(b, 9);
  if (10 + paramsLen !== b.length) {
    return malformed(`optional parameters length ${paramsLen} disagrees with the message`);
  }
  const capabilities: Capability[] = [];
  let o = 10;
  while (o < b.length) {
    if (o + 2 > b.length) return malformed("optional parameter header cut short");
    const type = u8(b, o);
    const len = u8(b, o + 1);
    if (o + 2 + len > b.length) return malformed(`optional parameter ${type} runs past the end`);
    if (type !== PARAM_CAPABILITIES) {
      return fail(
        ERR_OPEN,
        OPEN_UNSUPPORTED_PARAMETER,
        `optional parameter ${type} is not Capabilities`,
      );
    }
    const caps = decodeCapabilities(b.subarray(o + 2, o + 2 + len), capabilities);
    if (!caps.ok) return caps;
    o += 2 + len;
  }
  const fourOctet = capabilities.find((c) => c.kind === "four-octet-as");
  const asn = fourOctet?.asn ?? myAs;
  if (asn === 0 || myAs === 0) return fail(ERR_OPEN, OPEN_BAD_PEER_AS, "AS number 0");
  return ok({ asn, holdTime, routerId: formatIPBytes(4, b, 5), capabilities });
}
