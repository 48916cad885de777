import { readFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import type { CoreV1Api, DiscoveryV1Api, V1Service } from "@kubernetes/client-node";
import type { Lab } from "../src/lab/lab.js";
import type { ProcessRef } from "../src/util/proc.js";

/** Shared by the benchmarks that fill a lab cluster with Services and read its speakers. */

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const r2 = (x: number) => Math.round(x * 100) / 100;

/** The benchmarks' LoadBalancer Service: IPv6 single-stack, one port, no NodePorts. */
export function lbServiceBody(name: string): V1Service {
  return {
    metadata: { name },
    spec: {
      type: "LoadBalancer",
      // An L2 announcer needs no NodePorts; without this, 5,000 Services exhaust the range.
      allocateLoadBalancerNodePorts: false,
      ipFamilies: ["IPv6"],
      ipFamilyPolicy: "SingleStack",
      selector: { app: name },
      ports: [{ name: "http", port: 80 }],
    },
  };
}

/**
 * LoadBalancer Service `svc-NNNN` in `namespace` (lbServiceBody), with one EndpointSlice
 * holding a ready endpoint on every node of the lab (so its IP is announced).
 */
export async function createService(
  core: CoreV1Api,
  discovery: DiscoveryV1Api,
  lab: Lab,
  namespace: string,
  i: number,
): Promise<void> {
  const name = `svc-${String(i).padStart(4, "0")}`;
  await core.createNamespacedService({ namespace, body: lbServiceBody(name) });
  await discovery.createNamespacedEndpointSlice({
    namespace,
    body: {
      metadata: {
        name: `${name}-lab`,
        labels: {
          "kubernetes.io/service-name": name,
          "endpointslice.kubernetes.io/managed-by": "barelb-lab",
        },
      },
      addressType: "IPv6",
      // Pod addresses are bookkeeping only (the lab has no pods): 2001:db8:e::/48, documentation range.
      endpoints: lab.nodes.map((n, k) => ({
        addresses: [`2001:db8:e::${(i * 8 + k + 1).toString(16)}`],
        nodeName: n.name,
        conditions: { ready: true },
      })),
      ports: [{ name: "http", port: 80, protocol: "TCP" }],
    },
  });
}

/** Creates Services `from` to `to - 1` (see createService), 20 at a time. */
export async function createServices(
  core: CoreV1Api,
  discovery: DiscoveryV1Api,
  lab: Lab,
  namespace: string,
  from: number,
  to: number,
): Promise<void> {
  for (let i = from; i < to; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, to - i) }, (_, k) =>
        createService(core, discovery, lab, namespace, i + k),
      ),
    );
  }
}

/** The /metrics text of the speaker listening on `address` (port 7473). */
export function speakerMetrics(address: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpGet({ host: address, port: 7473, path: "/metrics", timeout: 5_000 }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve(body));
    });
    req.on("timeout", () => req.destroy(new Error(`${address}:7473 timed out`)));
    req.on("error", reject);
  });
}

/** The IPs a speaker's metrics say it announces. */
export const announcedIPs = (metrics: string): string[] =>
  [...metrics.matchAll(/^barelb_speaker_announced\{ip="([^"]+)"\} 1$/gm)].map((x) => x[1] ?? "");

/** One sample of a speaker's metrics, e.g. ("nodejs_heap_size_used_bytes"), in MiB. */
export function metricMiB(metrics: string, name: string): number {
  const m = new RegExp(`^barelb_speaker_${name} (\\S+)`, "m").exec(metrics);
  return r2(Number(m?.[1] ?? NaN) / 2 ** 20);
}

/** Fields of /proc/<pid>/status in kB, as MiB (VmRSS, VmHWM, RssAnon, RssFile, ...). */
export function procStatusMiB(ref: ProcessRef | undefined, keys: readonly string[]) {
  const status = readFileSync(`/proc/${ref?.pid ?? 0}/status`, "utf8");
  const out: Record<string, number> = {};
  for (const key of keys) {
    const kb = Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
    out[key] = r2(kb / 1024);
  }
  return out;
}

/**
 * Rss and its anonymous part from /proc/<pid>/smaps_rollup, in MiB: counted page by page,
 * unlike /proc/<pid>/status whose counters the kernel batches per CPU.
 */
export function smapsRssMiB(ref: ProcessRef | undefined): {
  rss: number;
  anon: number;
  file: number;
} {
  const text = readFileSync(`/proc/${ref?.pid ?? 0}/smaps_rollup`, "utf8");
  const kb = (key: string) =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN);
  const rss = kb("Rss");
  const anon = kb("Anonymous");
  return { rss: r2(rss / 1024), anon: r2(anon / 1024), file: r2((rss - anon) / 1024) };
}

export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    if (performance.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(1_000);
  }
}
