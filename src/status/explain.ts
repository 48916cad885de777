import type { V1ConfigMap, V1EndpointSlice, V1Node, V1Service } from "@kubernetes/client-node";
import { pino } from "pino";
import { CONFIG_KEY, summarize } from "../adapters/pool-config.js";
import { isHandled, serviceKey, statusIPs, ALLOCATED_FROM_POOL } from "../adapters/service.js";
import { parseConfig, type Config } from "../config/index.js";
import { ServiceController } from "../controller/service-controller.js";
import {
  apiServerAddresses,
  nodeFacts as setupNodeFacts,
  reservedAddresses,
  setupWarnings,
} from "../controller/setup-warnings.js";
import type { EventTarget, EventType } from "../k8s/events.js";
import { microTimeMillis, type LeaseJson } from "../k8s/microtime.js";
import { familyName } from "../net/ip.js";
import { elect, ineligibility, type ElectedOwner, type NodeFacts } from "../speaker/election.js";
import {
  announcedIPs,
  endpointSummaries,
  layer2IPs,
  nodeFacts,
  type AnnouncedIP,
} from "../speaker/world.js";
import { bgpAdvertisers, bgpIneligibility, peerSelects } from "../speaker/bgp-routes.js";
import {
  ANNOUNCED_CONDITION,
  familyOf,
  parseAnnouncing,
  type Family,
} from "../speaker/announced-condition.js";
import { SPEAKER_LEASE_PREFIX } from "../speaker/own-lease.js";
import {
  BGP_SESSIONS_ANNOTATION,
  parseBgpSessions,
  type PublishedSession,
} from "../speaker/bgp-status.js";
import {
  MEMBERSHIP_ANNOTATION,
  NODE_WARNINGS_ANNOTATION,
  parseNodeWarnings,
} from "../speaker/node-warnings.js";

/** A warning a speaker published about its node (src/speaker/node-warnings.ts). */
export interface NodeWarning {
  kind: string;
  message: string;
}

/**
 * `barelb status`, the pure part: what the API shows (one read of each kind of object) in,
 * the report out, with a one-line reason for every Service that has no IP or whose IP no node
 * announces, and for every node that does not announce. Nothing here writes.
 *
 * Reasons are not guessed a second way: a pending Service's reason comes from running the
 * controller's own rules (`ServiceController`, with a writer that only records) over the same
 * Services and config; who should announce an IP comes from the speakers' own election over
 * the speakers the Leases show live; who does announce comes from the condition the
 * announcing node wrote on the Service. An IP of a BGP pool is advertised by every eligible
 * node that a peer selects: those are computed by the speakers' own rules (bgp-routes.ts), then
 * checked against the BGP sessions each speaker publishes on its Lease (bgp-status.ts): a node
 * that publishes sessions and has none Established sends its routes to no router, so it is not
 * counted as advertising, and the Service's reason names it with its sessions. A node that
 * publishes none (an older speaker, or no peer selects it) is taken at the rules' word.
 */

export const CONTROLLER_LEASE = "barelb-controller";

/** What `barelb status` reads; `null` for what is absent, and what it could not read. */
export interface StatusSnapshot {
  /** Wall clock of the reader, compared with the Leases' renew times (the writers' clocks). */
  now: number;
  namespace: string;
  configMapName: string;
  lbClass: string | undefined;
  /** The API server's URL, as the client reached it (a pool must not hold its address). */
  server: string;
  /** null when it does not exist; "unreadable" when the caller may not read it. */
  configMap: V1ConfigMap | null | "unreadable";
  services: readonly V1Service[];
  slices: readonly V1EndpointSlice[];
  nodes: readonly V1Node[];
  /** The Leases in `namespace`: the speakers' and the controller's. */
  leases: readonly LeaseJson[];
  /**
   * Messages about Services another LoadBalancer implementation acts on, by
   * `namespace/name` (see src/adapters/foreign-lb.ts).
   */
  foreign: ReadonlyMap<string, string>;
  /** Kinds of object the caller may not read: the report says what it could not check. */
  unreadable: readonly string[];
}

