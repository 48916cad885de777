/**
 * The BFD Control packet (RFC 5880 4.1) as a value: a pure encoder and decoder.
 *
 *      0                   1                   2                   3
 *      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
 *     |                       My Discriminator                        |
 *     |                      Your Discriminator                       |
 *     |                    Desired Min TX Interval                    |
 *     |                   Required Min RX Interval                    |
 *     |                 Required Min Echo RX Interval                 |
 *     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *     |    Auth Type  |   Auth Len    |    Authentication Data...     |   (when A is set)
 *
 * Intervals are in microseconds on the wire and stay so here (fields ending in `Us`).
 *
 * `decodeControl` makes the checks of RFC 5880 6.8.6 that need only the packet (version,
 * length, detect multiplier, multipoint, discriminators) and returns the packet or the reason
 * it must be dropped; it never throws. The checks that need a session (is Your Discriminator
 * ours?) are the session's (`session.ts`).
 *
 * Authentication is not implemented: barelb never sets A, and a packet with A set is dropped
 * with reason `authentication` (its section is read only to say which type the peer used).
 * RFC 5880 6.8.6 requires that drop of a session that uses no authentication, which every
 * barelb session is; MetalLB's BFD profiles have no authentication keys either.
 */

/** RFC 5881 4: single-hop Control packets go to UDP port 3784, from a port in 49152-65535. */
export const BFD_CONTROL_PORT = 3784;
export const BFD_SOURCE_PORT_MIN = 49152;
export const BFD_SOURCE_PORT_MAX = 65535;
/** RFC 5881 5: single-hop packets are sent with TTL (hop limit) 255 and received only so. */
export const BFD_SINGLE_HOP_TTL = 255;

export const BFD_VERSION = 1;
/** The mandatory section; with no authentication, the whole packet. */
export const CONTROL_LEN = 24;

export type BfdState = "AdminDown" | "Down" | "Init" | "Up";
const STATES: readonly BfdState[] = ["AdminDown", "Down", "Init", "Up"];

/** Diagnostic codes (RFC 5880 4.1): why the sender's session last left Up. */
export const DIAG_NONE = 0;
export const DIAG_DETECTION_TIME_EXPIRED = 1;
export const DIAG_ECHO_FAILED = 2;
export const DIAG_NEIGHBOR_DOWN = 3;
export const DIAG_FORWARDING_RESET = 4;
export const DIAG_PATH_DOWN = 5;
export const DIAG_CONCATENATED_PATH_DOWN = 6;
export const DIAG_ADMIN_DOWN = 7;
export const DIAG_REVERSE_CONCATENATED_PATH_DOWN = 8;

const DIAG_NAMES: readonly string[] = [
  "No Diagnostic",
  "Control Detection Time Expired",
  "Echo Function Failed",
  "Neighbor Signaled Session Down",
  "Forwarding Plane Reset",
  "Path Down",
  "Concatenated Path Down",
  "Administratively Down",
  "Reverse Concatenated Path Down",
];

/** The RFC's name of a diagnostic code, for logs and Events; 9-31 are reserved. */
export function diagnosticName(code: number): string {
  return DIAG_NAMES[code] ?? `reserved diagnostic ${code}`;
}

export interface ControlPacket {
  /** 0-31; 0-8 are defined (`DIAG_*`). */
  readonly diagnostic: number;
  readonly state: BfdState;
  /** P: the sender asks for a packet with F in reply (a Poll Sequence, RFC 5880 6.5). */
  readonly poll: boolean;
  /** F: the reply to a Poll. */
  readonly final: boolean;
  /** C: the sender's BFD does not share fate with its control plane. */
  readonly controlPlaneIndependent: boolean;
  /** D: the sender wishes to use Demand mode. */
  readonly demand: boolean;
  /** 1-255. */
  readonly detectMult: number;
  /** Nonzero, chosen by the sender for this session. */
  readonly myDiscriminator: number;
  /** The receiver's discriminator as the sender knows it, or 0. */
  readonly yourDiscriminator: number;
  readonly desiredMinTxUs: number;
  readonly requiredMinRxUs: number;
  /** 0: the sender does not want Echo packets. */
  readonly requiredMinEchoRxUs: number;
}

export type DropReason =
  | "too-short"
  | "version"
  | "length"
  | "detect-mult-zero"
  | "multipoint"
  | "my-discriminator-zero"
  | "your-discriminator-zero"
  | "poll-and-final"
  | "authentication";

