import { describe, expect, it } from "vitest";
import type { V1ConfigMap } from "@kubernetes/client-node";
import { LastGoodConfig, summarize, type ConfigStep } from "../../../src/adapters/pool-config.js";

const GOOD = "address-pools:\n- name: a\n  protocol: layer2\n  addresses: [192.0.2.0/28]\n";
const OTHER = "address-pools:\n- name: b\n  protocol: layer2\n  addresses: [198.51.100.0/28]\n";
const BAD = "address-pools:\n- name: a\n  protocol: layer2\n  addresses: [not-an-ip]\n";

const cm = (data: Record<string, string> | undefined): V1ConfigMap => ({
  metadata: { name: "barelb-config", namespace: "barelb-system" },
  ...(data === undefined ? {} : { data }),
});

/** What a sequence of ConfigMaps does: each step's kind, the pools in force, the stale reason. */
function run(seq: (V1ConfigMap | undefined)[]) {
  const keeper = new LastGoodConfig("barelb-system", "barelb-config");
  return seq.map((c) => {
    const step: ConfigStep = keeper.observe(c);
    return {
      kind: step.kind,
      pools: keeper.config?.pools.map((p) => p.name) ?? null,
      stale: keeper.stale,
    };
  });
}

describe("LastGoodConfig", () => {
  it("loads a good config and is not stale", () => {
    expect(run([cm({ config: GOOD })])).toEqual([{ kind: "loaded", pools: ["a"], stale: null }]);
  });

  it.each([
    ["a refused edit", cm({ config: BAD }), /addresses/],
    ["a ConfigMap without the config key", cm({ other: "x" }), /has no data key "config"/],
    ["a ConfigMap without data", cm(undefined), /has no data key "config"/],
    ["a deleted ConfigMap", undefined, /barelb-system\/barelb-config was deleted/],
  ])("keeps the last good config after %s, and says why it is stale", (_what, next, why) => {
    const [, after] = run([cm({ config: GOOD }), next]);
    expect(after?.kind).toBe("refused");
    expect(after?.pools).toEqual(["a"]);
    expect(after?.stale).toMatch(why);
  });

  it("has no config, and is stale, when the first ConfigMap is refused", () => {
    expect(run([cm({ config: BAD })])[0]).toMatchObject({ kind: "refused", pools: null });
    expect(run([cm({ config: BAD })])[0]?.stale).not.toBeNull();
  });

  it("an empty config is a config (no pools), unlike a missing key", () => {
    const steps = run([cm({ config: GOOD }), cm({ config: "address-pools: []\n" })]);
    expect(steps[1]).toEqual({ kind: "loaded", pools: [], stale: null });
  });

  it("the text in force coming back clears stale without reloading", () => {
    const steps = run([cm({ config: GOOD }), cm({ config: BAD }), cm({ config: GOOD })]);
    expect(steps.map((s) => s.kind)).toEqual(["loaded", "refused", "same"]);
    expect(steps[2]).toEqual({ kind: "same", pools: ["a"], stale: null });
  });

  it("a recreated ConfigMap with a new config replaces the one in force", () => {
    const steps = run([cm({ config: GOOD }), undefined, cm({ config: OTHER })]);
    expect(steps.map((s) => [s.kind, s.pools, s.stale === null])).toEqual([
      ["loaded", ["a"], true],
      ["refused", ["a"], false],
      ["loaded", ["b"], true],
    ]);
  });

  it("a resync of the same ConfigMap is not a reload", () => {
    const steps = run([cm({ config: GOOD }), cm({ config: GOOD })]);
    expect(steps.map((s) => s.kind)).toEqual(["loaded", "same"]);
  });
});

describe("summarize", () => {
  it("joins up to ten errors and counts the rest", () => {
    expect(summarize(["a", "b"])).toBe("a; b");
    const many = Array.from({ length: 13 }, (_, i) => `e${i}`);
    expect(summarize(many)).toBe("e0; e1; e2; e3; e4; e5; e6; e7; e8; e9; and 3 more");
  });
});
