import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoreV1Api, RbacAuthorizationV1Api, type KubeConfig } from "@kubernetes/client-node";
import { runCli } from "../../src/cli/run.js";
import { mergePatch } from "../../src/k8s/client.js";
import { registerNodes } from "../../src/lab/nodes.js";
import { OwnLease } from "../../src/speaker/own-lease.js";
import { BGP_SESSIONS_ANNOTATION, bgpSessionsAnnotation } from "../../src/speaker/bgp-status.js";
import type { StatusReport } from "../../src/status/explain.js";
import {
  createTestNamespace,
  eventually,
  integrationKubeConfig,
  kubeClientFor,
  kubeConfigWithToken,
} from "../helpers/k8s.js";
import {
  pools,
  putConfig,
  ServiceFixture,
  startTestController,
  type TestController,
} from "../helpers/controller.js";

// `barelb status` as a user runs it (the CLI's own argument parsing, client and output), with
// the credentials of a ServiceAccount that may only read, against a real API server, a real
// controller and a real speaker Lease. Nodes are cluster-wide: the ones registered here carry
// the exclude label, as test/integration/setup-warnings.test.ts assumes of every Node.

const EXCLUDE = "node.kubernetes.io/exclude-from-external-load-balancers";
const kc = integrationKubeConfig();

