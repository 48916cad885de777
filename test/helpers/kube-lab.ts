import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { ensureControlPlaneBinaries } from "../../src/lab/controlplane.js";
import { poolConfigMap } from "../../src/lab/cluster.js";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { ensureNodeBinaries } from "../../src/lab/real-nodes.js";
import { packageRoot } from "../../src/util/paths.js";
import { run, type RunResult } from "../../src/util/proc.js";
import { eventually } from "../../src/util/wait.js";
import { ensureHelm, helm, type HelmResult } from "../../src/lab/helm.js";

/**
 * A lab with real nodes (`barelb lab up --kubelet`) driven the way a user drives a cluster:
 * kubectl, helm and the files of config/, and a LAN client in the client namespace. Shared by
 * the user-journey e2e test and the cluster benchmark.
 */

export const NAMESPACE = "barelb-system";
const root = packageRoot();

export interface Attempt {
  /** Start, ms since the epoch. */
  t: number;
  ms: number;
  ok: boolean;
  body?: string;
  err?: string;
}

export class KubeLab {
  private constructor(
    readonly lab: Lab,
    private readonly kubectlBin: string,
    private readonly helmBin: string,
    readonly nodesBinDir: string,
  ) {}

  static async create(nodes: number, progress?: (line: string) => void): Promise<KubeLab> {
    const helmBin = await ensureHelm();
    const lab = await createLab({
      nodes,
      controlPlane: true,
      kubelet: true,
      persistent: false,
      ...(progress === undefined ? {} : { onProgress: progress }),
    });
    try {
      const kubectl = join(await ensureControlPlaneBinaries(), "kubectl");
      return new KubeLab(lab, kubectl, helmBin, await ensureNodeBinaries());
    } catch (e: unknown) {
      await lab.down();
      throw e;
    }
  }

  down(): Promise<void> {
    return this.lab.down();
  }

  kubectl(...args: string[]): Promise<RunResult> {
    return run(this.kubectlBin, ["--kubeconfig", this.lab.kubeconfig, ...args], {
      timeoutMs: 120_000,
    });
  }

  async json<T>(...args: string[]): Promise<T> {
    return JSON.parse((await this.kubectl(...args, "-o", "json")).stdout) as T;
  }

  /** helm with the lab's kubeconfig; fails with helm's output unless `allowFailure`. */
  async helm(args: readonly string[], allowFailure = false): Promise<HelmResult> {
    const r = await helm(this.helmBin, ["--kubeconfig", this.lab.kubeconfig, ...args]);
    if (r.code !== 0 && !allowFailure) {
      throw new Error(`helm ${args.join(" ")} failed (${r.code}):\n${r.stderr}${r.stdout}`);
    }
    return r;
  }

  /** `helm install barelb charts/barelb -n barelb-system --create-namespace`, as the README. */
  install(extra: readonly string[] = []): Promise<HelmResult> {
    return this.helm([
      "install",
      "barelb",
      join(root, "charts", "barelb"),
      "-n",
      NAMESPACE,
      "--create-namespace",
      ...extra,
    ]);
  }

  /**
   * `helm upgrade` that changes only a speaker Pod annotation, so the DaemonSet rolls every
   * speaker (one node at a time, as any upgrade does); returns once the rollout is done.
   */
  async rollSpeakers(timeoutS = 300): Promise<void> {
    await this.helm([
      "upgrade",
      "barelb",
      join(root, "charts", "barelb"),
      "-n",
      NAMESPACE,
      "--reuse-values",
      "--set-string",
      `speaker.podAnnotations.barelb\\.io/rolled=${randomBytes(4).toString("hex")}`,
    ]);
    await this.kubectl(
      "-n",
      NAMESPACE,
      "rollout",
      "status",
      "daemonset/barelb-speaker",
      `--timeout=${timeoutS}s`,
    );
  }

