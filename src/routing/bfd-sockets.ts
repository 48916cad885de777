import { loadAddon, type AddonError, type NativeUdpSocket } from "../dataplane/native.js";
import { ipFromBytes, ipToBytes, type IP, type IPFamily } from "../net/ip.js";

/**
 * The sockets BFD needs, behind a port so the session edge (`bfd.ts`) can be tested with a
 * fake network: a listener per address family on the Control port, and one sender per
 * session.
 *
 * The real ones are the native addon's `UdpSocket`, not Node's `dgram`: a single-hop
 * receiver must drop Control packets that did not arrive with TTL (hop limit) 255 (RFC 5881
 * 5, the GTSM of RFC 5082), and `dgram` cannot tell the TTL a datagram arrived with. The
 * addon reads it with `recvmsg` (`IP_RECVTTL`, `IPV6_RECVHOPLIMIT`), with the destination
 * address and interface (`IP_PKTINFO`, `IPV6_RECVPKTINFO`), and sends with TTL 255.
 */

export interface Datagram {
  readonly payload: Uint8Array;
  readonly src: IP;
  readonly srcPort: number;
  /** The address it was sent to (a listener bound to the wildcard learns it here). */
  readonly dst: IP;
  /** The interface it arrived on; 0 if unknown. */
  readonly ifindex: number;
  /** The TTL (IPv4) or hop limit (IPv6) it arrived with; -1 if unknown. */
  readonly ttl: number;
}

export interface Closable {
  close(): void;
}

export interface BfdSender extends Closable {
  /** Sends to `dst` on the Control port; throws a system error (EHOSTUNREACH, ...). */
  send(payload: Uint8Array, dst: IP, port: number): void;
}

export interface BfdSockets {
  /** Listens on `port` of every address of `family`; throws (EADDRINUSE, ...) if it cannot. */
  listen(
    family: IPFamily,
    port: number,
    onDatagram: (d: Datagram) => void,
    onError: (err: Error) => void,
  ): Closable;
  /**
   * A socket bound to `local` and `port`, to send from; throws with `code` EADDRINUSE when
   * the port is taken. `ifindex` scopes an IPv6 link-local `local`, else 0.
   */
  sender(local: IP, port: number, ifindex: number, onError: (err: Error) => void): BfdSender;
}

const ignore = (): void => undefined;

function wrap(socket: NativeUdpSocket): BfdSender {
  return {
    send: (payload, dst, port) => {
      socket.send(payload, ipToBytes(dst), port);
    },
    close: () => {
      socket.close();
    },
  };
}

/** The real sockets, from the native addon (Linux; the addon must be built). */
export function nativeBfdSockets(): BfdSockets {
  const addon = loadAddon();
  return {
    listen(family, port, onDatagram, onError) {
      const wildcard = new Uint8Array(family === 4 ? 4 : 16);
      return new addon.UdpSocket(
        family,
        wildcard,
        port,
        0,
        (payload, src, srcPort, dst, ifindex, ttl) => {
          onDatagram({
            payload,
            src: ipFromBytes(family, src),
            srcPort,
            dst: ipFromBytes(family, dst),
            ifindex,
            ttl,
          });
        },
        (err: AddonError) => {
          onError(err);
        },
      );
    },
    sender(local, port, ifindex, onError) {
      // Nothing is expected on a sender's port: what arrives there is read and dropped.
      return wrap(
        new addon.UdpSocket(local.family, ipToBytes(local), port, ifindex, ignore, (err) => {
          onError(err);
        }),
      );
    },
  };
}
