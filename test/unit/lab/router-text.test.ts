import { describe, expect, it } from "vitest";
import {
  birdConfig,
  frrConfig,
  frrReconfigure,
  parseBirdBfd,
  parseBirdProtocols,
  parseBirdRoutes,
  parseFibNextHops,
  parseFrrBfd,
  parseFrrNeighbors,
  parseFrrRoutes,
} from "../../../src/lab/router-text.js";

// Output captured from BIRD 2.0.12, FRR 8.4.4 and iproute2 in a lab (trimmed).

const birdProtocols = `BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     13:03:51.590  

kernel_ipv4 Kernel     master4    up     13:03:51.590  
  Channel ipv4
    State:          UP
    Table:          master4

bfd1       BFD        ---        up     13:03:51.590  

n_192_0_2_75 BGP        ---        up     13:03:54.125  Established   
  BGP state:          Established
    Neighbor address: 192.0.2.75
    Neighbor AS:      64500
    Local AS:         64512
    Session:          external AS4
  Channel ipv4
    State:          UP

n_192_0_2_76 BGP        ---        start  13:03:58.818  Idle          BGP Error: Bad peer AS
  BGP state:          Idle
    Neighbor address: 192.0.2.76
    Neighbor AS:      64999
    Local AS:         64512
    Error wait:       3.297/10
    Last error:       BGP Error: Bad peer AS
  Channel ipv4
    State:          DOWN
`;

const birdRoutes = `BIRD 2.0.12 ready.
Table master6:
2001:db8:0:1::1:5/128 unicast [n_2001_db8_0_1__11 13:03:55.227] * (100) [AS64500i]
\tvia 2001:db8:0:1::11 on eth0
\tType: BGP univ
\tBGP.origin: IGP
\tBGP.as_path: 64500
\tBGP.next_hop: 2001:db8:0:1::11 fe80::801:eff:fe9b:445f
\tBGP.med: 0
\tBGP.local_pref: 100
\tBGP.community: (64500,100) (64500,200)
\tBGP.large_community: (64500, 1, 2)
                     unicast [n_2001_db8_0_1__12 13:03:55.733] (100) [AS64500i]
\tvia 2001:db8:0:1::12 on eth0
\tType: BGP univ
\tBGP.origin: IGP
\tBGP.as_path: 
\tBGP.next_hop: 2001:db8:0:1::12 fe80::cbd:78ff:fe37:b0e2
\tBGP.local_pref: 200
`;

const frrRoute = JSON.stringify({
  prefix: "192.0.2.96/32",
  paths: [
    {
      aspath: { string: "64500", segments: [{ type: "as-sequence", list: [64500] }], length: 1 },
      multipath: true,
      nexthops: [{ ip: "192.0.2.76", afi: "ipv4", used: true }],
      peer: { peerId: "192.0.2.76", routerId: "192.0.2.76", type: "external" },
    },
    {
      aspath: { string: "", segments: [], length: 0 },
      locPrf: 100,
      bestpath: { overall: true, selectionReason: "Router ID" },
      community: { string: "64500:100 64500:200", list: ["64500:100", "64500:200"] },
      largeCommunity: { string: "64500:1:2", list: ["64500:1:2"] },
      nexthops: [
        { ip: "2001:db8:0:1::11", afi: "ipv6", scope: "global" },
        { ip: "fe80::801:eff:fe9b:445f", afi: "ipv6", scope: "link-local", used: true },
      ],
      peer: { peerId: "2001:db8:0:1::11", routerId: "192.0.2.75", type: "internal" },
    },
  ],
});