  /** Sets a Service's `externalTrafficPolicy`. */
  async setTrafficPolicy(service: string, policy: "Cluster" | "Local"): Promise<void> {
    await this.kubectl(
      "patch",
      "service",
      service,
      "-p",
      JSON.stringify({ spec: { externalTrafficPolicy: policy } }),
    );
  }

  /**
   * config/pool-configmap.yaml, as the README says to apply it "after putting a free range of
   * your LAN in it": the lab's free range. (Lab 0's is the file's own.)
   */
  async applyPoolConfig(): Promise<void> {
    await run(this.kubectlBin, ["--kubeconfig", this.lab.kubeconfig, "apply", "-f", "-"], {
      input: JSON.stringify(poolConfigMap(this.lab)),
    });
  }

  /** Until the controller Deployment and the speaker DaemonSet have every pod Ready. */
  async waitBarelbReady(timeoutMs = 180_000): Promise<void> {
    await this.until("barelb's pods to be Ready", timeoutMs, async () => {
      const deploy = await this.json<{
        spec: { replicas: number };
        status: { readyReplicas?: number; updatedReplicas?: number; replicas?: number };
      }>("-n", NAMESPACE, "get", "deployment", "barelb-controller");
      const ds = await this.json<{
        status: {
          desiredNumberScheduled: number;
          numberReady: number;
          updatedNumberScheduled?: number;
        };
      }>("-n", NAMESPACE, "get", "daemonset", "barelb-speaker");
      return (
        deploy.status.readyReplicas === deploy.spec.replicas &&
        deploy.status.replicas === deploy.spec.replicas &&
        ds.status.desiredNumberScheduled === this.lab.nodes.length &&
        ds.status.numberReady === ds.status.desiredNumberScheduled &&
        ds.status.updatedNumberScheduled === ds.status.desiredNumberScheduled
      );
    });
  }

  async pods(namespace: string, selector: string): Promise<PodJson[]> {
    return (await this.json<{ items: PodJson[] }>("-n", namespace, "get", "pods", "-l", selector))
      .items;
  }

  /** The EXTERNAL-IP of a Service, once it has one. */
  async externalIP(name: string, namespace = "default", timeoutMs = 60_000): Promise<string> {
    return this.until(`Service ${name} to get an EXTERNAL-IP`, timeoutMs, async () => {
      const svc = await this.json<{ status: { loadBalancer?: { ingress?: { ip?: string }[] } } }>(
        "-n",
        namespace,
        "get",
        "service",
        name,
      );
      return svc.status.loadBalancer?.ingress?.[0]?.ip;
    });
  }

  /** The node whose MAC answers the client's ARP request for `ip`, or undefined (no answer). */
  async arpOwner(ip: string): Promise<string | undefined> {
    const r = await this.lab
      .exec(this.lab.client, ["arping", "-c", "1", "-w", "1", "-I", "eth0", ip])
      .catch((e: unknown) => ({ stdout: (e as { stdout?: string }).stdout ?? "" }));
    const mac = /reply from \S+ \[([0-9A-Fa-f:]+)\]/.exec(r.stdout)?.[1]?.toLowerCase();
    return this.lab.nodes.find((n) => n.mac.toLowerCase() === mac)?.name;
  }

  /** `curl` from the LAN client; the body, or undefined when it fails. */
  async curl(url: string, timeoutS = 2): Promise<string | undefined> {
    try {
      const r = await this.lab.exec(this.lab.client, ["curl", "-sS", "-m", String(timeoutS), url]);
      return r.stdout.trim();
    } catch {
      return undefined;
    }
  }

  /** The barelb speaker pod on `node`. */
  async speakerOn(node: string): Promise<PodJson> {
    const pods = await this.pods(NAMESPACE, "app.kubernetes.io/component=speaker");
    const pod = pods.find(
      (p) => p.spec.nodeName === node && p.metadata.deletionTimestamp === undefined,
    );
    if (pod === undefined) throw new Error(`no speaker pod on ${node}`);
    return pod;
  }

