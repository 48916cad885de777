/**
 * IPv4 and IPv6 addresses as text and bytes, for the codecs. Text is canonical: dotted quad
 * for IPv4, RFC 5952 for IPv6 (lower case, longest run of zero groups compressed), so the
 * same address always has the same map key.
 */

/** Parses a dotted-quad IPv4 address into 4 bytes, or undefined. */
export function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (const [i, p] of parts.entries()) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

export function formatIPv4(bytes: Uint8Array, offset = 0): string {
  return `${bytes[offset] ?? 0}.${bytes[offset + 1] ?? 0}.${bytes[offset + 2] ?? 0}.${bytes[offset + 3] ?? 0}`;
}

/** Parses an IPv6 address (no zone) into 16 bytes, or undefined. */
export function parseIPv6(text: string): Uint8Array | undefined {
  if (text.length < 2 || text.length > 45 || text.includes("%")) return undefined;
  let head = text;
  let v4tail: Uint8Array | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".", lastColon)) {
    v4tail = parseIPv4(text.slice(lastColon + 1));
    if (v4tail === undefined) return undefined;
    head = `${text.slice(0, lastColon + 1)}0:0`; // stands in for the two groups
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const left = groups(halves[0] ?? "");
  const right = halves.length === 2 ? groups(halves[1] ?? "") : [];
  const total = left.length + right.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return undefined;
  const all = [...left, ...Array<string>(8 - total).fill("0"), ...right];
  const out = new Uint8Array(16);
  for (const [i, g] of all.entries()) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    const n = parseInt(g, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  }
  if (v4tail !== undefined) out.set(v4tail, 12);
  return out;
}

/** Formats 16 bytes as RFC 5952 text. */
export function formatIPv6(bytes: Uint8Array, offset = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) {
    g.push(((bytes[offset + 2 * i] ?? 0) << 8) | (bytes[offset + 2 * i + 1] ?? 0));
  }
  // The longest run of two or more zero groups (the first, on a tie) becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

export type IpFamily = 4 | 6;

export interface IpAddress {
  family: IpFamily;
  /** Canonical text. */
  text: string;
  bytes: Uint8Array;
}

/** Parses either family; undefined for anything else (CIDRs, zones, host names). */
export function parseIp(text: string): IpAddress | undefined {
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return { family: 4, text: formatIPv4(v4), bytes: v4 };
  const v6 = parseIPv6(text);
  if (v6 !== undefined) return { family: 6, text: formatIPv6(v6), bytes: v6 };
  return undefined;
}

export function isIPv6Multicast(a: Uint8Array, offset = 0): boolean {
  return a[offset] === 0xff;
}

export function isIPv6Unspecified(a: Uint8Array, offset = 0): boolean {
  for (let i = 0; i < 16; i++) if (a[offset + i] !== 0) return false;
  return true;
}

export function isIPv6LinkLocal(a: Uint8Array, offset = 0): boolean {
  return a[offset] === 0xfe && ((a[offset + 1] ?? 0) & 0xc0) === 0x80;
}

/** ff02::1:ffXX:XXXX, the solicited-node multicast group of an address (RFC 4291 2.7.1). */
export function solicitedNodeGroup(a: Uint8Array): Uint8Array {
  const g = new Uint8Array(16);
  g.set([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff]);
  g.set(a.subarray(13, 16), 13);
  return g;
}

export function isSolicitedNodeGroup(a: Uint8Array, offset = 0): boolean {
  const prefix = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff];
  return prefix.every((b, i) => a[offset + i] === b);
}

/** ff02::1, all nodes on the link. */
export const ALL_NODES = parseIPv6("ff02::1") ?? new Uint8Array(16);

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
