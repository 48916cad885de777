import { formatIPBytes, ipToBytes, parseIP } from "../net/ip.js";
import { copyBytes, invalid, ok, type Decoded } from "./decoded.js";
import {
  BROADCAST_MAC,
  ETH_HEADER_LEN,
  ETH_MIN_FRAME_LEN,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  writeEthernetHeader,
} from "./ethernet.js";

/** ARP for IPv4 over Ethernet (RFC 826), in Ethernet frames. */

export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;
export type ArpOp = typeof ARP_REQUEST | typeof ARP_REPLY;

const ARP_LEN = 28;
/** Ethernet header + ARP body. */
export const ARP_FRAME_LEN = ETH_HEADER_LEN + ARP_LEN;
const HTYPE_ETHERNET = 1;

export interface ArpFrame {
  /** Ethernet destination and source. */
  dst: Uint8Array;
  src: Uint8Array;
  op: ArpOp;
  senderMac: Uint8Array;
  senderIp: string;
  targetMac: Uint8Array;
  targetIp: string;
}

const u16 = (b: Uint8Array, o: number) => ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);

/**
 * Decodes an Ethernet frame carrying an Ethernet/IPv4 ARP request or reply. Trailing bytes
 * (padding to the Ethernet minimum) are allowed; anything else unexpected is an error.
 */
export function decodeArpFrame(frame: Uint8Array): Decoded<ArpFrame> {
  if (frame.length < ARP_FRAME_LEN)
    return invalid(`frame of ${frame.length} bytes is too short for ARP`);
  const ethertype = u16(frame, 12);
  if (ethertype !== ETHERTYPE_ARP)
    return invalid(`ethertype 0x${ethertype.toString(16)} is not ARP`);
  const a = ETH_HEADER_LEN;
  const htype = u16(frame, a);
  if (htype !== HTYPE_ETHERNET) return invalid(`hardware type ${htype} is not Ethernet`);
  const ptype = u16(frame, a + 2);
  if (ptype !== ETHERTYPE_IPV4) return invalid(`protocol type 0x${ptype.toString(16)} is not IPv4`);
  if (frame[a + 4] !== 6 || frame[a + 5] !== 4) {
    return invalid(`address lengths ${frame[a + 4] ?? 0}/${frame[a + 5] ?? 0} are not 6/4`);
  }
  const op = u16(frame, a + 6);
  if (op !== ARP_REQUEST && op !== ARP_REPLY)
    return invalid(`operation ${op} is not request or reply`);
  return ok({
    dst: copyBytes(frame, 0, 6),
    src: copyBytes(frame, 6, 12),
    op,
    senderMac: copyBytes(frame, a + 8, a + 14),
    senderIp: formatIPBytes(4, frame, a + 14),
    targetMac: copyBytes(frame, a + 18, a + 24),
    targetIp: formatIPBytes(4, frame, a + 24),
  });
}

/** Encodes an ARP frame, padded to the Ethernet minimum of 60 bytes. */
export function encodeArpFrame(f: ArpFrame): Buffer {
  const senderIp = parseIP(f.senderIp);
  const targetIp = parseIP(f.targetIp);
  if (!senderIp.ok || senderIp.value.family !== 4 || !targetIp.ok || targetIp.value.family !== 4) {
    throw new RangeError(`ARP addresses must be IPv4: ${f.senderIp}, ${f.targetIp}`);
  }
  if (f.senderMac.length !== 6 || f.targetMac.length !== 6) {
    throw new RangeError("a MAC address is 6 bytes");
  }
  const out = Buffer.alloc(ETH_MIN_FRAME_LEN);
  writeEthernetHeader(out, { dst: f.dst, src: f.src, ethertype: ETHERTYPE_ARP });
  const a = ETH_HEADER_LEN;
  out.writeUInt16BE(HTYPE_ETHERNET, a);
  out.writeUInt16BE(ETHERTYPE_IPV4, a + 2);
  out[a + 4] = 6;
  out[a + 5] = 4;
  out.writeUInt16BE(f.op, a + 6);
  out.set(f.senderMac, a + 8);
  out.set(ipToBytes(senderIp.value), a + 14);
  out.set(f.targetMac, a + 18);
  out.set(ipToBytes(targetIp.value), a + 24);
  return out;
}

/** The reply to `request` saying that `mac` has the requested address. */
export function arpReplyTo(request: ArpFrame, mac: Uint8Array): ArpFrame {
  return {
    dst: request.senderMac,
    src: mac,
    op: ARP_REPLY,
    senderMac: mac,
    senderIp: request.targetIp,
    targetMac: request.senderMac,
    targetIp: request.senderIp,
  };
}

const ZERO_MAC = new Uint8Array(6);

/**
 * A gratuitous ARP for `ip` at `mac`: broadcast, sender and target address both `ip`. The
 * request form updates the caches of hosts that ignore unsolicited replies; the reply form
 * those that ignore requests. Send both.
 */
export function gratuitousArp(ip: string, mac: Uint8Array, op: ArpOp): ArpFrame {
  return {
    dst: BROADCAST_MAC,
    src: mac,
    op,
    senderMac: mac,
    senderIp: ip,
    targetMac: op === ARP_REQUEST ? ZERO_MAC : BROADCAST_MAC,
    targetIp: ip,
  };
}

/** The sender address of an ARP probe (RFC 5227 2.1.1): "I have no address yet". */
export const PROBE_SENDER_IP = "0.0.0.0";

/**
 * An ARP probe for `ip` from `mac` (RFC 5227 2.1.1): a broadcast request with sender address
 * 0.0.0.0, so that no neighbor's cache learns anything from it, and target `ip`. A host that
 * uses `ip` answers it (Linux does, to the prober's MAC).
 */
export function arpProbe(ip: string, mac: Uint8Array): ArpFrame {
  return {
    dst: BROADCAST_MAC,
    src: mac,
    op: ARP_REQUEST,
    senderMac: mac,
    senderIp: PROBE_SENDER_IP,
    targetMac: ZERO_MAC,
    targetIp: ip,
  };
}

/** Whether a decoded frame is an ARP probe (a request from sender address 0.0.0.0). */
export function isArpProbe(f: ArpFrame): boolean {
  return f.op === ARP_REQUEST && f.senderIp === PROBE_SENDER_IP;
}
