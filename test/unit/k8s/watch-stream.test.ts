import { describe, expect, it } from "vitest";
import {
  eventResourceVersion,
  LineSplitter,
  parseWatchEvent,
} from "../../../src/k8s/watch-stream.js";

// The watch stream is newline-delimited JSON, but the socket cuts it anywhere.

const ev = (type: string, object: unknown) => JSON.stringify({ type, object }) + "\n";

describe("watch stream parsing", () => {
  it("joins lines split across chunks, even mid-character", () => {
    const text =
      ev("ADDED", { metadata: { name: "café", resourceVersion: "5" } }) +
      ev("BOOKMARK", { metadata: { resourceVersion: "9" } });
    const bytes = Buffer.from(text);
    // Every split point, including inside the two-byte "é".
    for (let cut = 0; cut <= bytes.length; cut++) {
      const s = new LineSplitter();
      const lines = [...s.push(bytes.subarray(0, cut)), ...s.push(bytes.subarray(cut))];
      expect(lines.map((l) => parseWatchEvent(l).type)).toEqual(["ADDED", "BOOKMARK"]);
      expect(parseWatchEvent<{ metadata: { name: string } }>(lines[0] ?? "")).toMatchObject({
        object: { metadata: { name: "café" } },
      });
      expect(s.buffered).toBe(0);
    }
  });

  it("delivers lines one byte at a time and holds an unfinished line", () => {
    const s = new LineSplitter();
    const text = ev("MODIFIED", { metadata: { resourceVersion: "7" } }) + '{"type":"DEL';
    const lines: string[] = [];
    for (const b of Buffer.from(text)) lines.push(...s.push(Buffer.from([b])));
    expect(lines).toHaveLength(1);
    expect(s.buffered).toBe('{"type":"DEL'.length);
  });

  it("skips blank lines and handles several events in one chunk", () => {
    const s = new LineSplitter();
    const chunk = Buffer.from(ev("ADDED", { a: 1 }) + "\n\r\n" + ev("DELETED", { a: 2 }));
    expect(s.push(chunk).map((l) => parseWatchEvent(l).type)).toEqual(["ADDED", "DELETED"]);
  });

  it("reads resourceVersions from objects and bookmarks, none from errors", () => {
    const added = parseWatchEvent(ev("ADDED", { metadata: { resourceVersion: "12" } }));
    const bookmark = parseWatchEvent(ev("BOOKMARK", { metadata: { resourceVersion: "40" } }));
    const gone = parseWatchEvent(
      ev("ERROR", {
        kind: "Status",
        status: "Failure",
        message: "too old resource version: 1 (93)",
        reason: "Expired",
        code: 410,
      }),
    );
    expect(eventResourceVersion(added)).toBe("12");
    expect(eventResourceVersion(bookmark)).toBe("40");
    expect(gone.type).toBe("ERROR");
    expect(gone.type === "ERROR" && gone.object.code).toBe(410);
    expect(eventResourceVersion(gone)).toBeUndefined();
  });

  it("refuses what is not a watch event", () => {
    expect(() => parseWatchEvent("{not json")).toThrow(/not JSON/);
    expect(() => parseWatchEvent('{"type":"SYNC","object":{}}')).toThrow(/unknown watch event/);
    expect(() => parseWatchEvent('{"type":"ADDED"}')).toThrow(/has no object/);
    expect(() => parseWatchEvent("42")).toThrow(/not an object/);
  });
});
