/**
 * What a speaker says of its own node on its Lease, for `barelb status` (and anyone with
 * `kubectl get lease -o yaml`): its membership state as it sees itself, and the node-level
 * warnings it found. Both are annotations that travel with the Lease's renewals.
 */

/** This speaker's own membership state: eligible, held, fenced, starting or leaving. */
export const MEMBERSHIP_ANNOTATION = "barelb.io/membership";
/** The node warnings: a JSON array of `{kind, message}`, sorted by kind; absent or [] if none. */
export const NODE_WARNINGS_ANNOTATION = "barelb.io/node-warnings";

export interface NodeWarning {
  kind: string;
  message: string;
}

/** The warnings an annotation holds; text that is not such a list reads as one warning. */
export function parseNodeWarnings(text: string | undefined): NodeWarning[] {
  if (text === undefined || text.trim() === "") return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed))
    return [{ kind: "Unreadable", message: `annotation ${NODE_WARNINGS_ANNOTATION}: ${text}` }];
  return parsed.flatMap((w: unknown) => {
    if (typeof w !== "object" || w === null) return [];
    const { kind, message } = w as Record<string, unknown>;
    return typeof kind === "string" && typeof message === "string" ? [{ kind, message }] : [];
  });
}
