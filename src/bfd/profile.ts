import type { BfdProfile } from "../config/types.js";

/**
 * A `bfd-profiles` entry (MetalLB's fields, milliseconds) to a session's parameters
 * (microseconds, as on the wire). A peer with no profile gets MetalLB's defaults, the same
 * as FRR's: 300 ms each way, multiplier 3, so a silent peer is lost after 900 ms.
 *
 * What barelb does not do, said rather than silently dropped (`unsupported`):
 * - `echo-mode`: the Echo function (RFC 5880 6.4) is not implemented. The session runs in
 *   asynchronous mode alone and advertises Required Min Echo RX 0, so the peer sends no
 *   echoes either; `echo-interval` has no effect.
 * - `minimum-ttl` is for multi-hop sessions (MetalLB passes it to FRR for those only). barelb's
 *   sessions are single hop, where RFC 5881 5 fixes the rule: packets leave with TTL 255 and
 *   only packets that arrive with TTL 255 are accepted, whatever the profile says.
 */

export const BFD_PROFILE_DEFAULTS = {
  receiveIntervalMs: 300,
  transmitIntervalMs: 300,
  detectMultiplier: 3,
  echoIntervalMs: 50,
  minimumTtl: 254,
  echoMode: false,
  passiveMode: false,
} as const;

export interface SessionParameters {
  readonly desiredMinTxUs: number;
  readonly requiredMinRxUs: number;
  readonly detectMult: number;
  readonly passive: boolean;
}

export interface ProfileParameters {
  readonly parameters: SessionParameters;
  /** One line for each setting of the profile that barelb does not act on. */
  readonly unsupported: readonly string[];
}

export function sessionParameters(profile: BfdProfile | undefined): ProfileParameters {
  const d = BFD_PROFILE_DEFAULTS;
  const unsupported: string[] = [];
  if (profile?.echoMode === true) {
    unsupported.push(
      `bfd-profiles ${profile.name}: echo-mode is not supported; the session runs without the Echo function`,
    );
  }
  if (profile?.minimumTtl !== undefined) {
    unsupported.push(
      `bfd-profiles ${profile.name}: minimum-ttl applies to multi-hop sessions; single-hop sessions accept TTL 255 only`,
    );
  }
  return {
    parameters: {
      desiredMinTxUs: (profile?.transmitInterval ?? d.transmitIntervalMs) * 1000,
      requiredMinRxUs: (profile?.receiveInterval ?? d.receiveIntervalMs) * 1000,
      detectMult: profile?.detectMultiplier ?? d.detectMultiplier,
      passive: profile?.passiveMode ?? d.passiveMode,
    },
    unsupported,
  };
}
