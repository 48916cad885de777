import { V1MicroTime } from "@kubernetes/client-node";

/**
 * Lease times are MicroTime: RFC 3339 with exactly six fractional digits. A plain Date is
 * sent with three and refused; V1MicroTime sends six. On the way back, @kubernetes/client-node
 * 2.x leaves these fields as strings even though its types say V1MicroTime, so read them
 * through `microTimeMillis`.
 */
export function microTimeNow(nowMs: number = Date.now()): V1MicroTime {
  return new V1MicroTime(nowMs);
}

/** Milliseconds since the epoch of a MicroTime field as received (string or Date). */
export function microTimeMillis(v: unknown): number | undefined {
  if (v instanceof Date) return v.getTime();
  if (typeof v !== "string") return undefined;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : ms;
}
