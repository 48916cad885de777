import { describe, expect, it } from "vitest";
import {
  Counter,
  Gauge,
  Histogram,
  processMetrics,
  Registry,
} from "../../../src/observability/prom-lite.js";

describe("prom-client's classes loaded from their own files", () => {
  it("register and render like the package's own", async () => {
    const registry = new Registry();
    const registers = [registry];
    new Counter({ name: "t_total", help: "c", labelNames: ["k"], registers }).inc({ k: "a" }, 2);
    new Gauge({ name: "t_gauge", help: "g", registers }).set(7);
    new Histogram({ name: "t_seconds", help: "h", buckets: [0.1, 1], registers }).observe(0.5);
    const text = await registry.metrics();
    expect(text).toContain('t_total{k="a"} 2');
    expect(text).toContain("t_gauge 7");
    expect(text).toContain('t_seconds_bucket{le="0.1"} 0');
    expect(text).toContain('t_seconds_bucket{le="1"} 1');
    expect(text).toContain("# TYPE t_seconds histogram");
  });

  it("processMetrics: resident memory, CPU, heap and external memory under a prefix", async () => {
    const registry = new Registry();
    processMetrics(registry, "x_");
    const value = async (name: string) => {
      const text = await registry.metrics();
      const m = new RegExp(`^x_${name} (\\S+)$`, "m").exec(text);
      return Number(m?.[1] ?? NaN);
    };
    expect(await value("process_resident_memory_bytes")).toBeGreaterThan(10 * 2 ** 20);
    expect(await value("nodejs_heap_size_used_bytes")).toBeGreaterThan(1 * 2 ** 20);
    expect(await value("nodejs_heap_size_total_bytes")).toBeGreaterThanOrEqual(
      await value("nodejs_heap_size_used_bytes"),
    );
    expect(await value("nodejs_external_memory_bytes")).toBeGreaterThan(0);
    const start = await value("process_start_time_seconds");
    expect(Math.abs(start - (Date.now() / 1000 - process.uptime()))).toBeLessThan(2);
    // CPU seconds only grow.
    const cpu0 = await value("process_cpu_seconds_total");
    let x = 0;
    for (let i = 0; i < 2e6; i++) x += Math.sqrt(i);
    expect(x).toBeGreaterThan(0);
    expect(await value("process_cpu_seconds_total")).toBeGreaterThan(cpu0);
  });
});
