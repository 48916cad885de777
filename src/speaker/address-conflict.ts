import type { V1Service } from "@kubernetes/client-node";
import type { AddressClaim, Ownership } from "../dataplane/index.js";
import { ANNOUNCED_CONDITION, familyOf } from "./announced-condition.js";
import type { ElectedOwner } from "./election.js";

/**
 * An address another host on the LAN already uses (issue 11): what the speaker does about it,
 * pure. The data plane probes and watches (src/dataplane/conflicts.ts); this file decides.
 *
 * Probe only a **new** IP: one no node announced before (a Service just got it, or it had no
 * eligible node until now). A takeover (the owner died, left, lost eligibility) is never
 * probed: the previous owner may still answer for a moment, and failover time is what the
 * user measures barelb by. Whether an IP is new comes from this node's previous election
 * (another node won it: a takeover) and, for what this node has not seen since it started,
 * from the Service's announced condition (True: some node announced it).
 *
 * A claim found by the probe, with `hold` (the default): the IP is not announced; the
 * speaker probes again every HOLD_REPROBE_MS and announces it once nobody answers. With
 * `announce`: announced anyway (both hosts answer; the LAN's traffic goes to whichever
 * answered last). Either way the user is told (Event, condition, log, metric).
 * Hold is the default because a new IP that is in use belongs to a host that works now (a
 * printer, a NAS, the router, a MetalLB still installed); answering for it would break that
 * host for a Service that never worked yet, and an ARP fight breaks both. Holding never
 * moves or withdraws an IP that is announced: it only delays one that never was.
 *
 * A claim on an IP this node already announces (a host configured with it later, a
 * gratuitous ARP): reported, never acted on (withdrawing would hand the address to the
 * intruder). Reported only if this node still owns the IP CLAIM_SETTLE_MS later: during a
 * handover the new owner's gratuitous ARP may reach the old one before it lets go.
 *
 * Reports are rate-limited to one per IP per REPORT_EVERY_MS.
 */

export type ConflictPolicy = "hold" | "announce";
export const CONFLICT_POLICIES: readonly ConflictPolicy[] = ["hold", "announce"];

/** A held IP is probed again this long after its last conflict. */
export const HOLD_REPROBE_MS = 30_000;
/** At most one report (Event, condition, log line) per IP this often. */
export const REPORT_EVERY_MS = 60_000;
/** A claim on an owned IP counts if this node still owns the IP this much later. */
export const CLAIM_SETTLE_MS = 3_000;

/**
 * Whether `ip`, elected to `self` now and not announced by it, was announced by some node
 * before: then taking it is a takeover, not probed. `previous` is the election of this node's
 * previous step, null when it has none it can trust (start-up); `announced` what this node
 * announced after it.
 */
export function wasAnnounced(
  ip: string,
  self: string,
  previous: ReadonlyMap<string, ElectedOwner> | null,
  announced: ReadonlyMap<string, Ownership>,
  holders: readonly V1Service[],
): boolean {
  if (announced.has(ip)) return true;
  const before = previous?.get(ip)?.owner;
  if (before !== undefined && before !== null && before !== self) return true;
  const type = ANNOUNCED_CONDITION[familyOf(ip)];
  return holders.some((svc) =>
    (svc.status?.conditions ?? []).some((c) => c.type === type && c.status === "True"),
  );
}

type Gate =
  | { phase: "probing" }
  | { phase: "clear" }
  | { phase: "conflict"; claim: AddressClaim; at: number };

export interface GateStep {
  /** The IPs to announce now: what was elected, less those probed or held. */
  announce: Map<string, Ownership>;
  /** IPs to start probing now. */
  probe: { ip: string; ownership: Ownership }[];
  /** IPs whose probe must stop: no longer elected here. */
  cancel: string[];
  /** IPs held back because another host uses them. */
  held: string[];
}

/** What a finished probe means for the user, or null when there is nothing to tell. */
export interface ConflictReport {
  claim: AddressClaim;
  /** "held": not announced; "announced": announced anyway; "kept": was announced already. */
  action: "held" | "announced" | "kept";
}

/**
 * The state of each IP elected to this node and not yet announced: probing, clear (announce
 * at the next step), or in conflict. Time comes in as `now` (ms), so every rule is a table
 * test; the speaker runs the probes and calls back with their results.
 */
export class AddressGate {
  private readonly gates = new Map<string, Gate>();
  private readonly lastReport = new Map<string, number>();

  constructor(
    readonly policy: ConflictPolicy,
    /** Probe duration; 0: no probing (every IP is announced at once). */
    readonly probeMs: number,
  ) {}

