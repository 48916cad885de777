import type { V1Service } from "@kubernetes/client-node";
import type { Ownership } from "../dataplane/index.js";
import { elect, type ElectedOwner, type NodeFacts } from "./election.js";
import { layer2IPs, type AnnouncedIP } from "./world.js";

/**
 * One step of the speaker's decision, pure: from the IPs to announce, the Nodes, the live
 * members and what this node announced before, which IPs it announces now (and where),
 * which it gained and which it lost. The speaker runs it on every change and hands `owned`
 * to the data plane; gained and lost are computed here once, for its metrics, logs and
 * Events.
 */

/** The ownership of an IP announced on every usable interface: one object for all of them. */
export const ANY_INTERFACE: Ownership = Object.freeze({});

export interface OwnershipInput {
  /** This node. */
  self: string;
  /** Every IP in a handled Service's status, with its election facts (see `announcedIPs`). */
  ips: ReadonlyMap<string, AnnouncedIP>;
  /** Node objects by name. */
  nodes: ReadonlyMap<string, NodeFacts>;
  /** The speakers that may announce now (live, not held, not fenced); may include `self`. */
  members: ReadonlySet<string>;
  /** The start-up quiet period: this node announces nothing yet, whatever it wins. */
  quiet: boolean;
  /** What this node announced after the previous step. */
  previous: ReadonlyMap<string, Ownership>;
}

export interface OwnershipStep {
  /** The IPs this node announces now, each with its interfaces. */
  owned: Map<string, Ownership>;
  /** Announced now and not before, in `ips` order. */
  gained: string[];
  /** Announced before and not now, with the node that announces each now (null: none). */
  lost: { ip: string; owner: string | null }[];
  /** The election's result for every layer-2 IP (not those of BGP pools), whoever won it. */
  elected: Map<string, ElectedOwner>;
}

export function ownershipStep(input: OwnershipInput): OwnershipStep {
  const { self, ips, previous } = input;
  // BGP pools' IPs are advertised by every eligible node, never answered for over ARP/NDP.
  const elected = elect(layer2IPs(ips.values()), input.nodes, input.members);
  const owned = new Map<string, Ownership>();
  if (!input.quiet) {
    for (const [ip, o] of elected) {
      if (o.owner !== self) continue;
      const interfaces = ips.get(ip)?.interfaces ?? [];
      owned.set(ip, interfaces.length > 0 ? { interfaces } : ANY_INTERFACE);
    }
  }
  const gained = [...owned.keys()].filter((ip) => !previous.has(ip));
  const lost = [...previous.keys()]
    .filter((ip) => !owned.has(ip))
    .map((ip) => ({ ip, owner: elected.get(ip)?.owner ?? null }));
  return { owned, gained, lost, elected };
}

/** An Event the speaker writes on a Service when it starts announcing one of its IPs. */
export interface GainedEvent {
  service: V1Service;
  type: "Normal" | "Warning";
  reason: "nodeAssigned" | "announceFailed";
  message: string;
}

/**
 * For each gained IP, where it is announced: the interfaces it should go out on that this node
 * has (`usable`), and one Event per Service holding it — `nodeAssigned`, or `announceFailed`
 * when the node has none of the pool's interfaces.
 */
export function gainedAnnouncements(
  step: OwnershipStep,
  ips: ReadonlyMap<string, AnnouncedIP>,
  usable: readonly string[],
  self: string,
): { ip: string; interfaces: string[]; events: GainedEvent[] }[] {
  const have = new Set(usable);
  return step.gained.map((ip) => {
    const wanted = step.owned.get(ip)?.interfaces ?? usable;
    const present = wanted.filter((i) => have.has(i));
    const events = (ips.get(ip)?.holders ?? []).map((service): GainedEvent =>
      present.length === 0
        ? {
            service,
            type: "Warning",
            reason: "announceFailed",
            message: `node ${self} should announce ${ip} but has none of the interfaces ${wanted.join(", ") || "(any usable)"}`,
          }
        : {
            service,
            type: "Normal",
            reason: "nodeAssigned",
            message: `announcing ${ip} from node ${self} on ${present.join(", ")}`,
          },
    );
    return { ip, interfaces: present, events };
  });
}

/**
 * How many IPs this node owns but has none of the interfaces to announce on (their pool's
 * `interfaces`, or any usable one): the ones whose condition says AnnounceFailed.
 */
export function unannounceable(
  owned: ReadonlyMap<string, { readonly interfaces?: readonly string[] | undefined }>,
  usable: readonly string[],
): number {
  if (owned.size === 0) return 0;
  const have = new Set(usable);
  let n = 0;
  for (const o of owned.values()) {
    const wanted = o.interfaces === undefined || o.interfaces.length === 0 ? usable : o.interfaces;
    if (!wanted.some((i) => have.has(i))) n++;
  }
  return n;
}
