import { readFileSync } from "node:fs";
import { request } from "node:https";
import { loadKubeConfig } from "../src/k8s/client.js";
import { sleep } from "./_lab.js";

/** Shared by the benchmarks that count API requests with kube-apiserver's own metrics. */

/** What it takes to read kube-apiserver's /metrics (a ControlPlane has these fields). */
export interface ApiServerAccess {
  server: string;
  caPem: string;
  adminToken: string;
}

/** The API server, CA and token of a kubeconfig that authenticates with a bearer token. */
export function apiServerAccess(kubeconfigPath: string): ApiServerAccess {
  const kc = loadKubeConfig(kubeconfigPath);
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  const caPem =
    cluster?.caData !== undefined
      ? Buffer.from(cluster.caData, "base64").toString("utf8")
      : cluster?.caFile !== undefined
        ? readFileSync(cluster.caFile, "utf8")
        : undefined;
  if (cluster === null || caPem === undefined || user?.token === undefined) {
    throw new Error(`${kubeconfigPath}: needs a cluster with a CA and a user with a token`);
  }
  return { server: cluster.server, caPem, adminToken: user.token };
}

/** kube-apiserver's apiserver_request_total, summed by "VERB resource subresource". */
export async function apiRequests(api: ApiServerAccess): Promise<Record<string, number>> {
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(
      `${api.server}/metrics`,
      { ca: api.caPem, headers: { authorization: `Bearer ${api.adminToken}` } },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve(body));
      },
    );
    req.on("error", reject);
    req.end();
  });
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue;
    const labels = new Map(
      [...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] ?? "", m[2] ?? ""]),
    );
    const key = `${labels.get("verb") ?? "?"} ${labels.get("resource") ?? "?"} ${labels.get("subresource") ?? ""}`;
    out[key] = (out[key] ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return out;
}

/** b - a, keeping only the counters that grew. */
export function diffCounts(
  a: Record<string, number>,
  b: Record<string, number>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) {
    const d = v - (a[k] ?? 0);
    if (d > 0) out[k] = d;
  }
  return out;
}

/** The API verbs that change something (apiserver_request_total's verb label). */
export const WRITE_VERBS: ReadonlySet<string> = new Set([
  "POST",
  "PUT",
  "PATCH",
  "APPLY",
  "DELETE",
  "DELETECOLLECTION",
]);

/** The write counters of a "VERB resource subresource" map. */
export function writesOnly(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(counts).filter(([k]) => WRITE_VERBS.has(k.slice(0, k.indexOf(" ")))),
  );
}

/** Waits until 10 s pass with no API write but Lease renewals; returns the seconds waited. */
export async function waitIdle(api: ApiServerAccess): Promise<number> {
  const t0 = performance.now();
  let prev = writesOnly(await apiRequests(api));
  let quietSince = performance.now();
  for (;;) {
    await sleep(2_000);
    const cur = writesOnly(await apiRequests(api));
    const busy = Object.keys(diffCounts(prev, cur)).some((k) => !/ leases /.test(k));
    prev = cur;
    if (busy) quietSince = performance.now();
    else if (performance.now() - quietSince >= 10_000) return (performance.now() - t0) / 1000;
    if (performance.now() - t0 > 600_000)
      throw new Error("the cluster did not become idle in 10 min");
  }
}
