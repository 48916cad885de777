import { createServer, type Server } from "node:http";
import { request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import { CoreV1Api, type KubeConfig, type V1Service } from "@kubernetes/client-node";
import { ApiError, KubeClient, RESOURCES, resourcePath, type KubeList } from "../../src/k8s/api.js";
import { watchResource, type WatchedResource } from "../../src/k8s/informer.js";
import { credentialsFromText } from "../../src/k8s/kubeconfig.js";
import { microTimeMillis, microTimeNow, type LeaseJson } from "../../src/k8s/microtime.js";
import {
  createTestNamespace,
  eventually,
  integrationKubeConfig,
  kubeClientFor,
  kubeConfigWithToken,
} from "../helpers/k8s.js";

// barelb's own API client (the one the controller and speaker run on) against a real
// kube-apiserver: CRUD, merge patches of services/status, Leases with MicroTime strings,
// list+watch with add/update/delete, 410 Gone and the relist after it, and 403 errors.

const kc = integrationKubeConfig();
const log = pino({ level: process.env.BARELB_TEST_LOG ?? "silent" });

const lbService = (name: string, labels: Record<string, string> = {}): V1Service => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, labels },
  spec: { type: "LoadBalancer", ports: [{ port: 80, protocol: "TCP" }], selector: { app: name } },
});

