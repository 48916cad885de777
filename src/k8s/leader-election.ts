import type { Logger } from "pino";
import { ApiError, RESOURCES, resourcePath, type KubeClient } from "./api.js";
import { microTimeNow, type LeaseJson } from "./microtime.js";
import { abortAfter, StopSteps } from "../util/stopping.js";
import { sleep } from "../util/wait.js";

/**
 * Lease-based leader election (the controller's `barelb-controller` Lease), in the manner of
 * client-go: the holder renews every retry period and gives up leading if it cannot renew
 * for the renew deadline; others take over once the Lease has not changed for the lease
 * duration *as measured on their own clock*, so clock skew between nodes cannot cause an
 * early takeover. Writes go through resourceVersion, so two candidates cannot both win.
 */

export interface LeaseRecord {
  holder: string;
  /** The renewTime string as stored; compared, never parsed, for expiry. */
  renewTime: string;
  leaseDurationSeconds: number;
  transitions: number;
}

export interface Observation {
  record: LeaseRecord;
  /** Local monotonic time (ms) when this exact record was first seen. */
  seenAt: number;
}

export type Decision =
  | { kind: "create" }
  | { kind: "renew" }
  | { kind: "takeover" }
  | { kind: "wait"; holder: string; expiresInMs: number };

/** What a candidate should do, given the Lease as read now and what it saw before. */
export function decide(
  identity: string,
  current: LeaseRecord | null,
  previous: Observation | null,
  nowMono: number,
): { decision: Decision; observation: Observation | null } {
  if (current === null) return { decision: { kind: "create" }, observation: null };
  const same =
    previous !== null &&
    previous.record.holder === current.holder &&
    previous.record.renewTime === current.renewTime;
  const observation = same ? previous : { record: current, seenAt: nowMono };
  if (current.holder === identity) return { decision: { kind: "renew" }, observation };
  if (current.holder === "") return { decision: { kind: "takeover" }, observation };
  const expiresInMs = observation.seenAt + current.leaseDurationSeconds * 1000 - nowMono;
  if (expiresInMs <= 0) return { decision: { kind: "takeover" }, observation };
  return { decision: { kind: "wait", holder: current.holder, expiresInMs }, observation };
}

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /**
   * The candidate's Pod: named as the Lease's owner whenever this candidate writes it, so the
   * garbage collector removes the Lease once the last leader's Pod is gone (`helm uninstall`).
   */
  owner?: { name: string; uid: string } | undefined;
  log: Logger;
  /**
   * The bound of each step of a stop (default 2 s): a Lease request in flight and the
   * leader's work may go on this long once `stop` aborts, and the release may take this long.
   * An API server that does not answer cannot hold a stop longer.
   */
  stopTimeoutMs?: number;
  /** Where the stop steps are tracked (the program's, to name what a stop still waits for). */
  stopSteps?: StopSteps;
  /** Monotonic clock in ms (tests may pass their own). */
  now?: () => number;
}

export interface LeadershipHandlers {
  /**
   * Called on becoming leader; `lost` is aborted when leadership ends for any reason. The
   * Lease is released only after the returned work has finished, so a successor never
   * overlaps with a leader still finishing a write.
   */
  onStartedLeading(lost: AbortSignal): Promise<void> | void;
  onStoppedLeading(): void;
}

function toRecord(lease: LeaseJson): LeaseRecord {
  return {
    holder: lease.spec?.holderIdentity ?? "",
    renewTime: lease.spec?.renewTime ?? "",
    leaseDurationSeconds: lease.spec?.leaseDurationSeconds ?? 0,
    transitions: lease.spec?.leaseTransitions ?? 0,
  };
}

export class LeaderElector {
  private readonly client: KubeClient;
  private readonly now: () => number;
  private observation: Observation | null = null;
  private lease: LeaseJson | null = null;

  constructor(private readonly opts: LeaderElectionOptions) {
    this.client = opts.client;
    this.now = opts.now ?? (() => performance.now());
  }

  private path(name?: string): string {
    return resourcePath(RESOURCES.leases, { namespace: this.opts.namespace, name });
  }

  /**
   * Campaigns, leads, and campaigns again after losing, until `stop` is aborted. Returns
   * within a few stop timeouts of `stop` whatever the API server does.
   */
  async run(stop: AbortSignal, handlers: LeadershipHandlers): Promise<void> {
    const { log } = this.opts;
    const stopMs = this.opts.stopTimeoutMs ?? 2_000;
    const steps = this.opts.stopSteps ?? new StopSteps(log);
    // Requests in flight when `stop` aborts get stopMs more to finish, then are aborted.
    const halt = abortAfter(stop, stopMs);
    while (!stop.aborted) {
      if (!(await this.tryAcquireOrRenew(halt))) {
        await sleep(this.opts.retryPeriodMs, stop);
        continue;
      }
      log.info({ lease: this.opts.name, identity: this.opts.identity }, "became leader");
      const lost = new AbortController();
      const work = Promise.resolve(handlers.onStartedLeading(lost.signal)).catch((e: unknown) => {
        log.error({ err: e }, "leader work failed");
      });
      await this.renewLoop(stop, halt);
      lost.abort();
      // On a stop, the work (a write in flight) gets stopMs; if it has not finished by then,
      // the Lease is left to expire rather than released, so no successor overlaps it.
      const finished = aborted(stop)
        ? await steps.run("the leader's work to finish", stopMs, () => work)
        : await work.then(() => true);
      handlers.onStoppedLeading();
      if (!aborted(stop)) {
        log.warn({ lease: this.opts.name }, "lost leadership");
      } else if (!finished) {
        log.warn(
          { lease: this.opts.name },
          "stopping with the leader's work unfinished: the Lease is left to expire",
        );
      } else {
        let released = false as boolean; // set in the step below
        await steps.run("release the leader Lease", stopMs, async (signal) => {
          released = await this.release(signal);
        });
        if (released) log.info({ lease: this.opts.name }, "released leadership");
      }
    }
  }

