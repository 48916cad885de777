import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { reasonCodes } from "../../../src/allocator/reasons.js";
import { SETUP_WARNING_KINDS } from "../../../src/controller/setup-warnings.js";
import { buildProgram, type Actions } from "../../../src/cli/program.js";
import {
  exportedMetricNames,
  metricNamesInSource,
  speakerProcessMetricNames,
} from "../../helpers/metric-names.js";
import { ADVERTISEMENT_KEYS, BFD_PROFILE_KEYS, PEER_KEYS } from "../../../src/config/bgp.js";
import { parseConfig } from "../../../src/config/index.js";
import { fencedBlocks, markedTable, read, root } from "./markdown.js";

// Facts of the manual that the code decides, read from the code: a page that drifts from it
// fails here, so the change that moved the code updates the page too.

/** Every `barelb_…` metric name written in a page's code spans (not prefixes, `barelb_x_`). */
function namesIn(text: string): Set<string> {
  return new Set([...text.matchAll(/`(barelb_[a-z0-9_]*[a-z0-9])[`{]/g)].map((m) => m[1] ?? ""));
}

describe("docs/development.md", () => {
  it("names every folder of src/ (and src/log.ts) in its layout table", () => {
    const page = read("docs/development.md");
    const start = page.indexOf("### `src/`, folder by folder");
    const text = page.slice(start, page.indexOf("\n#", start + 1));
    const entries = readdirSync(join(root, "src"), { withFileTypes: true })
      .map((e) => (e.isDirectory() ? `src/${e.name}/` : `src/${e.name}`))
      .filter((e) => e.endsWith("/") || e.endsWith(".ts"));
    expect(entries.length).toBeGreaterThan(5);
    const rows = new Set([...text.matchAll(/^\| `(src\/[^`]*)`/gm)].map((m) => m[1] ?? ""));
    expect(entries.filter((e) => !rows.has(e))).toEqual([]);
    expect([...rows].filter((r) => !entries.includes(r))).toEqual([]);
  });
});

describe("docs/observability.md", () => {
  const documented = namesIn(read("docs/observability.md"));
  const defined = metricNamesInSource();

  it("lists every barelb_ metric defined in src/, and the speaker's process metrics", async () => {
    const exported = [...defined, ...(await speakerProcessMetricNames())];
    expect(exported).toContain("barelb_speaker_announced");
    expect(exported).toContain("barelb_config_stale");
    expect(exported.filter((n) => !documented.has(n))).toEqual([]);
  });

  it("lists every Event reason the programs write in its Events table", () => {
    const text = read("docs/observability.md");
    const section = text.slice(text.indexOf("## Events"), text.indexOf("## Conditions"));
    const table = new Set([...section.matchAll(/^\| `([A-Za-z]+)`/gm)].map((m) => m[1] ?? ""));
    // Reasons written as literals beside their type, the speakers' ownership Events, and the
    // setup warnings (written under their kind).
    const written = new Set<string>(SETUP_WARNING_KINDS);
    const files = readdirSync(join(root, "src"), { recursive: true, encoding: "utf8" });
    for (const f of files.filter((f) => f.endsWith(".ts"))) {
      const code = readFileSync(join(root, "src", f), "utf8");
      for (const m of code.matchAll(/"(?:Normal|Warning)",\s*"([A-Za-z]+)"/g))
        written.add(m[1] ?? "");
    }
    const ownership = read("src/speaker/ownership.ts");
    for (const m of ownership.matchAll(/reason: "([A-Za-z]+)"/g)) written.add(m[1] ?? "");
    expect(written).toContain("ForeignLoadBalancer");
    expect(written).toContain("nodeAssigned");
    expect([...written].filter((r) => !table.has(r))).toEqual([]);
  });

  it("names no metric that does not exist", async () => {
    const exported = await exportedMetricNames();
    expect([...documented].filter((n) => !exported.has(n))).toEqual([]);
  });
});

describe("docs/services.md", () => {
  it("lists exactly the reason codes of the catalogue (and the adapter's own)", () => {
    const text = read("docs/services.md");
    const section = text.slice(text.indexOf("## Why a Service has no IP"));
    const table = [...section.matchAll(/^\| `([A-Za-z]+)`/gm)].map((m) => m[1] ?? "");
    // InvalidServiceRequest: the Service adapter's refusal (src/controller/service-controller.ts).
    expect(new Set(table)).toEqual(new Set([...reasonCodes, "InvalidServiceRequest"]));
  });
});

describe("docs/failover.md", () => {
  const noop = () => Promise.resolve();
  const actions: Actions = {
    controller: noop,
    speaker: noop,
    labUp: noop,
    labDown: noop,
    labList: noop,
    labDemo: noop,
    configValidate: () => Promise.resolve(0),
    configImportMetallb: () => Promise.resolve(0),
    status: () => Promise.resolve(0),
  };
  const program = buildProgram(actions, "0.0.0");
  const text = read("docs/failover.md");

  it.each(["speaker", "controller"])("gives the %s's flags and defaults as its --help", (name) => {
    const command = program.commands.find((c) => c.name() === name);
    const rows = markedTable(text, name);
    expect(rows.length, `a <!-- flags: ${name} --> table`).toBeGreaterThan(0);
    for (const [flagCell = "", defaultCell = ""] of rows) {
      const flag = /^`(--[a-z-]+)`$/.exec(flagCell)?.[1];
      expect(flag, `a flag in "${flagCell}"`).toBeDefined();
      const option = command?.options.find((o) => o.long === flag);
      expect(option, `barelb ${name} ${flag ?? ""}`).toBeDefined();
      // Durations show their text ("10s"); ports and the like their value.
      const value: unknown = option?.defaultValue;
      const def =
        option?.defaultValueDescription ??
        (typeof value === "number" || typeof value === "string" ? String(value) : "");
      expect(defaultCell, `the default of barelb ${name} ${flag ?? ""}`).toBe(
        option?.negate === true ? "" : def,
      );
    }
  });
});

describe("docs/configuration.md, BGP settings", () => {
  const page = read("docs/configuration.md");
  const start = page.indexOf("## BGP settings\n");
  const section = page.slice(start, page.indexOf("\n## ", start + 1));
  const example = fencedBlocks(section).find((b) => b.info === "yaml")?.body ?? "";

  it("has an example that is accepted as written and uses every BGP key", () => {
    expect(start).toBeGreaterThan(0);
    const r = parseConfig(example);
    expect(r.ok ? [] : r.errors.map((e) => e.message)).toEqual([]);
    for (const key of [...PEER_KEYS, ...BFD_PROFILE_KEYS, ...ADVERTISEMENT_KEYS]) {
      expect(example).toMatch(new RegExp(`^\\s*(- )?${key}:`, "m"));
    }
  });
});
