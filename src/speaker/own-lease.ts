import type { Logger } from "pino";
import { ApiError, RESOURCES, resourcePath, type KubeClient } from "../k8s/api.js";
import { whenAborted } from "../util/stopping.js";
import { microTimeNow, type LeaseJson } from "../k8s/microtime.js";

/**
 * The speaker's own Lease, `barelb-speaker-<node>`: the slow, API-backed half of membership
 * (UDP heartbeats are the fast half), and this node's API health.
 *
 * - The Lease is renewed by one merge patch per renew interval (no read first), created when
 *   missing, deleted on a graceful stop so peers drop this node at once. It publishes the
 *   heartbeat token and address (and, for `barelb status`, this node's membership state and
 *   warnings: node-warnings.ts), and it is how peers whose heartbeats never reach them judge
 *   this node (they count it live until they have not seen it change for its duration).
 *   API writes: one per renew interval per node (default 10 s), whatever the number of
 *   Services.
 * - API health (`apiHealthy()`, sent in every heartbeat, used for fencing) says that this
 *   node's view of the cluster is current: some request to the API server succeeded within
 *   `apiStaleAfterMs`. Besides the renewals, a read every `apiCheckIntervalMs` (default 2 s)
 *   keeps it fresh: a GET of this Lease with resourceVersion=0, which the API server answers
 *   from its watch cache, without etcd. A read that finds the Lease gone (deleted by hand)
 *   re-creates it at once rather than at the next renewal.
 */

export const SPEAKER_LEASE_PREFIX = "barelb-speaker-";
/** How soon a renewal brought forward by an annotation goes out. */
const SOON_MS = 1_000;
export const SPEAKER_LEASE_LABELS = {
  "app.kubernetes.io/name": "barelb",
  "app.kubernetes.io/component": "speaker",
} as const;

export interface OwnLeaseOptions {
  client: KubeClient;
  namespace: string;
  node: string;
  leaseDurationMs: number;
  renewIntervalMs: number;
  /** How often the API server is read to keep API health fresh. */
  apiCheckIntervalMs: number;
  /** API health lasts this long after the last successful request (read or renewal). */
  apiStaleAfterMs: number;
  /** Published for peers: heartbeat token and address. */
  annotations: Record<string, string>;
  /**
   * The Pod this speaker runs in: the Lease names it as its owner, so the garbage collector
   * deletes the Lease with the Pod when the speaker could not (SIGKILL, or `helm uninstall`
   * deleting the speaker's RBAC before its Pod has stopped).
   */
  ownerPod?: { name: string; uid: string } | undefined;
  log: Logger;
  now?: () => number;
}

export class OwnLease {
  private readonly client: KubeClient;
  private readonly name: string;
  private readonly now: () => number;
  private lastRenewed = -Infinity;
  /** Last successful request to the API server, read or write. */
  private lastApiOk = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  /** A renewal brought forward by `annotate(…, { soon: true })`. */
  private soonTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private inFlight: Promise<void> = Promise.resolve();
  /** Renewals sent, for the API-load benchmark. */
  writes = 0;
  /** API-health reads sent. */
  reads = 0;
  private resolveFirst: () => void = () => undefined;
  /** Resolves at the first successful renewal (or creation): from then on peers can know us. */
  readonly firstRenewal = new Promise<void>((resolve) => (this.resolveFirst = resolve));

  constructor(private readonly opts: OwnLeaseOptions) {
    this.client = opts.client;
    this.name = SPEAKER_LEASE_PREFIX + opts.node;
    this.now = opts.now ?? (() => performance.now());
    const { leaseDurationMs, renewIntervalMs, apiCheckIntervalMs, apiStaleAfterMs } = opts;
    if (!(renewIntervalMs > 0 && renewIntervalMs < leaseDurationMs)) {
      throw new Error(
        `the renew interval (${renewIntervalMs} ms) must be shorter than the lease duration (${leaseDurationMs} ms)`,
      );
    }
    if (!(apiCheckIntervalMs > 0 && apiCheckIntervalMs < apiStaleAfterMs)) {
      throw new Error(
        `the API check interval (${apiCheckIntervalMs} ms) must be shorter than --api-stale-after (${apiStaleAfterMs} ms)`,
      );
    }
  }

  private path(name?: string): string {
    return resourcePath(RESOURCES.leases, { namespace: this.opts.namespace, name });
  }

  /**
   * The Lease a previous run of this speaker left behind, if any: a graceful stop deletes it,
   * so finding one means that run was killed (its peers will hold this node for a while).
   */
  async leftBehind(): Promise<boolean> {
    try {
      await this.client.get<LeaseJson>(this.path(this.name));
      return true;
    } catch (e: unknown) {
      if (e instanceof ApiError && e.code === 404) return false;
      throw e;
    }
  }

  /**
   * This node's API view is current: the Lease was written at least once (from then on peers
   * know this run's token) and a request to the API server succeeded within apiStaleAfterMs.
   */
  apiHealthy(): boolean {
    return this.lastRenewed > -Infinity && this.now() - this.lastApiOk < this.opts.apiStaleAfterMs;
  }

  start(): void {
    const check = () => {
      if (this.stopped) return;
      void this.check().finally(() => {
        if (!this.stopped) this.checkTimer = setTimeout(check, this.opts.apiCheckIntervalMs);
      });
    };
    this.renewNow();
    this.checkTimer = setTimeout(check, this.opts.apiCheckIntervalMs);
  }

