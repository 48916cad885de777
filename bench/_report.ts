import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../src/util/paths.js";
import { cpus, totalmem } from "node:os";

/** Shared by the benchmarks: summary statistics and the JSON result file. */

export function summary(samples: readonly number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => quantile(s, q);
  return {
    n: s.length,
    min: s[0] ?? NaN,
    p50: at(0.5),
    p99: at(0.99),
    max: s[s.length - 1] ?? NaN,
  };
}

/** The q-quantile (nearest rank) of samples already sorted ascending; NaN when empty. */
export function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
}

/** Writes bench/results/<name>.json (next to the sources, not the compiled output). */
export function writeResult(name: string, result: object): string {
  const dir = join(packageRoot(), "bench", "results") + "/";
  mkdirSync(dir, { recursive: true });
  const file = `${dir}${name}.json`;
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
  writeFileSync(
    file,
    JSON.stringify({ name, at: new Date().toISOString(), machine, ...result }, null, 2) + "\n",
  );
  return file;
}
