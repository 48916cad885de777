import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../../src/util/paths.js";
import { prereqs } from "../../helpers/prereq.js";

// The router configurations docs/bgp.md gives users are checked by the routers' own parsers
// (BIRD's `bird -p`, FRR's `vtysh --dryrun`), so a typo in the docs fails here. Both parsers
// only read the file: nothing is started.

const doc = readFileSync(join(packageRoot(), "docs", "bgp.md"), "utf8");

/** The fenced blocks that follow a heading starting with `heading`. */
function blockUnder(heading: string): string {
  const at = doc.indexOf(`### ${heading}`);
  if (at < 0) throw new Error(`docs/bgp.md has no "### ${heading}"`);
  const m = /```[a-z]*\n([\s\S]*?)```/.exec(doc.slice(at));
  if (m?.[1] === undefined) throw new Error(`no code block under "### ${heading}"`);
  return m[1];
}

describe.runIf(prereqs("router examples in docs/bgp.md", ["bird", "vtysh"]))(
  "docs/bgp.md's router examples",
  () => {
    const dir = mkdtempSync(join(tmpdir(), "barelb-docs-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("BIRD 2 parses the BIRD example", () => {
      const file = join(dir, "bird.conf");
      writeFileSync(file, `router id 192.168.1.1;\n${blockUnder("BIRD 2")}`);
      expect(() => execFileSync("bird", ["-p", "-c", file], { stdio: "pipe" })).not.toThrow();
    });

    it("FRR parses the FRR example", () => {
      const file = join(dir, "frr.conf");
      writeFileSync(file, blockUnder("FRR"));
      expect(() =>
        execFileSync("vtysh", ["--dryrun", "-f", file], { stdio: "pipe", timeout: 20_000 }),
      ).not.toThrow();
    });

    it("a broken line is refused by both (the checks can fail)", () => {
      const bird = join(dir, "bad-bird.conf");
      writeFileSync(bird, `${blockUnder("BIRD 2")}\nprotocol bgp x { neighbr 192.0.2.1; }\n`);
      expect(() => execFileSync("bird", ["-p", "-c", bird], { stdio: "pipe" })).toThrow();
      const frr = join(dir, "bad-frr.conf");
      writeFileSync(frr, `${blockUnder("FRR")}router bgp 64512\n neighbr 192.0.2.1\n`);
      expect(() =>
        execFileSync("vtysh", ["--dryrun", "-f", frr], { stdio: "pipe", timeout: 20_000 }),
      ).toThrow();
    });
  },
);
