import { arpFilter, flatten, unicastNeighborSolicitationFilter } from "./bpf.js";
import { ETHERTYPE_ARP, ETHERTYPE_IPV6 } from "./ethernet.js";
import type { NetInterface } from "./interfaces.js";
import {
  ICMPV6_NEIGHBOR_ADVERTISEMENT,
  ICMPV6_NEIGHBOR_SOLICITATION,
  icmp6FromFrame,
} from "./ndp.js";
import { loadAddon, type AddonError, type NativePacketSocket } from "./native.js";

/**
 * The two sockets a data plane needs per interface, as an interface, so the responders and
 * the announcer are tested against a recording fake and run against the addon.
 */

export interface ArpSocket {
  /** Sends a whole Ethernet frame; throws an AddonError (code ENOBUFS, ENETDOWN, ...). */
  send(frame: Uint8Array): void;
  close(): void;
}

/** A received ICMPv6 message with what the kernel told about its arrival. */
export interface ReceivedIcmp6 {
  payload: Uint8Array;
  src: Uint8Array;
  dst: Uint8Array;
  /** Interface it arrived on (0: unknown). */
  ifindex: number;
  /** Hop limit it arrived with (-1: unknown). */
  hopLimit: number;
}

export interface NdpSocket {
  /** Sends an ICMPv6 message to `dst`, from source address `src`. */
  send(payload: Uint8Array, dst: Uint8Array, src: Uint8Array): void;
  /** Sends a whole Ethernet frame (a duplicate address probe, from the unspecified address). */
  sendFrame(frame: Uint8Array): void;
  /** Joins a multicast group on this interface (the kernel sends the MLD report). */
  join(group: Uint8Array): void;
  leave(group: Uint8Array): void;
  close(): void;
}

/** A socket that only holds multicast memberships (receives nothing). */
export interface MembershipOnlySocket {
  join(group: Uint8Array): void;
  leave(group: Uint8Array): void;
  close(): void;
}

export interface SocketFactory {
  /** A socket receiving the ARP requests that arrive on `iface`. */
  openArp(
    iface: NetInterface,
    onFrame: (frame: Uint8Array, pktType: number) => void,
    onError: (err: Error) => void,
  ): ArpSocket;
  /**
   * A socket receiving the Neighbor Solicitations that arrive on `iface`: multicast ones
   * (solicited-node groups joined) and unicast ones to the interface's MAC (NUD); and the
   * Neighbor Advertisements sent to this host (to all nodes, or to its own addresses).
   */
  openNdp(
    iface: NetInterface,
    onMessage: (m: ReceivedIcmp6) => void,
    onError: (err: Error) => void,
  ): NdpSocket;
  /** A socket to hold multicast memberships on `iface` (see GroupMemberships). */
  openMembership(iface: NetInterface): MembershipOnlySocket;
}

/** Sockets from the native addon (needs CAP_NET_RAW). */
export function nativeSockets(): SocketFactory {
  const addon = loadAddon();
  const filter = flatten(arpFilter());
  const unicastNs = flatten(unicastNeighborSolicitationFilter());
  return {
    openArp(iface, onFrame, onError) {
      const s = new addon.PacketSocket(
        iface.index,
        ETHERTYPE_ARP,
        filter,
        onFrame,
        (e: AddonError) => {
          onError(e);
        },
      );
      return { send: (frame) => void s.send(frame), close: () => s.close() };
    },
    openNdp(iface, onMessage, onError) {
      const s = new addon.Icmp6Socket(
        iface.index,
        [ICMPV6_NEIGHBOR_SOLICITATION, ICMPV6_NEIGHBOR_ADVERTISEMENT],
        (payload, src, dst, ifindex, hopLimit) => {
          onMessage({ payload, src, dst, ifindex, hopLimit });
        },
        (e: AddonError) => {
          onError(e);
        },
      );
      // Unicast solicitations for an owned IP are not for any of the kernel's addresses, so
      // the ICMPv6 socket never sees them: a packet socket reads them from the link.
      let unicast: NativePacketSocket;
      try {
        unicast = new addon.PacketSocket(
          iface.index,
          ETHERTYPE_IPV6,
          unicastNs,
          (frame) => {
            const m = icmp6FromFrame(frame);
            if (m.ok) onMessage({ ...m.value, ifindex: iface.index });
          },
          (e: AddonError) => {
            onError(e);
          },
        );
      } catch (e: unknown) {
        s.close();
        throw e;
      }
      return {
        send: (payload, dst, src) => void s.send(payload, dst, src),
        sendFrame: (frame) => void unicast.send(frame),
        join: (g) => s.join(g),
        leave: (g) => s.leave(g),
        close: () => {
          s.close();
          unicast.close();
        },
      };
    },
    openMembership(iface) {
      // No ICMPv6 type passes its filter: it never wakes the event loop.
      const s = new addon.Icmp6Socket(iface.index, [], noop, noop);
      return { join: (g) => s.join(g), leave: (g) => s.leave(g), close: () => s.close() };
    },
  };
}

const noop = () => undefined;
