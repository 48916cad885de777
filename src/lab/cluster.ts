import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { openSync, closeSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import {
  ApiException,
  CoreV1Api,
  DiscoveryV1Api,
  type V1ConfigMap,
  type V1Service,
} from "@kubernetes/client-node";
import { loadKubeConfig } from "../k8s/client.js";
import { SPEAKER_NODE_FLAGS } from "../speaker/node-flags.js";
import { packageRoot } from "../util/paths.js";
import { isRunning, processRef, spawnProcess, terminate, type ProcessRef } from "../util/proc.js";
import { freePort } from "./controlplane.js";
import type { Lab } from "./lab.js";

/**
 * barelb running in a lab: the controller in the root namespace (like a pod on the cluster
 * network) and one speaker per node namespace (like the DaemonSet's host-network pods), all
 * against the lab's API server, with the example manifests of config/ applied. The lab has
 * no kubelet: Services get their endpoints from EndpointSlices made here. The speakers share a
 * heartbeat key file in the lab's directory, as the chart's Secret would give them.
 */

export const BARELB_NAMESPACE = "barelb-system";

export interface LabClusterOptions {
  /** Extra flags for every speaker (e.g. shorter timings). */
  speakerArgs?: string[];
  controllerArgs?: string[];
  logLevel?: string;
  /** The pool ConfigMap to apply (default: config/pool-configmap.yaml with the lab's ranges). */
  configMap?: V1ConfigMap;
}

export class LabCluster {
  readonly speakers = new Map<string, ProcessRef>();
  controller: ProcessRef | undefined;
  private readonly children = new Set<ChildProcess>();

  private constructor(
    readonly lab: Lab,
    private readonly opts: LabClusterOptions,
  ) {}

  /** Applies the namespace and pool ConfigMap, starts the controller and every speaker. */
  static async start(lab: Lab, opts: LabClusterOptions = {}): Promise<LabCluster> {
    const c = new LabCluster(lab, opts);
    await mkdir(join(lab.record.dir, "logs"), { recursive: true });
    await writeHeartbeatKey(c.heartbeatKeyFile);
    const core = c.core();
    await ensureNamespace(core, BARELB_NAMESPACE);
    await applyConfigMap(core, opts.configMap ?? poolConfigMap(lab));
    c.startController(await freePort("127.0.0.1"));
    for (const n of lab.nodes) c.startSpeaker(n.name);
    return c;
  }

  /** The speakers' shared heartbeat key (rewrite it to rotate the key). */
  get heartbeatKeyFile(): string {
    return join(this.lab.record.dir, "heartbeat-key");
  }

  core(): CoreV1Api {
    return loadKubeConfig(this.lab.kubeconfig).makeApiClient(CoreV1Api);
  }

  private cli(): string[] {
    return [join(packageRoot(), "dist", "cli", "main.js")];
  }

  private launch(
    name: string,
    argv: string[],
    netns?: string,
    nodeArgs: readonly string[] = [],
    env: Record<string, string> = {},
  ): ProcessRef {
    const log = openSync(join(this.lab.record.dir, "logs", `${name}.log`), "a");
    try {
      const [file, ...args] =
        netns === undefined
          ? [process.execPath, ...nodeArgs, ...argv]
          : ["ip", "netns", "exec", netns, process.execPath, ...nodeArgs, ...argv];
      const child = spawnProcess(file, args, {
        tied: this.lab.record.owner !== null,
        stdio: ["ignore", log, log],
        env: { ...process.env, ...env },
      });
      child.on("error", () => undefined);
      this.children.add(child);
      child.on("exit", () => this.children.delete(child));
      const ref = child.pid === undefined ? undefined : processRef(child.pid);
      if (ref === undefined) throw new Error(`could not start ${name}`);
      return ref;
    } finally {
      closeSync(log);
    }
  }

  startController(metricsPort: number): void {
    this.controller = this.launch("controller", [
      ...this.cli(),
      "controller",
      "--kubeconfig",
      this.lab.kubeconfig,
      "--namespace",
      BARELB_NAMESPACE,
      "--identity",
      "lab-controller",
      "--metrics-address",
      "127.0.0.1",
      "--metrics-port",
      String(metricsPort),
      "--log-level",
      this.opts.logLevel ?? "info",
      ...(this.opts.controllerArgs ?? []),
    ]);
  }

  /**
   * Starts the speaker of `node`. `nodeArgs` go to Node itself; by default the speaker's
   * memory flags, as the chart gives them. `env` is added to the speaker's environment.
   */
  startSpeaker(
    node: string,
    nodeArgs: readonly string[] = SPEAKER_NODE_FLAGS,
    env: Record<string, string> = {},
  ): ProcessRef {
    const host = this.lab.node(node);
    const ref = this.launch(
      `speaker-${node}`,
      [
        ...this.cli(),
        "speaker",
        "--node-name",
        node,
        "--kubeconfig",
        this.lab.kubeconfig,
        "--namespace",
        BARELB_NAMESPACE,
        "--heartbeat-key-file",
        this.heartbeatKeyFile,
        "--log-level",
        this.opts.logLevel ?? "info",
        ...(this.opts.speakerArgs ?? []),
      ],
      host.netns,
      nodeArgs,
      env,
    );
    this.speakers.set(node, ref);
    return ref;
  }

  /** Stops a speaker: SIGKILL (crash) or SIGTERM (graceful, waits for it to exit). */
  async stopSpeaker(node: string, signal: "SIGKILL" | "SIGTERM"): Promise<void> {
    const ref = this.speakers.get(node);
    if (ref === undefined || !isRunning(ref)) return;
    if (signal === "SIGKILL") process.kill(ref.pid, "SIGKILL");
    else await terminate(ref, 10_000);
  }

  /** The log of a process started here (for failure messages). */
  log(name: string): string {
    try {
      return readFileSync(join(this.lab.record.dir, "logs", `${name}.log`), "utf8");
    } catch {
      return "";
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.speakers.values()].map((r) => terminate(r, 10_000)));
    if (this.controller !== undefined) await terminate(this.controller, 10_000);
  }
}

