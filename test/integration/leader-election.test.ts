import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import {
  CoordinationV1Api,
  CoreV1Api,
  V1MicroTime,
  type KubeConfig,
} from "@kubernetes/client-node";
import { LeaderElector } from "../../src/k8s/leader-election.js";
import {
  createTestNamespace,
  eventually,
  integrationKubeConfig,
  kubeClientFor,
} from "../helpers/k8s.js";

// Two candidates for one Lease on the real API server: exactly one leads; a graceful stop
// hands over at once; a leader that dies silently is replaced after the lease duration.

const kc = integrationKubeConfig();
const log = pino({ level: "silent" });

describe.runIf(kc !== null)("leader election on a real API server", () => {
  const admin = kc as KubeConfig;
  let ns = "";
  beforeAll(async () => {
    ns = await createTestNamespace(admin, "it-leader");
  });
  afterAll(async () => {
    if (ns !== "") await admin.makeApiClient(CoreV1Api).deleteNamespace({ name: ns });
  });

  function candidate(identity: string, owner?: { name: string; uid: string }) {
    const elector = new LeaderElector({
      owner,
      client: kubeClientFor(admin),
      namespace: ns,
      name: "barelb-controller",
      identity,
      leaseDurationMs: 2_000,
      renewDeadlineMs: 1_500,
      retryPeriodMs: 200,
      log,
    });
    const stop = new AbortController();
    const state = { leading: false, started: 0, stopped: 0 };
    const done = elector.run(stop.signal, {
      onStartedLeading: () => {
        state.leading = true;
        state.started++;
      },
      onStoppedLeading: () => {
        state.leading = false;
        state.stopped++;
      },
    });
    return { identity, state, stop, done };
  }

  const holder = async () =>
    (
      await admin
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ name: "barelb-controller", namespace: ns })
    ).spec;

  it("elects one leader, hands over at once on a graceful stop", async () => {
    const a = candidate("a");
    await eventually("a leads", () => (a.state.leading ? true : undefined));
    const b = candidate("b");
    await new Promise((r) => setTimeout(r, 1_000));
    expect(b.state.leading).toBe(false); // a keeps renewing: b never leads meanwhile
    expect((await holder())?.holderIdentity).toBe("a");

    a.stop.abort();
    await a.done;
    expect(a.state).toEqual({ leading: false, started: 1, stopped: 1 });
    // Released, not left to expire: the holder is cleared (or already b) when a returns.
    expect(["", "b"]).toContain((await holder())?.holderIdentity);
    await eventually("b leads", () => (b.state.leading ? true : undefined));
    const spec = await holder();
    expect(spec?.holderIdentity).toBe("b");
    expect(spec?.leaseTransitions).toBe(1);
    b.stop.abort();
    await b.done;
  });

  it("names the leading replica's Pod as the Lease's owner, and the next leader's after it", async () => {
    // The garbage collector then removes the Lease with the last leader's Pod (helm uninstall).
    const ownerOf = async () =>
      (
        await admin
          .makeApiClient(CoordinationV1Api)
          .readNamespacedLease({ name: "barelb-controller", namespace: ns })
      ).metadata?.ownerReferences?.map((o) => `${o.kind}/${o.name}/${o.uid}`);
    const a = candidate("a", { name: "pod-a", uid: "00000000-0000-0000-0000-00000000000a" });
    await eventually("a leads", () => (a.state.leading ? true : undefined));
    expect(await ownerOf()).toEqual(["Pod/pod-a/00000000-0000-0000-0000-00000000000a"]);
    const b = candidate("b", { name: "pod-b", uid: "00000000-0000-0000-0000-00000000000b" });
    a.stop.abort();
    await a.done;
    await eventually("b leads", () => (b.state.leading ? true : undefined));
    expect(await ownerOf()).toEqual(["Pod/pod-b/00000000-0000-0000-0000-00000000000b"]);
    b.stop.abort();
    await b.done;
  });

  it("replaces a leader that stops renewing only after the lease duration", async () => {
    // What a crashed leader leaves behind: a Lease held by someone who never renews it.
    const coord = admin.makeApiClient(CoordinationV1Api);
    const current = await coord.readNamespacedLease({ name: "barelb-controller", namespace: ns });
    await coord.replaceNamespacedLease({
      name: "barelb-controller",
      namespace: ns,
      body: {
        ...current,
        spec: {
          ...current.spec,
          holderIdentity: "crashed",
          leaseDurationSeconds: 2,
          renewTime: new V1MicroTime(),
        },
      },
    });
    const t0 = performance.now();
    const d = candidate("d");
    await eventually("d takes over", () => (d.state.leading ? true : undefined), 10_000);
    const waited = performance.now() - t0;
    // d had to see the record unchanged for the whole 2 s duration on its own clock.
    expect(waited).toBeGreaterThanOrEqual(2_000);
    const spec = await holder();
    expect(spec?.holderIdentity).toBe("d");
    d.stop.abort();
    await d.done;
  });
});
