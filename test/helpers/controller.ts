import { randomBytes } from "node:crypto";
import { pino } from "pino";
import {
  CoreV1Api,
  type KubeConfig,
  type CoreV1Event,
  type V1Service,
  type V1ServiceSpec,
} from "@kubernetes/client-node";
import { runController, type ControllerHandle } from "../../src/controller/run.js";
import { eventually, kubeClientFor } from "./k8s.js";

/**
 * Runs a real controller in the test process against the integration API server. Each test
 * file uses its own loadBalancerClass, so controllers of files running side by side never
 * touch each other's Services.
 */

export interface TestController {
  handle: ControllerHandle;
  stop(): Promise<void>;
}

export function startTestController(
  kc: KubeConfig,
  opts: {
    namespace: string;
    lbClass: string;
    identity?: string;
    leaderElect?: boolean;
    foreignWriteHoldMs?: number;
  },
): TestController {
  const stop = new AbortController();
  const handle = runController(
    {
      client: kubeClientFor(kc),
      namespace: opts.namespace,
      configMap: "barelb-config",
      lbClass: opts.lbClass,
      identity: opts.identity ?? `test-${randomBytes(2).toString("hex")}`,
      leaderElect: opts.leaderElect ?? false,
      leaseDurationMs: 2_000,
      renewDeadlineMs: 1_500,
      retryPeriodMs: 250,
      metricsAddress: "127.0.0.1",
      metricsPort: 0,
      log: pino({ level: process.env.BARELB_TEST_LOG ?? "silent" }),
      foreignWriteHoldMs: opts.foreignWriteHoldMs,
    },
    stop.signal,
  );
  return {
    handle,
    async stop() {
      stop.abort();
      await handle.done;
    },
  };
}

export class ServiceFixture {
  readonly core: CoreV1Api;
  constructor(
    kc: KubeConfig,
    readonly namespace: string,
    readonly lbClass: string,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  async create(
    name: string,
    spec: Partial<V1ServiceSpec> = {},
    annotations: Record<string, string> = {},
  ): Promise<V1Service> {
    return this.core.createNamespacedService({
      namespace: this.namespace,
      body: {
        metadata: { name, annotations },
        spec: {
          type: "LoadBalancer",
          loadBalancerClass: this.lbClass,
          selector: { app: name },
          ports: [{ port: 80, protocol: "TCP" }],
          ...spec,
        },
      },
    });
  }

  read(name: string): Promise<V1Service> {
    return this.core.readNamespacedService({ name, namespace: this.namespace });
  }

  async ips(name: string): Promise<string[]> {
    const svc = await this.read(name);
    return (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? "");
  }

  /** Waits until the Service's ingress IPs satisfy `ok`, and returns them. */
  waitIPs(
    name: string,
    ok: (ips: string[]) => boolean,
    what: string,
    timeoutMs = 15_000,
  ): Promise<string[]> {
    return eventually(
      `${name}: ${what}`,
      async () => {
        const ips = await this.ips(name);
        return ok(ips) ? ips : undefined;
      },
      timeoutMs,
    );
  }

  async events(name: string): Promise<CoreV1Event[]> {
    const list = await this.core.listNamespacedEvent({
      namespace: this.namespace,
      fieldSelector: `involvedObject.name=${name}`,
    });
    return list.items;
  }

  /** Waits for an Event of `reason` on object `name` whose message contains `text`. */
  waitEvent(name: string, reason: string, text = "", timeoutMs = 15_000): Promise<CoreV1Event> {
    return eventually(
      `Event ${reason} on ${name} containing ${JSON.stringify(text)}`,
      async () =>
        (await this.events(name)).find(
          (e) => e.reason === reason && (e.message ?? "").includes(text),
        ),
      timeoutMs,
    );
  }

  async delete(name: string): Promise<void> {
    await this.core.deleteNamespacedService({ name, namespace: this.namespace });
  }
}

export async function putConfig(core: CoreV1Api, namespace: string, config: string): Promise<void> {
  const body = { metadata: { name: "barelb-config", namespace }, data: { config } };
  try {
    await core.replaceNamespacedConfigMap({ name: "barelb-config", namespace, body });
  } catch {
    await core.createNamespacedConfigMap({ namespace, body });
  }
}

export function pools(...lines: string[]): string {
  return `address-pools:\n${lines.join("\n")}\n`;
}
