import {
  decodeAttributes,
  encodeAttributes,
  ATTR_AS_PATH,
  ATTR_NEXT_HOP,
  ATTR_ORIGIN,
  type PathAttributes,
} from "./attributes.js";
import {
  ERR_UPDATE,
  fail,
  ok,
  UPDATE_INVALID_NETWORK,
  UPDATE_MALFORMED_ATTRIBUTE_LIST,
  UPDATE_MISSING_WELL_KNOWN,
  type BgpResult,
} from "./notification.js";
import { readPrefixes, writePrefixes, type Prefix } from "./prefix.js";
import { u16, Writer } from "./wire.js";

/**
 * The UPDATE message (RFC 4271 4.3): IPv4 routes withdrawn, path attributes, IPv4 routes
 * announced with them. IPv6 routes travel in the MP_REACH_NLRI and MP_UNREACH_NLRI
 * attributes (RFC 4760), so an UPDATE for IPv6 has empty classic fields.
 *
 * The End-of-RIB marker of graceful restart (RFC 4724 2) is an UPDATE too: empty for IPv4, an
 * MP_UNREACH_NLRI with no routes for IPv6; both decode like any other.
 */

export interface Update {
  /** IPv4 prefixes withdrawn. */
  readonly withdrawn: readonly Prefix[];
  readonly attributes: PathAttributes;
  /** IPv4 prefixes announced with `attributes`. */
  readonly nlri: readonly Prefix[];
}

/** The body of an UPDATE. Throws a RangeError on a value the message cannot carry. */
export function encodeUpdateBody(u: Update): Uint8Array {
  const withdrawn = new Writer();
  writePrefixes(withdrawn, 4, u.withdrawn);
  const attributes = encodeAttributes(u.attributes);
  const w = new Writer()
    .u16(withdrawn.length)
    .raw(withdrawn.bytes())
    .u16(attributes.length)
    .raw(attributes);
  writePrefixes(w, 4, u.nlri);
  return w.bytes();
}

/**
 * Decodes an UPDATE body with the checks of RFC 4271 6.3: the two length fields must fit the
 * message (else 3/1), prefixes must be well formed (3/10), the attributes as
 * `decodeAttributes` checks them, and routes announced must come with the well-known
 * attributes they need (3/3, with the missing type as data): ORIGIN, AS_PATH and, for IPv4
 * NLRI, NEXT_HOP (RFC 4760 3 for MP_REACH_NLRI). LOCAL_PREF, needed on iBGP only, is the
 * session's check.
 */
export function decodeUpdateBody(b: Uint8Array): BgpResult<Update> {
  if (b.length < 4) {
    return fail(ERR_UPDATE, UPDATE_MALFORMED_ATTRIBUTE_LIST, "UPDATE body under 4 bytes");
  }
  const withdrawnLen = u16(b, 0);
  if (2 + withdrawnLen + 2 > b.length) {
    return fail(ERR_UPDATE, UPDATE_MALFORMED_ATTRIBUTE_LIST, "withdrawn routes pass the message");
  }
  const attributesLen = u16(b, 2 + withdrawnLen);
  const attributesStart = 4 + withdrawnLen;
  if (attributesStart + attributesLen > b.length) {
    return fail(ERR_UPDATE, UPDATE_MALFORMED_ATTRIBUTE_LIST, "path attributes pass the message");
  }
  const withdrawn = readPrefixes(b.subarray(2, 2 + withdrawnLen), 4);
  if (!withdrawn.ok) {
    return fail(ERR_UPDATE, UPDATE_INVALID_NETWORK, `withdrawn routes: ${withdrawn.reason}`);
  }
  const attributes = decodeAttributes(b.subarray(attributesStart, attributesStart + attributesLen));
  if (!attributes.ok) return attributes;
  const nlri = readPrefixes(b.subarray(attributesStart + attributesLen), 4);
  if (!nlri.ok) return fail(ERR_UPDATE, UPDATE_INVALID_NETWORK, `NLRI: ${nlri.reason}`);
  const a = attributes.value;
  const needed: [number, unknown][] = [];
  if (nlri.value.length > 0 || a.mpReach !== undefined) {
    needed.push([ATTR_ORIGIN, a.origin], [ATTR_AS_PATH, a.asPath]);
  }
  if (nlri.value.length > 0) needed.push([ATTR_NEXT_HOP, a.nextHop]);
  for (const [type, value] of needed) {
    if (value === undefined) {
      return fail(
        ERR_UPDATE,
        UPDATE_MISSING_WELL_KNOWN,
        `well-known attribute ${type} missing`,
        Uint8Array.of(type),
      );
    }
  }
  return ok({ withdrawn: withdrawn.value, attributes: a, nlri: nlri.value });
}
