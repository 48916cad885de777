import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { createTestNamespace, eventually, integrationKubeConfig } from "../helpers/k8s.js";
import {
  pools,
  putConfig,
  ServiceFixture,
  startTestController,
  type TestController,
} from "../helpers/controller.js";

// Sharing, dual-stack, two replicas and a restart at scale, on a real API server.

const kc = integrationKubeConfig();

const basePools = [
  "- name: dual",
  "  protocol: layer2",
  "  addresses:",
  "  - 192.0.2.64/26",
  "  - 2001:db8:64::/64",
  "- name: v6only",
  "  protocol: layer2",
  "  auto-assign: false",
  "  addresses: [2001:db8:66::/120]",
];

describe.runIf(kc !== null)("controller rules on a real API server", () => {
  const admin = kc as KubeConfig;
  const core = admin.makeApiClient(CoreV1Api);
  let ns = "";
  let svc: ServiceFixture;
  const controllers: TestController[] = [];
  const lbClass = `barelb.io/it-${Math.random().toString(16).slice(2, 8)}`;

  beforeAll(async () => {
    ns = await createTestNamespace(admin, "it-rules");
    svc = new ServiceFixture(admin, ns, lbClass);
    await putConfig(core, ns, pools(...basePools));
  });
  afterAll(async () => {
    for (const c of controllers) await c.stop();
    if (ns !== "") await core.deleteNamespace({ name: ns });
  });

  describe("with two replicas", () => {
    it("lets only the leader write, and a standby takes over without moving any IP", async () => {
      const a = startTestController(admin, {
        namespace: ns,
        lbClass,
        identity: "replica-a",
        leaderElect: true,
      });
      controllers.push(a);
      await a.handle.restored;
      const b = startTestController(admin, {
        namespace: ns,
        lbClass,
        identity: "replica-b",
        leaderElect: true,
      });
      controllers.push(b);

      await svc.create("web");
      const ip = await svc.waitIPs("web", (x) => x.length === 1, "an IP");
      expect(a.handle.writer.writes).toBe(1); // one merge patch: status + annotation
      expect(b.handle.writer.writes).toBe(0);

      await a.stop(); // graceful: releases the Lease
      await b.handle.restored;
      await svc.create("api");
      await svc.waitIPs("api", (x) => x.length === 1, "an IP");
      expect(await svc.ips("web")).toEqual(ip);
      expect(b.handle.writer.writes).toBe(1); // api only: web needed no write
    });
  });

  describe("sharing and dual-stack (leader: replica-b)", () => {
    it("shares one IP between Services with the same key and different ports", async () => {
      await svc.create(
        "dns-tcp",
        { ports: [{ port: 53, protocol: "TCP" }] },
        { "barelb.io/allow-shared-ip": "dns" },
      );
      const [ip] = await svc.waitIPs("dns-tcp", (x) => x.length === 1, "an IP");
      await svc.create(
        "dns-udp",
        { ports: [{ port: 53, protocol: "UDP" }], loadBalancerIP: ip },
        { "metallb.io/allow-shared-ip": "dns" },
      );
      expect(await svc.waitIPs("dns-udp", (x) => x.length === 1, "the shared IP")).toEqual([ip]);
    });

    it("refuses sharing when the ports clash, saying which port", async () => {
      const [ip] = await svc.ips("dns-tcp");
      await svc.create(
        "dns-clash",
        { ports: [{ port: 53, protocol: "TCP" }], loadBalancerIP: ip },
        { "barelb.io/allow-shared-ip": "dns" },
      );
      const ev = await svc.waitEvent("dns-clash", "AllocationFailed");
      expect(ev.message).toContain("53");
      expect(ev.message).toContain(`${ns}/dns-tcp`);
    });

    it("gives a RequireDualStack Service one IP per family, from one pool", async () => {
      await svc.create("both", {
        ipFamilyPolicy: "RequireDualStack",
        ipFamilies: ["IPv6", "IPv4"],
      });
      const ips = await svc.waitIPs("both", (x) => x.length === 2, "two IPs");
      expect(ips[0]).toMatch(/^2001:db8:64::/); // ordered like ipFamilies
      expect(ips[1]).toMatch(/^192\.0\.2\./);
      expect(
        (await svc.read("both")).metadata?.annotations?.["barelb.io/ip-allocated-from-pool"],
      ).toBe("dual");
    });

    it("moves a Service when the user changes its pool annotation, and only then", async () => {
      const before = await svc.ips("both");
      await svc.create("mover", { ipFamilyPolicy: "SingleStack", ipFamilies: ["IPv6"] });
      const [first] = await svc.waitIPs("mover", (x) => x.length === 1, "an IP");
      expect(first).toMatch(/^2001:db8:64::/);
      await svc.core.patchNamespacedService({
        name: "mover",
        namespace: ns,
        body: [
          {
            op: "add",
            path: "/metadata/annotations",
            value: { "barelb.io/address-pool": "v6only" },
          },
        ],
      });
      const [moved] = await svc.waitIPs(
        "mover",
        (x) => x.length === 1 && x[0] !== first,
        "a new IP",
      );
      expect(moved).toBe("2001:db8:66::");
      await svc.waitEvent("mover", "ClearAssignment", first);
      expect(await svc.ips("both")).toEqual(before);
    });
  });

  describe("PreferDualStack (leader: replica-b)", () => {
    it("gets the second family when its pool gains it in a config edit, keeping the first", async () => {
      const edge = ["- name: edge", "  protocol: layer2", "  addresses:", "  - 198.51.100.0/30"];
      await putConfig(core, ns, pools(...basePools, ...edge));
      await svc.create(
        "prefer",
        { ipFamilyPolicy: "PreferDualStack", ipFamilies: ["IPv4", "IPv6"] },
        { "barelb.io/address-pool": "edge" },
      );
      expect(await svc.waitIPs("prefer", (x) => x.length === 1, "an IPv4 only")).toEqual([
        "198.51.100.0",
      ]);
      const others = await Promise.all(["web", "both", "mover"].map((n) => svc.ips(n)));

      await putConfig(core, ns, pools(...basePools, ...edge, "  - 2001:db8:65::/120"));
      expect(await svc.waitIPs("prefer", (x) => x.length === 2, "IPv4 and IPv6")).toEqual([
        "198.51.100.0",
        "2001:db8:65::",
      ]);
      await svc.waitEvent("prefer", "IPAllocated", "198.51.100.0, 2001:db8:65:: from pool edge");
      expect(
        (await svc.read("prefer")).metadata?.annotations?.["barelb.io/ip-allocated-from-pool"],
      ).toBe("edge");
      expect(await Promise.all(["web", "both", "mover"].map((n) => svc.ips(n)))).toEqual(others);
    });
  });

  describe("restart at scale", () => {
    const N = 500;
    it(`restarts with ${N} assigned Services and changes no IP`, async () => {
      const names = Array.from({ length: N }, (_, i) => `bulk-${String(i).padStart(3, "0")}`);
      for (let i = 0; i < names.length; i += 25) {
        await Promise.all(
          names
            .slice(i, i + 25)
            .map((n) => svc.create(n, { ipFamilyPolicy: "SingleStack", ipFamilies: ["IPv6"] })),
        );
      }
      const all = await eventually(
        "every bulk Service assigned",
        async () => {
          const list = await core.listNamespacedService({ namespace: ns });
          const bulk = list.items.filter((s) => s.metadata?.name?.startsWith("bulk-"));
          const assigned = bulk.filter((s) => (s.status?.loadBalancer?.ingress ?? []).length > 0);
          return assigned.length === N ? bulk : undefined;
        },
        120_000,
      );
      const before = new Map(
        all.map((s) => [s.metadata?.name, s.status?.loadBalancer?.ingress?.[0]?.ip]),
      );
      expect(new Set(before.values()).size).toBe(N); // no IP held twice

      for (const c of controllers.splice(0)) await c.stop();
      // Created while no controller runs: on restart it must not take any restored IP.
      await svc.create("late", { ipFamilyPolicy: "SingleStack", ipFamilies: ["IPv6"] });
      const fresh = startTestController(admin, {
        namespace: ns,
        lbClass,
        identity: "replica-c",
        leaderElect: true,
      });
      controllers.push(fresh);
      await fresh.handle.restored;
      await eventually("new leader idle", () => (fresh.handle.idle() ? true : undefined), 60_000);
      const after = await core.listNamespacedService({ namespace: ns });
      for (const s of after.items.filter((x) => x.metadata?.name?.startsWith("bulk-"))) {
        expect(s.status?.loadBalancer?.ingress?.[0]?.ip).toBe(before.get(s.metadata?.name));
      }
      const [late] = await svc.waitIPs("late", (x) => x.length === 1, "an IP");
      expect([...before.values()]).not.toContain(late);
      expect(fresh.handle.writer.writes).toBe(1); // late's assignment, nothing else
    }, 180_000);
  });
});