export type ConfigState = "loaded" | "refused" | "missing" | "unreadable";
export type NodeState =
  "live" | "held" | "fenced" | "starting" | "leaving" | "down" | "excluded" | "absent";

export interface StatusReport {
  config: { state: ConfigState; error: string | null; configMap: string };
  controller: {
    state: "leading" | "down" | "absent";
    leader: string | null;
    reason: string | null;
  };
  pools: { name: string; family: "IPv4" | "IPv6"; total: number | string; inUse: number }[];
  services: {
    namespace: string;
    name: string;
    ips: string[];
    pool: string | null;
    /** Layer 2: the node that says it answers ARP/NDP for each IP. */
    announcedBy: { ip: string; node: string; interfaces: string[] }[];
    /** BGP: the nodes that advertise each IP of a BGP pool to their peers (by the rules). */
    advertisedBy: { ip: string; nodes: string[] }[];
    reason: string | null;
  }[];
  nodes: {
    name: string;
    state: NodeState;
    reason: string | null;
    warnings: NodeWarning[];
    /**
     * The BGP sessions the node's speaker last published, sorted by peer; empty when it
     * published none (no peers, an older speaker) or its speaker is down (they would be stale).
     */
    bgpSessions: PublishedSession[];
  }[];
  warnings: { kind: string; object: string; message: string }[];
  /** Kinds of object the caller may not read (the report is partial where they matter). */
  unreadable: string[];
}

const silent = pino({ level: "silent" });

