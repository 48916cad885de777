import { describe, expect, it } from "vitest";
import {
  formatNodeWarnings,
  nodeWarnings,
  parseNodeWarnings,
  selfMembership,
  type HostFacts,
  type InterfaceFacts,
} from "../../../src/speaker/node-warnings.js";

const iface = (name: string, more: Partial<InterfaceFacts> = {}): InterfaceFacts => ({
  name,
  arpIgnore: 0,
  wireless: false,
  promiscuous: false,
  ...more,
});

const facts = (more: Partial<HostFacts> = {}): HostFacts => ({
  ipvsAddresses: null,
  arpIgnoreAll: 0,
  interfaces: [iface("eth0")],
  lbIPs: new Set(),
  ...more,
});

describe("nodeWarnings", () => {
  const cases: {
    name: string;
    facts: HostFacts;
    kinds: string[];
    says?: string[];
    not?: string[];
  }[] = [
    { name: "a wired node without kube-ipvs0: nothing", facts: facts(), kinds: [] },
    {
      name: "kube-ipvs0 holding a LoadBalancer IP, arp_ignore 0: named, with the fix",
      facts: facts({
        ipvsAddresses: ["10.96.0.1", "192.0.2.40"],
        lbIPs: new Set(["192.0.2.40", "192.0.2.41"]),
      }),
      kinds: ["KubeProxyIPVSWithoutStrictARP"],
      says: [
        "kube-ipvs0 holds the LoadBalancer IP 192.0.2.40 and",
        "net.ipv4.conf.all.arp_ignore is 0",
        "kubectl edit configmap -n kube-system kube-proxy",
        "ipvs.strictARP: true",
      ],
      not: ["10.96.0.1"],
    },
    {
      name: "kube-ipvs0 holding ClusterIPs only: warned before any LoadBalancer IP lands there",
      facts: facts({ ipvsAddresses: ["10.96.0.1", "10.96.0.10"] }),
      kinds: ["KubeProxyIPVSWithoutStrictARP"],
      says: ["kube-ipvs0 holds 2 addresses (LoadBalancer IPs too, once assigned)"],
    },
    {
      name: "many LoadBalancer IPs: the first three, sorted, and a count",
      facts: facts({
        ipvsAddresses: ["192.0.2.5", "192.0.2.4", "192.0.2.3", "192.0.2.2", "192.0.2.1"],
        lbIPs: new Set(["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"]),
      }),
      kinds: ["KubeProxyIPVSWithoutStrictARP"],
      says: ["IPs 192.0.2.1, 192.0.2.2, 192.0.2.3 and 2 more"],
    },
    {
      name: "an empty kube-ipvs0 (no Services yet): nothing",
      facts: facts({ ipvsAddresses: [] }),
      kinds: [],
    },
    {
      name: "strictARP on (arp_ignore 1 for all): nothing",
      facts: facts({ ipvsAddresses: ["192.0.2.40"], arpIgnoreAll: 1 }),
      kinds: [],
    },
    {
      name: "arp_ignore 2 for all: nothing",
      facts: facts({ ipvsAddresses: ["192.0.2.40"], arpIgnoreAll: 2 }),
      kinds: [],
    },
    {
      name: "arp_ignore 1 on the announcing interface only: the kernel uses the larger, nothing",
      facts: facts({
        ipvsAddresses: ["192.0.2.40"],
        interfaces: [iface("eth0", { arpIgnore: 1 })],
      }),
      kinds: [],
    },
    {
      name: "one of two announcing interfaces still answers: warned",
      facts: facts({
        ipvsAddresses: ["192.0.2.40"],
        interfaces: [iface("eth0", { arpIgnore: 1 }), iface("eth1")],
      }),
      kinds: ["KubeProxyIPVSWithoutStrictARP"],
    },
    {
      name: "no announcing interface: arp_ignore for all decides",
      facts: facts({ ipvsAddresses: ["192.0.2.40"], interfaces: [] }),
      kinds: ["KubeProxyIPVSWithoutStrictARP"],
    },
    {
      name: "arp_ignore unreadable: no guess",
      facts: facts({ ipvsAddresses: ["192.0.2.40"], arpIgnoreAll: null }),
      kinds: [],
    },
    {
      name: "announcing on Wi-Fi: use a cable, or promisc on",
      facts: facts({ interfaces: [iface("eth0"), iface("wlan0", { wireless: true })] }),
      kinds: ["WirelessInterface"],
      says: ["Wi-Fi interface wlan0:", "use wired Ethernet", "ip link set wlan0 promisc on"],
      not: ["eth0"],
    },
    {
      name: "two Wi-Fi interfaces: both named, each with its command",
      facts: facts({
        interfaces: [iface("wlp3s0", { wireless: true }), iface("wlan0", { wireless: true })],
      }),
      kinds: ["WirelessInterface"],
      says: [
        "Wi-Fi interfaces wlan0, wlp3s0:",
        "ip link set wlan0 promisc on and ip link set wlp3s0 promisc on",
      ],
    },
    {
      name: "a promiscuous Wi-Fi interface: nothing (the documented fix is in place)",
      facts: facts({ interfaces: [iface("wlan0", { wireless: true, promiscuous: true })] }),
      kinds: [],
    },
    {
      name: "both at once: sorted by kind",
      facts: facts({
        ipvsAddresses: ["192.0.2.40"],
        interfaces: [iface("wlan0", { wireless: true })],
      }),
      kinds: ["KubeProxyIPVSWithoutStrictARP", "WirelessInterface"],
    },
  ];

  it.each(cases)("$name", ({ facts: f, kinds, says = [], not = [] }) => {
    const found = nodeWarnings(f);
    expect(found.map((w) => w.kind)).toEqual(kinds);
    const text = found.map((w) => w.message).join("\n");
    for (const s of says) expect(text).toContain(s);
    for (const s of not) expect(text).not.toContain(s);
    for (const w of found) expect(w.message).not.toContain("\n");
  });
});

describe("the node-warnings annotation", () => {
  it("is a JSON array sorted by kind, [] for none, and reads back", () => {
    expect(formatNodeWarnings([])).toBe("[]");
    const text = formatNodeWarnings([
      { kind: "WirelessInterface", message: "w" },
      { kind: "KubeProxyIPVSWithoutStrictARP", message: "k" },
    ]);
    expect(JSON.parse(text)).toEqual([
      { kind: "KubeProxyIPVSWithoutStrictARP", message: "k" },
      { kind: "WirelessInterface", message: "w" },
    ]);
    expect(parseNodeWarnings(text).map((w) => w.kind)).toEqual([
      "KubeProxyIPVSWithoutStrictARP",
      "WirelessInterface",
    ]);
  });

  it.each([
    [undefined, []],
    ["", []],
    ["not json", []],
    ['{"kind":"X"}', []],
    ['[{"kind":"X","message":"m"},{"kind":1},null,"s"]', [{ kind: "X", message: "m" }]],
  ])("reads %j leniently", (text, want) => {
    expect(parseNodeWarnings(text)).toEqual(want);
  });
});

describe("selfMembership", () => {
  it.each([
    [undefined, false, false, "starting"],
    ["absent", false, false, "starting"],
    ["eligible", false, true, "starting"],
    ["eligible", false, false, "eligible"],
    ["held", false, false, "held"],
    ["fenced", false, false, "fenced"],
    ["eligible", true, false, "leaving"],
    ["dead", false, false, "leaving"],
  ] as const)("%s (leaving %s, quiet %s): %s", (state, leaving, quiet, want) => {
    expect(selfMembership(state, { leaving, quiet })).toBe(want);
  });
});
