import { createConnection, createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import type { KubeConfig } from "@kubernetes/client-node";
import { ApiError, KubeClient, RESOURCES, resourcePath } from "../../src/k8s/api.js";
import { credentialsFromText } from "../../src/k8s/kubeconfig.js";
import type { LeaseJson } from "../../src/k8s/microtime.js";
import { OwnLease, SPEAKER_LEASE_PREFIX } from "../../src/speaker/own-lease.js";
import {
  createTestNamespace,
  eventually,
  integrationKubeConfig,
  kubeClientFor,
} from "../helpers/k8s.js";

// The speaker's own Lease on a real API server: few writes (one per renew interval), API
// health kept by reads in between, lost when the API server cannot be reached, and a Lease
// deleted by hand back at the next read.

const kc = integrationKubeConfig();
const log = pino({ level: process.env.BARELB_TEST_LOG ?? "silent" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A TCP relay to the API server that can be cut (connections hang, as behind a blackhole). */
class Relay {
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  cut = false;
  port = 0;

  private constructor(target: { host: string; port: number }) {
    this.server = createServer((down) => {
      this.sockets.add(down);
      down.on("close", () => this.sockets.delete(down));
      down.on("error", () => undefined);
      if (this.cut) return; // accepted, never answered
      const up = createConnection(target);
      this.sockets.add(up);
      up.on("close", () => this.sockets.delete(up));
      up.on("error", () => down.destroy());
      down.on("error", () => up.destroy());
      down.pipe(up).pipe(down);
    });
  }

  static async start(target: { host: string; port: number }): Promise<Relay> {
    const relay = new Relay(target);
    await new Promise<void>((resolve) => relay.server.listen(0, "127.0.0.1", resolve));
    const addr = relay.server.address();
    if (addr === null || typeof addr === "string") throw new Error("relay has no port");
    relay.port = addr.port;
    return relay;
  }

  /** From now on nothing gets through; open connections are dropped. */
  sever(): void {
    this.cut = true;
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    this.sever();
    await new Promise((r) => this.server.close(r));
  }
}

describe.runIf(kc !== null)("speaker's own Lease on a real API server", () => {
  const admin = kc as KubeConfig;
  const client: KubeClient = kubeClientFor(admin);
  let ns = "";
  const leases: OwnLease[] = [];
  beforeAll(async () => {
    ns = await createTestNamespace(admin, "it-own-lease");
  });
  afterAll(async () => {
    for (const l of leases) await l.stop(false);
    if (ns !== "") await client.delete(resourcePath(RESOURCES.namespaces, { name: ns }));
    client.close();
  });

  const start = (
    node: string,
    timings: { renewIntervalMs: number; apiStaleAfterMs: number },
    c: KubeClient = client,
  ) => {
    const l = new OwnLease({
      client: c,
      namespace: ns,
      node,
      leaseDurationMs: timings.renewIntervalMs * 4,
      renewIntervalMs: timings.renewIntervalMs,
      apiCheckIntervalMs: 100,
      apiStaleAfterMs: timings.apiStaleAfterMs,
      annotations: { "barelb.io/heartbeat-token": "00112233445566778899aabbccddeeff" },
      log,
    });
    leases.push(l);
    l.start();
    return l;
  };
  const leasePath = (node: string) =>
    resourcePath(RESOURCES.leases, { namespace: ns, name: SPEAKER_LEASE_PREFIX + node });

  it("writes once per renew interval; reads in between keep its API health", async () => {
    // Health would lapse 500 ms after the only write without the reads.
    const l = start("node-a", { renewIntervalMs: 60_000, apiStaleAfterMs: 500 });
    await l.firstRenewal;
    // The first renewal: a patch that finds nothing, then the create.
    expect(l.writes).toBe(2);
    await sleep(1_500);
    expect(l.apiHealthy()).toBe(true);
    expect(l.writes).toBe(2);
    expect(l.reads).toBeGreaterThan(3);
    const lease = await client.get<LeaseJson>(leasePath("node-a"));
    expect(lease.spec?.leaseDurationSeconds).toBe(240);
    expect(lease.spec?.holderIdentity).toBe("node-a");
  });

  it("loses its API health when the API server cannot be reached, and regains it", async () => {
    const cluster = admin.getCurrentCluster();
    if (cluster === null) throw new Error("no cluster");
    const url = new URL(cluster.server);
    const relay = await Relay.start({ host: url.hostname, port: Number(url.port) });
    // The same credentials, through the relay.
    const cut = new KubeClient({
      ...credentialsFromText(admin.exportConfig(), { source: "test kubeconfig" }),
      server: `https://127.0.0.1:${relay.port}`,
    });
    try {
      const l = start("node-b", { renewIntervalMs: 60_000, apiStaleAfterMs: 500 }, cut);
      await l.firstRenewal;
      expect(l.apiHealthy()).toBe(true);
      relay.sever();
      await eventually("API health lost", () => (l.apiHealthy() ? undefined : true), 5_000);
      relay.cut = false;
      await eventually("API health back", () => (l.apiHealthy() ? true : undefined), 5_000);
      expect(l.writes).toBe(2);
    } finally {
      cut.close();
      await relay.close();
    }
  });

  it("re-creates a Lease deleted by hand at the next read, not at the next renewal", async () => {
    const l = start("node-c", { renewIntervalMs: 60_000, apiStaleAfterMs: 5_000 });
    await l.firstRenewal;
    const before = l.writes;
    await client.delete(leasePath("node-c"));
    const back = await eventually(
      "the Lease re-created",
      async () => {
        try {
          return await client.get<LeaseJson>(leasePath("node-c"));
        } catch (e: unknown) {
          if (e instanceof ApiError && e.code === 404) return undefined;
          throw e;
        }
      },
      5_000,
    );
    expect(back.spec?.holderIdentity).toBe("node-c");
    // The renewal's patch found nothing (404), then the create: two more writes.
    expect(l.writes).toBe(before + 2);
  });
  it("sends a changed annotation with the next renewal: no write of its own", async () => {
    const l = start("node-d", { renewIntervalMs: 2_000, apiStaleAfterMs: 5_000 });
    await l.firstRenewal;
    const annotations = async () =>
      (await client.get<LeaseJson>(leasePath("node-d"))).metadata?.annotations ?? {};
    const before = l.writes;
    // Many changes within one renew interval, as a flapping check would make.
    for (const state of ["starting", "held", "eligible", "fenced", "eligible"])
      l.annotate("barelb.io/membership", state);
    l.annotate("barelb.io/node-warnings", "[]");
    await sleep(300);
    expect(l.writes).toBe(before);
    expect((await annotations())["barelb.io/membership"]).toBeUndefined();
    await eventually("the next renewal", () => (l.writes > before ? true : undefined), 5_000);
    await eventually(
      "the annotations on the Lease",
      async () => ((await annotations())["barelb.io/membership"] === "eligible" ? true : undefined),
      5_000,
    );
    const a = await annotations();
    expect(a["barelb.io/node-warnings"]).toBe("[]");
    expect(a["barelb.io/heartbeat-token"]).toBe("00112233445566778899aabbccddeeff");
  });

  it("brings the renewal forward for a change marked soon: one write for a burst of them", async () => {
    const l = start("node-e", { renewIntervalMs: 30_000, apiStaleAfterMs: 40_000 });
    await l.firstRenewal;
    const annotations = async () =>
      (await client.get<LeaseJson>(leasePath("node-e"))).metadata?.annotations ?? {};
    const before = l.writes;
    for (const state of ["starting", "held", "eligible"])
      l.annotate("barelb.io/membership", state, { soon: true });
    await eventually(
      "the soon renewal",
      async () => ((await annotations())["barelb.io/membership"] === "eligible" ? true : undefined),
      5_000,
    );
    // Well before the 30 s renew interval, and one write for the three changes.
    await sleep(1_500);
    expect(l.writes).toBe(before + 1);
    // The same value again is no change: nothing brought forward.
    l.annotate("barelb.io/membership", "eligible", { soon: true });
    await sleep(1_500);
    expect(l.writes).toBe(before + 1);
  });
});
