/**
 * MetalLB v0.12's BGP settings: the examples of MetalLB's documentation (written again with
 * documentation addresses and private ASNs) parse to the expected structures, each rule has
 * its own error row, and while BGP mode is not available a config that uses it is refused
 * with exactly one line after every other check.
 */
import { describe, expect, it } from "vitest";

import {
  BGP_MODE_AVAILABLE,
  BGP_NOT_IMPLEMENTED,
  parseGoDuration,
  shortestPrefix,
} from "../../../src/config/bgp.js";
import { parseConfig, usesBgp, type Config } from "../../../src/config/index.js";
import { parseIP, type IP } from "../../../src/net/ip.js";

function ip(text: string): IP {
  const r = parseIP(text);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

/** Parses as the later BGP speaker will (BGP available). */
/** The config `text` parses to as barelb ships (no options): MetalLB's examples, unchanged. */
function ok(text: string): Config {
  const r = parseConfig(text);
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join("\n"));
  return r.config;
}

function messages(text: string, bgpAvailable = true): string[] {
  const r = parseConfig(text, { bgpAvailable });
  if (r.ok) throw new Error("expected errors, got a valid config");
  return r.errors.map((e) => e.message);
}

const PEER = `peers:
- peer-address: 192.0.2.1
  peer-asn: 64501
  my-asn: 64500
`;

/** A config with one valid peer and one BGP pool with the given extra lines. */
function bgpPool(extra: string, addresses = "[198.51.100.0/24]"): string {
  return `${PEER}address-pools:
- name: routed
  protocol: bgp
  addresses: ${addresses}
${extra
  .split("\n")
  .map((l) => `  ${l}`)
  .join("\n")}
`;
}

/** A config with one peer written with the given lines, and no pools. */
function peer(lines: string): string {
  return `peers:\n- ${lines
    .split("\n")
    .map((l, i) => (i === 0 ? l : `  ${l}`))
    .join("\n")}\n`;
}

const DEFAULT_ADVERTISEMENT = {
  aggregationLength: 32,
  aggregationLengthV6: 128,
  localPref: undefined,
  communities: [],
};