describe("router output parsers", () => {
  it("birdc show protocols all: BGP sessions only, with state and last error", () => {
    expect(parseBirdProtocols(birdProtocols)).toEqual([
      {
        protocol: "n_192_0_2_75",
        neighbor: "192.0.2.75",
        state: "Established",
        established: true,
      },
      {
        protocol: "n_192_0_2_76",
        neighbor: "192.0.2.76",
        state: "Idle",
        established: false,
        lastError: "BGP Error: Bad peer AS",
      },
    ]);
  });

  it("birdc show route all: one view per path, attributes of each", () => {
    expect(parseBirdRoutes(birdRoutes)).toEqual([
      {
        prefix: "2001:db8:0:1::1:5/128",
        from: "n_2001_db8_0_1__11",
        nextHops: ["2001:db8:0:1::11"],
        localPref: 100,
        communities: ["64500:100", "64500:200"],
        largeCommunities: ["64500:1:2"],
        asPath: [64500],
        best: true,
      },
      {
        prefix: "2001:db8:0:1::1:5/128",
        from: "n_2001_db8_0_1__12",
        nextHops: ["2001:db8:0:1::12"],
        localPref: 200,
        communities: [],
        largeCommunities: [],
        asPath: [],
        best: false,
      },
    ]);
    expect(parseBirdRoutes("BIRD 2.0.12 ready.\nNetwork not found\n")).toEqual([]);
  });

  it("birdc show bfd sessions", () => {
    const text = `BIRD 2.0.12 ready.
bfd1:
IP address                Interface  State      Since         Interval  Timeout
2001:db8:0:1::12          eth0       Up         13:03:54.630    0.100    0.300
192.0.2.75                eth0       Down       13:03:54.124    1.000    0.000
`;
    expect(parseBirdBfd(text)).toEqual([
      { neighbor: "2001:db8:0:1::12", state: "Up" },
      { neighbor: "192.0.2.75", state: "Down" },
    ]);
  });

  it("vtysh show bgp neighbors json: the notification's reason before the reset's", () => {
    const json = JSON.stringify({
      "192.0.2.75": { bgpState: "Established", lastResetDueTo: "BFD down received" },
      "192.0.2.76": {
        bgpState: "Active",
        lastNotificationReason: "OPEN Message Error/Bad Peer AS",
        lastResetDueTo: "Notification sent",
      },
    });
    expect(parseFrrNeighbors(json)).toEqual([
      {
        neighbor: "192.0.2.75",
        state: "Established",
        established: true,
        lastError: "BFD down received",
      },
      {
        neighbor: "192.0.2.76",
        state: "Active",
        established: false,
        lastError: "OPEN Message Error/Bad Peer AS",
      },
    ]);
  });

  it("vtysh show bgp … json: paths with global next hops, communities, AS path; {} is none", () => {
    expect(parseFrrRoutes(frrRoute)).toEqual([
      {
        prefix: "192.0.2.96/32",
        from: "192.0.2.76",
        nextHops: ["192.0.2.76"],
        communities: [],
        largeCommunities: [],
        asPath: [64500],
        best: false,
      },
      {
        prefix: "192.0.2.96/32",
        from: "2001:db8:0:1::11",
        nextHops: ["2001:db8:0:1::11"],
        localPref: 100,
        communities: ["64500:100", "64500:200"],
        largeCommunities: ["64500:1:2"],
        asPath: [],
        best: true,
      },
    ]);
    expect(parseFrrRoutes("{\n}\n")).toEqual([]);
  });

  it("vtysh show bfd peers json", () => {
    const json = JSON.stringify([
      { multihop: false, peer: "192.0.2.76", local: "192.0.2.69", status: "up" },
      { multihop: false, peer: "2001:db8:0:1::11", status: "down" },
    ]);
    expect(parseFrrBfd(json)).toEqual([
      { neighbor: "192.0.2.76", state: "Up" },
      { neighbor: "2001:db8:0:1::11", state: "Down" },
    ]);
  });

  it("ip -j route show exact: single and multipath next hops, sorted", () => {
    const multi = `[{"dst":"2001:db8:0:1::1:5","nhid":18,"protocol":"bgp","metric":20,"flags":[],"pref":"medium","nexthops":[{"gateway":"fe80::cbd:78ff:fe37:b0e2","dev":"eth0","weight":1,"flags":[]},{"gateway":"fe80::801:eff:fe9b:445f","dev":"eth0","weight":1,"flags":[]}]}]`;
    expect(parseFibNextHops(multi)).toEqual([
      "fe80::801:eff:fe9b:445f",
      "fe80::cbd:78ff:fe37:b0e2",
    ]);
    const single = `[{"dst":"192.0.2.96","gateway":"192.0.2.76","dev":"eth0","protocol":"bird","metric":32,"flags":[]}]`;
    expect(parseFibNextHops(single)).toEqual(["192.0.2.76"]);
    expect(parseFibNextHops("")).toEqual([]);
    expect(parseFibNextHops("[]")).toEqual([]);
  });
});

describe("router configuration", () => {
  const neighbors = [
    {
      address: "192.0.2.11",
      asn: 64500,
      password: "s3cret",
      bfd: { intervalMs: 100, multiplier: 3 },
    },
    { address: "2001:db8::11", asn: 64500, holdTime: 9 },
  ];

  it("BIRD: ECMP in the kernel, single-hop sessions with direct next hops, MD5 and per-session BFD", () => {
    const conf = birdConfig({
      asn: 64512,
      routerId: "192.0.2.5",
      neighbors,
      logFile: "/x/bird.log",
    });
    expect(conf).toContain("merge paths on");
    expect(conf).toContain("protocol bfd");
    expect(conf).toMatch(
      /protocol bgp n_192_0_2_11 \{[^}]*neighbor 192\.0\.2\.11 as 64500;[^}]*direct;[^}]*password "s3cret";/s,
    );
    expect(conf).toContain(
      "bfd { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; };",
    );
    expect(conf).toMatch(/protocol bgp n_2001_db8__11 \{[^}]*hold time 9;/s);
    expect(conf).toContain("ipv6 { import all; export none; gateway direct; };");
    expect(() =>
      birdConfig({
        asn: 1,
        routerId: "1.1.1.1",
        neighbors: [{ address: "192.0.2.1", asn: 2, password: 'a"b' }],
        logFile: "l",
      }),
    ).toThrow();
  });

  it("FRR: no eBGP policy needed, multipath for eBGP and iBGP, BFD profile per neighbor", () => {
    const conf = frrConfig({
      asn: 64512,
      routerId: "192.0.2.5",
      neighbors,
      announce: ["192.0.2.40/32"],
    });
    for (const line of [
      " no bgp ebgp-requires-policy",
      "  maximum-paths 16",
      "  maximum-paths ibgp 16",
      " neighbor 192.0.2.11 password s3cret",
      " neighbor 192.0.2.11 bfd profile n_192_0_2_11",
      "  receive-interval 100",
      " neighbor 2001:db8::11 timers 3 9",
      "  network 192.0.2.40/32",
      "  neighbor 2001:db8::11 activate",
    ])
      expect(conf.split("\n")).toContain(line);
  });

  it("FRR reconfigure touches only the neighbors that changed", () => {
    const [a, b] = neighbors;
    if (a === undefined || b === undefined) throw new Error("fixture");
    const cmds = frrReconfigure(64512, neighbors, [{ ...a, password: "other" }, b]).split("\n");
    expect(cmds).toContain(" no neighbor 192.0.2.11");
    expect(cmds).toContain(" neighbor 192.0.2.11 password other");
    expect(cmds.some((l) => l.includes("2001:db8::11"))).toBe(false);
  });
});
