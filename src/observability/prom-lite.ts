import { createRequire } from "node:module";
import type * as Prom from "prom-client";

/**
 * prom-client's Registry and metric classes, loaded from their own files, for the speaker.
 * prom-client's index also loads its default process metrics, whose CPU counter loads
 * @opentelemetry/api (51 modules), the push gateway (http, https, zlib) and cluster support:
 * about 3 MiB of RSS in every speaker (measured: importing the index and calling
 * collectDefaultMetrics beside the speaker's other modules, 66.2 MiB; these four files,
 * 62.7 MiB). The version is pinned in package.json; test/unit/observability checks the shapes.
 * The speaker's own process metrics replace collectDefaultMetrics (`processMetrics`).
 */
const load = createRequire(import.meta.url);
export const Registry = load("prom-client/lib/registry") as typeof Prom.Registry;
export const Counter = load("prom-client/lib/counter") as typeof Prom.Counter;
export const Gauge = load("prom-client/lib/gauge") as typeof Prom.Gauge;
export const Histogram = load("prom-client/lib/histogram") as typeof Prom.Histogram;

/**
 * The process figures a speaker's dashboards need, under `prefix`: resident memory, CPU
 * seconds, the JS heap (used, total) and external memory, read when /metrics is scraped.
 * The names are those of prom-client's default metrics.
 */
export function processMetrics(registry: Prom.Registry, prefix: string): void {
  const registers = [registry];
  let cpu = process.cpuUsage();
  new Gauge({
    name: `${prefix}process_resident_memory_bytes`,
    help: "Resident memory size in bytes.",
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Counter({
    name: `${prefix}process_cpu_seconds_total`,
    help: "Total user and system CPU time spent in seconds.",
    registers,
    collect() {
      const now = process.cpuUsage();
      this.inc((now.user - cpu.user + now.system - cpu.system) / 1e6);
      cpu = now;
    },
  });
  new Gauge({
    name: `${prefix}process_start_time_seconds`,
    help: "Start time of the process since unix epoch in seconds.",
    registers,
  }).set(Math.round(Date.now() / 1000 - process.uptime()));
  const heap = (name: string, help: string, read: (m: NodeJS.MemoryUsage) => number) =>
    new Gauge({
      name: `${prefix}${name}`,
      help,
      registers,
      collect() {
        this.set(read(process.memoryUsage()));
      },
    });
  heap(
    "nodejs_heap_size_total_bytes",
    "Process heap size from Node.js in bytes.",
    (m) => m.heapTotal,
  );
  heap(
    "nodejs_heap_size_used_bytes",
    "Process heap size used from Node.js in bytes.",
    (m) => m.heapUsed,
  );
  heap("nodejs_external_memory_bytes", "Node.js external memory size in bytes.", (m) => m.external);
}
