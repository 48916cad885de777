import type { Server } from "node:http";
import type { KubernetesObject, V1Node } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { Registry as RegistryT } from "prom-client";
import { processMetrics, Registry } from "../observability/prom-lite.js";
import { watchPoolConfig } from "../adapters/pool-config.js";
import { eventTarget } from "../adapters/service.js";
import {
  DataPlane,
  interfacePolicy,
  NetlinkInterfaces,
  readIPv4Addresses,
  trimMemory,
  type Ownership,
} from "../dataplane/index.js";
import { RESOURCES, resourcePath, type KubeClient, type ResourceRef } from "../k8s/api.js";
import { EventRecorder } from "../k8s/events.js";
import type { LeaseJson } from "../k8s/microtime.js";
import { watchResource, type WatchedResource } from "../k8s/informer.js";
import { closeHttpServer, startHttpServer } from "../observability/http.js";
import { StopSteps, whenAborted } from "../util/stopping.js";
import type { ElectedOwner, NodeFacts } from "./election.js";
import { HeartbeatTransport } from "./heartbeat.js";
import { HeartbeatKeyFile } from "./heartbeat-keys.js";
import { Membership, type MembershipChange } from "./membership.js";
import { SpeakerMetrics } from "./metrics.js";
import {
  HEARTBEAT_ADDR_ANNOTATION,
  HEARTBEAT_TOKEN_ANNOTATION,
  newHeartbeatToken,
} from "./heartbeat-codec.js";
import { gainedAnnouncements, ownershipStep, unannounceable } from "./ownership.js";
import {
  addressInUseConditions,
  announcedConditions,
  withdrawnConditions,
  type ConditionApply,
} from "./announced-condition.js";
import {
  AddressGate,
  CLAIM_SETTLE_MS,
  conflictMessage,
  HOLD_REPROBE_MS,
  wasAnnounced,
  type ConflictPolicy,
  type ConflictReport,
} from "./address-conflict.js";
import type { AddressClaim, ProbeResult } from "../dataplane/index.js";
import { ConditionWriter } from "./condition-writer.js";
import { familyOf } from "./announced-condition.js";
import { OwnLease, SPEAKER_LEASE_LABELS, SPEAKER_LEASE_PREFIX } from "./own-lease.js";
import { readHostFacts } from "./node-facts.js";
import { NodeWarner } from "./node-warner.js";
import {
  MEMBERSHIP_ANNOTATION,
  NODE_WARNINGS_ANNOTATION,
  selfMembership,
} from "./node-warnings.js";
import { SPEAKER_NODE_FLAGS, startedWithSpeakerNodeFlags } from "./node-flags.js";
import { bgpPlan } from "./bgp-routes.js";
import { BgpSpeaker, type DesiredPeer } from "../routing/bgp-speaker.js";
import { BfdEndpoint } from "../routing/bfd.js";
import { RouterSession } from "../routing/router-session.js";
import { BGP_SESSIONS_ANNOTATION, bgpSessionsAnnotation } from "./bgp-status.js";
import {
  announcedIPs,
  type AnnouncedIP,
  endpointSummaries,
  nodeFacts,
  slimEndpointSlice,
  slimNode,
  slimService,
} from "./world.js";

/**
 * `barelb speaker`: on every node. Watches Services, EndpointSlices, Nodes, the pool
 * ConfigMap and the other speakers' Leases; keeps its own Lease and exchanges UDP heartbeats
 * with its peers; recomputes, on every change, which IPs this node announces (the same pure
 * election on every node), and hands that set to the ARP/NDP data plane.
 */

const STOPPED = Symbol("stopped");

/**
 * How long a new IP is probed before it is announced (--address-probe): three probes spread
 * over it. A host on the LAN answers within a millisecond or two; 300 ms leaves room for a
 * busy or power-saving one, and a Service that just got its IP is announced 0.3 s later.
 */
export const DEFAULT_ADDRESS_PROBE_MS = 300;