export type Decoded =
  | { readonly ok: true; readonly packet: ControlPacket }
  | { readonly ok: false; readonly reason: DropReason; readonly detail: string };

const drop = (reason: DropReason, detail: string): Decoded => ({ ok: false, reason, detail });

const u32 = (b: Uint8Array, o: number): number =>
  (((b[o] ?? 0) << 24) | ((b[o + 1] ?? 0) << 16) | ((b[o + 2] ?? 0) << 8) | (b[o + 3] ?? 0)) >>> 0;

/**
 * Reads one Control packet from a UDP payload. Bytes after the Length field's count are
 * ignored (RFC 5880 6.8.6 only drops a packet whose Length is more than the payload).
 */
export function decodeControl(bytes: Uint8Array): Decoded {
  if (bytes.length < CONTROL_LEN) {
    return drop("too-short", `${bytes.length} bytes are too few for a Control packet`);
  }
  const b0 = bytes[0] ?? 0;
  const b1 = bytes[1] ?? 0;
  const version = b0 >>> 5;
  if (version !== BFD_VERSION) return drop("version", `version ${version}, not 1`);
  const auth = (b1 & 0x04) !== 0;
  const length = bytes[3] ?? 0;
  const minimum = auth ? CONTROL_LEN + 2 : CONTROL_LEN;
  if (length < minimum || length > bytes.length) {
    return drop("length", `length ${length} in a payload of ${bytes.length} bytes`);
  }
  const detectMult = bytes[2] ?? 0;
  if (detectMult === 0) return drop("detect-mult-zero", "detect multiplier 0");
  if ((b1 & 0x01) !== 0) return drop("multipoint", "multipoint (M) set");
  const state = STATES[b1 >>> 6] ?? "AdminDown";
  const myDiscriminator = u32(bytes, 4);
  const yourDiscriminator = u32(bytes, 8);
  if (myDiscriminator === 0) return drop("my-discriminator-zero", "my discriminator 0");
  if (yourDiscriminator === 0 && state !== "Down" && state !== "AdminDown") {
    return drop("your-discriminator-zero", `your discriminator 0 in state ${state}`);
  }
  const poll = (b1 & 0x20) !== 0;
  const final = (b1 & 0x10) !== 0;
  if (poll && final) return drop("poll-and-final", "both poll (P) and final (F) set");
  if (auth) {
    return drop("authentication", `authentication type ${bytes[24] ?? 0} (not supported)`);
  }
  return {
    ok: true,
    packet: {
      diagnostic: b0 & 0x1f,
      state,
      poll,
      final,
      controlPlaneIndependent: (b1 & 0x08) !== 0,
      demand: (b1 & 0x02) !== 0,
      detectMult,
      myDiscriminator,
      yourDiscriminator,
      desiredMinTxUs: u32(bytes, 12),
      requiredMinRxUs: u32(bytes, 16),
      requiredMinEchoRxUs: u32(bytes, 20),
    },
  };
}

/** An encoder's input is the program's own: a value that does not fit is a bug, so it throws. */
function checked(name: string, n: number, min: number, max: number): number {
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(`${name} ${n} is outside ${min}-${max}`);
  }
  return n;
}

/** The 24 bytes of a Control packet without authentication (A and M are always clear). */
export function encodeControl(p: ControlPacket): Uint8Array {
  if (p.poll && p.final) throw new RangeError("a Control packet may not set both P and F");
  const out = new Uint8Array(CONTROL_LEN);
  const view = new DataView(out.buffer);
  out[0] = (BFD_VERSION << 5) | checked("diagnostic", p.diagnostic, 0, 31);
  out[1] =
    (STATES.indexOf(p.state) << 6) |
    (p.poll ? 0x20 : 0) |
    (p.final ? 0x10 : 0) |
    (p.controlPlaneIndependent ? 0x08 : 0) |
    (p.demand ? 0x02 : 0);
  out[2] = checked("detect multiplier", p.detectMult, 1, 255);
  out[3] = CONTROL_LEN;
  const max = 0xffff_ffff;
  view.setUint32(4, checked("my discriminator", p.myDiscriminator, 1, max));
  const yourMin = p.state === "Init" || p.state === "Up" ? 1 : 0;
  view.setUint32(8, checked("your discriminator", p.yourDiscriminator, yourMin, max));
  view.setUint32(12, checked("desired min TX", p.desiredMinTxUs, 0, max));
  view.setUint32(16, checked("required min RX", p.requiredMinRxUs, 0, max));
  view.setUint32(20, checked("required min echo RX", p.requiredMinEchoRxUs, 0, max));
  return out;
}
