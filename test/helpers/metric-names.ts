import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Registry, collectDefaultMetrics } from "prom-client";
import { processMetrics } from "../../src/observability/prom-lite.js";
import { packageRoot } from "../../src/util/paths.js";

// The metric names barelb exports, read from the code: the docs, the dashboard and the alert
// rules are checked against them, so a renamed metric fails their tests.

/** Every metric name written as a string literal in src/ ("barelb_..."), where metrics are defined. */
export function metricNamesInSource(): Set<string> {
  const root = packageRoot();
  const names = new Set<string>();
  const files = readdirSync(join(root, "src"), { recursive: true, encoding: "utf8" });
  for (const f of files.filter((f) => f.endsWith(".ts"))) {
    const text = readFileSync(join(root, "src", f), "utf8");
    for (const m of text.matchAll(/"(barelb_[a-z0-9_]*[a-z0-9])"/g)) names.add(m[1] ?? "");
  }
  return names;
}

/** The metric names a registry renders (its `# HELP` lines). */
export async function registryMetricNames(registry: Registry): Promise<string[]> {
  const text = await registry.metrics();
  return [...text.matchAll(/^# HELP (\S+)/gm)].map((m) => m[1] ?? "");
}

/** The speaker's process metrics (barelb_speaker_process_…), rendered by prom-lite. */
export async function speakerProcessMetricNames(): Promise<string[]> {
  const speaker = new Registry();
  processMetrics(speaker, "barelb_speaker_");
  return registryMetricNames(speaker);
}

/** Every metric either program exports: src/'s, and both programs' process metrics. */
export async function exportedMetricNames(): Promise<Set<string>> {
  const controller = new Registry();
  collectDefaultMetrics({ register: controller, prefix: "barelb_controller_" });
  return new Set([
    ...metricNamesInSource(),
    ...(await speakerProcessMetricNames()),
    ...(await registryMetricNames(controller)),
  ]);
}