  /**
   * One step: from the IPs elected to this node (`elected`, as `ownershipStep` gives them),
   * which to announce, which to probe first. `isNew(ip)` says whether an IP not announced
   * before is new (see `wasAnnounced`).
   */
  step(
    elected: ReadonlyMap<string, Ownership>,
    announcedBefore: ReadonlyMap<string, Ownership>,
    isNew: (ip: string) => boolean,
    now: number,
  ): GateStep {
    const out: GateStep = { announce: new Map(), probe: [], cancel: [], held: [] };
    for (const [ip, o] of elected) {
      if (announcedBefore.has(ip)) {
        this.gates.delete(ip);
        out.announce.set(ip, o);
        continue;
      }
      const g = this.gates.get(ip);
      if (g === undefined) {
        if (this.probeMs > 0 && isNew(ip)) {
          this.gates.set(ip, { phase: "probing" });
          out.probe.push({ ip, ownership: o });
        } else out.announce.set(ip, o);
      } else if (g.phase === "clear") {
        this.gates.delete(ip);
        out.announce.set(ip, o);
      } else if (g.phase === "conflict") {
        if (this.policy === "announce") {
          this.gates.delete(ip);
          out.announce.set(ip, o);
        } else if (now - g.at >= HOLD_REPROBE_MS) {
          this.gates.set(ip, { phase: "probing" });
          out.probe.push({ ip, ownership: o });
        } else out.held.push(ip);
      }
    }
    for (const [ip, g] of [...this.gates]) {
      if (elected.has(ip)) continue;
      this.gates.delete(ip);
      if (g.phase === "probing") out.cancel.push(ip);
    }
    for (const [ip, at] of [...this.lastReport])
      if (now - at >= REPORT_EVERY_MS) this.lastReport.delete(ip);
    return out;
  }

  /**
   * A probe ended. Returns the report to make (rate-limited), or null. The caller then runs a
   * step: a clear IP is announced, a conflicted one announced or held by the policy.
   */
  probeEnded(
    ip: string,
    result:
      | { outcome: "clear" }
      | { outcome: "conflict"; claim: AddressClaim }
      | { outcome: "cancelled" },
    now: number,
  ): ConflictReport | null {
    if (this.gates.get(ip)?.phase !== "probing" || result.outcome === "cancelled") return null;
    if (result.outcome === "clear") {
      this.gates.set(ip, { phase: "clear" });
      return null;
    }
    this.gates.set(ip, { phase: "conflict", claim: result.claim, at: now });
    if (!this.mayReport(ip, now)) return null;
    return { claim: result.claim, action: this.policy === "hold" ? "held" : "announced" };
  }

  /**
   * A claim on an IP this node announced, CLAIM_SETTLE_MS ago: a report if this node still
   * announces it (`stillOwned`) and none was made for the IP within REPORT_EVERY_MS.
   */
  ownedClaim(claim: AddressClaim, stillOwned: boolean, now: number): ConflictReport | null {
    if (!stillOwned || !this.mayReport(claim.ip, now)) return null;
    return { claim, action: "kept" };
  }

  /** Whether `ip` is held back now (for the condition writer: still worth writing?). */
  isHeld(ip: string): boolean {
    return this.gates.get(ip)?.phase === "conflict" && this.policy === "hold";
  }

  /** IPs being probed or held, for status and tests. */
  pending(): { ip: string; phase: Gate["phase"] }[] {
    return [...this.gates].map(([ip, g]) => ({ ip, phase: g.phase }));
  }

  private mayReport(ip: string, now: number): boolean {
    const last = this.lastReport.get(ip);
    if (last !== undefined && now - last < REPORT_EVERY_MS) return false;
    this.lastReport.set(ip, now);
    return true;
  }
}

/** The one line a report says, on the Event, the condition and the log. */
export function conflictMessage(r: ConflictReport, self: string, policy: ConflictPolicy): string {
  const { claim } = r;
  const seen = `${claim.ip} is in use by another host on the LAN: MAC ${claim.mac} ${claimWords(claim)}, seen by node ${self} on ${claim.iface}`;
  switch (r.action) {
    case "held":
      return `${seen}; not announced while that host answers (probed again every ${HOLD_REPROBE_MS / 1000}s; --on-address-conflict=${policy}). Free the address on that host, or give the Service another IP`;
    case "announced":
      return `${seen}; announced anyway (--on-address-conflict=${policy}): both hosts answer, and traffic goes to whichever the LAN heard last. Free the address on that host, or give the Service another IP`;
    case "kept":
      return `${seen}; node ${self} keeps announcing it (it announced it first). Remove the address from that host`;
  }
}

function claimWords(c: AddressClaim): string {
  switch (c.kind) {
    case "arp-probe":
      return "is probing for it (ARP)";
    case "neighbor-advertisement":
      return c.phase === "probing"
        ? "answered the duplicate address probe"
        : "advertises it (Neighbor Advertisement)";
    case "arp-reply":
      return c.phase === "probing" ? "answered the ARP probe" : "sent an ARP reply from it";
    case "arp-request":
      return "sent an ARP request from it (gratuitous ARP or address resolution)";
  }
}
