import { describe, expect, it } from "vitest";

import { Allocator, reasonCodes, type AllocationResult } from "../../../src/allocator/index.js";
import { parseIP } from "../../../src/net/ip.js";
import { cfg, expectCode, expectIPs, poolYaml, pools, svc } from "./helpers.js";

/**
 * Ordered steps against one allocator, MetalLB style: state builds up from step to step.
 * `want` is either the IPs expected or a failure code.
 */
type Step =
  | { say: string; allocate: ReturnType<typeof svc>; want: string[] | string; pool?: string }
  | { say: string; assign: ReturnType<typeof svc>; ips: string[]; want: string[] | string }
  | { say: string; release: string };

function run(a: Allocator, steps: Step[]): void {
  for (const s of steps) {
    if ("release" in s) {
      a.release(s.release);
      continue;
    }
    const r: AllocationResult =
      "allocate" in s ? a.allocate(s.allocate) : a.assign(s.assign, s.ips);
    if (typeof s.want === "string") expectCode(r, s.want, s.say);
    else expectIPs(r, s.want, "pool" in s ? s.pool : undefined, s.say);
  }
}

const testPool = pools(poolYaml("test", ["192.0.2.4/30"]));

describe("requested IPs, lowest free, release (one pool 192.0.2.4/30)", () => {
  it("runs in order", () => {
    const a = new Allocator(testPool);
    run(a, [
      {
        say: "s1 takes .4",
        allocate: svc("s1", { requestedIPs: ["192.0.2.4"] }),
        want: ["192.0.2.4"],
      },
      {
        say: "s2 cannot take .4",
        allocate: svc("s2", { requestedIPs: ["192.0.2.4"] }),
        want: "IPInUse",
      },
      {
        say: "s1 re-assigns .4 (idempotent)",
        assign: svc("s1"),
        ips: ["192.0.2.4"],
        want: ["192.0.2.4"],
      },
      { say: "s1 frees", release: "default/s1" },
      {
        say: "s2 takes .4",
        allocate: svc("s2", { requestedIPs: ["192.0.2.4"] }),
        want: ["192.0.2.4"],
      },
      { say: "s3 gets the lowest free", allocate: svc("s3"), want: ["192.0.2.5"], pool: "test" },
      {
        say: "s4 asks for .7",
        allocate: svc("s4", { requestedIPs: ["192.0.2.7"] }),
        want: ["192.0.2.7"],
      },
      { say: "s5 gets .6, skipping .7", allocate: svc("s5"), want: ["192.0.2.6"] },
      { say: "s6: pool full", allocate: svc("s6"), want: "PoolExhausted" },
      { say: "s3 frees .5", release: "default/s3" },
      { say: "s6 gets .5", allocate: svc("s6"), want: ["192.0.2.5"] },
      {
        say: "outside every pool",
        allocate: svc("s7", { requestedIPs: ["198.51.100.1"] }),
        want: "IPNotInPool",
      },
      { say: "not an IP", allocate: svc("s7", { requestedIPs: ["192.0.2"] }), want: "InvalidIP" },
      {
        say: "empty strings are ignored",
        allocate: svc("s7", { requestedIPs: [""] }),
        want: "PoolExhausted",
      },
    ]);
    const messages = [
      expectCode(a.allocate(svc("s8", { requestedIPs: ["192.0.2.4"] })), "IPInUse"),
      expectCode(a.allocate(svc("s8")), "PoolExhausted"),
      expectCode(a.allocate(svc("s8", { requestedIPs: ["198.51.100.1"] })), "IPNotInPool"),
    ];
    expect(messages).toEqual([
      "192.0.2.4 is already used by Service default/s2; to share it, give both Services the same allow-shared-ip annotation",
      'pool "test" has no free IPv4 address; free one or add addresses to the pool',
      "198.51.100.1 is not in any address pool of the barelb config",
    ]);
  });

  it("allocate replaces what the Service held; on failure it holds nothing", () => {
    const a = new Allocator(
      pools(poolYaml("a", ["192.0.2.4/31"]), poolYaml("b", ["192.0.2.8/32"], "auto-assign: false")),
    );
    run(a, [
      { say: "s1 gets .4", allocate: svc("s1"), want: ["192.0.2.4"] },
      {
        say: "s1 moves to pool b",
        allocate: svc("s1", { pool: "b" }),
        want: ["192.0.2.8"],
        pool: "b",
      },
      { say: "s2 gets .4 (freed by the move)", allocate: svc("s2"), want: ["192.0.2.4"] },
      { say: "s3 asks for b: taken", allocate: svc("s3", { pool: "b" }), want: "PoolExhausted" },
    ]);
    expect(a.get("default/s3")).toBeUndefined();
    expectCode(a.allocate(svc("s1", { pool: "nope" })), "UnknownPool");
    expect(a.get("default/s1")).toBeUndefined();
    expectIPs(a.allocate(svc("s3", { pool: "b" })), ["192.0.2.8"]);
  });

  it("assign leaves the Service unchanged on failure and checks requested IPs", () => {
    const a = new Allocator(testPool);
    expectIPs(a.allocate(svc("s1")), ["192.0.2.4"]);
    expectIPs(a.allocate(svc("s2")), ["192.0.2.5"]);
    expectCode(a.assign(svc("s1"), ["192.0.2.5"]), "IPInUse");
    expect(a.get("default/s1")?.ips).toEqual(["192.0.2.4"]);
    // The Service now asks for .6: its .4 no longer fits; the controller then allocates.
    const changed = svc("s1", { requestedIPs: ["192.0.2.6"] });
    expect(expectCode(a.assign(changed, ["192.0.2.4"]), "RequestedIPsChanged")).toBe(
      "the Service requests 192.0.2.6 but holds 192.0.2.4",
    );
    expectIPs(a.allocate(changed), ["192.0.2.6"]);
    expectIPs(a.assign(changed, ["192.0.2.6"]), ["192.0.2.6"]);
    // Non-canonical text is accepted and returned canonical.
    const v6 = new Allocator(pools(poolYaml("v6", ["2001:db8::/120"])));
    expectIPs(v6.assign(svc("x", { families: [6] }), ["2001:DB8:0::0:7"]), ["2001:db8::7"]);
  });
});