/** Writes a fresh random heartbeat key (64 base64 characters) to `file`, readable by root only. */
export async function writeHeartbeatKey(file: string): Promise<void> {
  await writeFile(file, `${randomBytes(48).toString("base64")}\n`, { mode: 0o600 });
}

/** The example pool ConfigMap of config/, with this lab's free addresses. */
export function poolConfigMap(lab: Lab): V1ConfigMap {
  const text = readFileSync(join(packageRoot(), "config", "pool-configmap.yaml"), "utf8");
  const cm = parseAllDocuments(text)
    .map((d) => d.toJS() as V1ConfigMap)
    .find((d) => d.kind === "ConfigMap");
  if (cm === undefined) throw new Error("config/pool-configmap.yaml has no ConfigMap");
  const a = lab.addresses;
  const config = (cm.data?.config ?? "")
    .replace("192.0.2.32-192.0.2.62", a.vipRange4)
    .replace("2001:db8::1:0/112", a.vipCidr6);
  return { ...cm, data: { ...cm.data, config } };
}

/** The example Service of config/ (the Deployment beside it needs a kubelet the lab lacks). */
export function sampleService(): V1Service {
  const text = readFileSync(join(packageRoot(), "config", "sample-service.yaml"), "utf8");
  const svc = parseAllDocuments(text)
    .map((d) => d.toJS() as V1Service)
    .find((d) => d.kind === "Service");
  if (svc === undefined) throw new Error("config/sample-service.yaml has no Service");
  return svc;
}

/** Endpoints of `service` on the given nodes, standing in for pods (ready unless told). */
export async function setEndpoints(
  lab: Lab,
  namespace: string,
  service: string,
  endpoints: { node: string; ready?: boolean }[],
): Promise<void> {
  const api = loadKubeConfig(lab.kubeconfig).makeApiClient(DiscoveryV1Api);
  const name = `${service}-lab`;
  const body = {
    metadata: {
      name,
      namespace,
      labels: {
        "kubernetes.io/service-name": service,
        "endpointslice.kubernetes.io/managed-by": "barelb-lab",
      },
    },
    addressType: "IPv4",
    endpoints: endpoints.map((e, i) => ({
      addresses: [`198.51.100.${200 + i}`],
      nodeName: e.node,
      conditions: { ready: e.ready ?? true },
    })),
    ports: [{ name: "http", port: 80, protocol: "TCP" }],
  };
  try {
    await api.replaceNamespacedEndpointSlice({ name, namespace, body });
  } catch (e: unknown) {
    if (!(e instanceof ApiException && e.code === 404)) throw e;
    await api.createNamespacedEndpointSlice({ namespace, body });
  }
}

async function ensureNamespace(core: CoreV1Api, name: string): Promise<void> {
  try {
    await core.createNamespace({ body: { metadata: { name } } });
  } catch (e: unknown) {
    if (!(e instanceof ApiException && e.code === 409)) throw e;
  }
}

/** Creates or replaces a ConfigMap (default namespace barelb-system). */
export async function applyConfigMap(core: CoreV1Api, cm: V1ConfigMap): Promise<void> {
  const namespace = cm.metadata?.namespace ?? BARELB_NAMESPACE;
  const name = cm.metadata?.name ?? "barelb-config";
  try {
    await core.replaceNamespacedConfigMap({ name, namespace, body: cm });
  } catch (e: unknown) {
    if (!(e instanceof ApiException && e.code === 404)) throw e;
    await core.createNamespacedConfigMap({ namespace, body: cm });
  }
}
