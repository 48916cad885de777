import { formatIPv6 } from "./inet.js";

/**
 * The solicited-node multicast groups joined on one interface, counted (IPs that share their
 * low 24 bits share a group) and spread over as many sockets as needed: the kernel charges
 * each membership to its socket's option memory (net.core.optmem_max), which holds a few
 * hundred to a few thousand groups, and refuses more (ENOMEM for IPv6, ENOBUFS for IPv4). Which socket holds a
 * group does not matter for receiving: a raw ICMPv6 socket gets every solicitation the
 * interface accepts, and the interface accepts a group if any socket joined it.
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
  /** Sockets holding memberships; the first is the interface's NDP socket (not ours to close). */
  private readonly sockets: MembershipSocket[];
  private readonly full = new Set<number>();
  private readonly held = new Map<string, { count: number; socket: number; group: Uint8Array }>();

  constructor(
    primary: MembershipSocket,
    private readonly openExtra: () => MembershipSocket,
  ) {
    this.sockets = [primary];
  }

  /** Number of distinct groups joined. */
  get size(): number {
    return this.held.size;
  }

  /** How many sockets hold memberships (1 + extra ones opened for room). */
  get socketCount(): number {
    return this.sockets.length;
  }

  /** Joins `group` unless already joined; throws if the kernel refuses for another reason. */
  add(group: Uint8Array): void {
    const key = formatIPv6(group);
    const h = this.held.get(key);
    if (h !== undefined) {
      h.count++;
      return;
    }
    const socket = this.joinSomewhere(group);
    this.held.set(key, { count: 1, socket, group });
  }

  /** Leaves `group` when the last IP needing it is gone. */
  remove(group: Uint8Array): void {
    const key = formatIPv6(group);
    const h = this.held.get(key);
    if (h === undefined) return;
    if (--h.count > 0) return;
    this.held.delete(key);
    this.full.delete(h.socket);
    this.sockets[h.socket]?.leave(group);
  }

  /** Closes the extra sockets (which leaves their groups); the primary is the caller's. */
  close(): void {
    for (const s of this.sockets.slice(1)) s.close();
    this.sockets.length = 1;
    this.full.clear();
    this.held.clear();
  }

  private joinSomewhere(group: Uint8Array): number {
    for (let i = 0; ; i++) {
      if (i === this.sockets.length) this.sockets.push(this.openExtra());
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