describe("sharing (allow-shared-ip)", () => {
  it("runs in order", () => {
    const a = new Allocator(testPool);
    const tcp = (port: number) => [{ protocol: "TCP", port }];
    run(a, [
      {
        say: "s1 k TCP/80 takes .4",
        allocate: svc("s1", { sharingKey: "k", requestedIPs: ["192.0.2.4"] }),
        want: ["192.0.2.4"],
      },
      {
        say: "s2 k TCP/443 shares .4",
        allocate: svc("s2", { sharingKey: "k", ports: tcp(443), requestedIPs: ["192.0.2.4"] }),
        want: ["192.0.2.4"],
      },
      {
        say: "s3 k TCP/80 clashes with s1",
        allocate: svc("s3", { sharingKey: "k", requestedIPs: ["192.0.2.4"] }),
        want: "SharedPortConflict",
      },
      {
        say: "s4 other key",
        allocate: svc("s4", { sharingKey: "other", ports: tcp(22), requestedIPs: ["192.0.2.4"] }),
        want: "SharingKeyMismatch",
      },
      {
        say: "s5 no key",
        allocate: svc("s5", { ports: tcp(22), requestedIPs: ["192.0.2.4"] }),
        want: "IPInUse",
      },
      {
        say: "s6 Local vs Cluster",
        allocate: svc("s6", {
          sharingKey: "k",
          ports: tcp(22),
          backendKey: "app=x",
          requestedIPs: ["192.0.2.4"],
        }),
        want: "SharedTrafficPolicyMismatch",
      },
      {
        say: "s7 k UDP/80 (no request) joins .4 although .5 is free",
        allocate: svc("s7", { sharingKey: "k", ports: [{ protocol: "UDP", port: 80 }] }),
        want: ["192.0.2.4"],
      },
      {
        say: "s8 k TCP/80 cannot join .4: gets .5",
        allocate: svc("s8", { sharingKey: "k" }),
        want: ["192.0.2.5"],
      },
      {
        say: "s9 k TCP/8080 joins the lowest shareable, .4",
        allocate: svc("s9", { sharingKey: "k", ports: tcp(8080) }),
        want: ["192.0.2.4"],
      },
      { say: "s1 leaves", release: "default/s1" },
      {
        say: "s10 no key gets .6 (.4 still held by s2, s7, s9)",
        allocate: svc("s10"),
        want: ["192.0.2.6"],
      },
      { say: "s2 leaves", release: "default/s2" },
      { say: "s7 leaves", release: "default/s7" },
      { say: "s9 leaves", release: "default/s9" },
      { say: "s11 gets .4, free again", allocate: svc("s11"), want: ["192.0.2.4"] },
      {
        say: "the sole holder may change its key in place",
        assign: svc("s11", { sharingKey: "z" }),
        ips: ["192.0.2.4"],
        want: ["192.0.2.4"],
      },
      {
        say: "s12 with key z joins",
        allocate: svc("s12", { sharingKey: "z", ports: tcp(81) }),
        want: ["192.0.2.4"],
      },
      {
        say: "s11 may not drop the key while s12 shares",
        assign: svc("s11"),
        ips: ["192.0.2.4"],
        want: "IPInUse",
      },
    ]);
    expect(a.stats()).toEqual([{ pool: "test", family: 4, total: 4n, inUse: 3 }]);
    const ip = parseIP("192.0.2.4");
    if (ip.ok) expect(a.holdersOf(ip.value)).toEqual(["default/s11", "default/s12"]);
  });

  it("Local Services share only with the same selector; messages name the other Service", () => {
    const a = new Allocator(testPool);
    const local = (name: string, backendKey: string, port: number) =>
      svc(name, {
        sharingKey: "k",
        backendKey,
        ports: [{ protocol: "TCP", port }],
        requestedIPs: ["192.0.2.4"],
      });
    expectIPs(a.allocate(local("l1", "app=web", 80)), ["192.0.2.4"]);
    expectIPs(a.allocate(local("l2", "app=web", 443)), ["192.0.2.4"]);
    expect(expectCode(a.allocate(local("l3", "app=db", 5432)), "SharedTrafficPolicyMismatch")).toBe(
      "192.0.2.4 is shared with Service default/l1, whose externalTrafficPolicy or pod selector differs (Cluster shares only with Cluster, Local only with the same selector)",
    );
    expect(expectCode(a.allocate(local("l4", "app=web", 443)), "SharedPortConflict")).toBe(
      "192.0.2.4 is shared with Service default/l2, which also uses TCP/443; shared Services need distinct ports",
    );
  });
});

