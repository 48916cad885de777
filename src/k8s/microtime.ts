import type { V1Lease, V1LeaseSpec } from "@kubernetes/client-node";

/**
 * Lease times are MicroTime: RFC 3339 with exactly six fractional digits. The API server
 * refuses fewer (a JSON-encoded Date has three), so they are written as strings made here;
 * they are read back as strings too, through `microTimeMillis`.
 */
export function microTimeNow(nowMs: number = Date.now()): string {
  // toISOString always gives milliseconds: "…05.678Z" → "…05.678000Z".
  return new Date(nowMs).toISOString().replace(/Z$/, "000Z");
}

/** Milliseconds since the epoch of a MicroTime field as received (string or Date). */
export function microTimeMillis(v: unknown): number | undefined {
  if (v instanceof Date) return v.getTime();
  if (typeof v !== "string") return undefined;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : ms;
}

/** A Lease as JSON on the wire: client-node's type, with its MicroTime fields as strings. */
export type LeaseJson = Omit<V1Lease, "spec"> & {
  spec?: Omit<V1LeaseSpec, "acquireTime" | "renewTime"> & {
    acquireTime?: string;
    renewTime?: string;
  };
};
