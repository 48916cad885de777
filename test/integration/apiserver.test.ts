import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  makeInformer,
  RbacAuthorizationV1Api,
  type Informer,
  type KubeConfig,
  type KubernetesObject,
  type ObjectCache,
  type V1Lease,
  type V1Service,
  V1MicroTime,
} from "@kubernetes/client-node";
import { mergePatch } from "../../src/k8s/client.js";
import { microTimeMillis } from "../../src/k8s/microtime.js";
import {
  createTestNamespace,
  eventually,
  integrationKubeConfig,
  kubeConfigWithToken,
} from "../helpers/k8s.js";

// The foundation's proof that tests talk to a real API server: the calls barelb's controller
// and speaker are built on (Service status merge-patch, Leases with microsecond times,
// informers) and RBAC for a ServiceAccount.

const kc = integrationKubeConfig();

describe.runIf(kc !== null)("real kube-apiserver", () => {
  const admin = kc as KubeConfig;
  const core = admin.makeApiClient(CoreV1Api);
  const coord = admin.makeApiClient(CoordinationV1Api);
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  let ns = "";
  const informers: { stop(): Promise<void> }[] = [];

  beforeAll(async () => {
    ns = await createTestNamespace(admin, "it-apiserver");
  });
  afterAll(async () => {
    for (const i of informers) await i.stop();
    if (ns !== "") await core.deleteNamespace({ name: ns });
  });

  function watch<T extends KubernetesObject>(path: string, list: () => Promise<{ items: T[] }>) {
    const seen: { type: string; obj: T }[] = [];
    const inf: Informer<T> & ObjectCache<T> = makeInformer<T>(admin, path, list);
    for (const type of ["add", "update", "delete"] as const) {
      inf.on(type, (obj: T) => seen.push({ type, obj }));
    }
    informers.push(inf);
    return { inf, seen };
  }

  it("creates a LoadBalancer Service and sees its status merge-patch through an informer", async () => {
    const { inf, seen } = watch<V1Service>(`/api/v1/namespaces/${ns}/services`, () =>
      core.listNamespacedService({ namespace: ns }),
    );
    await inf.start();

    const created = await core.createNamespacedService({
      namespace: ns,
      body: {
        metadata: { name: "web" },
        spec: {
          type: "LoadBalancer",
          selector: { app: "web" },
          ports: [{ port: 8080, targetPort: 80 }],
        },
      },
    });
    expect(created.spec?.type).toBe("LoadBalancer");
    expect(created.spec?.clusterIP).toMatch(/^10\.96\./);
    expect(created.status?.loadBalancer?.ingress ?? []).toEqual([]);
    await eventually("informer add", () =>
      seen.find((e) => e.type === "add" && e.obj.metadata?.name === "web"),
    );

    const patched = await core.patchNamespacedServiceStatus(
      {
        name: "web",
        namespace: ns,
        body: { status: { loadBalancer: { ingress: [{ ip: "192.0.2.40", ipMode: "VIP" }] } } },
      },
      mergePatch,
    );
    expect(patched.status?.loadBalancer?.ingress).toEqual([{ ip: "192.0.2.40", ipMode: "VIP" }]);
    // The spec is untouched by a status patch, and the informer delivers the update.
    expect(patched.spec?.ports?.[0]?.port).toBe(8080);
    const upd = await eventually("informer update with the ingress IP", () =>
      seen.find(
        (e) => e.type === "update" && e.obj.status?.loadBalancer?.ingress?.[0]?.ip === "192.0.2.40",
      ),
    );
    expect(upd.obj.status?.loadBalancer?.ingress?.[0]?.ipMode).toBe("VIP");
    expect(inf.get("web", ns)?.status?.loadBalancer?.ingress?.[0]?.ip).toBe("192.0.2.40");
  });

  it("refuses a Lease time with millisecond precision and accepts microseconds", async () => {
    // A plain Date serialises as …05.678Z, which the API server's MicroTime parser rejects.
    const bad = coord.createNamespacedLease({
      namespace: ns,
      body: {
        metadata: { name: "ms-lease" },
        spec: { holderIdentity: "node-1", renewTime: new Date() },
      },
    });
    await expect(bad).rejects.toSatisfy(
      (e: unknown) => e instanceof ApiException && e.code === 400,
    );
  });

  it("creates and renews a Lease with microsecond times and sees the renewal through an informer", async () => {
    const { inf, seen } = watch<V1Lease>(
      `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`,
      () => coord.listNamespacedLease({ namespace: ns }),
    );
    await inf.start();

    const t0 = new V1MicroTime(Date.now() - 5_000);
    const lease = await coord.createNamespacedLease({
      namespace: ns,
      body: {
        metadata: { name: "barelb-speaker-node-1" },
        spec: {
          holderIdentity: "node-1",
          leaseDurationSeconds: 10,
          acquireTime: t0,
          renewTime: t0,
        },
      },
    });
    // Stored and returned with microsecond precision.
    expect(String(lease.spec?.renewTime)).toMatch(/\.\d{6}Z$/);
    expect(microTimeMillis(lease.spec?.renewTime)).toBe(t0.getTime());

    const t1 = new V1MicroTime();
    const renewed = await coord.replaceNamespacedLease({
      name: "barelb-speaker-node-1",
      namespace: ns,
      body: { ...lease, spec: { ...lease.spec, renewTime: t1 } },
    });
    expect(microTimeMillis(renewed.spec?.renewTime)).toBe(t1.getTime());
    expect(Number(renewed.metadata?.resourceVersion)).toBeGreaterThan(
      Number(lease.metadata?.resourceVersion),
    );

    // A stale resourceVersion is a conflict: the basis of safe Lease takeover.
    const stale = coord.replaceNamespacedLease({
      name: "barelb-speaker-node-1",
      namespace: ns,
      body: { ...lease, spec: { ...lease.spec, holderIdentity: "node-2" } },
    });
    await expect(stale).rejects.toSatisfy(
      (e: unknown) => e instanceof ApiException && e.code === 409,
    );

    await eventually("informer sees the renewed Lease", () =>
      seen.find(
        (e) => e.type === "update" && microTimeMillis(e.obj.spec?.renewTime) === t1.getTime(),
      ),
    );
  });

  it("refuses a ServiceAccount token without RBAC (403) and allows it once a Role is bound", async () => {
    await core.createNamespacedServiceAccount({
      namespace: ns,
      body: { metadata: { name: "reader" } },
    });
    const tr = await core.createNamespacedServiceAccountToken({
      name: "reader",
      namespace: ns,
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const token = tr.status?.token;
    expect(token).toMatch(/^ey/);
    const asSA = kubeConfigWithToken(admin, token ?? "").makeApiClient(CoreV1Api);

    const refused = asSA.listNamespacedService({ namespace: ns });
    await expect(refused).rejects.toSatisfy(
      (e: unknown) =>
        e instanceof ApiException &&
        e.code === 403 &&
        // Authenticated as the ServiceAccount (not anonymous), and forbidden by RBAC.
        String(e.body).includes(`system:serviceaccount:${ns}:reader`),
    );

    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: "service-reader" },
        rules: [{ apiGroups: [""], resources: ["services"], verbs: ["get", "list", "watch"] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: "reader-reads-services" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "service-reader" },
        subjects: [{ kind: "ServiceAccount", name: "reader", namespace: ns }],
      },
    });
    const list = await eventually("RBAC to allow the ServiceAccount", async () => {
      try {
        return await asSA.listNamespacedService({ namespace: ns });
      } catch {
        return undefined;
      }
    });
    expect(list.items.map((s) => s.metadata?.name)).toContain("web");
    // Still nothing beyond what the Role grants.
    await expect(asSA.listNamespacedSecret({ namespace: ns })).rejects.toSatisfy(
      (e: unknown) => e instanceof ApiException && e.code === 403,
    );
  });
});