describe.runIf(kc !== null)("barelb status on a real API server, as a read-only user", () => {
  const admin = kc as KubeConfig;
  const core = admin.makeApiClient(CoreV1Api);
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  const suffix = Math.random().toString(16).slice(2, 8);
  const nodes = [`status-a-${suffix}`, `status-b-${suffix}`];
  const viewer = `barelb-status-viewer-${suffix}`;
  let ns = "";
  let dir = "";
  let kubeconfig = "";
  let svc: ServiceFixture;
  let ctl: TestController | undefined;
  let lease: OwnLease | undefined;

  const status = async (...args: string[]): Promise<{ code: number; out: string; err: string }> => {
    let out = "";
    let err = "";
    const code = await runCli(
      ["node", "barelb", "status", "--kubeconfig", kubeconfig, "-n", ns, ...args],
      { writeOut: (s) => (out += s), writeErr: (s) => (err += s) },
    );
    return { code, out, err };
  };
  const report = async (): Promise<StatusReport> => {
    const r = await status("--lb-class", svc.lbClass, "-o", "json");
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    return JSON.parse(r.out) as StatusReport;
  };

  beforeAll(async () => {
    ns = await createTestNamespace(admin, "it-status");
    svc = new ServiceFixture(admin, ns, `barelb.io/it-status-${suffix}`);
    await putConfig(
      core,
      ns,
      pools("- name: lan", "  protocol: layer2", "  addresses: [192.0.2.241-192.0.2.242]"),
    );
    dir = await mkdtemp(join(tmpdir(), "barelb-it-status-"));
    const adminConfig = join(dir, "admin");
    await writeFile(adminConfig, admin.exportConfig());
    await registerNodes(adminConfig, [
      { name: nodes[0] ?? "", ipv4: "198.51.100.61", ipv6: "2001:db8:78::a" },
      { name: nodes[1] ?? "", ipv4: "198.51.100.62", ipv6: "2001:db8:78::b" },
    ]);
    for (const name of nodes)
      await core.patchNode({ name, body: { metadata: { labels: { [EXCLUDE]: "" } } } }, mergePatch);

    // The reader: `view`-like rights, nothing else. It may not read Pods: the report says so.
    await core.createNamespacedServiceAccount({
      namespace: ns,
      body: { metadata: { name: "reader" } },
    });
    await rbac.createClusterRole({
      body: {
        metadata: { name: viewer },
        rules: [
          { apiGroups: [""], resources: ["services", "nodes"], verbs: ["get", "list"] },
          { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list"] },
        ],
      },
    });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: viewer },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: viewer },
        subjects: [{ kind: "ServiceAccount", name: "reader", namespace: ns }],
      },
    });
    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: "reader" },
        rules: [
          { apiGroups: [""], resources: ["configmaps"], verbs: ["get"] },
          { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["list"] },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: "reader" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "reader" },
        subjects: [{ kind: "ServiceAccount", name: "reader", namespace: ns }],
      },
    });
    const tr = await core.createNamespacedServiceAccountToken({
      name: "reader",
      namespace: ns,
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    kubeconfig = join(dir, "reader");
    await writeFile(kubeconfig, kubeConfigWithToken(admin, tr.status?.token ?? "").exportConfig());

    ctl = startTestController(admin, { namespace: ns, lbClass: svc.lbClass, leaderElect: true });
    await ctl.handle.restored;
    // One node's speaker, as far as the API sees it: its real Lease writer.
    lease = new OwnLease({
      client: kubeClientFor(admin),
      namespace: ns,
      node: nodes[0] ?? "",
      leaseDurationMs: 40_000,
      renewIntervalMs: 10_000,
      apiCheckIntervalMs: 2_000,
      apiStaleAfterMs: 10_000,
      annotations: {},
      log: pino({ level: "silent" }),
    });
    lease.start();
    await lease.firstRenewal;
  }, 60_000);

  afterAll(async () => {
    await lease?.stop(true, 2_000);
    await ctl?.stop();
    for (const name of nodes) await core.deleteNode({ name }).catch(() => undefined);
    await rbac.deleteClusterRoleBinding({ name: viewer }).catch(() => undefined);
    await rbac.deleteClusterRole({ name: viewer }).catch(() => undefined);
    if (ns !== "") await core.deleteNamespace({ name: ns });
    if (dir !== "") await rm(dir, { recursive: true, force: true });
  });

  it("names the config, the pool's use, and the reason of a Service left pending", async () => {
    await svc.create("first");
    await svc.waitIPs("first", (ips) => ips.length === 1, "one IP");
    await svc.create("second");
    await svc.waitIPs("second", (ips) => ips.length === 1, "one IP");
    await svc.create("third");
    await svc.waitEvent("third", "AllocationFailed");

    const r = await report();
    expect(r.config).toEqual({
      state: "loaded",
      error: null,
      configMap: `ConfigMap ${ns}/barelb-config`,
    });
    expect(r.controller.state).toBe("leading");
    expect(r.pools).toEqual([{ name: "lan", family: "IPv4", total: 2, inUse: 2 }]);
    const byName = new Map(r.services.map((s) => [s.name, s]));
    expect([...byName.keys()].sort()).toEqual(["first", "second", "third"]);
    expect(byName.get("first")?.pool).toBe("lan");
    expect(byName.get("third")?.ips).toEqual([]);
    expect(byName.get("third")?.reason).toMatch(/^no IP: .*"lan"/);
    // Every node is excluded here: the IPs are announced by nobody, and that says why.
    for (const name of ["first", "second"]) {
      expect(byName.get(name)?.announcedBy).toEqual([]);
      expect(byName.get(name)?.reason).toContain("nobody announces it");
    }
    const mine = r.nodes.filter((n) => nodes.includes(n.name));
    expect(mine.map((n) => [n.name, n.state])).toEqual([
      [nodes[0], "excluded"],
      [nodes[1], "excluded"],
    ]);
    expect(mine[0]?.reason).toContain(`labelled ${EXCLUDE}`);
    expect(mine[1]?.reason).toContain("and its speaker is absent");
    // The reader may not list Pods (k3s ServiceLB's are looked for): nothing else is missing.
    expect(r.unreadable).toEqual(["pods"]);
  });

  it("shows the BGP sessions a speaker publishes on its Lease, and none for a node without", async () => {
    const session = (peer: string, state: string, extra: { bfd?: string; lastError?: string }) => ({
      peer,
      state,
      established: state === "Established",
      bfd: extra.bfd,
      lastError: extra.lastError,
      prefixes: 0,
    });
    lease?.annotate(
      BGP_SESSIONS_ANNOTATION,
      bgpSessionsAnnotation([
        session("2001:db8::1", "Active", { lastError: "connect-failed: TCP connect timed out" }),
        session("192.0.2.1", "Established", { bfd: "Up" }),
      ]),
      { soon: true },
    );
    const r = await eventually("the sessions on the Lease", async () => {
      const got = await report();
      const n = got.nodes.find((x) => x.name === nodes[0]);
      return n !== undefined && n.bgpSessions.length > 0 ? got : undefined;
    });
    const sessions = (name: string | undefined) =>
      r.nodes.find((n) => n.name === name)?.bgpSessions;
    expect(sessions(nodes[0])).toEqual([
      { peer: "192.0.2.1", state: "Established", bfd: "Up" },
      {
        peer: "2001:db8::1",
        state: "Active",
        error: "connect-failed: TCP connect timed out",
      },
    ]);
    expect(sessions(nodes[1])).toEqual([]);
    const text = await status("--lb-class", svc.lbClass);
    expect(text.out).toMatch(
      new RegExp(
        `^${nodes[0]} +excluded +-\\n {2}bgp: 192\\.0\\.2\\.1 Established \\(BFD Up\\); 2001:db8::1 Active: connect-failed: TCP connect timed out\\n${nodes[1]} +excluded`,
        "m",
      ),
    );
  });

  it("reads a refused config as refused, with the parser's error", async () => {
    await putConfig(core, ns, pools("- name: lan", "  protocol: layer2", "  addresses: [nope]"));
    const r = await report();
    expect(r.config.state).toBe("refused");
    expect(r.config.error).toContain("nope");
    expect(r.warnings.map((w) => w.kind)).toContain("InvalidConfig");
    await putConfig(
      core,
      ns,
      pools("- name: lan", "  protocol: layer2", "  addresses: [192.0.2.241-192.0.2.242]"),
    );
  });

  it("prints a table for people, and says what a reader without rights misses", async () => {
    const text = await status("--lb-class", svc.lbClass);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/^Config: +ConfigMap .*: loaded$/m);
    expect(text.out).toMatch(new RegExp(`^${ns}/third +<pending> +- +-$`, "m"));
    expect(text.out).toContain(`Service ${ns}/third: no IP: `);
    expect(text.out).toContain("Not checked: you may not read pods");

    await rbac.deleteNamespacedRoleBinding({ name: "reader", namespace: ns });
    const partial = await eventually("the Role binding gone", async () => {
      const r = await report();
      return r.unreadable.length > 0 ? r : undefined;
    });
    expect(partial.unreadable).toEqual([`configmaps in ${ns}`, `leases in ${ns}`, "pods"]);
    expect(partial.config.state).toBe("unreadable");
  });
});
