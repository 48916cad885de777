import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeMessage, MessageStream, type Message } from "../../../src/bgp/index.js";
import { message } from "./arbitraries.js";

const keepalive = encodeMessage({ type: "keepalive" });
const refresh = encodeMessage({ type: "route-refresh", afi: 1, safi: 1 });

describe("MessageStream", () => {
  it("waits for the rest of a message cut anywhere", () => {
    const s = new MessageStream();
    expect(s.push(refresh.subarray(0, 5))).toEqual([]);
    expect(s.push(refresh.subarray(5, 20))).toEqual([]);
    expect(s.pending).toBe(20);
    expect(s.push(refresh.subarray(20))).toEqual([
      { ok: true, value: { type: "route-refresh", afi: 1, safi: 1 } },
    ]);
    expect(s.pending).toBe(0);
  });

  it("returns several messages of one chunk in order, keeping a partial tail", () => {
    const s = new MessageStream();
    const chunk = Buffer.concat([keepalive, refresh, keepalive.subarray(0, 3)]);
    expect(s.push(chunk).map((r) => r.ok && r.value.type)).toEqual(["keepalive", "route-refresh"]);
    expect(s.pending).toBe(3);
    expect(s.push(keepalive.subarray(3))).toHaveLength(1);
  });

  it("a bad marker is 1/1 as soon as the header is in, and the stream stays broken", () => {
    const s = new MessageStream();
    const bad = Buffer.from(keepalive);
    bad[3] = 0;
    const [r] = s.push(Buffer.concat([keepalive, bad]).subarray(0, 19 + 19));
    expect(r).toEqual({ ok: true, value: { type: "keepalive" } });
    const s2 = new MessageStream();
    expect(s2.push(bad)).toMatchObject([{ ok: false, error: { code: 1, subcode: 1 } }]);
    expect(s2.push(keepalive)).toEqual([]);
  });

  it("a length out of range is 1/2 before the body is awaited", () => {
    const bad = Buffer.from(keepalive);
    bad.writeUInt16BE(5000, 16);
    const [r] = new MessageStream().push(bad);
    expect(r).toMatchObject({ ok: false, error: { code: 1, subcode: 2 } });
  });

  it("any messages, cut at any points, come out as they went in", () => {
    fc.assert(
      fc.property(
        fc.array(message, { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (messages, cuts) => {
          const bytes = Buffer.concat(messages.map(encodeMessage));
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort(
            (a, b) => a - b,
          );
          const s = new MessageStream();
          const out: Message[] = [];
          let from = 0;
          for (const p of [...points, bytes.length]) {
            for (const r of s.push(bytes.subarray(from, p))) {
              if (!r.ok) throw new Error(r.error.reason);
              out.push(r.value);
            }
            from = p;
          }
          expect(out).toEqual(messages);
          expect(s.pending).toBe(0);
        },
      ),
      { numRuns: 500 },
    );
  });
});
