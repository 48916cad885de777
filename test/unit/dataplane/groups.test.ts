import { describe, expect, it } from "vitest";
import { GroupMemberships, type MembershipSocket } from "../../../src/dataplane/groups.js";
import { formatIPBytes } from "../../../src/net/ip.js";
import { ip6 } from "./fixtures.js";

class LimitedSocket implements MembershipSocket {
  readonly groups = new Set<string>();
  closed = false;
  constructor(private readonly limit: number) {}
  join(g: Uint8Array) {
    if (this.groups.size >= this.limit)
      throw Object.assign(new Error("no room"), { code: "ENOBUFS" });
    this.groups.add(formatIPBytes(6, g));
  }
  leave(g: Uint8Array) {
    this.groups.delete(formatIPBytes(6, g));
  }
  close() {
    this.closed = true;
  }
}

describe("GroupMemberships", () => {
  const g = (i: number) => ip6(`ff02::1:ff00:${i.toString(16)}`);

  it("in order: counts shared groups, spills over when full, reuses freed room", () => {
    const opened: LimitedSocket[] = [];
    const m = new GroupMemberships(() => {
      const s = new LimitedSocket(2);
      opened.push(s);
      return s;
    });
    expect(m.socketCount).toBe(0); // nothing opened before the first group
    m.add(g(1));
    m.add(g(1)); // a second IP with the same group
    m.add(g(2));
    expect([m.size, m.socketCount]).toEqual([2, 1]);
    m.add(g(3));
    expect([m.size, m.socketCount]).toEqual([3, 2]);
    const [first, second] = opened;
    expect([...(second?.groups ?? [])]).toEqual(["ff02::1:ff00:3"]);

    m.remove(g(1));
    expect(first?.groups.has("ff02::1:ff00:1")).toBe(true); // still needed once
    m.remove(g(1));
    expect(first?.groups.has("ff02::1:ff00:1")).toBe(false);
    m.add(g(4)); // goes into the first socket's freed slot
    expect(first?.groups.has("ff02::1:ff00:4")).toBe(true);
    expect(m.socketCount).toBe(2);

    m.close();
    expect(opened.every((s) => s.closed)).toBe(true);
    expect(m.socketCount).toBe(0);
  });

  it("treats ENOMEM (IPv6's answer) as full too", () => {
    const full: MembershipSocket = {
      join: () => {
        throw Object.assign(new Error("no memory"), { code: "ENOMEM" });
      },
      leave: () => undefined,
      close: () => undefined,
    };
    const spare = new LimitedSocket(10);
    const sockets = [full, spare];
    const m = new GroupMemberships(() => sockets.shift() ?? spare);
    m.add(g(1));
    expect([...spare.groups]).toEqual(["ff02::1:ff00:1"]);
  });

  it("passes on other errors", () => {
    const bad: MembershipSocket = {
      join: () => {
        throw Object.assign(new Error("nope"), { code: "EINVAL" });
      },
      leave: () => undefined,
      close: () => undefined,
    };
    const m = new GroupMemberships(() => bad);
    expect(() => m.add(g(1))).toThrow("nope");
    expect(m.size).toBe(0);
  });
});