describe("MetalLB's documented v0.12 BGP examples parse to the expected structures", () => {
  it("the basic BGP configuration: one peer, one pool", () => {
    const config = ok(`peers:
- peer-address: 192.0.2.1
  peer-asn: 64501
  my-asn: 64500
address-pools:
- name: default
  protocol: bgp
  addresses:
  - 198.51.100.0/24
`);
    expect(config.peers).toEqual([
      {
        myASN: 64500,
        peerASN: 64501,
        address: ip("192.0.2.1"),
        port: 179,
        sourceAddress: undefined,
        holdTime: 90,
        keepaliveTime: 30,
        routerID: undefined,
        password: undefined,
        nodeSelectors: [],
        bfdProfile: undefined,
        ebgpMultiHop: false,
      },
    ]);
    expect(config.pools[0]).toMatchObject({
      name: "default",
      protocol: "bgp",
      bgpAdvertisements: [DEFAULT_ADVERTISEMENT],
      families: [4],
    });
    expect(usesBgp(config)).toBe(true);
  });

  it("advertisement configuration: local preference, named communities, aggregation", () => {
    const config = ok(`peers:
- peer-address: 192.0.2.1
  peer-asn: 64501
  my-asn: 64500
bgp-communities:
  no-advertise: 65535:65282
address-pools:
- name: default
  protocol: bgp
  addresses:
  - 198.51.100.0/24
  bgp-advertisements:
  - aggregation-length: 32
    localpref: 100
    communities:
    - no-advertise
  - aggregation-length: 24
`);
    const noAdvertise = { kind: "standard", text: "65535:65282", value: 0xffff_ff02 };
    expect(config.communities).toEqual({ "no-advertise": noAdvertise });
    expect(config.pools[0]?.bgpAdvertisements).toEqual([
      {
        aggregationLength: 32,
        aggregationLengthV6: 128,
        localPref: 100,
        communities: [noAdvertise],
      },
      { aggregationLength: 24, aggregationLengthV6: 128, localPref: undefined, communities: [] },
    ]);
  });

  it("limiting peers to certain nodes (match-labels, match-expressions)", () => {
    const config = ok(`peers:
- peer-address: 192.0.2.1
  peer-asn: 64501
  my-asn: 64500
  node-selectors:
  - match-labels:
      rack: frontend
    match-expressions:
    - key: network-speed
      operator: NotIn
      values: [slow]
  - match-expressions:
    - key: kubernetes.io/hostname
      operator: In
      values: [hostA, hostB]
`);
    expect(config.peers[0]?.nodeSelectors).toEqual([
      {
        matchLabels: { rack: "frontend" },
        matchExpressions: [{ key: "network-speed", operator: "NotIn", values: ["slow"] }],
      },
      {
        matchLabels: {},
        matchExpressions: [
          { key: "kubernetes.io/hostname", operator: "In", values: ["hostA", "hostB"] },
        ],
      },
    ]);
  });

  it("the annotated example config: every peer key and a BFD profile", () => {
    const config = ok(`peers:
- peer-address: 192.0.2.1
  peer-asn: 64512
  my-asn: 64512
  peer-port: 1179
  source-address: 192.0.2.2
  hold-time: 120s
  keepalive-time: 30s
  router-id: 192.0.2.254
  password: "yourPassword"
  bfd-profile: fast
  ebgp-multihop: false
- peer-address: 2001:db8::1
  peer-asn: 64513
  my-asn: 64512
  hold-time: 1m30s
  ebgp-multihop: true
bfd-profiles:
- name: fast
  receive-interval: 179
  transmit-interval: 180
  echo-interval: 62
  echo-mode: false
  passive-mode: true
  minimum-ttl: 254
- name: defaults
address-pools:
- name: routed
  protocol: bgp
  addresses:
  - 198.51.100.0/26
  - 198.51.100.112-198.51.100.127
  - 2001:db8:1::/120
  bgp-advertisements:
  - aggregation-length: 28
    aggregation-length-v6: 120
    communities: [64512:100, large:64512:1:2]
- name: lan
  protocol: layer2
  addresses: [192.0.2.100-192.0.2.150]
`);
    expect(config.peers[0]).toEqual({
      myASN: 64512,
      peerASN: 64512,
      address: ip("192.0.2.1"),
      port: 1179,
      sourceAddress: ip("192.0.2.2"),
      holdTime: 120,
      keepaliveTime: 30,
      routerID: ip("192.0.2.254"),
      password: "yourPassword",
      nodeSelectors: [],
      bfdProfile: "fast",
      ebgpMultiHop: false,
    });
    expect(config.peers[1]).toMatchObject({
      address: ip("2001:db8::1"),
      holdTime: 90,
      keepaliveTime: 30,
      ebgpMultiHop: true,
    });
    expect(config.bfdProfiles).toEqual([
      {
        name: "fast",
        receiveInterval: 179,
        transmitInterval: 180,
        detectMultiplier: undefined,
        echoInterval: 62,
        echoMode: false,
        passiveMode: true,
        minimumTtl: 254,
      },
      {
        name: "defaults",
        receiveInterval: undefined,
        transmitInterval: undefined,
        detectMultiplier: undefined,
        echoInterval: undefined,
        echoMode: false,
        passiveMode: false,
        minimumTtl: undefined,
      },
    ]);
    expect(config.pools.map((p) => [p.name, p.protocol, p.bgpAdvertisements.length])).toEqual([
      ["routed", "bgp", 1],
      ["lan", "layer2", 0],
    ]);
    expect(config.pools[0]?.bgpAdvertisements[0]).toEqual({
      aggregationLength: 28,
      aggregationLengthV6: 120,
      localPref: undefined,
      communities: [
        { kind: "standard", text: "64512:100", value: 64512 * 65536 + 100 },
        {
          kind: "large",
          text: "large:64512:1:2",
          globalAdmin: 64512,
          localData1: 1,
          localData2: 2,
        },
      ],
    });
    expect(Object.isFrozen(config.peers[0]?.nodeSelectors)).toBe(true);
  });

  it("a layer2-only config stays as it was: no peers, no profiles, no communities", () => {
    const config = ok(
      "address-pools:\n- name: lan\n  protocol: layer2\n  addresses: [192.0.2.0/28]\n",
    );
    expect(config).toMatchObject({ peers: [], bfdProfiles: [], communities: {} });
    expect(config.pools[0]?.bgpAdvertisements).toEqual([]);
    expect(usesBgp(config)).toBe(false);
  });

  it("hold-time 0 turns keepalives off; keepalive may equal the hold time (as MetalLB)", () => {
    expect(
      ok(peer("peer-address: 192.0.2.1\npeer-asn: 64501\nmy-asn: 64500\nhold-time: 0s")).peers[0],
    ).toMatchObject({ holdTime: 0, keepaliveTime: 0 });
    expect(
      ok(
        peer(
          "peer-address: 192.0.2.1\npeer-asn: 64501\nmy-asn: 64500\nhold-time: 3.9s\nkeepalive-time: 3s",
        ),
      ).peers[0],
    ).toMatchObject({ holdTime: 3, keepaliveTime: 3 });
  });
});