export interface SpeakerOptions {
  client: KubeClient;
  nodeName: string;
  namespace: string;
  configMap: string;
  lbClass: string | undefined;
  leaseDurationMs: number;
  renewIntervalMs: number;
  /** How often the API server is read for API health (a cached GET, no etcd). */
  apiCheckIntervalMs: number;
  /** API health lapses this long after the last successful request. */
  apiStaleAfterMs: number;
  heartbeatPort: number;
  heartbeatIntervalMs: number;
  deadAfterMs: number;
  /** The shared key that signs heartbeats (a mounted Secret), re-read when it changes. */
  heartbeatKeyFile: string;
  /** How long a replaced heartbeat key stays accepted after a rotation. */
  heartbeatKeyGraceMs: number;
  excludeInterfaces: string[] | undefined;
  /** While an IP is owned, one more gratuitous round every this many ms (off when unset). */
  refreshAnnouncementsMs?: number | undefined;
  /** How often this node's setup is checked (node-warnings.ts); default 30 s. */
  nodeCheckIntervalMs?: number | undefined;
  /** How long a new IP is probed for another host using it before it is announced; 0: not. */
  addressProbeMs?: number | undefined;
  /** What to do with a new IP another host uses (see address-conflict.ts). Default: hold. */
  onAddressConflict?: ConflictPolicy | undefined;
  /** The speaker's own Pod (in `namespace`): owner of its Lease. */
  ownerPod?: { name: string; uid: string } | undefined;
  metricsAddress: string;
  metricsPort: number;
  log: Logger;
}

export interface SpeakerHandle {
  readonly registry: RegistryT;
  /** The IPs this node announces now. */
  owned(): string[];
  readonly done: Promise<void>;
  /** The stop steps still running (each is bounded; see StopSteps). */
  stopping(): readonly string[];
}

