import { describe, expect, it } from "vitest";
import { BFD_PROFILE_DEFAULTS, sessionParameters } from "../../../src/bfd/index.js";
import { parseConfig } from "../../../src/config/index.js";
import type { BfdProfile } from "../../../src/config/types.js";

const profile = (p: Partial<BfdProfile>): BfdProfile => ({
  name: "fast",
  receiveInterval: undefined,
  transmitInterval: undefined,
  detectMultiplier: undefined,
  echoInterval: undefined,
  echoMode: false,
  passiveMode: false,
  minimumTtl: undefined,
  ...p,
});

describe("BFD profiles to session parameters", () => {
  it.each<[string, BfdProfile | undefined, object, number]>([
    [
      "no profile: MetalLB's defaults, 300 ms each way, multiplier 3",
      undefined,
      { desiredMinTxUs: 300_000, requiredMinRxUs: 300_000, detectMult: 3, passive: false },
      0,
    ],
    [
      "a profile with nothing set: the same",
      profile({}),
      { desiredMinTxUs: 300_000, requiredMinRxUs: 300_000, detectMult: 3, passive: false },
      0,
    ],
    [
      "milliseconds to microseconds, each field to its own",
      profile({
        receiveInterval: 50,
        transmitInterval: 100,
        detectMultiplier: 5,
        passiveMode: true,
      }),
      { desiredMinTxUs: 100_000, requiredMinRxUs: 50_000, detectMult: 5, passive: true },
      0,
    ],
    [
      "echo-mode: said to be unsupported",
      profile({ echoMode: true, echoInterval: 20 }),
      { desiredMinTxUs: 300_000 },
      1,
    ],
    ["minimum-ttl: said to apply to multi-hop only", profile({ minimumTtl: 254 }), {}, 1],
  ])("%s", (_name, p, parameters, unsupported) => {
    const r = sessionParameters(p);
    expect(r.parameters).toMatchObject(parameters);
    expect(r.unsupported).toHaveLength(unsupported);
    for (const line of r.unsupported) expect(line).toMatch(/^bfd-profiles fast: /);
  });

  it("the defaults are MetalLB's", () => {
    expect(BFD_PROFILE_DEFAULTS).toMatchObject({
      receiveIntervalMs: 300,
      transmitIntervalMs: 300,
      detectMultiplier: 3,
      echoIntervalMs: 50,
      minimumTtl: 254,
    });
  });

  it("takes what the config parser gives", () => {
    const r = parseConfig(
      [
        "bfd-profiles:",
        "  - name: fast",
        "    receive-interval: 100",
        "    transmit-interval: 150",
        "    detect-multiplier: 4",
        "    passive-mode: true",
        "address-pools:",
        "  - name: l2",
        "    protocol: layer2",
        "    addresses: [192.0.2.0/28]",
      ].join("\n"),
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(sessionParameters(r.config.bfdProfiles[0]).parameters).toEqual({
      desiredMinTxUs: 150_000,
      requiredMinRxUs: 100_000,
      detectMult: 4,
      passive: true,
    });
  });
});