describe("pool choice", () => {
  const config = pools(
    poolYaml("b-generic", ["192.0.2.0/30"], "priority: 5"),
    poolYaml("a-generic", ["192.0.2.8/30"]),
    poolYaml("manual", ["192.0.2.16/30"], "priority: 1\nauto-assign: false"),
    poolYaml("prod-only", ["192.0.2.24/31"], "priority: 10\nnamespaces: [prod]"),
    poolYaml(
      "web-only",
      ["192.0.2.32/30"],
      "priority: 2\nservice-selectors: [{matchLabels: {tier: web}}]",
    ),
    poolYaml("late-unprioritised", ["192.0.2.40/30"], "namespaces: [prod]"),
  );

  it("runs in order", () => {
    const a = new Allocator(config);
    const web = { tier: "web" };
    run(a, [
      {
        say: "generic: priority before none",
        allocate: svc("s1"),
        want: ["192.0.2.0"],
        pool: "b-generic",
      },
      {
        say: "prod: its namespace pool",
        allocate: svc("prod/s2"),
        want: ["192.0.2.24"],
        pool: "prod-only",
      },
      {
        say: "prod + tier=web: priority 2 beats 10",
        allocate: svc("prod/s3", { labels: web }),
        want: ["192.0.2.32"],
        pool: "web-only",
      },
      {
        say: "annotation: auto-assign false pool",
        allocate: svc("s4", { pool: "manual" }),
        want: ["192.0.2.16"],
        pool: "manual",
      },
      {
        say: "annotation: unknown pool",
        allocate: svc("s5", { pool: "nope" }),
        want: "UnknownPool",
      },
      {
        say: "annotation: pool reserved for prod",
        allocate: svc("s6", { pool: "prod-only" }),
        want: "PoolNotAllowed",
      },
      {
        say: "requested IP in a selector pool",
        allocate: svc("s7", { requestedIPs: ["192.0.2.33"] }),
        want: "PoolNotAllowed",
      },
      {
        say: "requested IP + other annotation",
        allocate: svc("s8", { requestedIPs: ["192.0.2.1"], pool: "a-generic" }),
        want: "IPNotInRequestedPool",
      },
      {
        say: "requested IP in the auto-assign false pool",
        allocate: svc("s9", { requestedIPs: ["192.0.2.17"] }),
        want: ["192.0.2.17"],
        pool: "manual",
      },
      {
        say: "prod fills prod-only",
        allocate: svc("prod/s10"),
        want: ["192.0.2.25"],
        pool: "prod-only",
      },
      {
        say: "then the prod pool without priority",
        allocate: svc("prod/s11"),
        want: ["192.0.2.40"],
        pool: "late-unprioritised",
      },
    ]);
    for (let i = 0; i < 3; i++) expectIPs(a.allocate(svc(`prod/more${i}`)), [`192.0.2.${41 + i}`]);
    // All pinned pools are full: prod falls through to the generic pools.
    expectIPs(a.allocate(svc("prod/s12")), ["192.0.2.1"], "b-generic");
    expect(expectCode(a.allocate(svc("s13", { pool: "prod-only" })), "PoolNotAllowed")).toBe(
      'pool "prod-only" is limited to namespaces "prod"; this Service is in "default"',
    );
    expect(
      expectCode(a.allocate(svc("s14", { requestedIPs: ["192.0.2.34"] })), "PoolNotAllowed"),
    ).toBe(
      'pool "web-only" is limited to Services matching its service-selectors; this Service\'s labels do not match',
    );
  });

  it("explains when no pool may serve a Service, or there are no pools", () => {
    const onlyProd = new Allocator(pools(poolYaml("p", ["192.0.2.0/30"], "namespaces: [prod]")));
    expectCode(onlyProd.allocate(svc("s1")), "NoEligiblePool");
    expectIPs(onlyProd.allocate(svc("prod/s1")), ["192.0.2.0"]);
    const none = new Allocator(cfg(""));
    expectCode(none.allocate(svc("s1")), "NoPools");
    expect(none.stats()).toEqual([]);
  });

  it("lists every full pool when all are exhausted", () => {
    const a = new Allocator(pools(poolYaml("x", ["192.0.2.1"]), poolYaml("y", ["192.0.2.2"])));
    expectIPs(a.allocate(svc("s1")), ["192.0.2.1"]);
    expectIPs(a.allocate(svc("s2")), ["192.0.2.2"]);
    expect(expectCode(a.allocate(svc("s3")), "AllPoolsExhausted")).toBe(
      'no free IPv4 address in pools "x", "y"; free one or add addresses',
    );
  });
});

