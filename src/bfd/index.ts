/**
 * BFD (RFC 5880, single hop per RFC 5881, asynchronous mode) as values and a pure state
 * machine: the Control packet codec (`packet.ts`), one session's steps (`session.ts`), and
 * MetalLB's BFD profiles turned into session parameters (`profile.ts`). No sockets, no
 * clocks: the edge that owns the UDP sockets and the timers is `src/routing/bfd.ts`.
 */

export * from "./packet.js";
export * from "./profile.js";
export * from "./session.js";
