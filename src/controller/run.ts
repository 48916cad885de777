import type { V1Service } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { collectDefaultMetrics, Registry } from "prom-client";
import { watchPoolConfig } from "../adapters/pool-config.js";
import { RESOURCES, resourcePath, type KubeClient } from "../k8s/api.js";
import { EventRecorder } from "../k8s/events.js";
import { watchResource } from "../k8s/informer.js";
import { LeaderElector } from "../k8s/leader-election.js";
import { closeHttpServer, startHttpServer } from "../observability/http.js";
import { StopSteps, whenAborted } from "../util/stopping.js";
import { WorkQueue } from "../util/workqueue.js";
import { ControllerMetrics } from "./metrics.js";
import { serviceKey } from "../adapters/service.js";
import { ServiceController } from "./service-controller.js";
import { ServiceStatusWriter } from "./status-writer.js";
import { watchSetup } from "./setup-watch.js";
import { watchForeign } from "./foreign-watch.js";
import { foreignFinding, slimManagedFields } from "../adapters/foreign-lb.js";

/**
 * `barelb controller`: watches the pool ConfigMap, all Services and Nodes (setup warnings,
 * addresses never picked) and k3s ServiceLB's pods (another implementation acting); the leader (Lease `barelb-controller`) restores existing
 * assignments, then reconciles Services one at a time. Standbys keep their caches warm so a
 * takeover starts at once.
 */

export interface ControllerOptions {
  client: KubeClient;
  namespace: string;
  configMap: string;
  lbClass: string | undefined;
  identity: string;
  leaderElect: boolean;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** The replica's own Pod (in `namespace`): owner of the leader Lease while it leads. */
  ownerPod?: { name: string; uid: string } | undefined;
  metricsAddress: string;
  metricsPort: number;
  log: Logger;
  /** How long to leave a status another implementation wrote (tests shorten it). */
  foreignWriteHoldMs?: number;
}

/** What the rest of the process can see of a running controller (tests and benchmarks). */
export interface ControllerHandle {
  readonly metrics: ControllerMetrics;
  readonly registry: Registry;
  readonly writer: ServiceStatusWriter;
  /** Resolves once this replica leads and has restored every existing assignment. */
  readonly restored: Promise<void>;
  /** True when the leader has nothing queued or in flight. */
  idle(): boolean;
  /** Resolves when the controller has stopped (after `stop` is aborted). */
  readonly done: Promise<void>;
  /** The stop steps still running (each is bounded; see StopSteps). */
  stopping(): readonly string[];
}

interface Session {
  ctrl: ServiceController;
  queue: WorkQueue<string>;
}

