import { describe, expect, it } from "vitest";
import { MAX_LABS, slotAddresses } from "../../../src/lab/lab.js";

// Lab addressing: documentation ranges only, and labs running side by side never overlap.

describe("lab slot addresses", () => {
  it("lays out slot 0 in canonical form", () => {
    const a = slotAddresses(0);
    expect([a.gateway4, a.client4, a.node4(1), a.node4(3)]).toEqual([
      "192.0.2.1",
      "192.0.2.2",
      "192.0.2.11",
      "192.0.2.13",
    ]);
    expect([a.gateway6, a.client6, a.node6(1)]).toEqual([
      "2001:db8::1",
      "2001:db8::2",
      "2001:db8::11",
    ]);
    expect(a.vipRange4).toBe("192.0.2.32-192.0.2.62");
    expect(a.vipCidr6).toBe("2001:db8::1:0/112");
  });

  it("keeps every slot inside 192.0.2.0/24 and 2001:db8::/32, disjoint from the others", () => {
    const seen = new Set<string>();
    for (let s = 0; s < MAX_LABS; s++) {
      const a = slotAddresses(s);
      const v4 = [
        a.gateway4,
        a.client4,
        ...[1, 2, 3, 4, 5, 6, 7, 8].map(a.node4),
        ...a.vipRange4.split("-"),
      ];
      for (const ip of v4) {
        const last = Number(ip.split(".")[3]);
        expect(ip.startsWith("192.0.2.")).toBe(true);
        expect(Math.floor(last / 64)).toBe(s); // inside this slot's /26
        expect(seen.has(ip)).toBe(false);
        seen.add(ip);
      }
      expect(a.gateway6.startsWith("2001:db8:")).toBe(true);
    }
  });
});
