import type { V1Service } from "@kubernetes/client-node";
import type { ElectedOwner } from "./election.js";

/**
 * Who announces a Service's IP, on the Service itself: a condition in `status.conditions`
 * (shown by `kubectl describe service` and `kubectl get -o yaml`), one per IP family, written
 * by the node that starts announcing the IP with a server-side apply of the status
 * subresource. Pure: what to apply; the speaker's run loop sends it.
 *
 * Why one condition and one field manager per family: a server-side apply states the whole
 * intent of its field manager, so fields the manager applied before and leaves out now are
 * removed. Every speaker uses the same manager for a family, so the node that takes over an
 * IP replaces the condition the previous owner wrote (also when that owner died without a
 * word), and the last applier is named. The two families of a dual-stack Service may be owned
 * by two nodes: with one manager for both, each node's apply of its own family would remove
 * the other's condition. The controller's `status.loadBalancer.ingress` is written by a merge
 * patch under its own manager; neither touches the other's fields.
 */

export type Family = "IPv4" | "IPv6";

/** The condition types, one per family: `barelb.io/AnnouncedIPv4`, `barelb.io/AnnouncedIPv6`. */
export const ANNOUNCED_CONDITION: Readonly<Record<Family, string>> = Object.freeze({
  IPv4: "barelb.io/AnnouncedIPv4",
  IPv6: "barelb.io/AnnouncedIPv6",
});

/** The speakers' field managers, one per family, the same on every node. */
export const SPEAKER_FIELD_MANAGER: Readonly<Record<Family, string>> = Object.freeze({
  IPv4: "barelb-speaker-ipv4",
  IPv6: "barelb-speaker-ipv6",
});

export interface ServiceCondition {
  type: string;
  status: "True" | "False";
  reason: "Announcing" | "AnnounceFailed" | "NotAnnounced" | "AddressInUse";
  message: string;
  /** RFC 3339, seconds: when this node started announcing (or failed to). */
  lastTransitionTime: string;
}

/** One server-side apply of a Service's status subresource. */
export interface ConditionApply {
  /** The IP the condition is about. */
  ip: string;
  /**
   * True when this node is the IP's owner (Announcing, AnnounceFailed): worth sending while
   * it still is. False (NotAnnounced): worth sending while no node is elected for the IP.
   */
  announced: boolean;
  /** Set for AddressInUse while held: worth sending while the IP is still held. */
  held?: true;
  /**
   * Set for the NotAnnounced of an IP whose pool became a BGP pool: worth sending while the IP
   * is still a BGP pool's (no node is ever elected for it, so `announced: false`'s test of the
   * election does not apply).
   */
  bgp?: true;
  namespace: string;
  name: string;
  family: Family;
  fieldManager: string;
  /** The apply configuration: the Service's identity and the one condition. */
  body: {
    apiVersion: "v1";
    kind: "Service";
    metadata: { name: string; namespace: string };
    status: { conditions: [ServiceCondition] };
  };
}

export function familyOf(ip: string): Family {
  return ip.includes(":") ? "IPv6" : "IPv4";
}

/**
 * For each IP this node just gained (as `gainedAnnouncements` gives them: the interfaces it
 * announces on, empty when it has none of the pool's, and an Event per Service holding the
 * IP), one apply per such Service:
 * `True`/`Announcing` naming the node, the IP and the interfaces, or `False`/`AnnounceFailed`
 * when the node should announce it but cannot.
 */
export function announcedConditions(
  gained: readonly {
    ip: string;
    interfaces: readonly string[];
    events: readonly { service: V1Service }[];
  }[],
  self: string,
  now: Date,
): ConditionApply[] {
  return gained.flatMap((g) => {
    const ok = g.interfaces.length > 0;
    return appliesFor(
      g.ip,
      g.events.map((e) => e.service),
      true,
      ok ? "True" : "False",
      ok ? "Announcing" : "AnnounceFailed",
      ok
        ? `node ${self} announces ${g.ip} on ${g.interfaces.join(", ")}`
        : `node ${self} should announce ${g.ip} but has none of the pool's interfaces`,
      now,
    );
  });
}

