import { familyBits, type IP, type IPFamily } from "../net/ip.js";
import { Writer } from "./wire.js";

/**
 * Address families (RFC 4760: AFI and SAFI numbers) and prefixes as BGP writes them: a length
 * in bits, then only the bytes that length needs (RFC 4271 4.3), so a /24 takes 4 bytes, not 5.
 */

export const AFI_IPV4 = 1;
export const AFI_IPV6 = 2;
export const SAFI_UNICAST = 1;

/** The IP family of an AFI, for the unicast families this codec knows. */
export function afiFamily(afi: number): IPFamily | undefined {
  return afi === AFI_IPV4 ? 4 : afi === AFI_IPV6 ? 6 : undefined;
}

export function familyAfi(family: IPFamily): number {
  return family === 4 ? AFI_IPV4 : AFI_IPV6;
}

/** A route's destination: the network address (host bits zero) and the prefix length. */
export interface Prefix {
  readonly ip: IP;
  readonly length: number;
}

/**
 * Appends `prefixes` to `w`. Throws a RangeError on a prefix of another family, a length out
 * of range, or host bits set (a caller bug: the same route would have two spellings).
 */
export function writePrefixes(w: Writer, family: IPFamily, prefixes: readonly Prefix[]): void {
  const bits = familyBits(family);
  for (const p of prefixes) {
    if (p.ip.family !== family || !Number.isInteger(p.length) || p.length < 0 || p.length > bits) {
      throw new RangeError(`prefix of length ${p.length} is not an IPv${family} prefix`);
    }
    const host = BigInt(bits - p.length);
    if ((p.ip.value & ((1n << host) - 1n)) !== 0n) {
      throw new RangeError(`prefix of length ${p.length} has host bits set`);
    }
    const n = Math.ceil(p.length / 8);
    const bytes = new Uint8Array(n);
    let v = p.ip.value >> BigInt(bits - 8 * n);
    for (let i = n - 1; i >= 0; i--) {
      bytes[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    w.u8(p.length).raw(bytes);
  }
}

/**
 * The prefixes filling `b` exactly, or the reason they do not. Bits past the length are
 * ignored (RFC 4271 4.3: "irrelevant") and cleared, so one route has one value.
 */
export function readPrefixes(
  b: Uint8Array,
  family: IPFamily,
): { ok: true; value: Prefix[] } | { ok: false; reason: string } {
  const bits = familyBits(family);
  const out: Prefix[] = [];
  let o = 0;
  while (o < b.length) {
    const length = b[o] ?? 0;
    if (length > bits) return { ok: false, reason: `prefix length ${length} over ${bits}` };
    const n = Math.ceil(length / 8);
    if (o + 1 + n > b.length) return { ok: false, reason: "prefix runs past its field" };
    let v = 0n;
    for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(b[o + 1 + i] ?? 0);
    v <<= BigInt(bits - 8 * n);
    const host = BigInt(bits - length);
    v &= ~((1n << host) - 1n);
    out.push({ ip: { family, value: v }, length });
    o += 1 + n;
  }
  return { ok: true, value: out };
}