describe("avoid-buggy-ips", () => {
  it("skips .0 and .255 and refuses them when requested", () => {
    const a = new Allocator(
      pools(poolYaml("p", ["192.0.2.254-192.0.3.1"], "avoid-buggy-ips: true")),
    );
    expect(a.stats()).toEqual([{ pool: "p", family: 4, total: 2n, inUse: 0 }]);
    run(a, [
      { say: "first", allocate: svc("s1"), want: ["192.0.2.254"] },
      { say: "skips .255 and .0", allocate: svc("s2"), want: ["192.0.3.1"] },
      { say: "full", allocate: svc("s3"), want: "PoolExhausted" },
      {
        say: "requested .0",
        allocate: svc("s3", { requestedIPs: ["192.0.3.0"] }),
        want: "IPAvoided",
      },
    ]);
  });
});

describe("dual-stack", () => {
  const config = pools(
    poolYaml("v4only", ["192.0.2.0/31"], "priority: 1"),
    poolYaml("dual", ["198.51.100.0/31", "2001:db8::/127"], "priority: 2"),
    poolYaml("v6only", ["2001:db8:1::/127"], "priority: 3"),
  );

  it("runs in order", () => {
    const a = new Allocator(config);
    run(a, [
      {
        say: "IPv6 single-stack: first pool with IPv6",
        allocate: svc("s1", { families: [6] }),
        want: ["2001:db8::"],
        pool: "dual",
      },
      {
        say: "RequireDualStack: both from one pool",
        allocate: svc("s2", { families: [4, 6], familyPolicy: "RequireDualStack" }),
        want: ["198.51.100.0", "2001:db8::1"],
        pool: "dual",
      },
      {
        say: "PreferDualStack, dual pool full: primary family only",
        allocate: svc("s3", { families: [6, 4], familyPolicy: "PreferDualStack" }),
        want: ["2001:db8:1::"],
        pool: "v6only",
      },
      { say: "s1 leaves", release: "default/s1" },
      {
        say: "PreferDualStack prefers the dual pool, ordered like ipFamilies",
        allocate: svc("s4", { families: [6, 4], familyPolicy: "PreferDualStack" }),
        want: ["2001:db8::", "198.51.100.1"],
        pool: "dual",
      },
      {
        say: "RequireDualStack: no dual pool with room",
        allocate: svc("s5", { families: [4, 6], familyPolicy: "RequireDualStack" }),
        want: "PoolExhausted",
      },
      {
        say: "PreferDualStack with one family",
        allocate: svc("s6", { families: [4], familyPolicy: "PreferDualStack" }),
        want: ["192.0.2.0"],
        pool: "v4only",
      },
      {
        say: "annotation: pool without IPv6",
        allocate: svc("s7", { families: [6], pool: "v4only" }),
        want: "PoolLacksFamily",
      },
      {
        say: "annotation: RequireDualStack, single-family pool",
        allocate: svc("s7", { families: [4, 6], familyPolicy: "RequireDualStack", pool: "v6only" }),
        want: "PoolNotDualStack",
      },
      {
        say: "requested pair across pools",
        allocate: svc("s7", {
          families: [4, 6],
          familyPolicy: "RequireDualStack",
          requestedIPs: ["192.0.2.1", "2001:db8:1::1"],
        }),
        want: "IPsInDifferentPools",
      },
      {
        say: "two IPv4 requested",
        allocate: svc("s7", {
          families: [4, 6],
          familyPolicy: "PreferDualStack",
          requestedIPs: ["192.0.2.1", "192.0.2.0"],
        }),
        want: "DuplicateFamily",
      },
      {
        say: "IPv6 requested by an IPv4 Service",
        allocate: svc("s7", { requestedIPs: ["2001:db8:1::1"] }),
        want: "IPFamilyNotEnabled",
      },
      {
        say: "RequireDualStack with one requested IP",
        allocate: svc("s7", {
          families: [4, 6],
          familyPolicy: "RequireDualStack",
          requestedIPs: ["192.0.2.1"],
        }),
        want: "IncompleteDualStack",
      },
      {
        say: "requested pair in one pool, given v6 first",
        allocate: svc("s7", {
          families: [4, 6],
          familyPolicy: "RequireDualStack",
          requestedIPs: ["2001:db8:1::1", "192.0.2.1"],
        }),
        want: "IPsInDifferentPools",
      },
      {
        say: "ipFamilies that do not fit the policy",
        allocate: svc("s7", { families: [4, 6] }),
        want: "InvalidIPFamilies",
      },
    ]);
    expect(a.stats()).toEqual([
      { pool: "v4only", family: 4, total: 2n, inUse: 1 },
      { pool: "dual", family: 4, total: 2n, inUse: 2 },
      { pool: "dual", family: 6, total: 2n, inUse: 2 },
      { pool: "v6only", family: 6, total: 2n, inUse: 1 },
    ]);
  });

  it("reports missing families when no pool has them", () => {
    const v4 = new Allocator(pools(poolYaml("p", ["192.0.2.0/30"])));
    expectCode(v4.allocate(svc("s1", { families: [6] })), "NoPoolForFamily");
    expectCode(
      v4.allocate(svc("s1", { families: [4, 6], familyPolicy: "RequireDualStack" })),
      "NoDualStackPool",
    );
    expectIPs(v4.allocate(svc("s1", { families: [6, 4], familyPolicy: "PreferDualStack" })), [
      "192.0.2.0",
    ]);
  });
});