describe.runIf(kc !== null)("barelb's API client on a real API server", () => {
  const admin = kc as KubeConfig;
  const client: KubeClient = kubeClientFor(admin);
  let ns = "";
  const watches: WatchedResource<unknown>[] = [];
  const svcPath = (name?: string, subresource?: "status") =>
    resourcePath(RESOURCES.services, {
      namespace: ns,
      name,
      ...(subresource === undefined ? {} : { subresource }),
    });

  beforeAll(async () => {
    ns = await createTestNamespace(admin, "it-api");
  });
  afterAll(async () => {
    for (const w of watches) await w.stop();
    if (ns !== "") await client.delete(resourcePath(RESOURCES.namespaces, { name: ns }));
    client.close();
  });

  it("creates, reads, lists by label, replaces, merge-patches status and deletes a Service", async () => {
    const created = await client.create<V1Service>(svcPath(), lbService("crud", { tier: "a" }));
    expect(created.metadata?.uid).toBeTruthy();
    await client.create(svcPath(), lbService("other", { tier: "b" }));

    const got = await client.get<V1Service>(svcPath("crud"));
    expect(got.metadata?.resourceVersion).toBe(created.metadata?.resourceVersion);
    // Timestamps stay strings: the client does no deserialising.
    expect(typeof got.metadata?.creationTimestamp).toBe("string");

    const byLabel = await client.list<V1Service>(svcPath(), { labelSelector: "tier=a" });
    expect(byLabel.items.map((s) => s.metadata?.name)).toEqual(["crud"]);
    const byField = await client.list<V1Service>(svcPath(), {
      fieldSelector: "metadata.name=other",
    });
    expect(byField.items.map((s) => s.metadata?.name)).toEqual(["other"]);
    expect(byField.metadata?.resourceVersion).toMatch(/^\d+$/);

    const replaced = await client.replace<V1Service>(svcPath("crud"), {
      ...got,
      metadata: { ...got.metadata, labels: { tier: "c" } },
    });
    expect(replaced.metadata?.labels).toEqual({ tier: "c" });
    // A stale resourceVersion is a conflict.
    await expect(client.replace(svcPath("crud"), got)).rejects.toSatisfy(
      (e: unknown) => e instanceof ApiError && e.code === 409 && e.reason === "Conflict",
    );

    // The controller's one write: status and annotation in one merge patch of /status.
    const patched = await client.mergePatch<V1Service>(svcPath("crud", "status"), {
      metadata: { annotations: { "barelb.io/ip-allocated-from-pool": "p1" } },
      status: { loadBalancer: { ingress: [{ ip: "192.0.2.10", ipMode: "VIP" }] } },
    });
    expect(patched.status?.loadBalancer?.ingress).toEqual([{ ip: "192.0.2.10", ipMode: "VIP" }]);
    expect(patched.metadata?.annotations?.["barelb.io/ip-allocated-from-pool"]).toBe("p1");
    expect(patched.spec?.type).toBe("LoadBalancer");
    // null clears, as merge patch says.
    const cleared = await client.mergePatch<V1Service>(svcPath("crud", "status"), {
      metadata: { annotations: { "barelb.io/ip-allocated-from-pool": null } },
      status: { loadBalancer: { ingress: null } },
    });
    expect(cleared.status?.loadBalancer?.ingress).toBeUndefined();
    expect(cleared.metadata?.annotations?.["barelb.io/ip-allocated-from-pool"]).toBeUndefined();

    await client.delete(svcPath("crud"));
    await expect(client.get(svcPath("crud"))).rejects.toSatisfy(
      (e: unknown) =>
        e instanceof ApiError &&
        e.code === 404 &&
        e.reason === "NotFound" &&
        e.message.includes('services "crud" not found'),
    );
    await client.delete(svcPath("other"));
  });

  it("writes Lease times as six-digit MicroTime strings and reads them back", async () => {
    const path = resourcePath(RESOURCES.leases, { namespace: ns });
    const t0 = microTimeNow(Date.parse("2026-01-02T03:04:05.678Z"));
    expect(t0).toBe("2026-01-02T03:04:05.678000Z");
    const lease = await client.create<LeaseJson>(path, {
      metadata: { name: "l1" },
      spec: { holderIdentity: "a", leaseDurationSeconds: 5, acquireTime: t0, renewTime: t0 },
    } satisfies LeaseJson);
    expect(lease.spec?.renewTime).toBe(t0);
    const t1 = microTimeNow();
    const renewed = await client.mergePatch<LeaseJson>(
      resourcePath(RESOURCES.leases, { namespace: ns, name: "l1" }),
      { spec: { renewTime: t1 } },
    );
    expect(microTimeMillis(renewed.spec?.renewTime)).toBe(Date.parse(t1));
  });

  it("keeps a list+watch cache: adds, updates and deletes", async () => {
    const seen: string[] = [];
    const w = watchResource<V1Service>({
      client,
      path: svcPath(),
      labelSelector: "watched=yes",
      handlers: {
        add: (s) => seen.push(`add ${s.metadata?.name ?? ""}`),
        update: (s) => seen.push(`update ${s.metadata?.name ?? ""}`),
        delete: (s) => seen.push(`delete ${s.metadata?.name ?? ""}`),
      },
      log,
      what: "services",
    });
    watches.push(w);
    await client.create(svcPath(), lbService("before", { watched: "yes" }));
    await w.synced;
    await eventually("the first Service", () => w.cache.get("before", ns));

    await client.create(svcPath(), lbService("w1", { watched: "yes" }));
    await client.create(svcPath(), lbService("ignored", { watched: "no" }));
    await eventually("add w1", () => w.cache.get("w1", ns));
    await client.mergePatch(svcPath("w1"), { metadata: { annotations: { x: "1" } } });
    await eventually("update w1", () =>
      w.cache.get("w1", ns)?.metadata?.annotations?.x === "1" ? true : undefined,
    );
    await client.delete(svcPath("w1"));
    await eventually("delete w1", () => (w.cache.get("w1", ns) === undefined ? true : undefined));

    expect(seen).toEqual(["add before", "add w1", "update w1", "delete w1"]);
    expect(w.cache.list().map((s) => s.metadata?.name)).toEqual(["before"]);
    expect(w.cache.list(ns)).toHaveLength(1);
    expect(w.cache.list("elsewhere")).toHaveLength(0);
    // managedFields are dropped before caching.
    expect(w.cache.get("before", ns)?.metadata?.managedFields).toBeUndefined();
  });

  // This fresh API server never compacts etcd within a test run, so it replays history
  // rather than answer 410 to an old resourceVersion; a proxy in front of it answers the
  // first watch with 410 itself (as an ERROR event, or as the HTTP status), after making
  // changes (delete one, modify one, add one) that the watch therefore never sees.
  it.each(["event", "status"] as const)(
    "relists after 410 Gone (%s), telling the handlers what changed meanwhile",
    async (mode) => {
      const creds = credentialsFromText(admin.exportConfig());
      const label = `relist-${mode}`;
      const make = (name: string) => lbService(name, { relist: label });
      await client.create(svcPath(), make(`${mode}-keep`));
      await client.create(svcPath(), make(`${mode}-gone`));
      await client.create(svcPath(), make(`${mode}-changed`));
      const gone = {
        kind: "Status",
        apiVersion: "v1",
        status: "Failure",
        message: "too old resource version: 1 (2)",
        reason: "Expired",
        code: 410,
      };
      let watchRequests = 0;
      const proxy: Server = createServer((req, res) => {
        const url = new URL(req.url ?? "/", "http://proxy");
        const forward = () => {
          const { host: _host, ...headers } = req.headers;
          const up = httpsRequest(
            creds.server + url.pathname + url.search,
            {
              method: req.method,
              headers: {
                ...headers,
                authorization: `Bearer ${creds.token() ?? ""}`,
              },
              ...(creds.ca === undefined ? {} : { ca: creds.ca }),
            },
            (upRes) => {
              res.writeHead(upRes.statusCode ?? 502, upRes.headers);
              upRes.pipe(res);
            },
          );
          up.on("error", () => res.destroy());
          req.pipe(up);
        };
        if (url.searchParams.get("watch") === "1" && ++watchRequests === 1) {
          const answer410 = () => {
            if (mode === "status") {
              res.writeHead(410, { "content-type": "application/json" });
              res.end(JSON.stringify(gone));
            } else {
              res.writeHead(200, { "content-type": "application/json" });
              res.end(JSON.stringify({ type: "ERROR", object: gone }) + "\n");
            }
          };
          void (async () => {
            await client.delete(svcPath(`${mode}-gone`));
            await client.mergePatch(svcPath(`${mode}-changed`), {
              metadata: { annotations: { v: "2" } },
            });
            await client.create(svcPath(), make(`${mode}-new`));
          })().then(answer410, () => res.destroy());
          return;
        }
        forward();
      });
      await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
      const viaProxy = new KubeClient({
        server: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
        insecureSkipTlsVerify: false,
        token: () => undefined,
        source: "test proxy",
      });
      const seen: string[] = [];
      const w = watchResource<V1Service>({
        client: viaProxy,
        path: svcPath(),
        labelSelector: `relist=${label}`,
        handlers: {
          add: (s) => seen.push(`add ${s.metadata?.name ?? ""}`),
          update: (s) => seen.push(`update ${s.metadata?.name ?? ""}`),
          delete: (s) => seen.push(`delete ${s.metadata?.name ?? ""}`),
        },
        log,
        what: "services",
      });
      try {
        await w.synced;
        await eventually("the relist", () => (seen.length >= 6 ? true : undefined));
        const m = (names: string[]) => names.map((n) => n.replace(" ", ` ${mode}-`));
        expect(seen.slice(0, 3).sort()).toEqual(m(["add changed", "add gone", "add keep"]));
        expect(seen.slice(3).sort()).toEqual(m(["add new", "delete gone", "update changed"]));
        // The relisted objects reach the handlers before the next watch request goes out.
        await eventually("the watch after the relist", () =>
          watchRequests >= 2 ? true : undefined,
        );
        expect(
          w.cache
            .list()
            .map((s) => s.metadata?.name)
            .sort(),
        ).toEqual([`${mode}-changed`, `${mode}-keep`, `${mode}-new`]);
        // And it keeps watching after the relist.
        await client.delete(svcPath(`${mode}-keep`));
        await eventually("delete after relist", () =>
          seen.includes(`delete ${mode}-keep`) ? true : undefined,
        );
      } finally {
        await w.stop();
        viaProxy.close();
        await new Promise((resolve) => proxy.close(resolve));
      }
    },
  );

  it("surfaces a ServiceAccount's 403 as ApiError code 403", async () => {
    const core = admin.makeApiClient(CoreV1Api);
    await core.createNamespacedServiceAccount({
      namespace: ns,
      body: { metadata: { name: "nobody" } },
    });
    const tr = await core.createNamespacedServiceAccountToken({
      name: "nobody",
      namespace: ns,
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const asSA = kubeClientFor(kubeConfigWithToken(admin, tr.status?.token ?? ""));
    try {
      const refused = asSA.list<KubeList<V1Service>>(svcPath());
      await expect(refused).rejects.toSatisfy(
        (e: unknown) =>
          e instanceof ApiError &&
          e.code === 403 &&
          e.reason === "Forbidden" &&
          e.message.includes(`system:serviceaccount:${ns}:nobody`),
      );
      // A watch is refused the same way.
      await expect(asSA.stream(svcPath(), { watch: 1 })).rejects.toSatisfy(
        (e: unknown) => e instanceof ApiError && e.code === 403,
      );
    } finally {
      asSA.close();
    }
  });
});
