import { describe, expect, it } from "vitest";
import {
  decodeControl,
  encodeControl,
  openSession,
  sessionParameters,
  step,
  type Input,
  type Notice,
  type SessionConfig,
  type Step,
} from "../../../src/bfd/index.js";

/**
 * Two sessions on a virtual clock (microseconds), exchanging packets through the codec with a
 * fixed one-way delay, each drawing its jitter from its own seeded generator: what the edge
 * will do with a socket and a timer, without either. `stop` ends a node the way SIGKILL does:
 * it neither sends nor receives again.
 */

const MS = 1000;
const DELAY = 200; // µs, one way

/** A small deterministic generator in [0, 1) (mulberry32). */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

interface Node {
  readonly name: string;
  step: Step;
  alive: boolean;
  readonly random: () => number;
  readonly log: { at: number; notice: Notice }[];
}

class Sim {
  now = 0;
  readonly nodes: Node[] = [];
  private wire: { at: number; to: Node; bytes: Uint8Array }[] = [];

  add(name: string, config: SessionConfig, seed: number): Node {
    const random = seeded(seed);
    const node: Node = {
      name,
      step: openSession(config, this.now, random()),
      alive: true,
      random,
      log: [],
    };
    this.nodes.push(node);
    this.after(node);
    return node;
  }

  stop(node: Node): void {
    node.alive = false;
  }

  /** Runs every event up to `until`, in time order. */
  run(until: number): void {
    for (;;) {
      const due = [
        ...this.wire.map((w) => w.at),
        ...this.nodes.filter((n) => n.alive).map((n) => n.step.deadline ?? Infinity),
      ];
      const next = Math.min(...due);
      if (next > until) break;
      this.now = next;
      const arriving = this.wire.filter((w) => w.at <= next);
      this.wire = this.wire.filter((w) => w.at > next);
      for (const w of arriving) {
        if (!w.to.alive) continue;
        const decoded = decodeControl(w.bytes);
        if (!decoded.ok) throw new Error(decoded.detail);
        this.input(w.to, { kind: "packet", packet: decoded.packet });
      }
      for (const n of this.nodes) {
        if (n.alive && n.step.deadline !== undefined && n.step.deadline <= next) {
          this.input(n, { kind: "timer" });
        }
      }
    }
    this.now = until;
  }

  private input(node: Node, input: Input): void {
    node.step = step(node.step.session, input, this.now, node.random());
    this.after(node);
  }

  private after(node: Node): void {
    for (const notice of node.step.notices) node.log.push({ at: this.now, notice });
    for (const packet of node.step.send) {
      for (const to of this.nodes) {
        if (to !== node) this.wire.push({ at: this.now + DELAY, to, bytes: encodeControl(packet) });
      }
    }
  }
}

/** MetalLB's default profile: 300 ms each way, multiplier 3. */
const defaults = sessionParameters(undefined).parameters;
const config = (localDiscriminator: number, passive = false): SessionConfig => ({
  ...defaults,
  localDiscriminator,
  passive,
});

describe("BFD: two sessions on a virtual clock", () => {
  it.each([
    ["both active", false, 1],
    ["one passive", true, 2],
    ["another seed", false, 3],
  ])("%s: both come Up; one stops and the other is Down within 3 × 300 ms", (_n, passive, seed) => {
    const sim = new Sim();
    // a's first packet leaves before b exists; a passive b waits for a's next one (≤ 1 s,
    // the slow rate while not Up), an active b starts the handshake itself.
    const a = sim.add("a", config(0x1111, false), seed);
    const b = sim.add("b", config(0x2222, passive), seed * 7);
    sim.run(passive ? 1100 * MS : 10 * MS);
    expect(a.step.session.state).toBe("Up");
    expect(b.step.session.state).toBe("Up");
    expect(a.log.map((l) => l.notice)).toEqual([{ kind: "up" }]);

    // Steady state: the Poll Sequences are done and the timers run at 300 ms.
    sim.run(5000 * MS);
    for (const n of [a, b]) {
      expect(n.step.session.polling).toBe(false);
      expect(n.step.session.advertised.desiredMinTxUs).toBe(300 * MS);
      expect(n.log).toHaveLength(1);
    }

    const stoppedAt = sim.now;
    sim.stop(a);
    sim.run(stoppedAt + 2000 * MS);
    const down = b.log.at(-1);
    expect(down?.notice).toEqual({ kind: "down", diagnostic: 1 });
    const detectedAfter = (down?.at ?? Infinity) - stoppedAt;
    expect(detectedAfter).toBeGreaterThan(0);
    expect(detectedAfter).toBeLessThanOrEqual(900 * MS);
    expect(b.step.session.state).toBe("Down");
  });

  it("comes back Up when the stopped side starts again (a new discriminator)", () => {
    const sim = new Sim();
    const a = sim.add("a", config(0x1111), 5);
    const b = sim.add("b", config(0x2222), 6);
    sim.run(1000 * MS);
    sim.stop(a);
    sim.run(3000 * MS);
    expect(b.step.session.state).toBe("Down");
    sim.add("a again", config(0x3333), 7);
    sim.run(6000 * MS);
    expect(b.step.session.state).toBe("Up");
    expect(b.step.session.remoteDiscr).toBe(0x3333);
  });
});