/**
 * Withdraws the conditions this node wrote that would otherwise go on naming it. `standing`
 * holds the IPs whose condition this node wrote as their announcer (every IP it gained, this
 * step's included) and that no later step withdrew: a node that loses an IP to another one
 * cannot know whether that one ever writes (it may be in its start-up quiet period, or lose
 * the IP before announcing it), so it keeps the IP here. Once no node is elected for such an
 * IP, and this node does not own it, each Service still holding it gets `False`/`NotAnnounced`
 * with the election's reason. So does an IP whose pool is now a BGP pool (its `protocol` is
 * `bgp`): layer 2 elects nobody for it, and no other node would ever replace the condition, so
 * `kubectl describe` would go on naming this node. Returns the applies and the IPs that stay
 * standing: those still held by a Service, owned here or elected to another node.
 *
 * Cost: at most one apply per Service for each node that announced the IP since it was last
 * withdrawn, so writes stay proportional to ownership changes.
 */
export function withdrawnConditions(
  standing: ReadonlySet<string>,
  step: {
    owned: ReadonlyMap<string, unknown>;
    elected: ReadonlyMap<string, ElectedOwner>;
  },
  ips: ReadonlyMap<string, { holders: readonly V1Service[]; protocol?: "layer2" | "bgp" }>,
  self: string,
  now: Date,
): { applies: ConditionApply[]; standing: Set<string> } {
  const applies: ConditionApply[] = [];
  const still = new Set<string>();
  for (const ip of standing) {
    const held = ips.get(ip);
    if (held === undefined || held.holders.length === 0) continue;
    if (held.protocol === "bgp" && !step.owned.has(ip)) {
      const message = `no node announces ${ip} over ARP/NDP: its pool is a BGP pool now, and the nodes advertise it to their BGP peers (node ${self} stopped announcing it)`;
      applies.push(
        ...appliesFor(ip, held.holders, false, "False", "NotAnnounced", message, now).map((a) => ({
          ...a,
          bgp: true as const,
        })),
      );
      continue;
    }
    const e = step.elected.get(ip);
    if (step.owned.has(ip) || e === undefined || e.owner !== null) {
      still.add(ip);
      continue;
    }
    applies.push(
      ...appliesFor(
        ip,
        held.holders,
        false,
        "False",
        "NotAnnounced",
        `no node announces ${ip}: ${e.why} (node ${self} stopped announcing it)`,
        now,
      ),
    );
  }
  return { applies, standing: still };
}

/**
 * `AddressInUse` on each Service holding `ip`: another host on the LAN uses it (see
 * address-conflict.ts). `False` while this node holds the IP back, `True` when it announces
 * it anyway or already announced it; `message` names the IP, the foreign MAC and this node.
 */
export function addressInUseConditions(
  ip: string,
  holders: readonly V1Service[],
  held: boolean,
  message: string,
  now: Date,
): ConditionApply[] {
  const applies = appliesFor(
    ip,
    holders,
    !held,
    held ? "False" : "True",
    "AddressInUse",
    message,
    now,
  );
  return held ? applies.map((a) => ({ ...a, held: true })) : applies;
}

function appliesFor(
  ip: string,
  holders: readonly V1Service[],
  announced: boolean,
  status: ServiceCondition["status"],
  reason: ServiceCondition["reason"],
  message: string,
  now: Date,
): ConditionApply[] {
  const family = familyOf(ip);
  const condition: ServiceCondition = {
    type: ANNOUNCED_CONDITION[family],
    status,
    reason,
    message,
    lastTransitionTime: now.toISOString().replace(/\.\d+Z$/, "Z"),
  };
  return holders.map((svc) => {
    const name = svc.metadata?.name ?? "";
    const namespace = svc.metadata?.namespace ?? "";
    return {
      ip,
      announced,
      namespace,
      name,
      family,
      fieldManager: SPEAKER_FIELD_MANAGER[family],
      body: {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name, namespace },
        status: { conditions: [condition] },
      },
    };
  });
}

/**
 * The node and interfaces an `Announcing` condition's message names for `ip` (the message
 * `announcedConditions` writes), or null when it is not such a message.
 */
export function parseAnnouncing(
  message: string,
  ip: string,
): { node: string; interfaces: string[] } | null {
  const prefix = "node ";
  const middle = ` announces ${ip} on `;
  if (!message.startsWith(prefix)) return null;
  const at = message.indexOf(middle);
  if (at <= prefix.length) return null;
  const node = message.slice(prefix.length, at);
  if (node.includes(" ")) return null;
  const interfaces = message
    .slice(at + middle.length)
    .split(", ")
    .filter((i) => i !== "");
  return interfaces.length === 0 ? null : { node, interfaces };
}
