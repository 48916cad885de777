import type { Status } from "./api.js";

/**
 * The wire format of a watch: one JSON event per line. Chunks from the socket may end
 * anywhere (mid-line, mid-character), so bytes are held until their newline arrives.
 */

export type WatchEvent<T> =
  | { type: "ADDED" | "MODIFIED" | "DELETED"; object: T }
  | { type: "BOOKMARK"; object: { metadata?: { resourceVersion?: string } } }
  | { type: "ERROR"; object: Status };

/** Splits a byte stream into lines (without the newline); empty lines are dropped. */
export class LineSplitter {
  private pending: Buffer[] = [];

  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      const line =
        this.pending.length === 0
          ? piece.toString("utf8")
          : Buffer.concat([...this.pending, piece]).toString("utf8");
      this.pending = [];
      if (line.trim() !== "") lines.push(line);
      start = nl + 1;
    }
    if (start < chunk.length) this.pending.push(chunk.subarray(start));
    return lines;
  }

  /** Bytes held after the last newline (a stream that ends here was cut short). */
  get buffered(): number {
    return this.pending.reduce((n, b) => n + b.length, 0);
  }
}

const TYPES = new Set(["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]);

/** Parses one line of a watch; throws on anything that is not a watch event. */
export function parseWatchEvent<T>(line: string): WatchEvent<T> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (e: unknown) {
    throw new Error(`watch event is not JSON: ${line.slice(0, 100)}`, { cause: e });
  }
  if (typeof parsed !== "object" || parsed === null) {
    throw new Error(`watch event is not an object: ${line.slice(0, 100)}`);
  }
  const { type, object } = parsed as { type?: unknown; object?: unknown };
  if (typeof type !== "string" || !TYPES.has(type)) {
    throw new Error(`unknown watch event type ${JSON.stringify(type)}`);
  }
  if (typeof object !== "object" || object === null) {
    throw new Error(`watch event ${type} has no object`);
  }
  return parsed as WatchEvent<T>;
}

/** The resourceVersion to resume from after this event, if it carries one. */
export function eventResourceVersion(ev: WatchEvent<unknown>): string | undefined {
  if (ev.type === "ERROR") return undefined;
  const meta = (ev.object as { metadata?: { resourceVersion?: unknown } }).metadata;
  return typeof meta?.resourceVersion === "string" ? meta.resourceVersion : undefined;
}