describe("PreferDualStack gets its second family later (complete)", () => {
  const prefer = (name: string, o: Partial<ReturnType<typeof svc>> = {}) =>
    svc(name, { families: [4, 6], familyPolicy: "PreferDualStack", ...o });

  it("from its own pool when that pool gains the family in a config edit, keeping its IP", () => {
    const a = new Allocator(pools(poolYaml("lan", ["192.0.2.0/30"])));
    expectIPs(a.allocate(prefer("p1")), ["192.0.2.0"], "lan");
    expectIPs(a.allocate(svc("single")), ["192.0.2.1"]);
    expectIPs(a.allocate(prefer("p2", { requestedIPs: ["192.0.2.2"] })), ["192.0.2.2"]);
    expect(a.missingFamily("default/p1")).toBe(6);
    expect(a.missingFamily("default/single")).toBeUndefined(); // SingleStack
    expect(a.missingFamily("default/p2")).toBeUndefined(); // asked for exactly one IP
    expect(a.missingFamily("default/nobody")).toBeUndefined();
    expectCode(a.complete("default/p1") ?? a.allocate(svc("x")), "PoolLacksFamily");
    expect(a.get("default/p1")?.ips).toEqual(["192.0.2.0"]);

    // A new IPv6-only pool does not count: a Service's IPs come from one pool.
    expect(
      a.setConfig(pools(poolYaml("lan", ["192.0.2.0/30"]), poolYaml("v6", ["2001:db8:6::/126"]))),
    ).toEqual([]);
    expectCode(a.complete("default/p1") ?? a.allocate(svc("x")), "PoolLacksFamily");

    // The pool itself gains IPv6 addresses: p1 gets one, its IPv4 stays.
    expect(a.setConfig(pools(poolYaml("lan", ["192.0.2.0/30", "2001:db8::/127"])))).toEqual([]);
    expectIPs(a.complete("default/p1") ?? a.allocate(svc("x")), ["192.0.2.0", "2001:db8::"], "lan");
    expect(a.get("default/p1")).toEqual({
      key: "default/p1",
      pool: "lan",
      ips: ["192.0.2.0", "2001:db8::"],
    });
    expect(a.missingFamily("default/p1")).toBeUndefined();
    expect(a.complete("default/p1")).toBeUndefined();
    expect(a.stats()).toEqual([
      { pool: "lan", family: 4, total: 4n, inUse: 3 },
      { pool: "lan", family: 6, total: 2n, inUse: 1 },
    ]);
    // The new IP is held like any other.
    expectIPs(a.allocate(svc("v6a", { families: [6] })), ["2001:db8::1"]);
    expectCode(a.allocate(svc("v6b", { families: [6] })), "PoolExhausted");
  });

  it("when an address of the family frees up, ordered like ipFamilies", () => {
    const a = new Allocator(pools(poolYaml("dual", ["192.0.2.0/31", "2001:db8::/128"])));
    expectIPs(a.allocate(svc("v6", { families: [6] })), ["2001:db8::"]);
    expectIPs(a.allocate(prefer("p", { families: [6, 4] })), ["192.0.2.0"], "dual");
    expect(a.missingFamily("default/p")).toBe(6);
    expectCode(a.complete("default/p") ?? a.allocate(svc("x")), "PoolExhausted");
    a.release("default/v6");
    expectIPs(a.complete("default/p") ?? a.allocate(svc("x")), ["2001:db8::", "192.0.2.0"]);
    // Released and re-assigned in a fresh allocator (a restart), it stays whole.
    const held = a.get("default/p");
    const fresh = new Allocator(pools(poolYaml("dual", ["192.0.2.0/31", "2001:db8::/128"])));
    expectIPs(fresh.assign(prefer("p", { families: [6, 4] }), held?.ips ?? []), [
      "2001:db8::",
      "192.0.2.0",
    ]);
    a.release("default/p");
    expect(a.stats().map((s) => s.inUse)).toEqual([0, 0]);
  });

  it("takes an IP it may share first, like allocate", () => {
    const a = new Allocator(pools(poolYaml("lan", ["192.0.2.0/30"])));
    const web = (name: string, port: number) =>
      prefer(name, { sharingKey: "web", ports: [{ protocol: "TCP", port }] });
    expectIPs(a.allocate(web("w1", 80)), ["192.0.2.0"]);
    expectIPs(a.allocate(web("w2", 443)), ["192.0.2.0"]);
    a.setConfig(pools(poolYaml("lan", ["192.0.2.0/30", "2001:db8::/126"])));
    expectIPs(a.allocate(svc("v6", { families: [6] })), ["2001:db8::"]);
    expectIPs(a.complete("default/w1") ?? a.allocate(svc("x")), ["192.0.2.0", "2001:db8::1"]);
    expectIPs(a.complete("default/w2") ?? a.allocate(svc("x")), ["192.0.2.0", "2001:db8::1"]);
    const shared = parseIP("2001:db8::1");
    if (shared.ok) expect(a.holdersOf(shared.value)).toEqual(["default/w1", "default/w2"]);
    expect(a.stats()[1]?.inUse).toBe(2);
  });
});

