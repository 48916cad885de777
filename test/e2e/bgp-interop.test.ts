import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoreV1Api, type CoreV1Event, type V1ConfigMap } from "@kubernetes/client-node";
import { createLab, type Lab } from "../../src/lab/lab.js";
import {
  applyConfigMap,
  BARELB_NAMESPACE,
  LabCluster,
  sampleService,
  setEndpoints,
} from "../../src/lab/cluster.js";
import {
  addRouterToLab,
  startRouter,
  type Router,
  type RouterKind,
  type RouterLeg,
  type RouterNeighbor,
} from "../../src/lab/router.js";
import { loadKubeConfig } from "../../src/k8s/client.js";
import { ip } from "../../src/lab/netns.js";
import { ANNOUNCED_CONDITION } from "../../src/speaker/announced-condition.js";
import { formatIPValue, parseCIDR } from "../../src/net/ip.js";
import { eventually } from "../../src/util/wait.js";
import { prereqs } from "../helpers/prereq.js";
import { statusReport } from "../helpers/status.js";
import type { StatusReport } from "../../src/status/explain.js";

// BGP mode against real routers (issue 12): a lab of three nodes with barelb's speakers, a
// router namespace on the lab's LAN running BIRD 2 or FRR, and a remote client behind it.
// Each node peers with the router twice: eBGP over IPv4 (TCP MD5, BFD) and iBGP over IPv6
// (no BFD), so both kinds of session, local preference and communities are seen. Everything
// is asserted from the router's own view (birdc / vtysh) and its kernel FIB.

const ROUTER_ASN = 64512;
const NODE_ASN = 64513;
const PASSWORD = "barelb-lab";
// Hold times long enough that a next hop leaving within seconds is BFD's or a Cease's doing.
const HOLD_S = 90;
const BFD = { intervalMs: 100, multiplier: 3 };
const NS = "default";

/** The i-th address of the lab's IPv4 VIP range (the range is .32-.62 of the slot). */
function vip4(lab: Lab, i: number): string {
  const start = lab.addresses.vipRange4.split("-")[0] ?? "";
  const p = start.split(".").map(Number);
  return [...p.slice(0, 3), (p[3] ?? 0) + i].join(".");
}
function vip6(lab: Lab, i: number): string {
  const cidr = parseCIDR(lab.addresses.vipCidr6);
  if (!cidr.ok) throw new Error(cidr.error);
  return formatIPValue(6, cidr.value.start + 0x100n + BigInt(i));
}

function bgpConfig(lab: Lab, leg: RouterLeg, extraPools = "", l2Protocol = "layer2"): V1ConfigMap {
  const config = `
peers:
  - peer-address: ${leg.router4}
    peer-asn: ${ROUTER_ASN}
    my-asn: ${NODE_ASN}
    password: ${PASSWORD}
    hold-time: ${HOLD_S}s
    bfd-profile: fast
  - peer-address: ${leg.router6}
    peer-asn: ${ROUTER_ASN}
    my-asn: ${ROUTER_ASN}
    hold-time: ${HOLD_S}s
bfd-profiles:
  - name: fast
    receive-interval: ${BFD.intervalMs}
    transmit-interval: ${BFD.intervalMs}
    detect-multiplier: ${BFD.multiplier}
bgp-communities:
  lab: 64513:100
address-pools:
  - name: l2
    protocol: ${l2Protocol}
    addresses: [${vip4(lab, 0)}-${vip4(lab, 7)}]
  - name: bgp
    protocol: bgp
    addresses:
      - ${vip4(lab, 16)}-${vip4(lab, 23)}
      - ${vip6(lab, 0)}-${vip6(lab, 15)}
    bgp-advertisements:
      - communities: [lab, "large:64513:1:2"]
        localpref: 150
${extraPools}`;
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "barelb-config", namespace: BARELB_NAMESPACE },
    data: { config },
  };
}

