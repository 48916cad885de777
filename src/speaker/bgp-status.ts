import type { SessionReport } from "../routing/bgp-speaker.js";

/**
 * The BGP sessions of a node as it publishes them on its speaker Lease, for `barelb status`:
 * one JSON array, rewritten only when a session changes state (not when routes change), so
 * it costs one write per session event.
 */
export const BGP_SESSIONS_ANNOTATION = "barelb.io/bgp-sessions";

export interface PublishedSession {
  readonly peer: string;
  /** The BGP state (Idle, Connect, Active, OpenSent, OpenConfirm, Established). */
  readonly state: string;
  /** The BFD state, for peers with a bfd-profile. */
  readonly bfd?: string;
  /** Why the last attempt or session ended, while not Established. */
  readonly error?: string;
}

export function bgpSessionsAnnotation(reports: readonly SessionReport[]): string {
  const out: PublishedSession[] = reports
    .map((r) => ({
      peer: r.peer,
      state: r.state,
      ...(r.bfd === undefined ? {} : { bfd: r.bfd }),
      ...(r.established || r.lastError === undefined ? {} : { error: r.lastError }),
    }))
    .sort((a, b) => (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0));
  return JSON.stringify(out);
}

/** The sessions a Lease annotation names; [] when missing or not readable. */
export function parseBgpSessions(value: string | undefined): PublishedSession[] {
  if (value === undefined || value === "") return [];
  try {
    const v: unknown = JSON.parse(value);
    if (!Array.isArray(v)) return [];
    return v.filter(
      (s): s is PublishedSession =>
        typeof s === "object" &&
        s !== null &&
        typeof (s as PublishedSession).peer === "string" &&
        typeof (s as PublishedSession).state === "string",
    );
  } catch {
    return [];
  }
}