describe("setConfig", () => {
  it("evicts exactly the Services whose IPs became invalid", () => {
    const a = new Allocator(
      pools(
        poolYaml("lan", ["192.0.2.0/29"]),
        poolYaml("gone", ["198.51.100.0/30"]),
        poolYaml("v6", ["2001:db8::/120"]),
      ),
    );
    expectIPs(a.allocate(svc("a1", { requestedIPs: ["192.0.2.1"] })), ["192.0.2.1"]);
    expectIPs(a.allocate(svc("a2", { requestedIPs: ["192.0.2.6"] })), ["192.0.2.6"]);
    expectIPs(a.allocate(svc("a0", { requestedIPs: ["192.0.2.0"] })), ["192.0.2.0"]);
    expectIPs(a.allocate(svc("g1", { pool: "gone" })), ["198.51.100.0"]);
    expectIPs(a.allocate(svc("other/v1", { families: [6] })), ["2001:db8::"]);
    expectIPs(a.allocate(svc("prod/v2", { families: [6] })), ["2001:db8::1"]);
    const evicted = a.setConfig(
      pools(
        poolYaml("lan", ["192.0.2.0/30"], "avoid-buggy-ips: true"), // shrunk + avoid-buggy
        poolYaml("v6", ["2001:db8::/120"], "namespaces: [prod]"), // no longer for "other"
      ),
    );
    expect(evicted.map((e) => [e.key, e.ips, e.pool, e.reason.code])).toEqual([
      ["default/a2", ["192.0.2.6"], "lan", "IPNotInPool"],
      ["default/a0", ["192.0.2.0"], "lan", "IPAvoided"],
      ["default/g1", ["198.51.100.0"], "gone", "IPNotInPool"],
      ["other/v1", ["2001:db8::"], "v6", "PoolNotAllowed"],
    ]);
    expect([...a.assignments()].map((x) => [x.key, x.ips])).toEqual([
      ["default/a1", ["192.0.2.1"]],
      ["prod/v2", ["2001:db8::1"]],
    ]);
    // The allocator hands out neither the kept IPs nor avoided ones.
    expectIPs(a.allocate(svc("n1")), ["192.0.2.2"]);
    expectIPs(a.allocate(svc("n2")), ["192.0.2.3"]);
    expectCode(a.allocate(svc("n3")), "PoolExhausted");
    expectIPs(a.allocate(svc("prod/n4", { families: [6] })), ["2001:db8::"]);
    expect(a.stats()).toEqual([
      { pool: "lan", family: 4, total: 3n, inUse: 3 },
      { pool: "v6", family: 6, total: 256n, inUse: 2 },
    ]);
  });

  it("a renamed pool keeps its IPs, unless the annotation names the old name", () => {
    const a = new Allocator(pools(poolYaml("old", ["192.0.2.0/30"])));
    expectIPs(a.allocate(svc("plain")), ["192.0.2.0"]);
    expectIPs(a.allocate(svc("pinned", { pool: "old" })), ["192.0.2.1"]);
    const evicted = a.setConfig(pools(poolYaml("new", ["192.0.2.0/30"])));
    expect(evicted.map((e) => [e.key, e.reason.code, e.reason.message])).toEqual([
      [
        "default/pinned",
        "IPNotInRequestedPool",
        '192.0.2.1 is in pool "new", but the address-pool annotation asks for pool "old"',
      ],
    ]);
    expect(a.get("default/plain")).toEqual({
      key: "default/plain",
      pool: "new",
      ips: ["192.0.2.0"],
    });
  });

  it("a shared IP stays held by the Services that may keep it", () => {
    const a = new Allocator(pools(poolYaml("p", ["192.0.2.0/30"])));
    const share = (name: string, port: number) =>
      svc(name, { sharingKey: "k", ports: [{ protocol: "TCP", port }] });
    expectIPs(a.allocate(share("ns1/x", 80)), ["192.0.2.0"]);
    expectIPs(a.allocate(share("ns2/y", 81)), ["192.0.2.0"]);
    const evicted = a.setConfig(pools(poolYaml("p", ["192.0.2.0/30"], "namespaces: [ns1]")));
    expect(evicted.map((e) => e.key)).toEqual(["ns2/y"]);
    expect(a.stats()[0]?.inUse).toBe(1);
    expectIPs(a.allocate(svc("ns1/z")), ["192.0.2.1"]);
    a.release("ns1/x");
    expectIPs(a.allocate(svc("ns1/w")), ["192.0.2.0"]);
  });

  it("an IP that moves to another pool stays held", () => {
    const a = new Allocator(pools(poolYaml("p", ["192.0.2.0/29"])));
    expectIPs(a.allocate(svc("s1", { requestedIPs: ["192.0.2.5"] })), ["192.0.2.5"]);
    expect(
      a.setConfig(pools(poolYaml("p", ["192.0.2.0/30"]), poolYaml("q", ["192.0.2.4/30"]))),
    ).toEqual([]);
    expect(a.get("default/s1")?.pool).toBe("q");
    expectIPs(a.allocate(svc("s2", { pool: "q" })), ["192.0.2.4"]);
    expectIPs(a.allocate(svc("s3", { pool: "q" })), ["192.0.2.6"]);
  });
});