describe("the BGP mode gate", () => {
  it("is on in this version: a valid BGP config is accepted", () => {
    expect(BGP_MODE_AVAILABLE).toBe(true);
    const r = parseConfig(bgpPool(""));
    expect(r.ok).toBe(true);
    expect(r.ok && r.config.pools[0]?.protocol).toBe("bgp");
  });

  it("closed (bgpAvailable: false), a valid BGP config is refused with exactly one line", () => {
    expect(messages(bgpPool(""), false)).toEqual([BGP_NOT_IMPLEMENTED]);
    expect(parseConfig(bgpPool(""), { bgpAvailable: false })).toMatchObject({
      ok: false,
      errors: [{ reason: BGP_NOT_IMPLEMENTED, message: BGP_NOT_IMPLEMENTED }],
    });
  });

  it("mistakes in the BGP section are all reported first, then the one line", () => {
    expect(
      messages(
        `peers:
- peer-address: 192.0.2.1
  peer-asn: 64501
  my-asn: 0
address-pools:
- name: routed
  protocol: bgp
  addresses: [198.51.100.0/24]
  bgp-advertisements:
  - communities: [no-export]
`,
        false,
      ),
    ).toEqual([
      'peers[0].my-asn "0": out of range: an AS number is 1-4294967295',
      'pool "routed": bgp-advertisements[0].communities[0] "no-export": not a community: write AS:value (two numbers 0-65535), large:A:B:C (three numbers 0-4294967295) or a name from bgp-communities',
      BGP_NOT_IMPLEMENTED,
    ]);
  });

  it("bgp-communities and bfd-profiles alone do not need the BGP speaker", () => {
    const r = parseConfig(
      "bgp-communities: {no-export: 65535:65281}\nbfd-profiles: [{name: fast}]\naddress-pools: []\n",
    );
    expect(r.ok).toBe(true);
  });
});