export async function explain(s: StatusSnapshot): Promise<StatusReport> {
  const config = readConfig(s);
  const leases = new Map<string, LeaseJson>();
  for (const l of s.leases) leases.set(l.metadata?.name ?? "", l);
  const controller = controllerState(leases.get(CONTROLLER_LEASE), s.now);
  const nodes = s.nodes.map((n) => nodeState(n, leases, s));
  const live = new Set(nodes.filter((n) => n.speakerLive).map((n) => n.name));
  // BGP has no election, no quiet period and no anti-flap hold: a starting or held speaker
  // advertises (its sessions, published on its Lease, say whether routers hear it).
  const bgpLive = new Set(
    nodes
      .filter((n) => n.speakerLive || n.state === "starting" || n.state === "held")
      .map((n) => n.name),
  );
  const sessionsOf = new Map(nodes.map((n) => [n.name, n.bgpSessions]));
  const handled = s.services.filter((svc) => isHandled(svc, s.lbClass));

  const warnings: StatusReport["warnings"] = [];
  const cmObject = `ConfigMap ${s.namespace}/${s.configMapName}`;
  if ((config.state === "refused" || config.state === "missing") && config.error !== null)
    warnings.push({
      kind: config.state === "refused" ? "InvalidConfig" : "MissingConfig",
      object: cmObject,
      message: config.error,
    });
  if (controller.reason !== null)
    warnings.push({
      kind: "ControllerNotLeading",
      object: `Lease ${s.namespace}/${CONTROLLER_LEASE}`,
      message: controller.reason,
    });
  const apiServer = apiServerAddresses(s.server);
  const setupNodes = s.nodes.map(setupNodeFacts);
  for (const w of setupWarnings(config.config, setupNodes, apiServer))
    warnings.push({ kind: w.kind, object: cmObject, message: w.message });
  for (const n of nodes)
    for (const w of n.warnings)
      warnings.push({ kind: w.kind, object: `Node ${n.name}`, message: w.message });

  // The controller's own rules, run dry: who would get which IP, and why the others do not.
  const dry =
    config.config === null
      ? null
      : await dryRun(config.config, handled, s.lbClass, reservedAddresses(setupNodes, apiServer));

  // The speakers' election over the speakers live now, and the nodes' reasons per IP.
  const nodeMap = new Map<string, NodeFacts>(
    s.nodes.map((n) => [n.metadata?.name ?? "", nodeFacts(n)]),
  );
  const ips =
    config.config === null
      ? new Map<string, AnnouncedIP>()
      : announcedIPs(handled, endpointSummaries(s.slices), config.config, s.lbClass);
  // Layer 2 elects one node per IP; a BGP pool's IPs are advertised by every eligible node.
  const elected = elect(layer2IPs(ips.values()), nodeMap, live);

  const services: StatusReport["services"] = handled.map((svc) => {
    const key = serviceKey(svc);
    const held = statusIPs(svc);
    const reasons: string[] = [];
    const announcedBy: StatusReport["services"][number]["announcedBy"] = [];
    const advertisedBy: StatusReport["services"][number]["advertisedBy"] = [];
    const foreign = s.foreign.get(key);
    if (foreign !== undefined) {
      reasons.push(foreign);
      warnings.push({ kind: "ForeignLoadBalancer", object: `Service ${key}`, message: foreign });
    }
    // With another implementation acting, the controller stands back: that is the reason.
    if (held.length === 0 && foreign === undefined) {
      reasons.push(pendingReason(key, config, dry, controller));
    }
    for (const ip of held) {
      const facts = ips.get(ip);
      if (facts?.protocol === "bgp" && config.config !== null) {
        const by = bgpAdvertisers(facts, config.config, nodeMap, bgpLive);
        if (by.length === 0) {
          reasons.push(
            `${ip}: no node advertises it over BGP: ${whyNoAdvertiser(facts, config.config, { live: bgpLive, nodeMap })}`,
          );
          continue;
        }
        // A node whose every published session is down sends its routes to no router.
        const up = by.filter((n) => !sessionsAllDown(sessionsOf.get(n)));
        if (up.length > 0) advertisedBy.push({ ip, nodes: up });
        const down = by.filter((n) => !up.includes(n));
        if (down.length > 0) reasons.push(noSessionReason(ip, down, up.length === 0, sessionsOf));
        continue;
      }
      const why = announcement(svc, ip, { live, nodes, elected, ips, nodeMap });
      if (why.ok) announcedBy.push({ ip, node: why.node, interfaces: why.interfaces });
      else reasons.push(why.reason);
    }
    if (held.length > 0 && config.config !== null) {
      const change = dry?.changes.get(key);
      if (change !== undefined) reasons.push(change);
    }
    return {
      namespace: svc.metadata?.namespace ?? "",
      name: svc.metadata?.name ?? "",
      ips: held,
      pool: svc.metadata?.annotations?.[ALLOCATED_FROM_POOL] ?? null,
      announcedBy,
      advertisedBy,
      reason: reasons.length === 0 ? null : reasons.join("; "),
    };
  });
  services.sort((a, b) =>
    a.namespace === b.namespace ? cmp(a.name, b.name) : cmp(a.namespace, b.namespace),
  );

  const pools: StatusReport["pools"] = (dry?.stats ?? []).map((p) => ({
    name: p.pool,
    family: familyName(p.family),
    total: p.total <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(p.total) : p.total.toString(),
    inUse: p.inUse,
  }));

  return {
    config: { state: config.state, error: config.error, configMap: cmObject },
    controller: { state: controller.state, leader: controller.leader, reason: controller.reason },
    pools,
    services,
    nodes: nodes.map(({ name, state, reason, warnings: w, bgpSessions }) => ({
      name,
      state,
      reason,
      warnings: w,
      bgpSessions,
    })),
    warnings,
    unreadable: [...s.unreadable],
  };
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

// ---- config ---------------------------------------------------------------------------

interface ConfigRead {
  state: ConfigState;
  error: string | null;
  config: Config | null;
}

function readConfig(s: StatusSnapshot): ConfigRead {
  const where = `ConfigMap ${s.namespace}/${s.configMapName}`;
  if (s.configMap === "unreadable")
    return {
      state: "unreadable",
      error: `you may not read ${where}, so the pools and the reasons that need them are left out`,
      config: null,
    };
  if (s.configMap === null)
    return {
      state: "missing",
      error: `${where} not found: create it (see config/ for an example)`,
      config: null,
    };
  const text = s.configMap.data?.[CONFIG_KEY] ?? null;
  if (text === null)
    return {
      state: "missing",
      error: `${where} has no "config" key: the pools go under data.config`,
      config: null,
    };
  const parsed = parseConfig(text);
  if (!parsed.ok)
    return {
      state: "refused",
      error:
        `${summarize(parsed.errors.map((e) => e.message))}; ` +
        "barelb keeps using the last config it accepted (run barelb config validate on the file)",
      config: null,
    };
  return { state: "loaded", error: null, config: parsed.config };
}

// ---- the controller -----------------------------------------------------------------

interface ControllerState {
  state: "leading" | "down" | "absent";
  leader: string | null;
  reason: string | null;
}

function controllerState(lease: LeaseJson | undefined, now: number): ControllerState {
  if (lease === undefined)
    return {
      state: "absent",
      leader: null,
      reason: `no controller has ever led (no Lease ${CONTROLLER_LEASE}): is the controller Deployment running?`,
    };
  const holder = lease.spec?.holderIdentity ?? "";
  const age = ageSeconds(lease, now);
  const duration = lease.spec?.leaseDurationSeconds ?? 0;
  if (holder === "" || age === null || age > duration)
    return {
      state: "down",
      leader: holder === "" ? null : holder,
      reason:
        holder === ""
          ? "no controller leads (the last leader released its Lease): is the controller Deployment running?"
          : `the controller Lease held by ${holder} was last renewed ${age === null ? "never" : `${Math.round(age)}s ago`} (lease ${duration}s): no controller leads, so no Service gets an IP`,
    };
  return { state: "leading", leader: holder, reason: null };
}

function ageSeconds(lease: LeaseJson, now: number): number | null {
  const t = microTimeMillis(lease.spec?.renewTime ?? lease.spec?.acquireTime);
  return t === undefined ? null : Math.max(0, (now - t) / 1000);
}

// ---- nodes ----------------------------------------------------------------------------

interface NodeRow {
  name: string;
  state: NodeState;
  reason: string | null;
  warnings: NodeWarning[];
  bgpSessions: PublishedSession[];
  /** The speaker is a member the election counts (live, not held, fenced, starting, leaving). */
  speakerLive: boolean;
}

function nodeState(
  node: V1Node,
  leases: ReadonlyMap<string, LeaseJson>,
  s: StatusSnapshot,
): NodeRow {
  const name = node.metadata?.name ?? "";
  const lease = leases.get(SPEAKER_LEASE_PREFIX + name);
  const warnings =
    lease === undefined
      ? []
      : parseNodeWarnings(lease.metadata?.annotations?.[NODE_WARNINGS_ANNOTATION]);
  const speaker = speakerState(name, lease, s);
  // A dead speaker's sessions are closed whatever its Lease last said.
  const bgpSessions =
    lease === undefined || speaker.state === "down"
      ? []
      : parseBgpSessions(lease.metadata?.annotations?.[BGP_SESSIONS_ANNOTATION]);
  const excluded = ineligibility(
    nodeFacts(node),
    { ip: "", services: [], nodeSelectors: [] },
    true,
  );
  if (excluded !== null) {
    const also = speaker.state === "live" ? "" : ` (and its speaker is ${speaker.state})`;
    return {
      name,
      state: "excluded",
      reason: `${excluded}: announces no IP${also}`,
      warnings,
      bgpSessions,
      speakerLive: speaker.state === "live",
    };
  }
  return { name, ...speaker, warnings, bgpSessions, speakerLive: speaker.state === "live" };
}

function speakerState(
  name: string,
  lease: LeaseJson | undefined,
  s: StatusSnapshot,
): { state: NodeState; reason: string | null } {
  const leaseName = `Lease ${s.namespace}/${SPEAKER_LEASE_PREFIX}${name}`;
  if (lease === undefined)
    return {
      state: "absent",
      reason: `no speaker (no ${leaseName}): is the speaker DaemonSet's Pod scheduled and running on this node?`,
    };
  const age = ageSeconds(lease, s.now);
  const duration = lease.spec?.leaseDurationSeconds ?? 0;
  if (age === null || age > duration)
    return {
      state: "down",
      reason: `the speaker's ${leaseName} was last renewed ${age === null ? "never" : `${Math.round(age)}s ago`} (lease ${duration}s): the speaker is dead or cannot reach the API server`,
    };
  switch (lease.metadata?.annotations?.[MEMBERSHIP_ANNOTATION]) {
    case "held":
      return {
        state: "held",
        reason:
          "the speaker came back after vanishing without a word; its peers keep it from announcing until it has stayed up a while",
      };
    case "fenced":
      return {
        state: "fenced",
        reason:
          "the speaker lost the API server while other speakers still have it, so it announces nothing",
      };
    case "starting":
      return {
        state: "starting",
        reason: "the speaker is starting: it announces nothing during its quiet period",
      };
    case "leaving":
      return { state: "leaving", reason: "the speaker is stopping" };
    default:
      return { state: "live", reason: null };
  }
}

// ---- pending Services: the controller's rules, run dry -------------------------------

interface DryRun {
  /** The Events the controller would write, last one per Service. */
  events: Map<string, { type: EventType; reason: string; message: string }>;
  /** What the controller would write now, per Service. */
  writes: Map<string, { ips: readonly string[]; pool: string } | "clear">;
  /** Services holding IPs that the controller would change, with why. */
  changes: Map<string, string>;
  stats: ReturnType<ServiceController["allocator"]["stats"]>;
}

async function dryRun(
  config: Config,
  services: readonly V1Service[],
  lbClass: string | undefined,
  reserved: ReturnType<typeof reservedAddresses>,
): Promise<DryRun> {
  const byKey = new Map(services.map((svc) => [serviceKey(svc), svc]));
  const events: DryRun["events"] = new Map();
  const writes: DryRun["writes"] = new Map();
  const cleared = new Map<string, string>();
  const ctrl = new ServiceController({
    config,
    lookup: (key) => byKey.get(key),
    all: () => byKey.values(),
    writer: {
      write: (svc, ips, pool) => {
        writes.set(serviceKey(svc), { ips, pool });
        return Promise.resolve();
      },
      clear: (svc) => {
        writes.set(serviceKey(svc), "clear");
        return Promise.resolve();
      },
      recordPool: (svc, pool) => {
        writes.set(serviceKey(svc), { ips: statusIPs(svc), pool });
        return Promise.resolve();
      },
    },
    events: {
      emit: (target: EventTarget, type: EventType, reason: string, message: string) => {
        const key = `${target.namespace}/${target.name}`;
        // Why it would lose its IPs says more than the IPAllocated that follows.
        if (reason === "ClearAssignment") cleared.set(key, message);
        events.set(key, { type, reason, message });
      },
    },
    log: silent,
    lbClass,
  });
  ctrl.allocator.setReserved(reserved);
  // As the leader does: restore what the Services hold, then reconcile each in that order,
  // retrying the pending ones whenever IPs were freed.
  const keys = ctrl.restore();
  const stats = ctrl.allocator.stats();
  let retry = false;
  for (const key of keys) retry = (await ctrl.reconcile(key)) === "reprocessAll" || retry;
  for (let round = 0; retry && round < 3; round++) {
    retry = false;
    for (const key of ctrl.pendingKeys())
      retry = (await ctrl.reconcile(key)) === "reprocessAll" || retry;
  }

  const changes = new Map<string, string>();
  for (const [key, w] of writes) {
    const svc = byKey.get(key);
    if (svc === undefined) continue;
    const current = statusIPs(svc);
    if (current.length === 0) continue;
    const ev = events.get(key);
    const why = cleared.get(key) ?? ev?.message;
    if (w === "clear") {
      changes.set(
        key,
        `the controller would take its IPs away${ev !== undefined ? `: ${ev.message}` : ""}`,
      );
    } else if ([...w.ips].sort().join() !== [...current].sort().join()) {
      changes.set(
        key,
        `the controller would change its IPs to ${w.ips.join(", ")}${why !== undefined ? ` (${why})` : ""}`,
      );
    }
  }
  return { events, writes, changes, stats };
}

function pendingReason(
  key: string,
  config: ConfigRead,
  dry: DryRun | null,
  controller: ControllerState,
): string {
  if (dry === null)
    return config.state === "unreadable"
      ? `no IP: ${config.error ?? ""}`
      : `no IP: the pool config is ${config.state} (${config.error ?? ""})`;
  const ev = dry.events.get(key);
  const w = dry.writes.get(key);
  if (w !== undefined && w !== "clear") {
    const waiting = `no IP yet: the controller would give it ${w.ips.join(", ")} from pool ${w.pool}`;
    return controller.reason === null
      ? `${waiting}, and has not yet (it is working, or cannot write to the Service)`
      : `${waiting}, but ${controller.reason}`;
  }
  if (ev !== undefined && ev.type === "Warning") return `no IP: ${ev.message}`;
  return "no IP, and barelb has no reason for it (a bug: please report it with this output)";
}

// ---- who announces an IP ----------------------------------------------------------------

type Announcement =
  { ok: true; node: string; interfaces: string[] } | { ok: false; reason: string };

function announcement(
  svc: V1Service,
  ip: string,
  world: {
    live: ReadonlySet<string>;
    nodes: readonly NodeRow[];
    elected: ReturnType<typeof elect>;
    ips: ReturnType<typeof announcedIPs>;
    nodeMap: ReadonlyMap<string, NodeFacts>;
  },
): Announcement {
  const family: Family = familyOf(ip);
  // As it arrives: fields the API types call required may be missing in what others wrote.
  const conditions: readonly Partial<Record<"type" | "status" | "message" | "reason", string>>[] =
    svc.status?.conditions ?? [];
  const cond = conditions.find((c) => c.type === ANNOUNCED_CONDITION[family]);
  const said = cond === undefined ? null : parseAnnouncing(cond.message ?? "", ip);
  const e = world.elected.get(ip);
  const should = e !== undefined && e.owner !== null ? e.owner : null;
  // Another host on the LAN answers for the IP: held back (False) or answered by both (True);
  // the speaker's message says which, with the other host's MAC.
  if (cond?.reason === "AddressInUse")
    return { ok: false, reason: `${ip}: ${cond.message ?? "another host on the LAN uses it"}` };
  if (cond?.status === "True" && said !== null) {
    // The announcing node wrote this when it took the IP over, from heartbeats that see a
    // dead peer within a second; the Leases read here lag by up to their duration, so the
    // election run here is not used to second-guess a live announcer.
    if (world.live.has(said.node))
      return { ok: true, node: said.node, interfaces: said.interfaces };
    const row = world.nodes.find((n) => n.name === said.node);
    const state = row === undefined ? "gone (no Node object)" : `${row.state}: ${row.reason ?? ""}`;
    return {
      ok: false,
      reason:
        `${ip}: node ${said.node} announced it but is ${state}; ` +
        (should === null
          ? `no node may take over (${whyNobody(ip, e, world)})`
          : `node ${should} should take over and has not said so yet`),
    };
  }
  // NotAnnounced is written once, by the last owner, with the election's short reason: the
  // reason now, node by node, says more. AnnounceFailed and AddressInUse are only known there.
  if (cond?.status === "False" && cond.reason !== "NotAnnounced")
    return { ok: false, reason: `${ip}: ${cond.message ?? cond.reason ?? "not announced"}` };
  if (should !== null)
    return {
      ok: false,
      reason: `${ip}: node ${should} should announce it but has not said so (its speaker may be starting, or cannot write to the API server)`,
    };
  return { ok: false, reason: `${ip}: nobody announces it: ${whyNobody(ip, e, world)}` };
}

/** Why no node may announce `ip`: the election's reason, with each node's when it is that. */
function whyNobody(
  ip: string,
  e: ElectedOwner | undefined,
  world: {
    live: ReadonlySet<string>;
    ips: ReturnType<typeof announcedIPs>;
    nodeMap: ReadonlyMap<string, NodeFacts>;
  },
): string {
  if (e === undefined) return "its pool is not in the config";
  if (e.owner !== null) return "";
  if (e.why === "no ready endpoints") return NO_READY_ENDPOINTS;
  if (e.why !== "no eligible node") return e.why;
  const facts = world.ips.get(ip);
  if (facts === undefined) return e.why;
  if (world.nodeMap.size === 0) return "no eligible node: the cluster has no Nodes";
  const serving = { ...facts, services: facts.services.filter((s) => s.readyEndpoints > 0) };
  const byReason = new Map<string, string[]>();
  for (const [name, n] of [...world.nodeMap].sort(([a], [b]) => cmp(a, b))) {
    const why = ineligibility(n, serving, world.live.has(name)) ?? "eligible";
    byReason.set(why, [...(byReason.get(why) ?? []), name]);
  }
  const parts = [...byReason].map(([why, names]) => `${why} (${abbreviate(names)})`);
  return `no eligible node: ${parts.join("; ")}`;
}

const NO_READY_ENDPOINTS =
  "no ready endpoints: no Pod behind the Service is Ready (kubectl get endpointslices " +
  "-l kubernetes.io/service-name=<name>); nobody announces an IP nothing would answer on";

/** Why no node advertises a BGP pool's `ip`: no peers, or each node's reason. */
function whyNoAdvertiser(
  ip: AnnouncedIP,
  config: Config,
  world: { live: ReadonlySet<string>; nodeMap: ReadonlyMap<string, NodeFacts> },
): string {
  if (!ip.services.some((s) => s.readyEndpoints > 0)) return NO_READY_ENDPOINTS;
  if (config.peers.length === 0) return "the config has no peers: list the routers under peers";
  if (world.nodeMap.size === 0) return "the cluster has no Nodes";
  const byReason = new Map<string, string[]>();
  for (const [name, n] of [...world.nodeMap].sort(([a], [b]) => cmp(a, b))) {
    const why = !config.peers.some((p) => peerSelects(p, n))
      ? "selected by no peer's node-selectors"
      : (bgpIneligibility(n, ip, world.live.has(name)) ?? "eligible");
    byReason.set(why, [...(byReason.get(why) ?? []), name]);
  }
  const parts = [...byReason].map(([why, names]) => `${why} (${abbreviate(names)})`);
  return `no eligible node: ${parts.join("; ")}`;
}

/** The node published sessions and none is Established (none published: not known). */
function sessionsAllDown(sessions: readonly PublishedSession[] | undefined): boolean {
  return (
    sessions !== undefined &&
    sessions.length > 0 &&
    !sessions.some((x) => x.state === "Established")
  );
}

/**
 * `192.0.2.17: node n1 advertises it but has no Established BGP session (192.0.2.1: Active:
 * connect-failed: TCP connect timed out)`, for up to three nodes; `none` when they are all
 * the nodes that would advertise it: then no router has a route to it.
 */
function noSessionReason(
  ip: string,
  down: readonly string[],
  none: boolean,
  sessionsOf: ReadonlyMap<string, readonly PublishedSession[]>,
): string {
  const shown = down.slice(0, 3).map((n) => {
    const sessions = (sessionsOf.get(n) ?? []).map((x) => formatSession(x, ": ")).join("; ");
    return `node ${n} advertises it but has no Established BGP session (${sessions})`;
  });
  const more =
    down.length > shown.length
      ? `; and ${down.length - shown.length} more nodes have none either`
      : "";
  return `${ip}: ${none ? "no router gets it: " : ""}${shown.join("; ")}${more}`;
}

/**
 * One session as `barelb status` shows it: `192.0.2.1 Established (BFD Up)`,
 * `192.0.2.2 Active: connect-failed: TCP connect timed out` (`sep` between peer and state).
 */
export function formatSession(x: PublishedSession, sep = " "): string {
  const bfd = x.bfd === undefined ? "" : ` (BFD ${x.bfd})`;
  const error = x.error === undefined ? "" : `: ${x.error}`;
  return `${x.peer}${sep}${x.state}${bfd}${error}`;
}

function abbreviate(names: readonly string[]): string {
  const shown = names.slice(0, 3);
  return names.length > shown.length
    ? `${shown.join(", ")} and ${names.length - shown.length} more`
    : shown.join(", ");
}