describe("restart", () => {
  it("re-assigning the assignments into a fresh allocator reproduces them, then allocates alike", () => {
    const config = pools(
      poolYaml("p", ["192.0.2.0/28", "2001:db8::/124"]),
      poolYaml("q", ["198.51.100.0/30"], "auto-assign: false"),
    );
    const before = new Allocator(config);
    for (let i = 0; i < 10; i++) {
      expect(
        before.allocate(
          svc(`s${i}`, {
            families: i % 2 ? [4, 6] : [4],
            familyPolicy: i % 2 ? "RequireDualStack" : "SingleStack",
          }),
        ).ok,
      ).toBe(true);
    }
    expect(
      before.allocate(svc("shared1", { sharingKey: "k", requestedIPs: ["192.0.2.14"] })).ok,
    ).toBe(true);
    expect(
      before.allocate(svc("shared2", { sharingKey: "k", ports: [{ protocol: "UDP", port: 80 }] }))
        .ok,
    ).toBe(true);
    expect(before.allocate(svc("manual", { pool: "q" })).ok).toBe(true);
    for (const k of ["default/s2", "default/s5", "default/s7"]) before.release(k);

    const after = new Allocator(config);
    const requests = new Map<string, ReturnType<typeof svc>>();
    for (let i = 0; i < 10; i++)
      requests.set(
        `default/s${i}`,
        svc(`s${i}`, {
          families: i % 2 ? [4, 6] : [4],
          familyPolicy: i % 2 ? "RequireDualStack" : "SingleStack",
        }),
      );
    requests.set(
      "default/shared1",
      svc("shared1", { sharingKey: "k", requestedIPs: ["192.0.2.14"] }),
    );
    requests.set(
      "default/shared2",
      svc("shared2", { sharingKey: "k", ports: [{ protocol: "UDP", port: 80 }] }),
    );
    requests.set("default/manual", svc("manual", { pool: "q" }));
    for (const x of before.assignments()) {
      const req = requests.get(x.key);
      if (req === undefined) throw new Error(x.key);
      expectIPs(after.assign(req, x.ips), [...x.ips], x.pool, x.key);
    }
    expect([...after.assignments()]).toEqual([...before.assignments()]);
    expect(after.stats()).toEqual(before.stats());
    for (let i = 0; i < 5; i++) {
      const req = svc(`new${i}`, { families: [4, 6], familyPolicy: "PreferDualStack" });
      expect(after.allocate(req)).toEqual(before.allocate(req));
    }
  });
});

