import pino from "pino";
import { describe, expect, it } from "vitest";
import type { EventSink, EventTarget, EventType } from "../../../src/k8s/events.js";
import { NodeWarner } from "../../../src/speaker/node-warner.js";
import type { HostFacts } from "../../../src/speaker/node-warnings.js";

// The reporting around the checks, with recording fakes of its ports: what is said when, in
// order, as the host's facts change.

const node: EventTarget = { kind: "Node", apiVersion: "v1", namespace: "", name: "n1", uid: "u1" };
const wired: HostFacts = {
  ipvsAddresses: null,
  arpIgnoreAll: 0,
  interfaces: [{ name: "eth0", arpIgnore: 0, wireless: false, promiscuous: false }],
  lbIPs: new Set(),
};
const ipvs: HostFacts = { ...wired, ipvsAddresses: ["192.0.2.40"], lbIPs: new Set(["192.0.2.40"]) };
const ipvsTwo: HostFacts = {
  ...ipvs,
  ipvsAddresses: ["192.0.2.40", "192.0.2.41"],
  lbIPs: new Set(["192.0.2.40", "192.0.2.41"]),
};

function harness() {
  let facts: HostFacts | Error = wired;
  let clock = 0;
  const events: { type: EventType; reason: string; target: string }[] = [];
  const gauges = new Map<string, number>();
  let annotation: string | undefined;
  const sink: EventSink = {
    emit: (target, type, reason) => events.push({ type, reason, target: target.name }),
  };
  const warner = new NodeWarner({
    read: () => (facts instanceof Error ? Promise.reject(facts) : Promise.resolve(facts)),
    intervalMs: 3_600_000,
    events: sink,
    node,
    gauge: (kind, value) => gauges.set(kind, value),
    publish: (value) => (annotation = value),
    log: pino({ level: "silent" }),
    sayAgainMs: 1_000,
    now: () => clock,
  });
  return {
    warner,
    events,
    gauges,
    annotation: () => annotation,
    set: (f: HostFacts | Error) => (facts = f),
    tick: (ms: number) => (clock += ms),
  };
}

describe("NodeWarner", () => {
  it("says a warning once, again when it changes or is due, and clears", async () => {
    const h = harness();
    const steps: { facts: HostFacts | Error; advance?: number; events: number; ipvs: number }[] = [
      { facts: wired, events: 0, ipvs: 0 },
      { facts: ipvs, events: 1, ipvs: 1 },
      { facts: ipvs, advance: 500, events: 1, ipvs: 1 }, // still there: not said again yet
      { facts: ipvsTwo, events: 2, ipvs: 1 }, // another message: said
      { facts: new Error("read failed"), events: 2, ipvs: 1 }, // keeps the last findings
      { facts: ipvsTwo, advance: 1_000, events: 3, ipvs: 1 }, // due again
      { facts: wired, events: 3, ipvs: 0 },
      { facts: ipvs, events: 4, ipvs: 1 }, // back: said at once
    ];
    for (const [i, s] of steps.entries()) {
      h.set(s.facts);
      h.tick(s.advance ?? 0);
      await h.warner.check();
      expect(h.events.length, `step ${i}`).toBe(s.events);
      expect(h.gauges.get("KubeProxyIPVSWithoutStrictARP"), `step ${i}`).toBe(s.ipvs);
      expect(h.gauges.get("WirelessInterface"), `step ${i}`).toBe(0);
      const kinds = (JSON.parse(h.annotation() ?? "null") as { kind: string }[]).map((w) => w.kind);
      expect(kinds, `step ${i}`).toEqual(s.ipvs === 1 ? ["KubeProxyIPVSWithoutStrictARP"] : []);
    }
    expect(new Set(h.events.map((e) => `${e.type} ${e.reason} ${e.target}`))).toEqual(
      new Set(["Warning KubeProxyIPVSWithoutStrictARP n1"]),
    );
    h.warner.stop();
  });

  it("a check asked for during a check runs once more after it", async () => {
    const h = harness();
    h.set(ipvs);
    const first = h.warner.check();
    h.set(wired);
    const second = h.warner.check();
    await Promise.all([first, second]);
    expect(h.gauges.get("KubeProxyIPVSWithoutStrictARP")).toBe(0);
    expect(h.warner.current()).toEqual([]);
    h.warner.stop();
  });
});