  /** SIGKILLs a container through its node's containerd, as the OOM killer or a crash would. */
  async killContainer(node: string, containerID: string): Promise<void> {
    const id = containerID.replace(/^containerd:\/\//, "");
    const socket = join(this.lab.record.dir, "nodes", node, "containerd", "containerd.sock");
    await run(join(this.nodesBinDir, "ctr"), [
      "--address",
      socket,
      "--namespace",
      "k8s.io",
      "tasks",
      "kill",
      "--signal",
      "SIGKILL",
      id,
    ]);
  }

  /** Starts test/fixtures/http-prober.js in the client namespace. */
  startProber(url: string, intervalMs = 20, timeoutMs = 1000): Prober {
    const child = spawn(
      "ip",
      [
        "netns",
        "exec",
        this.lab.client.netns,
        process.execPath,
        join(root, "dist-test", "test", "fixtures", "http-prober.js"),
        "--url",
        url,
        "--interval-ms",
        String(intervalMs),
        "--timeout-ms",
        String(timeoutMs),
      ],
      { stdio: ["pipe", "pipe", "inherit"] },
    );
    const attempts: Attempt[] = [];
    createInterface({ input: child.stdout }).on("line", (l) => {
      try {
        attempts.push(JSON.parse(l) as Attempt);
      } catch {
        // not a result line
      }
    });
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    return {
      attempts,
      async stop() {
        child.stdin.end("quit\n");
        await Promise.race([exited, sleep(timeoutMs + 5_000)]);
        child.kill("SIGKILL");
        return attempts.sort((x, y) => x.t - y.t);
      },
    };
  }

  /**
   * `eventually` for probes that go through kubectl or a network client: `false` means "not
   * yet" too, and a failing probe is retried (its last error is named when time runs out).
   */
  async until<T>(
    what: string,
    timeoutMs: number,
    probe: () => Promise<T | undefined | false> | T | undefined | false,
  ): Promise<T> {
    let last: unknown;
    try {
      return await eventually(
        what,
        async () => {
          try {
            const v = await probe();
            return v === false ? undefined : v;
          } catch (e: unknown) {
            last = e;
            return undefined;
          }
        },
        timeoutMs,
        250,
      );
    } catch (e: unknown) {
      const probeError = last instanceof Error ? `; last probe failed: ${last.message}` : "";
      throw new Error(`${(e as Error).message}${probeError}`, { cause: e });
    }
  }
}

export interface Prober {
  /** Results so far, in the order they finished. */
  attempts: Attempt[];
  /** Stops and returns every attempt, by start time. */
  stop(): Promise<Attempt[]>;
}

export interface PodJson {
  metadata: { name: string; deletionTimestamp?: string; labels?: Record<string, string> };
  spec: { nodeName?: string; serviceAccountName?: string };
  status: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: {
      name: string;
      containerID?: string;
      ready: boolean;
      restartCount: number;
    }[];
  };
}

export function podReady(p: PodJson): boolean {
  return p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;
}

/**
 * What a client connecting every few ms saw of a fault at `faultAt` (ms since the epoch):
 * attempts started at or after the fault that failed, and how long after the fault the
 * service was back for good (end of the first successful attempt after the last failure;
 * 0 when nothing failed).
 */
export function outage(attempts: readonly Attempt[], faultAt: number) {
  const after = attempts.filter((a) => a.t >= faultAt).sort((x, y) => x.t - y.t);
  const failed = after.filter((a) => !a.ok);
  const lastFailure = failed[failed.length - 1];
  if (lastFailure === undefined) return { attempts: after.length, failed: 0, recoveredAfterMs: 0 };
  const recovery = after.find((a) => a.ok && a.t > lastFailure.t);
  return {
    attempts: after.length,
    failed: failed.length,
    /** null: not recovered before the client stopped. */
    recoveredAfterMs: recovery === undefined ? null : recovery.t + recovery.ms - faultAt,
  };
}