describe("huge pools", () => {
  it("allocates from an IPv6 /64 and an IPv4 /8 lowest first, reusing freed addresses", () => {
    const a = new Allocator(
      pools(poolYaml("v6", ["2001:db8::/64"]), poolYaml("v4", ["10.0.0.0/8"])),
    );
    expect(a.stats()).toEqual([
      { pool: "v6", family: 6, total: 1n << 64n, inUse: 0 },
      { pool: "v4", family: 4, total: 1n << 24n, inUse: 0 },
    ]);
    for (let i = 0; i < 2000; i++) {
      expect(a.allocate(svc(`s${i}`, { families: [6] })).ok).toBe(true);
      expect(a.allocate(svc(`t${i}`, { pool: "v4" })).ok).toBe(true);
    }
    expect(a.get("default/s1999")?.ips).toEqual(["2001:db8::7cf"]);
    expect(a.get("default/t1999")?.ips).toEqual(["10.0.7.207"]);
    a.release("default/s500");
    a.release("default/s17");
    expectIPs(a.allocate(svc("x", { families: [6] })), ["2001:db8::11"]);
    expectIPs(a.allocate(svc("y", { families: [6] })), ["2001:db8::1f4"]);
    expectIPs(a.allocate(svc("z", { families: [6] })), ["2001:db8::7d0"]);
    expectIPs(
      a.allocate(svc("top", { families: [6], requestedIPs: ["2001:db8::ffff:ffff:ffff:ffff"] })),
      ["2001:db8::ffff:ffff:ffff:ffff"],
    );
  });
});

describe("reasons catalogue", () => {
  it("has unique, stable codes", () => {
    expect(new Set(reasonCodes).size).toBe(reasonCodes.length);
    expect(reasonCodes).toContain("PoolExhausted");
  });
});

describe("reserved addresses (a node's or the API server's): never picked by the allocator", () => {
  const ip = (t: string) => {
    const r = parseIP(t);
    if (!r.ok) throw new Error(r.error);
    return r.value;
  };

  it("runs in order", () => {
    const a = new Allocator(testPool);
    run(a, [
      { say: "s1 takes .4", allocate: svc("s1"), want: ["192.0.2.4"] },
      { say: "s2 takes .5", allocate: svc("s2"), want: ["192.0.2.5"] },
    ]);
    expect(a.setReserved([ip("192.0.2.4"), ip("192.0.2.6")])).toBe(true);
    expect(a.setReserved([ip("192.0.2.6"), ip("192.0.2.4")])).toBe(false);
    expect(a.get("default/s1")?.ips).toEqual(["192.0.2.4"]);
    run(a, [
      { say: "s3 skips the reserved .6", allocate: svc("s3"), want: ["192.0.2.7"] },
      { say: "s1 frees .4 (reserved)", release: "default/s1" },
      { say: "s2 frees .5", release: "default/s2" },
      { say: "s4 gets .5, not the reserved .4", allocate: svc("s4"), want: ["192.0.2.5"] },
      { say: "s5: only reserved ones are left", allocate: svc("s5"), want: "PoolExhausted" },
      {
        say: "s6 may still ask for a reserved one by name",
        allocate: svc("s6", { requestedIPs: ["192.0.2.6"] }),
        want: ["192.0.2.6"],
      },
    ]);
    expect(a.setReserved([])).toBe(true);
    run(a, [{ say: "s5 gets .4 once it is no node's", allocate: svc("s5"), want: ["192.0.2.4"] }]);
  });
});
