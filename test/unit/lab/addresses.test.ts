import { describe, expect, it } from "vitest";
import { MAX_LABS, labSlotOf, slotAddresses } from "../../../src/lab/lab.js";
import { realNodeAddresses } from "../../../src/lab/real-nodes.js";

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

describe("the lab slot an address falls in", () => {
  it.each([
    ["192.0.2.2", 0],
    ["192.0.2.63", 0],
    ["192.0.2.64", 1],
    ["192.0.2.255", 3],
    ["198.51.100.40", 0],
    ["198.51.100.200", 3],
    ["2001:db8::1", 0],
    ["2001:db8::1:5", 0],
    ["2001:db8:0:2::11", 2],
    ["203.0.113.1", undefined],
    ["10.0.0.1", undefined],
    ["2001:db8:1::1", undefined],
    ["fd00::2", undefined],
  ])("%s is in slot %s", (address, slot) => {
    expect(labSlotOf(address)).toBe(slot);
  });

  it("covers every address a slot hands out, in both ranges", () => {
    for (const slot of Array(MAX_LABS).keys()) {
      const a = slotAddresses(slot);
      for (const addr of [a.gateway4, a.client4, a.node4(1), a.gateway6, a.client6, a.node6(8)])
        expect(labSlotOf(addr)).toBe(slot);
      expect(labSlotOf(realNodeAddresses(slot).kubernetesServiceIP)).toBe(slot);
    }
  });
});
