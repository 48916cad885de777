import { describe, expect, it } from "vitest";
import {
  classifyLinks,
  interfacePolicy,
  type LinkFacts,
} from "../../../src/dataplane/interfaces.js";
import { linkKind } from "../../../src/dataplane/rtnetlink.js";

const nic = (index: number, name: string, more: Partial<LinkFacts> = {}): LinkFacts => ({
  index,
  name,
  type: 1,
  mac: Uint8Array.of(2, 0, 0, 0, 0, index),
  up: true,
  running: true,
  broadcast: true,
  noarp: false,
  loopback: false,
  ...more,
});

describe("classifyLinks", () => {
  const links: LinkFacts[] = [
    nic(1, "lo", { loopback: true, type: 772 }),
    nic(2, "eth0"),
    nic(3, "eth1", { up: false, running: false }),
    nic(4, "eth2", { running: false }),
    nic(5, "br0", { kind: "bridge" }),
    nic(6, "eth3", { master: 5 }),
    nic(7, "bond0", { kind: "bond" }),
    nic(8, "eth4", { master: 7 }),
    nic(9, "vrf-blue", { kind: "vrf", noarp: true }),
    nic(10, "eth5", { master: 9 }),
    nic(11, "docker0", { kind: "bridge" }),
    nic(12, "veth1234"),
    nic(13, "cali0ab"),
    nic(14, "flannel.1", { kind: "vxlan" }),
    nic(15, "kube-ipvs0", { kind: "dummy", noarp: true }),
    nic(16, "wg0", { type: 65534, broadcast: false, noarp: true }),
    nic(17, "ifb0", { noarp: true }),
    nic(18, "tun0", { broadcast: false }),
    nic(19, "eth6", { mac: undefined }),
    nic(20, "eth7.100", { kind: "vlan" }),
  ];

  it("keeps up, broadcast, ARP-capable Ethernet links that are not bridge/bond ports or excluded", () => {
    const { usable, skipped } = classifyLinks(links, new Set([2, 20]), interfacePolicy());
    expect(usable.map((u) => [u.name, u.ipv6LinkLocal])).toEqual([
      ["eth0", true],
      ["br0", false],
      ["bond0", false],
      ["eth5", false],
      ["eth7.100", true],
    ]);
    expect(Object.fromEntries(skipped.map((s) => [s.name, s.reason]))).toEqual({
      lo: "excluded by pattern ^lo$",
      eth1: "administratively down",
      eth2: "no carrier",
      eth3: "enslaved to br0 (bridge)",
      eth4: "enslaved to bond0 (bond)",
      "vrf-blue": "NOARP",
      docker0: "excluded by pattern ^docker.*",
      veth1234: "excluded by pattern ^veth.*",
      cali0ab: "excluded by pattern ^cali.*",
      "flannel.1": "excluded by pattern ^flannel.*",
      "kube-ipvs0": "excluded by pattern ^kube-ipvs.*",
      wg0: "link type 65534 is not Ethernet",
      ifb0: "NOARP",
      tun0: "not broadcast-capable",
      eth6: "no MAC address",
    });
  });

  it("takes a replacement exclusion list", () => {
    const { usable } = classifyLinks(links, new Set(), interfacePolicy(["^eth", "^br"]));
    expect(usable.map((u) => u.name)).toEqual([
      "bond0",
      "docker0",
      "veth1234",
      "cali0ab",
      "flannel.1",
    ]);
  });
});

describe("linkKind", () => {
  it("reads IFLA_INFO_KIND from IFLA_LINKINFO", () => {
    // As the kernel sends it for a veth: {len 8, type 1, "veth"} then IFLA_INFO_DATA.
    const info = Buffer.from([9, 0, 1, 0, 0x76, 0x65, 0x74, 0x68, 0, 0, 0, 0, 4, 0, 2, 0]);
    expect(linkKind(info)).toBe("veth");
    expect(linkKind(Buffer.from([8, 0, 1, 0, 0x69, 0x66, 0x62, 0]))).toBe("ifb");
    expect(linkKind(Buffer.from([4, 0, 2, 0]))).toBeUndefined();
    expect(linkKind(Buffer.from([200, 0, 1, 0]))).toBeUndefined();
  });
});