export function runController(opts: ControllerOptions, stop: AbortSignal): ControllerHandle {
  const { client, namespace, log } = opts;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "barelb_controller_" });
  const metrics = new ControllerMetrics(registry);
  const events = new EventRecorder(client, "barelb-controller", opts.identity, log);
  const writer = new ServiceStatusWriter(client, () => metrics.statusWrites.inc());

  let session: Session | null = null;
  let restoredNow: () => void = () => undefined;
  const restored = new Promise<void>((resolve) => (restoredNow = resolve));
  let isRestored = false;

  // ---- the pool ConfigMap ------------------------------------------------------------
  const poolConfig = watchPoolConfig({
    client,
    namespace,
    name: opts.configMap,
    registry,
    log,
    onLoaded: (config) => {
      setup.check(config, session !== null);
      if (session === null) return;
      for (const key of session.ctrl.setConfig(config)) session.queue.add(key);
      metrics.updatePools(session.ctrl.allocator.stats(), countAssigned(session.ctrl));
    },
    // Only the controller writes the Event: one per refusal, not one per speaker.
    onRefused: (cm, summary) => {
      if (cm === undefined) return;
      events.emit(
        {
          kind: "ConfigMap",
          apiVersion: "v1",
          namespace,
          name: opts.configMap,
          uid: cm.metadata?.uid,
          resourceVersion: cm.metadata?.resourceVersion,
        },
        "Warning",
        "InvalidConfig",
        `config refused, the previous one stays in force: ${summary}`,
      );
    },
  });

  // ---- Nodes: a pool holding a node's or the API server's address, every node excluded ----
  const setup = watchSetup({
    client,
    namespace,
    configMap: opts.configMap,
    events,
    metrics,
    log,
    current: () => ({ config: poolConfig.current(), leading: session !== null }),
    onNodes: () => {
      if (session?.ctrl.allocator.setReserved(setup.reserved()) !== true) return;
      for (const p of session.ctrl.pendingKeys()) session.queue.add(p);
    },
  });

  // ---- Services ----------------------------------------------------------------------
  const enqueue = (svc: V1Service) => session?.queue.add(serviceKey(svc));
  const services = watchResource<V1Service>({
    client,
    path: resourcePath(RESOURCES.services),
    handlers: { add: enqueue, update: enqueue, delete: enqueue },
    log,
    what: "services",
    // Only who wrote status.loadBalancer (and when) of managedFields: see foreign-lb.ts.
    transform: (svc) => {
      const slim = slimManagedFields(svc.metadata?.managedFields);
      if (svc.metadata !== undefined) {
        if (slim === undefined) delete svc.metadata.managedFields;
        else svc.metadata.managedFields = slim;
      }
      return svc;
    },
  });
  // ---- k3s ServiceLB's pods: another implementation acting on the Services they name ----
  const foreignPods = watchForeign({
    client,
    log,
    onChange: (key) => session?.queue.add(key),
  });

  const lookup = (key: string) => {
    const slash = key.indexOf("/");
    return services.cache.get(key.slice(slash + 1), key.slice(0, slash));
  };

  // ---- leading -----------------------------------------------------------------------
  async function lead(lost: AbortSignal): Promise<void> {
    metrics.leader.set(1);
    try {
      await Promise.race([
        Promise.all([services.synced, poolConfig.loaded, setup.synced, foreignPods.synced]),
        whenAborted(lost),
      ]);
      const config = poolConfig.current();
      if (lost.aborted || config === null) return;
      const ctrl = new ServiceController({
        config,
        lookup,
        all: () => services.cache.list(),
        writer,
        events,
        log,
        lbClass: opts.lbClass,
        observer: metrics,
        foreign: (svc) => foreignFinding(svc, foreignPods.pods(serviceKey(svc))),
        foreignHoldMs: opts.foreignWriteHoldMs,
      });
      // Decisions are synchronous and in order; only the API writes of up to 16 overlap.
      const queue = new WorkQueue<string>({ baseDelayMs: 200, maxDelayMs: 60_000, workers: 16 });
      for (const key of ctrl.restore()) queue.add(key);
      ctrl.allocator.setReserved(setup.reserved());
      session = { ctrl, queue };
      isRestored = true;
      restoredNow();
      metrics.updatePools(ctrl.allocator.stats(), countAssigned(ctrl));
      setup.check(config, true);
      await queue.run(
        lost,
        async (key) => {
          const outcome = await ctrl.reconcile(key);
          if (outcome === "reprocessAll") {
            for (const p of ctrl.pendingKeys()) queue.add(p);
          } else if (typeof outcome === "object" && Number.isFinite(outcome.after)) {
            queue.addAfter(key, outcome.after);
          }
          metrics.updatePools(ctrl.allocator.stats(), countAssigned(ctrl));
          return "ok";
        },
        (key, e) => log.warn({ err: e, service: key }, "reconcile failed; will retry"),
      );
    } finally {
      session = null;
      isRestored = false;
      setup.forget();
      metrics.foreignLoadBalancers({ ServiceLB: 0, StatusWriter: 0 });
      metrics.leader.set(0);
    }
  }

  const steps = new StopSteps(log);
  const done = (async () => {
    const server = await startHttpServer(
      opts.metricsAddress,
      opts.metricsPort,
      registry,
      {
        healthy: () => null,
        ready: () =>
          poolConfig.current() === null
            ? `waiting for a valid config in ConfigMap ${namespace}/${opts.configMap}`
            : session !== null && !isRestored
              ? "restoring existing assignments"
              : null,
      },
      log,
    );
    try {
      if (opts.leaderElect) {
        const elector = new LeaderElector({
          client,
          namespace,
          name: "barelb-controller",
          identity: opts.identity,
          leaseDurationMs: opts.leaseDurationMs,
          renewDeadlineMs: opts.renewDeadlineMs,
          retryPeriodMs: opts.retryPeriodMs,
          owner: opts.ownerPod,
          log,
          stopSteps: steps,
        });
        await elector.run(stop, { onStartedLeading: lead, onStoppedLeading: () => undefined });
      } else {
        const work = lead(stop);
        await Promise.race([work, whenAborted(stop)]);
        await steps.run("the work to finish", 2_000, () => work);
      }
    } finally {
      // Each step bounded: an API server that does not answer cannot hold the stop.
      await steps.run("stop the watches", 1_000, () =>
        Promise.all([services.stop(), poolConfig.stop(), setup.stop(), foreignPods.stop()]),
      );
      await steps.run("write the last Events", 1_000, (signal) => events.flush(signal));
      await steps.run("close the metrics server", 500, (signal) => closeHttpServer(server, signal));
    }
  })();

  return {
    metrics,
    registry,
    writer,
    restored,
    idle: () => session !== null && session.queue.idle,
    done,
    stopping: () => steps.waitingFor(),
  };
}

function countAssigned(ctrl: ServiceController): number {
  return ctrl.allocator.size;
}