describe.each<RouterKind>(["bird", "frr"])("BGP mode with %s as the router", (kind) => {
  const ok = prereqs(`BGP interop e2e (${kind})`, [
    "root",
    "ip",
    "setpriv",
    "go",
    "curl",
    "bird",
    "vtysh",
  ]);
  let lab: Lab;
  let leg: RouterLeg;
  let router: Router;
  let cluster: LabCluster;
  /** The pool the config-edit test adds (kept by later edits). */
  let extra = "";
  const core = () => loadKubeConfig(lab.kubeconfig).makeApiClient(CoreV1Api);
  const nodes4 = () => lab.nodes.map((n) => n.ipv4);
  const nodes6 = () => lab.nodes.map((n) => n.ipv6);

  function neighbors(override: Partial<Record<string, Partial<RouterNeighbor>>> = {}) {
    const out: RouterNeighbor[] = [];
    for (const n of lab.nodes) {
      out.push({
        address: n.ipv4,
        asn: NODE_ASN,
        password: PASSWORD,
        bfd: BFD,
        holdTime: HOLD_S,
        ...override[n.ipv4],
      });
      out.push({ address: n.ipv6, asn: ROUTER_ASN, holdTime: HOLD_S, ...override[n.ipv6] });
    }
    return out;
  }

  async function service(
    name: string,
    ip: string,
    opts: { local?: boolean; endpoints: string[] },
  ): Promise<void> {
    const svc = sampleService();
    await core().createNamespacedService({
      namespace: NS,
      body: {
        ...svc,
        metadata: { ...svc.metadata, name, namespace: NS },
        spec: {
          ...svc.spec,
          loadBalancerIP: ip,
          ...(opts.local === true ? { externalTrafficPolicy: "Local" } : {}),
          ...(ip.includes(":") ? { ipFamilies: ["IPv6"], ipFamilyPolicy: "SingleStack" } : {}),
        },
      },
    });
    await setEndpoints(
      lab,
      NS,
      name,
      opts.endpoints.map((node) => ({ node })),
    );
  }

  /** The router's kernel FIB next hops for `prefix`, once they equal `want` (sorted). */
  const fibIs = (prefix: string, want: readonly string[], timeoutMs = 30_000) =>
    eventually(
      `${kind}'s FIB: ${prefix} via [${want.join(", ")}]`,
      async () => {
        const have = await router.fib(prefix);
        return JSON.stringify(have) === JSON.stringify([...want].sort()) ? have : undefined;
      },
      timeoutMs,
      50,
    );
  /** IPv6 next hops may be the nodes' link-local addresses (FRR) or global ones (BIRD). */
  const fibCount = (prefix: string, count: number, timeoutMs = 30_000) =>
    eventually(
      `${kind}'s FIB: ${prefix} with ${count} next hops`,
      async () => ((await router.fib(prefix)).length === count ? true : undefined),
      timeoutMs,
      50,
    );

  async function metric(node: string, re: RegExp): Promise<number> {
    const r = await lab.exec(lab.node(node), [
      "curl",
      "-sS",
      "-m",
      "2",
      "http://127.0.0.1:7473/metrics",
    ]);
    let sum = 0;
    for (const line of r.stdout.split("\n")) {
      if (!re.test(line)) continue;
      sum += Number(line.split(" ").at(-1));
    }
    return sum;
  }

  async function nodeEvents(node: string, reason: string): Promise<CoreV1Event[]> {
    const list = await core().listNamespacedEvent({
      namespace: "default",
      fieldSelector: `involvedObject.kind=Node,involvedObject.name=${node},reason=${reason}`,
    });
    return list.items;
  }

  beforeAll(async () => {
    if (!ok) return;
    lab = await createLab({ nodes: 3, controlPlane: true, persistent: false });
    leg = await addRouterToLab(lab);
    router = await startRouter({
      kind,
      netns: leg.routerNetns,
      dir: join(lab.record.dir, `router-${kind}`),
      asn: ROUTER_ASN,
      routerId: leg.router4,
      neighbors: neighbors(),
    });
    cluster = await LabCluster.start(lab, { configMap: bgpConfig(lab, leg) });
  }, 120_000);

  afterAll(async () => {
    try {
      await (cluster as LabCluster | undefined)?.stop();
      await (router as Router | undefined)?.stop();
    } finally {
      await (lab as Lab | undefined)?.down();
    }
  }, 60_000);

  it.runIf(ok)(
    "every node's sessions are Established, IPv4 (eBGP, MD5, BFD) and IPv6 (iBGP)",
    async () => {
      await eventually(
        `${kind}: 6 sessions Established`,
        async () => {
          const s = await router.sessions();
          return s.filter((x) => x.established).length === 6 ? s : undefined;
        },
        60_000,
        200,
      );
      await eventually(
        `${kind}: 3 BFD sessions Up`,
        async () =>
          (await router.bfd()).filter((b) => b.state === "Up").length === 3 ? true : undefined,
        30_000,
        200,
      );
    },
    90_000,
  );

  it.runIf(ok)(
    "a Cluster Service's IP has one next hop per node (ECMP); Local only the nodes with endpoints",
    async () => {
      await service("cluster4", vip4(lab, 16), { endpoints: ["node-1"] });
      await service("local4", vip4(lab, 17), { local: true, endpoints: ["node-2"] });
      await service("cluster6", vip6(lab, 0), { endpoints: ["node-1"] });
      await service("l2", vip4(lab, 0), { endpoints: ["node-1"] });
      await fibIs(`${vip4(lab, 16)}/32`, nodes4());
      await fibIs(`${vip4(lab, 17)}/32`, [lab.node("node-2").ipv4]);
      await fibCount(`${vip6(lab, 0)}/128`, 3);
      // barelb status: the advertising nodes, and each node's sessions as its speaker published
      // them (on its Lease, about a second after they change: waited for).
      const expected = {
        local4: [{ ip: vip4(lab, 17), nodes: ["node-2"] }],
        cluster4: [{ ip: vip4(lab, 16), nodes: ["node-1", "node-2", "node-3"] }],
      };
      const seen = (r: StatusReport) => ({
        local4: r.services.find((x) => x.name === "local4")?.advertisedBy,
        cluster4: r.services.find((x) => x.name === "cluster4")?.advertisedBy,
        established: r.nodes.flatMap((n) => n.bgpSessions).filter((x) => x.state === "Established")
          .length,
        bfdUp: r.nodes.filter(
          (n) => n.bgpSessions.find((x) => x.peer === leg.router4)?.bfd === "Up",
        ).length,
      });
      const want = { ...expected, established: 6, bfdUp: 3 };
      let last: StatusReport | undefined;
      try {
        await eventually(
          "barelb status: the advertising nodes and every session",
          async () => {
            last = await statusReport(lab.kubeconfig);
            return JSON.stringify(seen(last)) === JSON.stringify(want) ? true : undefined;
          },
          20_000,
          500,
        );
      } finally {
        if (last !== undefined) expect(seen(last)).toEqual(want);
      }
      // A layer-2 pool's IP is never advertised over BGP.
      expect(await router.routes(`${vip4(lab, 0)}/32`)).toEqual([]);
      // No endpoints at all: nobody advertises.
      await service("empty4", vip4(lab, 18), { endpoints: [] });
      await new Promise((r) => setTimeout(r, 1_000));
      expect(await router.routes(`${vip4(lab, 18)}/32`)).toEqual([]);
    },
    90_000,
  );

  it.runIf(ok)("communities arrive on both families, local preference over iBGP", async () => {
    const v4 = await router.routes(`${vip4(lab, 16)}/32`);
    expect(v4).toHaveLength(3);
    for (const r of v4) {
      expect(r.communities).toContain("64513:100");
      expect(r.largeCommunities).toContain("64513:1:2");
      expect(r.asPath).toEqual([NODE_ASN]);
    }
    const v6 = await router.routes(`${vip6(lab, 0)}/128`);
    expect(v6).toHaveLength(3);
    for (const r of v6) {
      expect(r.localPref).toBe(150);
      expect(r.communities).toContain("64513:100");
      expect(r.asPath).toEqual([]);
    }
  });

  it.runIf(ok)(
    "a config edit re-advertises only what changed",
    async () => {
      const announced = /^barelb_speaker_bgp_route_updates_total\{.*change="announced"/;
      const before = await metric("node-1", announced);
      expect(before).toBeGreaterThan(0);
      extra = `  - name: bgp2
    protocol: bgp
    addresses: [${vip4(lab, 24)}-${vip4(lab, 27)}]
    bgp-advertisements:
      - communities: ["64513:200"]
`;
      await applyConfigMap(core(), bgpConfig(lab, leg, extra));
      await service("second4", vip4(lab, 24), { endpoints: ["node-1"] });
      await fibIs(`${vip4(lab, 24)}/32`, nodes4());
      // One new prefix to the IPv4 peer; nothing re-sent for the pool that did not change.
      await eventually(
        "node-1 sent exactly one more prefix",
        async () => ((await metric("node-1", announced)) === before + 1 ? true : undefined),
        10_000,
        200,
      );
      const routes = await router.routes(`${vip4(lab, 24)}/32`);
      expect(routes.every((r) => r.communities.includes("64513:200"))).toBe(true);
      await new Promise((r) => setTimeout(r, 1_000));
      expect(await metric("node-1", announced)).toBe(before + 1);
    },
    60_000,
  );

  it.runIf(ok)(
    "a wrong ASN or password: a clear log line and Event, and a back-off, not a loop",
    async () => {
      const n2 = lab.node("node-2");
      const n3 = lab.node("node-3");
      await router.setNeighbors(
        neighbors({ [n2.ipv4]: { password: "not-the-password" }, [n3.ipv4]: { asn: 64999 } }),
      );
      try {
        await fibIs(`${vip4(lab, 16)}/32`, [lab.node("node-1").ipv4]);
        // The router refuses node-3's OPEN (Bad Peer AS): barelb names the NOTIFICATION.
        // (The router's reconfigure first closes the session with a Cease, also an Event.)
        const asnEvent = await eventually(
          "a BGPSessionDown Event on node-3 naming the refused AS",
          async () =>
            (await nodeEvents("node-3", "BGPSessionDown")).find((e) =>
              /Bad Peer AS/i.test(e.message ?? ""),
            ),
          30_000,
          500,
        );
        expect(asnEvent.type).toBe("Warning");
        expect(cluster.log("speaker-node-3")).toMatch(
          /"detail":"peer sent OPEN Message Error \/ Bad Peer AS".*"msg":"bgp session attempt failed"/,
        );
        // Over 12 s, a handful of attempts at most: the back-off doubles from 5 s.
        const failures = /^barelb_speaker_bgp_session_failures_total\{/;
        const f0 = await metric("node-3", failures);
        await new Promise((r) => setTimeout(r, 12_000));
        expect((await metric("node-3", failures)) - f0).toBeLessThanOrEqual(3);
        // Wrong password: the router drops the SYNs, the session stays down, the speaker lives.
        const s = await router.sessions();
        expect(s.find((x) => x.neighbor === n2.ipv4)?.established).toBe(false);
        expect(cluster.log("speaker-node-2")).toMatch(/"msg":"bgp session (down|attempt failed)"/);
      } finally {
        // Put right, both come back without a restart.
        await router.setNeighbors(neighbors());
      }
      await fibIs(`${vip4(lab, 16)}/32`, nodes4(), 90_000);
    },
    150_000,
  );

  it.runIf(ok)(
    "a pool switched from layer2 to bgp: same IP, now routed, and the layer-2 condition withdrawn",
    async () => {
      const ip = vip4(lab, 0);
      const condition = async () => {
        const svc = await core().readNamespacedService({ name: "l2", namespace: NS });
        return svc.status?.conditions?.find((c) => c.type === ANNOUNCED_CONDITION.IPv4);
      };
      await eventually(
        "l2's layer-2 condition True",
        async () => ((await condition())?.status === "True" ? true : undefined),
        20_000,
        200,
      );
      await applyConfigMap(core(), bgpConfig(lab, leg, extra, "bgp"));
      await fibIs(`${ip}/32`, nodes4());
      const c = await eventually(
        "l2's layer-2 condition withdrawn",
        async () => {
          const c = await condition();
          return c?.status === "False" ? c : undefined;
        },
        20_000,
        200,
      );
      expect(c.reason).toBe("NotAnnounced");
      expect(c.message).toMatch(/BGP pool/);
      const svc = await core().readNamespacedService({ name: "l2", namespace: NS });
      expect(svc.status?.loadBalancer?.ingress?.[0]?.ip).toBe(ip);
    },
    60_000,
  );

  it.runIf(ok)(
    "a node that dies (its link cut, nothing sent): BFD removes its next hop, not the 90 s hold time; back, nobody else's route flaps",
    async () => {
      const prefix = `${vip4(lab, 16)}/32`;
      const n1 = lab.node("node-1");
      await fibIs(prefix, nodes4());
      // Watch the FIB throughout: the two other nodes' next hops must never leave it.
      let fewest = 3;
      const watching = { on: true };
      const watcher = (async () => {
        while (watching.on) {
          fewest = Math.min(fewest, (await router.fib(prefix)).length);
          await new Promise((r) => setTimeout(r, 25));
        }
      })();
      const t0 = performance.now();
      // The node's cable pulled: no FIN, no Cease reaches the router; only BFD can tell.
      await ip(["link", "set", n1.hostIf, "down"]);
      try {
        await fibIs(
          prefix,
          nodes4().filter((a) => a !== n1.ipv4),
          10_000,
        );
        console.log(
          `${kind}: next hop of the dead node removed after ${Math.round(performance.now() - t0)} ms (BFD ${BFD.intervalMs} ms x ${BFD.multiplier}, hold ${HOLD_S} s)`,
        );
        // Down long enough for the speakers to count each other dead (--dead-after 1 s):
        // when it returns, the layer-2 membership holds nodes, which BGP must not follow.
        await new Promise((r) => setTimeout(r, 2_500));
      } finally {
        await ip(["link", "set", n1.hostIf, "up"]);
      }
      try {
        // Plugged back: the speaker's BFD saw the router go silent too, so it reopens the session.
        await fibIs(prefix, nodes4(), 60_000);
      } finally {
        watching.on = false;
        await watcher;
      }
      expect(fewest).toBe(2);
    },
    120_000,
  );

  it.runIf(ok)(
    "a speaker killed (SIGKILL): its kernel closes the connection and the router withdraws at once",
    async () => {
      const prefix = `${vip4(lab, 16)}/32`;
      const v6 = `${vip6(lab, 0)}/128`;
      const n1 = lab.node("node-1").ipv4;
      await fibIs(prefix, nodes4());
      await fibCount(v6, 3);
      const t0 = performance.now();
      await cluster.stopSpeaker("node-1", "SIGKILL");
      await fibIs(
        prefix,
        nodes4().filter((a) => a !== n1),
        10_000,
      );
      // The IPv6 session has no BFD: the closed connection alone withdraws it.
      await fibCount(v6, 2, 10_000);
      console.log(
        `${kind}: next hops of the killed speaker removed after ${Math.round(performance.now() - t0)} ms`,
      );
      cluster.startSpeaker("node-1");
      await fibIs(prefix, nodes4(), 60_000);
    },
    90_000,
  );

  it.runIf(ok)(
    "SIGTERM withdraws at once, on the IPv6 session without BFD too",
    async () => {
      const v4 = `${vip4(lab, 16)}/32`;
      const v6 = `${vip6(lab, 0)}/128`;
      await fibCount(v6, 3);
      const t0 = performance.now();
      await cluster.stopSpeaker("node-2", "SIGTERM");
      await fibIs(
        v4,
        nodes4().filter((a) => a !== lab.node("node-2").ipv4),
        5_000,
      );
      await fibCount(v6, 2, 5_000);
      console.log(
        `${kind}: SIGTERM to both next hops gone: ${Math.round(performance.now() - t0)} ms`,
      );
      expect(nodes6()).toHaveLength(3);
    },
    60_000,
  );
});