  /** Renews until a renewal has failed for the whole renew deadline, or `stop` is aborted. */
  private async renewLoop(stop: AbortSignal, halt: AbortSignal): Promise<void> {
    let lastRenew = this.now();
    while (!stop.aborted) {
      await sleep(this.opts.retryPeriodMs, stop);
      if (aborted(stop)) return;
      if (await this.tryAcquireOrRenew(halt)) {
        lastRenew = this.now();
      } else if (this.lease?.spec?.holderIdentity !== this.opts.identity) {
        return; // someone else holds it now
      } else if (this.now() - lastRenew > this.opts.renewDeadlineMs) {
        return;
      }
    }
  }

  /**
   * One round: true if we hold the Lease afterwards. The round's requests end with `halt` or
   * after the renew deadline: a renewal that takes longer cannot keep leadership anyway
   * (others take over after the lease duration), so waiting longer could only let this
   * replica believe it leads after someone else does.
   */
  async tryAcquireOrRenew(halt?: AbortSignal): Promise<boolean> {
    const { namespace, name, identity, log } = this.opts;
    const within = AbortSignal.timeout(this.opts.renewDeadlineMs);
    const call = { signal: halt === undefined ? within : AbortSignal.any([halt, within]) };
    let current: LeaseJson | null;
    try {
      current = await this.client.get<LeaseJson>(this.path(name), undefined, call);
    } catch (e: unknown) {
      if (!(e instanceof ApiError && e.code === 404)) {
        log.warn({ err: e, lease: name }, "cannot read leader Lease");
        return false;
      }
      current = null;
    }
    this.lease = current;
    const { decision, observation } = decide(
      identity,
      current && toRecord(current),
      this.observation,
      this.now(),
    );
    this.observation = observation;
    const durationSeconds = Math.ceil(this.opts.leaseDurationMs / 1000);
    const t = microTimeNow();
    try {
      switch (decision.kind) {
        case "wait":
          return false;
        case "create":
          this.lease = await this.client.create<LeaseJson>(
            this.path(),
            {
              apiVersion: "coordination.k8s.io/v1",
              kind: "Lease",
              metadata: { name, namespace, ...this.ownerReferences() },
              spec: {
                holderIdentity: identity,
                leaseDurationSeconds: durationSeconds,
                acquireTime: t,
                renewTime: t,
                leaseTransitions: 0,
              },
            } satisfies LeaseJson,
            call,
          );
          return true;
        case "renew":
        case "takeover": {
          const spec = current?.spec ?? {};
          const takeover = decision.kind === "takeover";
          this.lease = await this.client.replace<LeaseJson>(
            this.path(name),
            {
              ...current,
              metadata: { ...current?.metadata, ...this.ownerReferences() },
              spec: {
                ...spec,
                holderIdentity: identity,
                leaseDurationSeconds: durationSeconds,
                renewTime: t,
                ...(takeover
                  ? { acquireTime: t, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }
                  : {}),
              },
            } satisfies LeaseJson,
            call,
          );
          return true;
        }
      }
    } catch (e: unknown) {
      // 409: someone else wrote first; we will see their record next round.
      if (!(e instanceof ApiError && (e.code === 409 || e.code === 404))) {
        log.warn({ err: e, lease: name }, "cannot write leader Lease");
      }
      return false;
    }
  }

  private ownerReferences(): Pick<NonNullable<LeaseJson["metadata"]>, "ownerReferences"> {
    const o = this.opts.owner;
    return o === undefined
      ? {}
      : { ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: o.name, uid: o.uid }] };
  }

  /**
   * Gives the Lease up at once (holder cleared), so a standby takes over without waiting;
   * true if released. Aborted with `signal` (the Lease then expires by itself).
   */
  private async release(signal: AbortSignal): Promise<boolean> {
    const lease = this.lease;
    if (lease?.spec?.holderIdentity !== this.opts.identity) return false;
    try {
      await this.client.replace(
        this.path(this.opts.name),
        {
          ...lease,
          spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1 },
        } satisfies LeaseJson,
        { signal },
      );
      return true;
    } catch (e: unknown) {
      this.opts.log.warn({ err: e, lease: this.opts.name }, "cannot release leader Lease");
      return false;
    }
  }
}

/** Reads the flag afresh (it changes across awaits, which control-flow narrowing ignores). */
function aborted(signal: AbortSignal): boolean {
  return signal.aborted;
}
