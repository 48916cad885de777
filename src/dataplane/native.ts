import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { packageRoot } from "../util/paths.js";

/**
 * The typed face of the native addon (native/). Loaded on first use, never at import time,
 * so the pure parts of the data plane work where the addon is not built (macOS, CI lint).
 */

/** Errors the addon throws or reports carry Node's usual system-error fields. */
export interface AddonError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

export interface NativePacketSocket {
  /** Sends a whole Ethernet frame on the bound interface; returns bytes sent. */
  send(frame: Uint8Array): number;
  setFilter(filter: Uint32Array): void;
  /** Kernel counters since the previous call. */
  stats(): { packets: number; drops: number };
  close(): void;
  ref(): void;
  unref(): void;
}

export interface NativeIcmp6Socket {
  /** Sends from `src` when given (any address), else from the kernel's choice. */
  send(payload: Uint8Array, dst: Uint8Array, src?: Uint8Array): number;
  join(group: Uint8Array): void;
  leave(group: Uint8Array): void;
  close(): void;
  ref(): void;
  unref(): void;
}

export interface NativeUdpSocket {
  /** Sends to `dst` (4 or 16 bytes, the socket's family) and `port`; returns bytes sent. */
  send(payload: Uint8Array, dst: Uint8Array, port: number): number;
  localPort(): number;
  close(): void;
  ref(): void;
  unref(): void;
}

export interface NativeAddon {
  PacketSocket: new (
    ifindex: number,
    ethertype: number,
    filter: Uint32Array | null,
    onFrame: (frame: Buffer, pktType: number) => void,
    onError: (err: AddonError) => void,
  ) => NativePacketSocket;
  Icmp6Socket: new (
    ifindex: number,
    types: readonly number[],
    onMessage: (
      payload: Buffer,
      src: Buffer,
      dst: Buffer,
      ifindex: number,
      hopLimit: number,
    ) => void,
    onError: (err: AddonError) => void,
  ) => NativeIcmp6Socket;
  /**
   * A UDP socket bound to `address` (all zeros: the wildcard) and `port` (0: the kernel
   * picks); `ifindex` scopes an IPv6 link-local address, else 0. Sends with TTL / hop limit
   * 255; each datagram arrives with the TTL or hop limit it had (-1 if unknown) and the
   * destination address and interface it came in on.
   */
  UdpSocket: new (
    family: 4 | 6,
    address: Uint8Array,
    port: number,
    ifindex: number,
    onMessage: (
      payload: Buffer,
      src: Buffer,
      srcPort: number,
      dst: Buffer,
      ifindex: number,
      ttl: number,
    ) => void,
    onError: (err: AddonError) => void,
  ) => NativeUdpSocket;
  /**
   * A non-blocking TCP socket of `peer`'s family, not connected: with the RFC 2385 MD5 key
   * for `peer` (TCP_MD5SIG) when `password` is given, bound to `source` when given. Returns
   * the descriptor for `new net.Socket({ fd })`, which then connects it. Throws a TypeError
   * for an address that does not parse, a RangeError for a password over 80 bytes, and an
   * AddonError for a failed socket, setsockopt or bind.
   */
  tcpSocket(peer: string, password: string | null, source: string | null): number;
  /** glibc's malloc_trim(0): true if memory went back to the kernel; undefined without glibc. */
  trimMemory(): boolean | undefined;
  napiVersion: number;
}

export const ADDON_FILE = join("native", "build", "Release", "barelb_dataplane.node");

/** Where the built addon is: native/build/Release under the package root. */
export function addonPath(): string {
  return join(packageRoot(), ADDON_FILE);
}

let cached: NativeAddon | undefined;

export function loadAddon(): NativeAddon {
  if (cached !== undefined) return cached;
  if (process.platform !== "linux") {
    throw new Error(`the data-plane addon is Linux-only (this is ${process.platform})`);
  }
  const path = addonPath();
  if (!existsSync(path)) {
    throw new Error(
      `${ADDON_FILE} is not built: run \`npm run install\` (needs python3, make, g++)`,
    );
  }
  try {
    cached = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (e: unknown) {
    throw new Error(`cannot load ${path}`, { cause: e });
  }
  return cached;
}

/**
 * Returns memory the C library keeps after it was freed to the kernel (glibc malloc_trim):
 * true if some was released, false if none, undefined where the C library cannot.
 */
export function trimMemory(): boolean | undefined {
  return loadAddon().trimMemory();
}

export function isAddonError(e: unknown): e is AddonError {
  return e instanceof Error && typeof (e as Partial<AddonError>).code === "string";
}
