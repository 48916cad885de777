import { formatIPBytes } from "../net/ip.js";

/**
 * The solicited-node multicast groups joined on one interface, counted (IPs that share their
 * low 24 bits share a group) and spread over as many sockets as needed: the kernel charges
 * each membership to its socket's option memory (net.core.optmem_max), which holds a few
 * hundred to a few thousand groups, and refuses more (ENOMEM for IPv6, ENOBUFS for IPv4).
 * Which socket holds a group does not matter for receiving: a raw ICMPv6 socket gets every
 * solicitation the interface accepts, and the interface accepts a group if any socket joined
 * it. So the groups live on sockets of their own, never on the socket that sends: sendmsg
 * takes its control data (the IPV6_PKTINFO naming the source) from the same option memory,
 * and a sending socket full of memberships fails every send with ENOBUFS.
 */

export interface MembershipSocket {
  join(group: Uint8Array): void;
  leave(group: Uint8Array): void;
  close(): void;
}

/** The kernel's "this socket has no room for another membership". */
const isFull = (e: unknown) => {
  const code = e instanceof Error ? (e as { code?: unknown }).code : undefined;
  return code === "ENOMEM" || code === "ENOBUFS";
};

export class GroupMemberships {
  /** Sockets holding memberships, opened as needed. */
  private readonly sockets: MembershipSocket[] = [];
  private readonly full = new Set<number>();
  /** Group (text) → IPs needing it, and the socket holding it. */
  private readonly held = new Map<string, { count: number; socket: number }>();

  constructor(private readonly open: () => MembershipSocket) {}

  /** Number of distinct groups joined. */
  get size(): number {
    return this.held.size;
  }

  /** How many sockets were opened for memberships. */
  get socketCount(): number {
    return this.sockets.length;
  }

  /** Joins `group` unless already joined; throws if the kernel refuses for another reason. */
  add(group: Uint8Array): void {
    const key = formatIPBytes(6, group);
    const h = this.held.get(key);
    if (h !== undefined) {
      h.count++;
      return;
    }
    const socket = this.joinSomewhere(group);
    this.held.set(key, { count: 1, socket });
  }

  /** Leaves `group` when the last IP needing it is gone. */
  remove(group: Uint8Array): void {
    const key = formatIPBytes(6, group);
    const h = this.held.get(key);
    if (h === undefined) return;
    if (--h.count > 0) return;
    this.held.delete(key);
    this.full.delete(h.socket);
    this.sockets[h.socket]?.leave(group);
  }

  /** Closes the sockets, which leaves their groups. */
  close(): void {
    for (const s of this.sockets) s.close();
    this.sockets.length = 0;
    this.full.clear();
    this.held.clear();
  }

  private joinSomewhere(group: Uint8Array): number {
    for (let i = 0; ; i++) {
      if (i === this.sockets.length) this.sockets.push(this.open());
      if (this.full.has(i)) continue;
      try {
        this.sockets[i]?.join(group);
        return i;
      } catch (e: unknown) {
        if (!isFull(e)) throw e;
        this.full.add(i);
      }
    }
  }
}
