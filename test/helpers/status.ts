import { expect } from "vitest";
import { runCli } from "../../src/cli/run.js";
import type { StatusReport } from "../../src/status/explain.js";

/** `barelb status -o json` as a user runs it (the CLI's parsing, client and output). */
export async function statusReport(kubeconfig: string, ...args: string[]): Promise<StatusReport> {
  let out = "";
  let err = "";
  const code = await runCli(
    ["node", "barelb", "status", "--kubeconfig", kubeconfig, "-o", "json", ...args],
    { writeOut: (s) => (out += s), writeErr: (s) => (err += s) },
  );
  expect(err).toBe("");
  expect(code).toBe(0);
  return JSON.parse(out) as StatusReport;
}
