import type { Logger } from "pino";
import { ApiError, RESOURCES, resourcePath, type KubeClient } from "../k8s/api.js";
import { microTimeNow, type LeaseJson } from "../k8s/microtime.js";

/**
 * The speaker's own Lease, `barelb-speaker-<node>`: the slow, API-backed half of membership
 * (UDP heartbeats are the fast half). Renewed by one merge patch per interval (no read
 * first), created when missing, deleted on a graceful stop so peers drop this node at once.
 * API writes: one per renew interval per node, whatever the number of Services.
 */

export const SPEAKER_LEASE_PREFIX = "barelb-speaker-";
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
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private inFlight: Promise<void> = Promise.resolve();
  /** Renewals sent, for the API-load benchmark. */
  writes = 0;
  private resolveFirst: () => void = () => undefined;
  /** Resolves at the first successful renewal (or creation): from then on peers can know us. */
  readonly firstRenewal = new Promise<void>((resolve) => (this.resolveFirst = resolve));

  constructor(private readonly opts: OwnLeaseOptions) {
    this.client = opts.client;
    this.name = SPEAKER_LEASE_PREFIX + opts.node;
    this.now = opts.now ?? (() => performance.now());
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

  /** True while the Lease was renewed within its duration: this node's API view is current. */
  apiHealthy(): boolean {
    return this.now() - this.lastRenewed < this.opts.leaseDurationMs;
  }

  start(): void {
    const loop = () => {
      if (this.stopped) return;
      this.inFlight = this.renew().finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, this.opts.renewIntervalMs);
      });
    };
    loop();
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
      this.lastRenewed = this.now();
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
        this.lastRenewed = this.now();
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

  /** Sets an annotation published with the next renewal. */
  annotate(key: string, value: string): void {
    this.opts.annotations = { ...this.opts.annotations, [key]: value };
  }

  /**
   * Stops renewing; with `remove`, deletes the Lease (graceful stop). Returns within
   * `timeoutMs` whatever the API server does: a renewal in flight is waited for until then
   * (so the delete comes after it), and the delete is aborted at that time (the Lease then
   * expires, or goes with the Pod).
   */
  async stop(remove: boolean, timeoutMs = 2_000): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const signal = AbortSignal.timeout(timeoutMs);
    await Promise.race([
      this.inFlight,
      new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve())),
    ]);
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