  /** Renews now (after a renewal in flight), then every renew interval. */
  private renewNow(): void {
    this.inFlight = this.inFlight.then(() => {
      if (this.stopped) return;
      clearTimeout(this.timer);
      return this.renew().finally(() => {
        if (!this.stopped)
          this.timer = setTimeout(() => this.renewNow(), this.opts.renewIntervalMs);
      });
    });
  }

  /** One API-health read: this Lease from the API server's cache. */
  private async check(): Promise<void> {
    this.reads++;
    try {
      await this.client.request<LeaseJson>("GET", this.path(this.name), {
        query: { resourceVersion: "0" },
        // A hung request must not keep health alive, nor delay the next check for long.
        // Also bounds how far apart nodes see the API return: check interval + timeout, which
        // must stay under the Membership's fenceAfterMs (5 s; 4 s with the defaults).
        timeoutMs: Math.max(
          1_000,
          Math.min(this.opts.apiCheckIntervalMs, this.opts.apiStaleAfterMs / 2),
        ),
      });
      this.lastApiOk = this.now();
    } catch (e: unknown) {
      if (e instanceof ApiError && e.code === 404) {
        // The API server answered: health is fine, and the Lease must come back now.
        this.lastApiOk = this.now();
        if (this.lastRenewed > -Infinity) {
          this.opts.log.warn({ lease: this.name }, "speaker Lease gone; re-creating it");
          this.renewNow();
        }
        return;
      }
      this.opts.log.debug({ err: e, lease: this.name }, "API health check failed");
    }
  }

  private async renew(): Promise<void> {
    const { namespace, node, log } = this.opts;
    const t = microTimeNow();
    const seconds = Math.max(1, Math.round(this.opts.leaseDurationMs / 1000));
    this.writes++;
    try {
      await this.client.mergePatch<LeaseJson>(this.path(this.name), {
        metadata: { ...this.metadata(), annotations: this.opts.annotations },
        spec: { holderIdentity: node, leaseDurationSeconds: seconds, renewTime: t },
      } satisfies LeaseJson);
      this.lastRenewed = this.lastApiOk = this.now();
      this.resolveFirst();
    } catch (e: unknown) {
      if (!(e instanceof ApiError && e.code === 404)) {
        log.warn({ err: e, lease: this.name }, "cannot renew speaker Lease");
        return;
      }
      try {
        this.writes++;
        await this.client.create<LeaseJson>(this.path(), {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: {
            name: this.name,
            namespace,
            ...this.metadata(),
            annotations: this.opts.annotations,
          },
          spec: {
            holderIdentity: node,
            leaseDurationSeconds: seconds,
            acquireTime: t,
            renewTime: t,
          },
        } satisfies LeaseJson);
        this.lastRenewed = this.lastApiOk = this.now();
        this.resolveFirst();
        log.info({ lease: this.name }, "created speaker Lease");
      } catch (err: unknown) {
        log.warn({ err, lease: this.name }, "cannot create speaker Lease");
      }
    }
  }

  /** Labels, and the owner: a merge patch replaces the list, so a new Pod takes over a Lease. */
  private metadata(): Pick<NonNullable<LeaseJson["metadata"]>, "labels" | "ownerReferences"> {
    const owner = this.opts.ownerPod;
    return {
      labels: { ...SPEAKER_LEASE_LABELS },
      ...(owner === undefined
        ? {}
        : {
            ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: owner.name, uid: owner.uid }],
          }),
    };
  }

  /**
   * Sets an annotation published with the next renewal: a change costs no write of its own
   * (at most one renew interval late), so it may be called as often as anything changes.
   * With `soon`, a change brings the next renewal forward to about a second from now (for
   * what a reader should not see a renew interval late, like this node's membership state);
   * more changes within that second ride on the same renewal.
   */
  annotate(key: string, value: string, opts: { soon?: boolean } = {}): void {
    if (this.opts.annotations[key] === value) return;
    this.opts.annotations = { ...this.opts.annotations, [key]: value };
    if (opts.soon === true && this.soonTimer === undefined && !this.stopped) {
      this.soonTimer = setTimeout(() => {
        this.soonTimer = undefined;
        if (this.lastRenewed > -Infinity) this.renewNow();
      }, SOON_MS);
    }
  }

  /**
   * Stops renewing; with `remove`, deletes the Lease (graceful stop). Returns within
   * `timeoutMs` whatever the API server does: a renewal in flight is waited for until then
   * (so the delete comes after it), and the delete is aborted at that time (the Lease then
   * expires, or goes with the Pod).
   */
  async stop(remove: boolean, timeoutMs = 2_000): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.soonTimer);
    clearTimeout(this.checkTimer);
    // A check in flight is not waited for: its answer changes nothing any more.
    const signal = AbortSignal.timeout(timeoutMs);
    await Promise.race([this.inFlight, whenAborted(signal)]);
    if (!remove) return;
    try {
      await this.client.delete(this.path(this.name), { signal });
    } catch (e: unknown) {
      if (!(e instanceof ApiError && e.code === 404)) {
        this.opts.log.warn({ err: e, lease: this.name }, "cannot delete speaker Lease");
      }
    }
  }
}
