import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

import { runCli } from "../../../src/cli/run.js";
import { extractConfigText, parseConfig } from "../../../src/config/index.js";

// `barelb config import metallb` through the whole CLI (runCli), with stdin, stdout and
// stderr captured: files, stdin, a kubectl List, warnings and the --strict exit code.

const fixtures = join(import.meta.dirname, "../../fixtures/metallb");
const fixture = (name: string) => join(fixtures, name);
const dir = mkdtempSync(join(tmpdir(), "barelb-import-"));

async function run(args: string[], stdin = "") {
  let out = "";
  let err = "";
  const code = await runCli(["node", "barelb", "config", "import", "metallb", ...args], {
    writeOut: (s) => (out += s),
    writeErr: (s) => (err += s),
    readStdin: () => Promise.resolve(stdin),
  });
  return { code, out, err };
}

/** What the controller would read from the printed ConfigMap. */
function poolsOf(manifest: string): string[] {
  const extracted = extractConfigText(manifest);
  if (!extracted.ok) throw new Error("no config in the output");
  const parsed = parseConfig(extracted.text);
  if (!parsed.ok) throw new Error(parsed.errors.map((e) => e.message).join("\n"));
  return parsed.config.pools.map((p) => p.name);
}

describe("barelb config import metallb", () => {
  it("reads files, prints the ConfigMap on stdout and nothing on stderr when all maps", async () => {
    const r = await run([fixture("l2-basic.yaml"), fixture("l2-node-selectors.yaml")]);
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
    expect(r.out).toMatch(/^kind: ConfigMap$/m);
    expect(r.out).toMatch(/^ {2}name: barelb-config$/m);
    expect(r.out).toMatch(/^ {2}namespace: barelb-system$/m);
    expect(poolsOf(r.out)).toEqual(["first-pool", "rack-pool"]);
  });

  it("reads stdin with no file, and for -", async () => {
    const text = readFileSync(fixture("l2-basic.yaml"), "utf8");
    for (const args of [[], ["-"]]) {
      const r = await run(args, text);
      expect(r.code).toBe(0);
      expect(poolsOf(r.out)).toEqual(["first-pool"]);
    }
  });

  it("reads a kubectl List; a warning line per part without an equivalent, exit 0", async () => {
    const r = await run([fixture("kubectl-list.yaml")]);
    expect(r.code).toBe(0);
    expect(poolsOf(r.out)).toEqual(["default"]);
    const lines = r.err.trimEnd().split("\n");
    expect(lines[0]).toMatch(
      /^warning: L2Advertisement metallb-system\/default: spec\.serviceSelectors: not supported/,
    );
    expect(lines[1]).toMatch(/^1 part of the MetalLB configuration had no barelb equivalent/);
  });

  it("--strict: the same output, exit 2, when anything had no equivalent", async () => {
    const plain = await run([fixture("bgp-partial.yaml")]);
    const strict = await run(["--strict", fixture("bgp-partial.yaml")]);
    expect(plain.code).toBe(0);
    expect(strict.code).toBe(2);
    expect(strict.out).toBe(plain.out);
    expect(poolsOf(strict.out)).toEqual(["pool1", "both"]);
    expect(strict.err.split("\n").filter((l) => l.startsWith("warning: "))).toHaveLength(5);
    // BGP objects with an exact v0.12 form: nothing to warn about.
    expect((await run(["--strict", fixture("bgp.yaml")])).code).toBe(0);
    // Nothing to warn about: --strict exits 0.
    expect((await run(["--strict", fixture("l2-basic.yaml")])).code).toBe(0);
  });

  it("a legacy ConfigMap barelb reads as is is printed unchanged inside barelb-config", async () => {
    const r = await run(["--strict", fixture("legacy-configmap.yaml")]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("198.51.100.50-198.51.100.60 # a range");
    expect(poolsOf(r.out)).toEqual(["default"]);
  });

  it("prints nothing and exits 1 when the result would not validate or a file cannot be read", async () => {
    const overlapping = join(dir, "overlap.yaml");
    writeFileSync(
      overlapping,
      [
        "kind: IPAddressPool\nmetadata: {name: a, namespace: metallb-system}\nspec: {addresses: [192.0.2.0/28]}",
        "kind: IPAddressPool\nmetadata: {name: b, namespace: metallb-system}\nspec: {addresses: [192.0.2.0/29]}",
        "kind: L2Advertisement\nmetadata: {name: l2, namespace: metallb-system}",
      ].join("\n---\n"),
    );
    const bad = await run([overlapping]);
    expect(bad.code).toBe(1);
    expect(bad.out).toBe("");
    expect(bad.err).toMatch(/^error: the imported config is not valid: pool "b": addresses\[0\]/m);

    const missing = await run([join(dir, "missing.yaml")]);
    expect(missing.code).toBe(1);
    expect(missing.out).toBe("");
    expect(missing.err).toMatch(/^error: cannot read .*missing\.yaml: ENOENT/);
  });
});
