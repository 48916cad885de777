import { copyBytes, invalid, ok, type Decoded } from "./decoded.js";

/** Ethernet II framing and MAC addresses. */

export const ETH_HEADER_LEN = 14;
/** Frames shorter than this (without FCS) are padded on the wire. */
export const ETH_MIN_FRAME_LEN = 60;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;

export const BROADCAST_MAC: Uint8Array = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

/** Parses "aa:bb:cc:dd:ee:ff" (or with '-'), any case. */
export function parseMac(text: string): Uint8Array | undefined {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) return undefined;
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export function formatMac(mac: Uint8Array, offset = 0): string {
  const out: string[] = [];
  for (let i = 0; i < 6; i++) out.push((mac[offset + i] ?? 0).toString(16).padStart(2, "0"));
  return out.join(":");
}

export function isBroadcastMac(mac: Uint8Array, offset = 0): boolean {
  for (let i = 0; i < 6; i++) if (mac[offset + i] !== 0xff) return false;
  return true;
}

/** Group (multicast or broadcast) addresses have the I/G bit set. */
export function isGroupMac(mac: Uint8Array, offset = 0): boolean {
  return ((mac[offset] ?? 0) & 1) === 1;
}

export function macEquals(a: Uint8Array, aOffset: number, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[aOffset + i] !== b[i]) return false;
  return true;
}

export interface EthernetHeader {
  dst: Uint8Array;
  src: Uint8Array;
  ethertype: number;
}

export function decodeEthernetHeader(frame: Uint8Array): Decoded<EthernetHeader> {
  if (frame.length < ETH_HEADER_LEN) return invalid(`frame of ${frame.length} bytes is too short`);
  return ok({
    dst: copyBytes(frame, 0, 6),
    src: copyBytes(frame, 6, 12),
    ethertype: ((frame[12] ?? 0) << 8) | (frame[13] ?? 0),
  });
}

/** Writes the 14-byte header at the start of `out`. */
export function writeEthernetHeader(out: Uint8Array, h: EthernetHeader): void {
  if (h.dst.length !== 6 || h.src.length !== 6) throw new RangeError("a MAC address is 6 bytes");
  out.set(h.dst, 0);
  out.set(h.src, 6);
  out[12] = h.ethertype >> 8;
  out[13] = h.ethertype & 0xff;
}