export function runSpeaker(opts: SpeakerOptions, stop: AbortSignal): SpeakerHandle {
  const { client, namespace, nodeName: self, log } = opts;
  // First, and synchronously: without a key the speaker does not start (the error says why).
  const keyFile = HeartbeatKeyFile.open(opts.heartbeatKeyFile, log, {
    graceMs: opts.heartbeatKeyGraceMs,
  });
  const registry = new Registry();
  processMetrics(registry, "barelb_speaker_");
  const metrics = new SpeakerMetrics(registry, () => owned.keys());
  const events = new EventRecorder(client, "barelb-speaker", self, log);
  const token = newHeartbeatToken();
  const incarnation = Date.now();
  let membership: Membership | undefined;
  const ownLease = new OwnLease({
    client,
    namespace,
    node: self,
    leaseDurationMs: opts.leaseDurationMs,
    renewIntervalMs: opts.renewIntervalMs,
    apiCheckIntervalMs: opts.apiCheckIntervalMs,
    apiStaleAfterMs: opts.apiStaleAfterMs,
    annotations: { [HEARTBEAT_TOKEN_ANNOTATION]: token, [MEMBERSHIP_ANNOTATION]: "starting" },
    ownerPod: opts.ownerPod,
    log,
  });

  let owned = new Map<string, Ownership>();
  /** The LoadBalancer IPs of the last recompute (the node checks name those on kube-ipvs0). */
  let lbIPs: ReadonlyMap<string, unknown> = new Map();
  let elected: ReadonlyMap<string, ElectedOwner> = new Map();
  /** IPs whose "announced" condition this node wrote and may still stand (withdrawnConditions). */
  let standing: ReadonlySet<string> = new Set();
  /** The previous step's election, once the caches were whole when it ran (else null). */
  let trustedElected: ReadonlyMap<string, ElectedOwner> | null = null;
  let synced = false;
  let currentIPs: ReadonlyMap<string, AnnouncedIP> = new Map();
  // New IPs are probed before they are announced (another host on the LAN may use them).
  const policy = opts.onAddressConflict ?? "hold";
  const gate = new AddressGate(policy, opts.addressProbeMs ?? DEFAULT_ADDRESS_PROBE_MS);
  /** AddressInUse conditions for IPs announced despite a conflict, applied once announced. */
  const announcedDespite = new Map<string, ConditionApply[]>();
  /** Claims on owned IPs waiting out CLAIM_SETTLE_MS, one per IP. */
  const settling = new Map<string, NodeJS.Timeout>();
  /** Timers that run a step when a held IP is due to be probed again. */
  const reprobes = new Set<NodeJS.Timeout>();
  // Who announces each IP, on its Services: written on ownership changes only, if still true.
  const conditions = new ConditionWriter(
    client,
    (a) =>
      a.held === true
        ? gate.isHeld(a.ip)
        : a.announced
          ? owned.has(a.ip)
          : a.bgp === true
            ? currentIPs.get(a.ip)?.protocol === "bgp"
            : elected.get(a.ip)?.owner === null,
    log,
  );
  const conditionsDone = conditions.run(stop);
  let scheduled = false;
  let dataplane: DataPlane | null = null;
  /** The BGP sessions (made once this node's Node is read: its address is the router ID). */
  let bgp: BgpSpeaker | null = null;
  let bfd: BfdEndpoint | null = null;
  /** Announce nothing before this (monotonic ms): see the start-up quiet period below. */
  let quietUntil = Infinity;

  // ---- recompute: world → election → data plane ------------------------------------
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      recompute();
    });
  };

  const watches: { synced: Promise<void>; stop(): Promise<void> }[] = [];
  const watch = <T>(w: WatchedResource<T>): WatchedResource<T> => {
    watches.push(w);
    return w;
  };
  /** A cluster-wide cache of `resource`, slimmed by `transform`, whose changes recompute. */
  const cached = <T extends KubernetesObject>(
    resource: ResourceRef,
    transform: (obj: T) => T,
    what: string,
  ) =>
    watch(
      watchResource<T>({
        client,
        transform,
        path: resourcePath(resource),
        handlers: { add: schedule, update: schedule, delete: schedule },
        log,
        what,
      }),
    );
  const services = cached(RESOURCES.services, slimService, "services");
  const slices = cached(RESOURCES.endpointSlices, slimEndpointSlice, "endpointslices");
  const nodes = cached(RESOURCES.nodes, slimNode, "nodes");
  // The pool config: the same watch, parser and last-good rule as the controller's. A refused
  // edit, a missing key or a deleted ConfigMap change nothing this node announces.
  const poolConfig = watchPoolConfig({
    client,
    namespace,
    name: opts.configMap,
    registry,
    log,
    onLoaded: schedule,
  });
  watches.push(poolConfig);
  function onMembershipChange(changes: readonly MembershipChange[]): void {
    for (const c of changes) {
      metrics.membershipChanges.inc({ change: c.change, reason: c.reason });
      log.info(
        {
          peer: c.node,
          change: c.change,
          from: c.from,
          to: c.to,
          reason: c.reason,
          holdMs: c.holdMs,
        },
        "membership changed",
      );
    }
    schedule();
  }

  /**
   * This node's own state, on its Lease about a second after it changes (`barelb status`
   * reads it): one write per change, which is rare (start, hold, fence, stop).
   */
  function publishMembership(quiet: boolean): void {
    const m = membership;
    const state = m?.status().find((s) => s.self)?.state;
    ownLease.annotate(
      MEMBERSHIP_ANNOTATION,
      selfMembership(state, { leaving: m?.selfLeaving() === true, quiet }),
      { soon: true },
    );
  }

  function recompute(): void {
    if (dataplane === null || membership === undefined) return;
    const nodeMap = new Map<string, NodeFacts>();
    for (const n of nodes.cache.list()) nodeMap.set(n.metadata?.name ?? "", nodeFacts(n));
    // Without a config in force this node cannot know a pool's node selectors or interfaces:
    // it announces nothing (and is not Ready) rather than announce from anywhere.
    const config = poolConfig.current();
    const ips =
      config === null
        ? new Map<string, AnnouncedIP>()
        : announcedIPs(
            services.cache.list(),
            endpointSummaries(slices.cache.list()),
            config,
            opts.lbClass,
          );
    // The membership's view includes this node: eligible unless fenced, held or leaving.
    const members = new Set(membership.eligible());
    metrics.members.set(members.size);
    metrics.fenced.set(membership.selfFenced() ? 1 : 0);
    const quiet = performance.now() < quietUntil;
    publishMembership(quiet);
    lbIPs = ips;
    const elections = ownershipStep({
      self,
      ips,
      nodes: nodeMap,
      members,
      quiet,
      previous: owned,
    });
    // New IPs wait for their probe (and, held, for the other host to go); takeovers do not.
    const gated = gate.step(
      elections.owned,
      owned,
      (ip) => !wasAnnounced(ip, self, trustedElected, owned, ips.get(ip)?.holders ?? []),
      performance.now(),
    );
    for (const ip of gated.cancel) dataplane.cancelProbe(ip);
    for (const ip of announcedDespite.keys())
      if (!elections.owned.has(ip)) announcedDespite.delete(ip);
    for (const p of gated.probe) startProbe(dataplane, p.ip, p.ownership);
    const step = {
      ...elections,
      owned: gated.announce,
      gained: elections.gained.filter((ip) => gated.announce.has(ip)),
    };
    const invalid = dataplane.setOwned(step.owned);
    if (invalid.length > 0) log.warn({ ips: invalid }, "IPs the data plane could not use");
    const usable = dataplane.interfaces().map((i) => i.name);
    const gained = gainedAnnouncements(step, ips, usable, self);
    metrics.announceFailed.set(unannounceable(step.owned, usable));
    const now = new Date();
    conditions.add(announcedConditions(gained, self, now));
    const withdrawn = withdrawnConditions(
      new Set([...standing, ...gained.map((g) => g.ip)]),
      step,
      ips,
      self,
      now,
    );
    conditions.add(withdrawn.applies);
    standing = withdrawn.standing;
    for (const g of gained) {
      const despite = announcedDespite.get(g.ip);
      announcedDespite.delete(g.ip);
      if (despite !== undefined) conditions.add(despite);
    }
    for (const g of gained) {
      metrics.ownershipChanges.inc({ change: "gained" });
      for (const e of g.events) events.emit(eventTarget(e.service), e.type, e.reason, e.message);
      log.info({ ip: g.ip, interfaces: g.interfaces }, "announcing");
    }
    for (const { ip, owner } of step.lost) {
      metrics.ownershipChanges.inc({ change: "lost" });
      metrics.forgetIP(ip);
      log.info({ ip, owner }, "no longer announcing");
    }
    owned = step.owned;
    elected = step.elected;
    trustedElected = synced ? step.elected : null;
    currentIPs = ips;
    // BGP: every eligible node advertises (no election, no quiet period: the router spreads
    // the traffic and drops a dead node). Only from whole caches: a partial view would
    // withdraw and re-advertise routes while the watches fill at start-up. Layer 2's holds
    // do not apply: they keep a returning node from taking IPs back, and a node back from a
    // partition holds its peers, which would withdraw every route at once (the routers' BFD
    // and hold timers judge liveness here). A node stopping, or fenced (cut off from the API
    // server while others are not, so its view may be stale), withdraws.
    if (bgp !== null && synced && config !== null) {
      const plan = bgpPlan({
        config,
        node: nodeMap.get(self),
        live: !membership.selfLeaving() && !membership.selfFenced(),
        ips: ips.values(),
      });
      bgp.update(
        plan.map((p): DesiredPeer => ({
          key: p.key,
          peer: p.peer,
          bfdProfile: config.bfdProfiles.find((b) => b.name === p.peer.bfdProfile),
          routes: p.routes,
        })),
      );
    }
  }

  // ---- address conflicts: another host on the LAN using an IP --------------------------
  function startProbe(dp: DataPlane, ip: string, o: Ownership): void {
    dp.probe(ip, o, gate.probeMs).then(
      (r: ProbeResult) => {
        if (r.outcome === "conflict") {
          metrics.addressConflicts.inc({ family: familyOf(ip) });
          // A held IP is probed again at the step after HOLD_REPROBE_MS: make sure one runs.
          if (policy === "hold") {
            const t = setTimeout(() => {
              reprobes.delete(t);
              schedule();
            }, HOLD_REPROBE_MS + 1);
            reprobes.add(t);
          }
        }
        const report = gate.probeEnded(ip, r, performance.now());
        if (report !== null) reportConflict(report);
        if (r.outcome !== "cancelled") schedule();
      },
      (err: unknown) => log.warn({ err, ip }, "cannot probe address"),
    );
  }

  function onOwnedClaim(claim: AddressClaim): void {
    if (settling.has(claim.ip)) return;
    const t = setTimeout(() => {
      settling.delete(claim.ip);
      const still = owned.has(claim.ip);
      if (still) metrics.addressConflicts.inc({ family: familyOf(claim.ip) });
      const report = gate.ownedClaim(claim, still, performance.now());
      if (report !== null) reportConflict(report);
    }, CLAIM_SETTLE_MS);
    t.unref();
    settling.set(claim.ip, t);
  }

  function reportConflict(r: ConflictReport): void {
    const { ip, mac, iface, kind } = r.claim;
    const holders = currentIPs.get(ip)?.holders ?? [];
    const message = conflictMessage(r, self, policy);
    log.warn({ ip, mac, iface, kind, action: r.action, message }, "address in use by another host");
    for (const svc of holders) events.emit(eventTarget(svc), "Warning", "AddressInUse", message);
    const applies = addressInUseConditions(ip, holders, r.action === "held", message, new Date());
    // Announced anyway: after the Announcing condition its announcement writes.
    if (r.action === "announced") announcedDespite.set(ip, applies);
    else conditions.add(applies);
  }

  // ---- start-up, the loops, and the graceful stop ------------------------------------
  const steps = new StopSteps(log);
  const done = (async () => {
    // Every wait of the start-up on the API server ends with the stop, which then undoes what
    // was started so far: a speaker stopped while the API server is silent exits in time.
    const stopped = whenAborted(stop).then((): typeof STOPPED => STOPPED);
    const orStop = <T>(p: Promise<T>): Promise<T | typeof STOPPED> => Promise.race([p, stopped]);
    let interfaces: NetlinkInterfaces | undefined;
    let transport: HeartbeatTransport | undefined;
    let server: Server | undefined;
    let warner: NodeWarner | undefined;
    const timers: NodeJS.Timeout[] = [];
    try {
      const node = await orStop(client.get<V1Node>(resourcePath(RESOURCES.nodes, { name: self })));
      if (node === STOPPED) return;
      const leftBehind = await orStop(ownLease.leftBehind());
      if (leftBehind === STOPPED) return;
      const address = formatHostPort(heartbeatAddress(node), opts.heartbeatPort);
      ownLease.annotate(HEARTBEAT_ADDR_ANNOTATION, address);
      const nodeTarget = {
        kind: "Node",
        apiVersion: "v1",
        namespace: "",
        name: self,
        uid: node.metadata?.uid,
      };
      const endpoint = new BfdEndpoint({ logger: log });
      bfd = endpoint;
      let published = "";
      const bgpSpeaker = new BgpSpeaker({
        defaultRouterId: internalIPv4(node),
        log,
        newSession: (d, routerId, onChange) =>
          new RouterSession({
            desired: d,
            routerId,
            bfd: endpoint,
            log,
            metrics,
            onChange,
            event: (type, reason, message) => events.emit(nodeTarget, type, reason, message),
          }),
        onChange: () => {
          // `barelb status` reads the sessions from the Lease: written when their states change.
          const value = bgpSessionsAnnotation(bgpSpeaker.reports());
          // Nothing to say without peers: a layer-2-only node's Lease gets no annotation.
          if (value === published || (published === "" && value === "[]")) return;
          published = value;
          ownLease.annotate(BGP_SESSIONS_ANNOTATION, value, { soon: true });
        },
      });
      bgp = bgpSpeaker;
      metrics.bgpSessions(() => bgpSpeaker.reports());
      const m = new Membership({
        self,
        selfApiHealthy: () => ownLease.apiHealthy(),
        deadAfterMs: opts.deadAfterMs,
        // Peers hold a node whose previous run vanished without deleting its Lease.
        holdSelfAtStart: leftBehind,
        onChange: onMembershipChange,
      });
      membership = m;
      // Peers' Leases only now, so that none is observed before the membership exists.
      const leaseSelector = Object.entries(SPEAKER_LEASE_LABELS)
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
      const onLease = (lease: LeaseJson) => {
        const name = lease.metadata?.name ?? "";
        if (!name.startsWith(SPEAKER_LEASE_PREFIX)) return;
        const node = name.slice(SPEAKER_LEASE_PREFIX.length);
        const a = lease.metadata?.annotations ?? {};
        // renewTime goes in as an opaque string, compared for change only: clock skew cannot matter.
        m.leaseObserved(
          node,
          lease.spec?.renewTime ?? "",
          (lease.spec?.leaseDurationSeconds ?? 0) * 1000,
          a[HEARTBEAT_TOKEN_ANNOTATION] ?? "",
          a[HEARTBEAT_ADDR_ANNOTATION] ?? "",
        );
      };
      watch(
        watchResource<LeaseJson>({
          client,
          path: resourcePath(RESOURCES.leases, { namespace }),
          labelSelector: leaseSelector,
          handlers: {
            add: onLease,
            update: onLease,
            delete: (lease) => {
              m.leaseDeleted((lease.metadata?.name ?? "").slice(SPEAKER_LEASE_PREFIX.length));
            },
          },
          log,
          what: "leases",
        }),
      );

      interfaces = await NetlinkInterfaces.open({
        policy: interfacePolicy(opts.excludeInterfaces),
        log,
      });
      dataplane = new DataPlane({
        interfaces,
        metrics,
        log,
        refreshMs: opts.refreshAnnouncementsMs,
        onClaim: onOwnedClaim,
      });
      dataplane.start();
      // Setups of this node that make announcements fail silently: checked now and then, and
      // when the interfaces change.
      const dp = dataplane;
      const nodeWarner = new NodeWarner({
        read: () =>
          readHostFacts({
            interfaces: dp.interfaces().map((i) => i.name),
            lbIPs: { has: (ip) => lbIPs.has(ip) },
            ipv4Addresses: readIPv4Addresses,
          }),
        intervalMs: opts.nodeCheckIntervalMs ?? 30_000,
        events,
        node: nodeTarget,
        gauge: (kind, value) => metrics.nodeWarnings.set({ kind }, value),
        publish: (value) => ownLease.annotate(NODE_WARNINGS_ANNOTATION, value),
        log,
      });
      warner = nodeWarner;
      interfaces.subscribe(() => void nodeWarner.check());
      nodeWarner.start();
      transport = new HeartbeatTransport({
        membership: m,
        self: { node: self, token, incarnation },
        keys: keyFile.keyring,
        port: opts.heartbeatPort,
        intervalMs: opts.heartbeatIntervalMs,
        log,
        metrics: metrics.heartbeat,
      });
      await transport.start();
      ownLease.start();
      timers.push(setInterval(() => metrics.apiHealthy.set(ownLease.apiHealthy() ? 1 : 0), 1_000));
      // glibc keeps memory freed after a burst (list pages, Events, TLS records) mapped; give it
      // back now and then (measured: about 10 MiB of 110 after taking over 5,000 IPs).
      timers.push(setInterval(() => trimMemory(), 30_000).unref());
      server = await startHttpServer(
        opts.metricsAddress,
        opts.metricsPort,
        registry,
        {
          healthy: () => null,
          ready: () =>
            poolConfig.current() === null
              ? `no valid pool config in ConfigMap ${namespace}/${opts.configMap} yet: announcing nothing`
              : ownLease.apiHealthy()
                ? null
                : "speaker Lease not written yet, or no answer from the API server within --api-stale-after",
        },
        log,
      );
      if ((await orStop(Promise.all(watches.map((w) => w.synced)))) === STOPPED) return;
      synced = true;
      // Start-up quiet period: announce nothing until deadAfter + two heartbeat rounds after
      // the first renewal, so a node starting after a crash cannot answer beside the current
      // owner before its peers' holds reach it. Known cost (bench/failover.ts): peers count a
      // node from its Lease, so after a graceful restart the IPs it wins back go unanswered
      // for this long (about 1.4 s); waiting for the peers' acknowledgement instead is open.
      if ((await orStop(ownLease.firstRenewal)) === STOPPED) return;
      const quietMs = opts.deadAfterMs + 2 * opts.heartbeatIntervalMs;
      quietUntil = performance.now() + quietMs;
      setTimeout(schedule, quietMs + 1).unref();
      schedule();
      log.info({ node: self, heartbeat: address }, "speaker running");
      if (!startedWithSpeakerNodeFlags()) {
        log.info(
          { nodeFlags: SPEAKER_NODE_FLAGS.join(" ") },
          "Node was started without the speaker's flags (the Helm chart gives them): it will use more memory",
        );
      }

      await stopped;
    } finally {
      // Graceful stop: stop answering at once, tell the peers, delete the Lease. Each step is
      // bounded (the API server may not answer), all within the chart's 5 s grace period.
      for (const t of timers) clearInterval(t);
      warner?.stop();
      for (const t of [...settling.values(), ...reprobes]) clearTimeout(t);
      dataplane?.setOwned(new Map());
      // Routers withdraw this node's routes at the Cease, not after a hold time or BFD.
      const routing = bgp;
      if (routing !== null) await steps.run("close the BGP sessions", 1_000, () => routing.stop());
      const bfdEndpoint = bfd;
      const bfdClosed = bfdEndpoint?.close();
      const leaving = transport;
      if (leaving !== undefined)
        await steps.run("tell the peers this node leaves", 500, () => leaving.leave());
      await steps.run("delete the speaker Lease", 2_500, () => ownLease.stop(true, 2_000));
      await transport?.close();
      keyFile.close();
      await steps.run("stop the watches", 500, () => Promise.all(watches.map((w) => w.stop())));
      dataplane?.stop();
      interfaces?.close();
      if (bfdClosed !== undefined)
        await steps.run("close the BFD sessions", 1_000, () => bfdClosed);
      await steps.run("write the last Events", 500, (signal) => events.flush(signal));
      await steps.run("stop the condition writes", 500, () => conditionsDone);
      const metricsServer = server;
      if (metricsServer !== undefined)
        await steps.run("close the metrics server", 500, (signal) =>
          closeHttpServer(metricsServer, signal),
        );
    }
  })();

  return {
    registry,
    owned: () => [...owned.keys()],
    done,
    stopping: () => steps.waitingFor(),
  };
}

/** The node's first IPv4 InternalIP: the BGP Identifier of peers without a router-id. */
function internalIPv4(node: V1Node): string | undefined {
  return (node.status?.addresses ?? []).find(
    (a) => a.type === "InternalIP" && !a.address.includes(":"),
  )?.address;
}

/** The address peers send heartbeats to: the node's InternalIP (IPv4 preferred). */
function heartbeatAddress(node: V1Node): string {
  const internal = (node.status?.addresses ?? [])
    .filter((a) => a.type === "InternalIP")
    .map((a) => a.address);
  const v4 = internal.find((a) => !a.includes(":"));
  const chosen = v4 ?? internal[0];
  if (chosen === undefined)
    throw new Error(
      `Node ${node.metadata?.name ?? "?"} has no InternalIP to receive heartbeats on`,
    );
  return chosen;
}

function formatHostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}