describe("every BGP rule rejects with its key and value", () => {
  const COMMUNITY_HINT =
    "not a community: write AS:value (two numbers 0-65535), large:A:B:C (three numbers 0-4294967295) or a name from bgp-communities";
  const cases: [string, string, string[]][] = [
    [
      "a community value above 16 bits",
      bgpPool("bgp-advertisements:\n- communities: ['65536:1']"),
      [`pool "routed": bgp-advertisements[0].communities[0] "65536:1": ${COMMUNITY_HINT}`],
    ],
    [
      "more communities than fit in one message",
      bgpPool(
        `bgp-advertisements:\n- communities: [${Array.from({ length: 65 }, (_, i) => `'64512:${i}'`).join(", ")}]`,
      ),
      [
        'pool "routed": bgp-advertisements[0].communities "65 communities": at most 64 per advertisement: the routes\' attributes must fit in one BGP message',
      ],
    ],
    [
      "a community name not in bgp-communities",
      bgpPool("bgp-advertisements:\n- communities: [no-advertise]"),
      [`pool "routed": bgp-advertisements[0].communities[0] "no-advertise": ${COMMUNITY_HINT}`],
    ],
    [
      "a large community above 32 bits",
      bgpPool("bgp-advertisements:\n- communities: ['large:4294967296:1:1']"),
      [
        `pool "routed": bgp-advertisements[0].communities[0] "large:4294967296:1:1": ${COMMUNITY_HINT}`,
      ],
    ],
    [
      "the same community twice, once by name",
      `bgp-communities: {x: '64512:1'}\n${bgpPool("bgp-advertisements:\n- communities: ['64512:1', x]")}`,
      ['pool "routed": bgp-advertisements[0].communities[1] "x": duplicate community (64512:1)'],
    ],
    [
      "a named community with a bad value is reported once, where it is defined",
      `bgp-communities: {x: '1:2:3'}\n${bgpPool("bgp-advertisements:\n- communities: [x]")}`,
      [
        'bgp-communities.x "1:2:3": invalid community: write AS:value (two numbers 0-65535) or large:A:B:C',
      ],
    ],
    [
      "an ASN of 0",
      peer("peer-address: 192.0.2.1\npeer-asn: 0\nmy-asn: 64500"),
      ['peers[0].peer-asn "0": out of range: an AS number is 1-4294967295'],
    ],
    [
      "an ASN above 32 bits",
      peer("peer-address: 192.0.2.1\npeer-asn: 64501\nmy-asn: 4294967296"),
      ['peers[0].my-asn "4294967296": out of range: an AS number is 1-4294967295'],
    ],
    [
      "a missing ASN",
      peer("peer-address: 192.0.2.1\nmy-asn: 64500"),
      ["peers[0].peer-asn: missing: the router's AS number (1-4294967295)"],
    ],
    [
      "an ASN in asdot or quoted",
      peer("peer-address: 192.0.2.1\npeer-asn: '64501'\nmy-asn: 64500"),
      ['peers[0].peer-asn "64501": must be an integer, not a string'],
    ],
    [
      "a hold time under 3s",
      peer("peer-address: 192.0.2.1\npeer-asn: 64501\nmy-asn: 64500\nhold-time: 2s"),
      ['peers[0].hold-time "2s": must be 0 (no keepalives) or at least 3s (RFC 4271)'],
    ],
    [
      "a hold time without a unit",
      peer("peer-address: 192.0.2.1\npeer-asn: 64501\nmy-asn: 64500\nhold-time: 90"),
      ['peers[0].hold-time "90": must be a duration with a unit, like 90s, 1m30s or 3m'],
    ],
    [
      "a keepalive longer than the hold time",
      peer(
        "peer-address: 192.0.2.1\npeer-asn: 64501\nmy-asn: 64500\nhold-time: 30s\nkeepalive-time: 1m",
      ),
      [
        'peers[0].keepalive-time "1m": must not be longer than hold-time (30s); a third of it is usual',
      ],
    ],
    [
      "a keepalive longer than the default hold time",
      peer("peer-address: 192.0.2.1\npeer-asn: 64501\nmy-asn: 64500\nkeepalive-time: 91s"),
      [
        'peers[0].keepalive-time "91s": must not be longer than hold-time (90s); a third of it is usual',
      ],
    ],
    [
      "a keepalive of 0 with a hold time",
      peer("peer-address: 192.0.2.1\npeer-asn: 64501\nmy-asn: 64500\nkeepalive-time: 500ms"),
      [
        'peers[0].keepalive-time "500ms": must be at least 1s while hold-time is 90s (only hold-time 0 turns keepalives off)',
      ],
    ],
    [
      "an aggregation shorter than the pool's prefix",
      bgpPool("bgp-advertisements:\n- aggregation-length: 24", "[198.51.100.0/26]"),
      [
        `pool "routed": bgp-advertisements[0].aggregation-length "24": shorter than addresses[0] "198.51.100.0/26" (/26): an aggregate may not be wider than the pool's own prefixes; use 26 or more`,
      ],
    ],
    [
      "an aggregation wider than a range's largest CIDR",
      bgpPool("bgp-advertisements:\n- aggregation-length: 27", "[198.51.100.10-198.51.100.40]"),
      [
        `pool "routed": bgp-advertisements[0].aggregation-length "27": shorter than addresses[0] "198.51.100.10-198.51.100.40" (/28): an aggregate may not be wider than the pool's own prefixes; use 28 or more`,
      ],
    ],
    [
      "an IPv6 aggregation shorter than the pool's prefix",
      bgpPool("bgp-advertisements:\n- aggregation-length-v6: 64", "['2001:db8::/120']"),
      [
        `pool "routed": bgp-advertisements[0].aggregation-length-v6 "64": shorter than addresses[0] "2001:db8::/120" (/120): an aggregate may not be wider than the pool's own prefixes; use 120 or more`,
      ],
    ],
    [
      "an aggregation length above 32",
      bgpPool("bgp-advertisements:\n- aggregation-length: 33"),
      ['pool "routed": bgp-advertisements[0].aggregation-length "33": out of range (0-32)'],
    ],
    [
      "a local preference that is not a number",
      bgpPool("bgp-advertisements:\n- localpref: high"),
      ['pool "routed": bgp-advertisements[0].localpref "high": must be an integer, not a string'],
    ],
    [
      "an IPv6 router ID",
      peer("peer-address: 192.0.2.1\npeer-asn: 64501\nmy-asn: 64500\nrouter-id: 2001:db8::1"),
      [
        'peers[0].router-id "2001:db8::1": must be a non-zero IPv4 address (a BGP router ID is 4 bytes), also for IPv6 sessions',
      ],
    ],
    [
      "a router ID of 0.0.0.0",
      peer("peer-address: 192.0.2.1\npeer-asn: 64501\nmy-asn: 64500\nrouter-id: 0.0.0.0"),
      [
        'peers[0].router-id "0.0.0.0": must be a non-zero IPv4 address (a BGP router ID is 4 bytes), also for IPv6 sessions',
      ],
    ],
    [
      "a peer address that does not parse",
      peer("peer-address: 192.0.2\npeer-asn: 64501\nmy-asn: 64500"),
      [`peers[0].peer-address "192.0.2": ${String(parseIPError("192.0.2"))}`],
    ],
    [
      "a missing peer address",
      peer("peer-asn: 64501\nmy-asn: 64500"),
      ["peers[0].peer-address: missing: the router's IP address"],
    ],
    [
      "a source address of the other family",
      peer("peer-address: 192.0.2.1\npeer-asn: 64501\nmy-asn: 64500\nsource-address: 2001:db8::2"),
      ['peers[0].source-address "2001:db8::2": not the same IP family as peer-address 192.0.2.1'],
    ],
    [
      "a port out of range",
      peer("peer-address: 192.0.2.1\npeer-asn: 64501\nmy-asn: 64500\npeer-port: 70000"),
      ['peers[0].peer-port "70000": out of range (1-65535)'],
    ],
    [
      "a password that is a number",
      peer("peer-address: 192.0.2.1\npeer-asn: 64501\nmy-asn: 64500\npassword: 1234"),
      ["peers[0].password: must be a string, not a number (quote it)"],
    ],
    [
      "a password longer than TCP MD5 takes",
      peer(`peer-address: 192.0.2.1\npeer-asn: 64501\nmy-asn: 64500\npassword: ${"x".repeat(81)}`),
      ["peers[0].password: too long: TCP MD5 keys are at most 80 bytes"],
    ],
    [
      "an unknown peer key, camelCase",
      peer("peerAddress: 192.0.2.1\npeer-address: 192.0.2.1\npeer-asn: 64501\nmy-asn: 64500"),
      ["peers[0].peerAddress: unknown key (did you mean peer-address?)"],
    ],
    [
      "an unknown peer key",
      peer("peer-address: 192.0.2.1\npeer-asn: 64501\nmy-asn: 64500\nvrf: red"),
      [
        "peers[0].vrf: unknown key (expected one of peer-address, peer-asn, my-asn, peer-port, source-address, hold-time, keepalive-time, router-id, password, node-selectors, bfd-profile, ebgp-multihop)",
      ],
    ],
    [
      "a peer node selector in Kubernetes spelling",
      peer(
        "peer-address: 192.0.2.1\npeer-asn: 64501\nmy-asn: 64500\nnode-selectors:\n- matchLabels: {rack: a}",
      ),
      [
        "peers[0].node-selectors[0].matchLabels: unknown key (expected match-labels, match-expressions)",
      ],
    ],
    [
      "a BFD profile that is not defined",
      peer("peer-address: 192.0.2.1\npeer-asn: 64501\nmy-asn: 64500\nbfd-profile: fast"),
      ['peers[0].bfd-profile "fast": no such profile in bfd-profiles'],
    ],
    [
      "ebgp-multihop on an iBGP peer",
      peer("peer-address: 192.0.2.1\npeer-asn: 64500\nmy-asn: 64500\nebgp-multihop: true"),
      [
        'peers[0].ebgp-multihop "true": only for eBGP peers (my-asn equals peer-asn here, an iBGP session): remove it',
      ],
    ],
    [
      "the same peer twice",
      `${PEER}- peer-address: 192.0.2.1\n  peer-asn: 64501\n  my-asn: 64500\n`,
      ["peers[1]: the same peer as peers[0]: remove one"],
    ],
    [
      "a BFD multiplier out of range",
      "bfd-profiles:\n- name: fast\n  detect-multiplier: 1\n",
      ['bfd-profiles[0].detect-multiplier "1": out of range (2-255)'],
    ],
    [
      "a BFD interval out of range",
      "bfd-profiles:\n- name: fast\n  receive-interval: 5\n",
      ['bfd-profiles[0].receive-interval "5": out of range (10-60000 milliseconds)'],
    ],
    [
      "two BFD profiles with one name",
      "bfd-profiles:\n- name: fast\n- name: fast\n",
      ['bfd-profiles[1].name "fast": duplicate BFD profile name (bfd-profiles[0])'],
    ],
    [
      "an unknown BFD key",
      "bfd-profiles:\n- name: fast\n  echo-transmit-interval: 50\n",
      ["bfd-profiles[0].echo-transmit-interval: unknown key (MetalLB v0.12 reads echo-interval)"],
    ],
    [
      "an unknown advertisement key",
      bgpPool("bgp-advertisements:\n- local-pref: 100"),
      [
        'pool "routed": bgp-advertisements[0].local-pref: unknown key (expected one of aggregation-length, aggregation-length-v6, localpref, communities)',
      ],
    ],
    [
      "interfaces in a BGP pool",
      bgpPool("interfaces: [eth0]"),
      [
        'pool "routed": interfaces: only for protocol: layer2 pools (BGP routes are not tied to an interface): remove it',
      ],
    ],
    [
      "bgp-advertisements that is not a list",
      bgpPool("bgp-advertisements: {localpref: 100}"),
      ['pool "routed": bgp-advertisements "a map": must be a list of advertisements, not a map'],
    ],
    [
      "peers that is not a list",
      "peers: {peer-address: 192.0.2.1}\n",
      ['peers "a map": must be a list of peers, not a map'],
    ],
  ];

  it.each(cases)("%s", (_name, text, expected) => {
    expect(messages(text)).toEqual(expected);
  });
});

function parseIPError(text: string): string | undefined {
  const r = parseIP(text);
  return r.ok ? undefined : r.error;
}

describe("helpers", () => {
  it.each([
    ["90s", 90],
    ["1m30s", 90],
    ["1.5h", 5400],
    ["500ms", 0.5],
    ["0", 0],
    ["+3s", 3],
    ["-3s", -3],
    ["90", undefined],
    ["", undefined],
    ["s", undefined],
    ["1d", undefined],
    [".s", undefined],
  ])("parseGoDuration(%j) is %s", (text, seconds) => {
    expect(parseGoDuration(text)).toBe(seconds);
  });

  it.each([
    ["192.0.2.0", "192.0.2.255", 24],
    ["192.0.2.10", "192.0.2.40", 28],
    ["192.0.2.7", "192.0.2.7", 32],
    ["0.0.0.0", "255.255.255.255", 0],
  ])("shortestPrefix(%s-%s) is /%i", (start, end, prefix) => {
    expect(shortestPrefix(4, ip(start).value, ip(end).value)).toBe(prefix);
  });
});
