import { describe, expect, it } from "vitest";
import type { V1ManagedFieldsEntry, V1Service, V1ServiceSpec } from "@kubernetes/client-node";
import { pino } from "pino";
import { parseConfig, type Config } from "../../../src/config/index.js";
import type { EventSink, EventTarget, EventType } from "../../../src/k8s/events.js";
import type { IPMode } from "../../../src/adapters/service.js";
import { FOREIGN_WRITE_HOLD_MS, type ForeignFinding } from "../../../src/adapters/foreign-lb.js";
import {
  ServiceController,
  type AssignmentWriter,
  type ControllerObserver,
} from "../../../src/controller/service-controller.js";

/**
 * The controller's rules, decided against recording fakes of its ports: a Map of Services
 * stands in for the informer cache, a writer records each status write and applies it to the
 * Map (as the API server would, so the next reconcile sees it), and an Event sink records
 * every Event. Each table runs in order and state builds up from step to step, as in
 * MetalLB's controller tests. The allocator's own choices are tested in test/unit/allocator.
 */

const NS = "shop";
const POOL = "barelb.io/ip-allocated-from-pool";

function config(yaml: string): Config {
  const r = parseConfig(`address-pools:\n${yaml}`);
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join("\n"));
  return r.config;
}

/** A pool block for `config`: `pool("lan", ["192.0.2.0/30"], "auto-assign: false")`. */
function pool(name: string, addresses: string[], ...extra: string[]): string {
  return [
    `- name: ${name}`,
    "  protocol: layer2",
    `  addresses: [${addresses.join(", ")}]`,
    ...extra.map((l) => `  ${l}`),
    "",
  ].join("\n");
}

interface ServiceOptions {
  spec?: Partial<V1ServiceSpec>;
  annotations?: Record<string, string>;
  /** IPs already in `status.loadBalancer.ingress` (and the pool annotation with them). */
  status?: { ips: string[]; pool: string };
  /** Creation time, seconds after an arbitrary origin: restore goes oldest first. */
  created?: number;
}

function service(name: string, o: ServiceOptions = {}): V1Service {
  return {
    metadata: {
      namespace: NS,
      name,
      uid: `uid-${name}`,
      creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, o.created ?? 0)),
      annotations: {
        ...o.annotations,
        ...(o.status === undefined ? {} : { [POOL]: o.status.pool }),
      },
    },
    spec: {
      type: "LoadBalancer",
      selector: { app: name },
      ports: [{ port: 80, protocol: "TCP" }],
      ipFamilies: ["IPv4"],
      ipFamilyPolicy: "SingleStack",
      ...o.spec,
    },
    status:
      o.status === undefined
        ? {}
        : { loadBalancer: { ingress: o.status.ips.map((ip) => ({ ip, ipMode: "VIP" })) } },
  };
}

interface RecordedEvent {
  service: string;
  type: EventType;
  reason: string;
  message: string;
}

interface Write {
  op: "write" | "clear" | "recordPool";
  service: string;
  ips?: readonly string[];
  pool?: string;
  ipMode?: string;
  keepIngress?: boolean;
}

/** The Services as the API server holds them, and fakes of the controller's ports. */
class FakeCluster implements AssignmentWriter, EventSink, ControllerObserver {
  readonly services = new Map<string, V1Service>();
  readonly writes: Write[] = [];
  readonly events: RecordedEvent[] = [];
  readonly failures: string[] = [];
  /** Writes (or clears) to reject next, as an API server that refuses them. */
  failNext = 0;

  put(svc: V1Service): string {
    const key = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
    this.services.set(key, svc);
    return key;
  }

  /** The user edits a Service: status and annotations written by the controller stay. */
  edit(name: string, change: (svc: V1Service) => void): string {
    const svc = structuredClone(this.get(name));
    change(svc);
    return this.put(svc);
  }

  get(name: string): V1Service {
    const svc = this.services.get(`${NS}/${name}`);
    if (svc === undefined) throw new Error(`no Service ${name}`);
    return svc;
  }

  ips(name: string): string[] {
    return (this.get(name).status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? "");
  }

  pool(name: string): string | undefined {
    return this.get(name).metadata?.annotations?.[POOL];
  }

  // ---- AssignmentWriter: applies the merge patch the real writer sends ------------------
  write(svc: V1Service, ips: readonly string[], pool: string, ipMode: IPMode): Promise<void> {
    return this.patch(svc, { op: "write", ips, pool, ipMode });
  }

  ipModes(name: string): (string | undefined)[] {
    return (this.get(name).status?.loadBalancer?.ingress ?? []).map((i) => i.ipMode);
  }

  recordPool(svc: V1Service, pool: string): Promise<void> {
    return this.patch(svc, { op: "recordPool", pool });
  }

  clear(svc: V1Service, opts: { keepIngress?: boolean } = {}): Promise<void> {
    return this.patch(svc, {
      op: "clear",
      ...(opts.keepIngress === true ? { keepIngress: true } : {}),
    });
  }

  private async patch(svc: V1Service, w: Omit<Write, "service">): Promise<void> {
    await Promise.resolve(); // never synchronous, like a request
    const key = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error("the API server refused the write", { cause: { key } });
    }
    this.writes.push({ service: key, ...w });
    const stored = this.services.get(key);
    if (stored === undefined) throw new Error(`Service ${key} not found`);
    const next = structuredClone(stored);
    const { [POOL]: _old, ...annotations } = next.metadata?.annotations ?? {};
    // MetalLB's record of the pool goes with any write (status-writer.ts).
    delete annotations["metallb.io/ip-allocated-from-pool"];
    delete annotations["metallb.universe.tf/ip-allocated-from-pool"];
    if (w.op !== "clear") annotations[POOL] = w.pool ?? "";
    next.metadata = { ...next.metadata, annotations };
    if (w.keepIngress !== true && w.op !== "recordPool") {
      next.status = {
        loadBalancer: {
          ingress:
            w.op === "write" ? (w.ips ?? []).map((ip) => ({ ip, ipMode: w.ipMode })) : undefined,
        },
      };
    }
    this.services.set(key, next);
  }

  // ---- EventSink -------------------------------------------------------------------------
  emit(target: EventTarget, type: EventType, reason: string, message: string): void {
    expect(target.kind).toBe("Service");
    this.events.push({ service: target.name, type, reason, message });
  }

  // ---- ControllerObserver ----------------------------------------------------------------
  allocationFailed(code: string): void {
    this.failures.push(code);
  }
}

/** A controller over a fake cluster, driven the way run.ts drives it. */
class Harness {
  ctrl: ServiceController;
  /** Reconcile errors, as the work queue's error handler would log them. */
  readonly errors: { key: string; error: unknown }[] = [];

  constructor(
    readonly cluster: FakeCluster,
    private cfg: Config,
    private readonly lbClass?: string,
  ) {
    this.ctrl = this.start();
  }

  /** A new controller (a restart, or a new leader) over the same Services. */
  restart(yaml?: string): Promise<void> {
    if (yaml !== undefined) this.cfg = config(yaml);
    this.ctrl = this.start();
    return this.drain(this.ctrl.restore());
  }

  private start(): ServiceController {
    const c = this.cluster;
    return new ServiceController({
      config: this.cfg,
      lookup: (key) => c.services.get(key),
      all: () => c.services.values(),
      writer: c,
      events: c,
      log: pino({ level: "silent" }),
      lbClass: this.lbClass,
      observer: c,
    });
  }

  setConfig(yaml: string): Promise<void> {
    this.cfg = config(yaml);
    return this.drain(this.ctrl.setConfig(this.cfg));
  }

  /**
   * Reconciles keys until none is left: "reprocessAll" queues the pending Services, a
   * rejected reconcile is retried (the work queue does so after a backoff).
   */
  async drain(keys: readonly string[]): Promise<void> {
    const queue = [...keys];
    for (let rounds = 0; queue.length > 0; rounds++) {
      if (rounds > 1000) throw new Error("reconcile loop does not settle");
      const key = queue.shift() as string;
      try {
        if ((await this.ctrl.reconcile(key)) === "reprocessAll") {
          for (const p of this.ctrl.pendingKeys()) if (!queue.includes(p)) queue.push(p);
        }
      } catch (error: unknown) {
        this.errors.push({ key, error });
        if (!queue.includes(key)) queue.push(key);
      }
    }
  }
}

/** One step of a table: a change, then what the Services show and what was said. */
interface Step {
  say: string;
  /** Create or replace Services (then reconcile them). */
  put?: V1Service[];
  /** Edit a Service as a user would (then reconcile it). */
  edit?: [name: string, change: (svc: V1Service) => void];
  delete?: string;
  /** A config edit; with `restart`, made while no controller runs. */
  config?: string;
  restart?: true;
  /** Status IPs per Service after the step; `pool` names the ip-allocated-from-pool value. */
  want: Record<string, string[] | { ips: string[]; pool: string | undefined }>;
  /** Events during the step, each `[service, reason, text in the message]`, in order. */
  events?: [string, string, string][];
  /** Status writes during the step (writes and clears). */
  writes?: number;
}

async function runSteps(h: Harness, steps: Step[]): Promise<void> {
  const c = h.cluster;
  for (const s of steps) {
    const eventsBefore = c.events.length;
    const writesBefore = c.writes.length;
    const keys: string[] = [];
    for (const svc of s.put ?? []) keys.push(c.put(svc));
    if (s.edit !== undefined) keys.push(c.edit(...s.edit));
    if (s.delete !== undefined) {
      const key = `${NS}/${s.delete}`;
      c.services.delete(key);
      keys.push(key);
    }
    if (s.restart) await h.restart(s.config);
    else if (s.config !== undefined) await h.setConfig(s.config);
    await h.drain(keys);

    for (const [name, want] of Object.entries(s.want)) {
      const ips = Array.isArray(want) ? want : want.ips;
      expect(c.ips(name), `${s.say}: ${name}'s IPs`).toEqual(ips);
      if (!Array.isArray(want)) expect(c.pool(name), `${s.say}: ${name}'s pool`).toBe(want.pool);
      else if (ips.length === 0) expect(c.pool(name), `${s.say}: ${name}'s pool`).toBeUndefined();
      // The allocator agrees with what was written (in the order of ipFamilies; the status
      // keeps the order it was written in).
      expect(
        [...(h.ctrl.allocator.get(`${NS}/${name}`)?.ips ?? [])].sort(),
        `${s.say}: ${name} held`,
      ).toEqual([...ips].sort());
    }
    const said = c.events.slice(eventsBefore);
    if (s.events !== undefined) {
      expect(
        said.map((e) => [e.service, e.reason]),
        `${s.say}: events ${JSON.stringify(said)}`,
      ).toEqual(s.events.map(([svc, reason]) => [svc, reason]));
      s.events.forEach(([, , text], i) =>
        expect(said[i]?.message, `${s.say}: event ${i}`).toContain(text),
      );
    }
    if (s.writes !== undefined) {
      expect(c.writes.length - writesBefore, `${s.say}: writes`).toBe(s.writes);
    }
    expect(h.errors, s.say).toEqual([]);
  }
  // The reasons and types DESIGN.md names, and nothing else.
  for (const e of c.events) {
    expect(["IPAllocated", "AllocationFailed", "ClearAssignment"]).toContain(e.reason);
    expect(e.type).toBe(e.reason === "AllocationFailed" ? "Warning" : "Normal");
  }
}

const withAnnotation = (key: string, value: string | undefined) => (svc: V1Service) => {
  const { [key]: _old, ...annotations } = svc.metadata?.annotations ?? {};
  if (value !== undefined) annotations[key] = value;
  svc.metadata = { ...svc.metadata, annotations };
};
const withSpec = (spec: Partial<V1ServiceSpec>) => (svc: V1Service) => {
  svc.spec = { ...svc.spec, ...spec };
};

describe("ServiceController: requested IPs and the pool annotation", () => {
  it("runs in order", async () => {
    const h = new Harness(
      new FakeCluster(),
      config(
        pool("lan", ["192.0.2.0/30"]) + pool("reserved", ["198.51.100.0/31"], "auto-assign: false"),
      ),
    );
    await runSteps(h, [
      {
        say: "a new Service gets the lowest free IP, in status and annotation",
        put: [service("a")],
        want: { a: { ips: ["192.0.2.0"], pool: "lan" } },
        events: [["a", "IPAllocated", "Assigned IP 192.0.2.0 from pool lan"]],
        writes: 1,
      },
      {
        say: "spec.loadBalancerIP",
        put: [service("b", { spec: { loadBalancerIP: "192.0.2.3" } })],
        want: { b: ["192.0.2.3"] },
      },
      {
        say: "the barelb.io/loadBalancerIPs annotation",
        put: [service("c", { annotations: { "barelb.io/loadBalancerIPs": "192.0.2.2" } })],
        want: { c: ["192.0.2.2"] },
      },
      {
        say: "metallb.io/loadBalancerIPs asking for a held IP: refused, naming the holder",
        put: [service("d", { annotations: { "metallb.io/loadBalancerIPs": "192.0.2.0" } })],
        want: { d: [] },
        events: [["d", "AllocationFailed", `192.0.2.0 is already used by Service ${NS}/a`]],
        writes: 0,
      },
      {
        say: "metallb.universe.tf/address-pool serves even an auto-assign: false pool",
        put: [service("e", { annotations: { "metallb.universe.tf/address-pool": "reserved" } })],
        want: { e: { ips: ["198.51.100.0"], pool: "reserved" } },
      },
      {
        say: "metallb.io/address-pool naming an unknown pool",
        put: [service("f", { annotations: { "metallb.io/address-pool": "nope" } })],
        want: { f: [] },
        events: [["f", "AllocationFailed", 'pool "nope"']],
      },
      {
        say: "metallb.universe.tf/loadBalancerIPs in an auto-assign: false pool",
        put: [
          service("g", { annotations: { "metallb.universe.tf/loadBalancerIPs": "198.51.100.1" } }),
        ],
        want: { g: { ips: ["198.51.100.1"], pool: "reserved" } },
      },
      {
        say: "the user changes loadBalancerIP: the Service moves, and is told",
        edit: ["b", withSpec({ loadBalancerIP: "192.0.2.1" })],
        want: { b: ["192.0.2.1"], a: ["192.0.2.0"], c: ["192.0.2.2"] },
        events: [
          ["b", "ClearAssignment", "current IP 192.0.2.3 no longer allowed"],
          ["b", "IPAllocated", "192.0.2.1"],
          // .3 is free: the pending Services are retried
          ["d", "AllocationFailed", "192.0.2.0 is already used"],
          ["f", "AllocationFailed", 'pool "nope"'],
        ],
        writes: 1,
      },
      {
        say: "a's annotation moves it to a full pool: its IP goes to d, who asked for it",
        edit: ["a", withAnnotation("barelb.io/address-pool", "reserved")],
        want: { a: [], d: ["192.0.2.0"], f: [] },
        events: [
          ["a", "ClearAssignment", "192.0.2.0"],
          ["a", "AllocationFailed", 'pool "reserved" has no free IPv4 address'],
          ["d", "IPAllocated", "192.0.2.0"],
          ["f", "AllocationFailed", 'pool "nope"'],
          ["a", "AllocationFailed", 'pool "reserved"'], // pending itself: retried too
        ],
      },
      {
        say: "loadBalancerIP and the annotation disagree: b keeps its IP and is told",
        edit: ["b", withAnnotation("barelb.io/loadBalancerIPs", "192.0.2.3")],
        want: { b: ["192.0.2.1"] },
        events: [["b", "AllocationFailed", "set only one of them"]],
        writes: 0,
      },
      {
        say: "an unparseable requested IP: c keeps its IP and is told",
        edit: ["c", withAnnotation("barelb.io/loadBalancerIPs", "192.0.2.x")],
        want: { c: ["192.0.2.2"] },
        events: [["c", "AllocationFailed", '"192.0.2.x" is not a valid IP address']],
        writes: 0,
      },
      {
        say: "e is deleted: a, waiting for its annotated pool, gets e's IP",
        delete: "e",
        want: { a: { ips: ["198.51.100.0"], pool: "reserved" }, f: [] },
        events: [
          ["f", "AllocationFailed", 'pool "nope"'],
          ["a", "IPAllocated", "198.51.100.0"],
        ],
      },
      {
        say: "a restart moves nothing and writes nothing",
        restart: true,
        want: { a: ["198.51.100.0"], b: ["192.0.2.1"], c: ["192.0.2.2"], d: ["192.0.2.0"] },
        writes: 0,
        events: [
          ["b", "AllocationFailed", "set only one of them"],
          ["c", "AllocationFailed", "not a valid IP"],
          ["f", "AllocationFailed", 'pool "nope"'],
        ],
      },
    ]);
    // The observer (the barelb_allocation_failures_total metric) counts each by its code.
    expect(new Set(h.cluster.failures)).toEqual(
      new Set(["IPInUse", "UnknownPool", "PoolExhausted", "InvalidServiceRequest", "InvalidIP"]),
    );
    expect(h.cluster.failures).toHaveLength(
      h.cluster.events.filter((e) => e.reason === "AllocationFailed").length,
    );
  });
});

describe("ServiceController: sharing (allow-shared-ip)", () => {
  const dns = (name: string, protocol: string, o: ServiceOptions = {}) =>
    service(name, {
      ...o,
      spec: { ports: [{ port: 53, protocol }], ...o.spec },
      annotations: { "barelb.io/allow-shared-ip": "dns", ...o.annotations },
    });

  it("runs in order", async () => {
    const h = new Harness(new FakeCluster(), config(pool("lan", ["192.0.2.0/30"])));
    await runSteps(h, [
      { say: "dns-tcp", put: [dns("dns-tcp", "TCP")], want: { "dns-tcp": ["192.0.2.0"] } },
      {
        say: "same key (metallb.io spelling), other port: the same IP",
        put: [
          service("dns-udp", {
            spec: { ports: [{ port: 53, protocol: "UDP" }] },
            annotations: { "metallb.io/allow-shared-ip": "dns" },
          }),
        ],
        want: { "dns-udp": ["192.0.2.0"], "dns-tcp": ["192.0.2.0"] },
      },
      {
        say: "same key, clashing port, asking for the shared IP",
        put: [dns("dns-clash", "TCP", { spec: { loadBalancerIP: "192.0.2.0" } })],
        want: { "dns-clash": [] },
        events: [["dns-clash", "AllocationFailed", `also uses TCP/53`]],
      },
      {
        say: "another key",
        put: [
          dns("web", "TCP", {
            spec: { loadBalancerIP: "192.0.2.0", ports: [{ port: 80, protocol: "TCP" }] },
            annotations: { "barelb.io/allow-shared-ip": "web" },
          }),
        ],
        want: { web: [] },
        events: [["web", "AllocationFailed", 'with allow-shared-ip "dns"']],
      },
      {
        say: "same key, externalTrafficPolicy Local: other backends",
        put: [
          dns("local", "TCP", {
            spec: {
              loadBalancerIP: "192.0.2.0",
              ports: [{ port: 80, protocol: "TCP" }],
              externalTrafficPolicy: "Local",
            },
          }),
        ],
        want: { local: [] },
        events: [["local", "AllocationFailed", "externalTrafficPolicy or pod selector differs"]],
      },
      {
        say: "same key, no clash, no requested IP: joins the shared IP",
        put: [dns("dns-tls", "TCP", { spec: { ports: [{ port: 853, protocol: "TCP" }] } })],
        want: { "dns-tls": ["192.0.2.0"] },
      },
      {
        say: "dns-tcp leaves: the IP stays shared, and dns-clash can now join it",
        delete: "dns-tcp",
        want: { "dns-udp": ["192.0.2.0"], "dns-clash": ["192.0.2.0"], web: [], local: [] },
      },
      {
        say: "the sharing key changes to one nobody holds: a new IP",
        edit: ["dns-tls", withAnnotation("barelb.io/allow-shared-ip", "tls")],
        want: { "dns-tls": ["192.0.2.1"], "dns-udp": ["192.0.2.0"] },
        events: [
          ["dns-tls", "ClearAssignment", `already used by Service ${NS}/dns-udp`],
          ["dns-tls", "IPAllocated", "192.0.2.1"],
          ["web", "AllocationFailed", 'with allow-shared-ip "dns"'],
          ["local", "AllocationFailed", "externalTrafficPolicy"],
        ],
      },
    ]);
  });
});

describe("ServiceController: Services it stops handling, and --lb-class", () => {
  it("clears a Service that stops being a LoadBalancer or changes class, for a pending one", async () => {
    const h = new Harness(new FakeCluster(), config(pool("lan", ["192.0.2.0/31"])));
    await runSteps(h, [
      { say: "a", put: [service("a")], want: { a: ["192.0.2.0"] } },
      { say: "b", put: [service("b")], want: { b: ["192.0.2.1"] } },
      {
        say: "c: pool full",
        put: [service("c")],
        want: { c: [] },
        events: [["c", "AllocationFailed", 'pool "lan" has no free IPv4 address']],
        writes: 0,
      },
      {
        say: "a becomes a ClusterIP Service: cleared, and c gets its IP",
        edit: ["a", withSpec({ type: "ClusterIP" })],
        want: { a: [], c: ["192.0.2.0"] },
        events: [
          ["a", "ClearAssignment", "released IP 192.0.2.0: the Service is no longer one barelb"],
          ["c", "IPAllocated", "192.0.2.0"],
        ],
        writes: 2,
      },
      {
        say: "d: pool full again",
        put: [service("d")],
        want: { d: [] },
      },
      {
        say: "b takes another class: cleared, d gets its IP",
        edit: ["b", withSpec({ loadBalancerClass: "example.com/other" })],
        want: { b: [], d: ["192.0.2.1"] },
        events: [
          ["b", "ClearAssignment", "class example.com/other"],
          ["d", "IPAllocated", "192.0.2.1"],
        ],
      },
      {
        say: "Services of another class or type are left alone",
        put: [
          service("other", { spec: { loadBalancerClass: "example.com/other" } }),
          service("plain", { spec: { type: "ClusterIP" } }),
        ],
        want: { other: [], plain: [] },
        events: [],
        writes: 0,
      },
    ]);
  });

  it("with --lb-class, handles exactly that class", async () => {
    const h = new Harness(
      new FakeCluster(),
      config(pool("lan", ["192.0.2.0/30"])),
      "example.com/barelb",
    );
    const ours = { loadBalancerClass: "example.com/barelb" };
    await runSteps(h, [
      {
        say: "no class: not ours",
        put: [service("none")],
        want: { none: [] },
        events: [],
        writes: 0,
      },
      { say: "our class", put: [service("mine", { spec: ours })], want: { mine: ["192.0.2.0"] } },
      {
        say: "the class is removed: cleared",
        edit: ["mine", withSpec({ loadBalancerClass: undefined })],
        want: { mine: [] },
        events: [["mine", "ClearAssignment", "192.0.2.0"]],
      },
      {
        say: "a Service gaining our class is served",
        edit: ["none", withSpec(ours)],
        want: { none: ["192.0.2.0"] },
      },
    ]);
  });
});

describe("ServiceController: config changes", () => {
  it("clears with a reason what a removed pool held, and serves pending Services when pools grow", async () => {
    const lan2 = pool("lan", ["192.0.2.0/31"]);
    const h = new Harness(new FakeCluster(), config(lan2 + pool("extra", ["198.51.100.0/32"])));
    await runSteps(h, [
      { say: "a", put: [service("a")], want: { a: ["192.0.2.0"] } },
      { say: "b", put: [service("b")], want: { b: ["192.0.2.1"] } },
      {
        say: "c: the next pool",
        put: [service("c")],
        want: { c: { ips: ["198.51.100.0"], pool: "extra" } },
      },
      {
        say: "d: every pool full",
        put: [service("d")],
        want: { d: [] },
        events: [["d", "AllocationFailed", `no free IPv4 address in pools "lan", "extra"`]],
      },
      {
        say: "pool extra is removed: c loses its IP and is told why",
        config: lan2,
        want: { a: ["192.0.2.0"], b: ["192.0.2.1"], c: [], d: [] },
        events: [
          [
            "c",
            "ClearAssignment",
            "198.51.100.0 no longer allowed (198.51.100.0 is not in any address pool",
          ],
          ["c", "AllocationFailed", 'pool "lan" has no free IPv4 address'],
          ["d", "AllocationFailed", 'pool "lan" has no free IPv4 address'],
        ],
        writes: 1,
      },
      {
        say: "lan grows: the pending Services get IPs, the longest waiting first",
        config: pool("lan", ["192.0.2.0/30"]),
        want: { a: ["192.0.2.0"], b: ["192.0.2.1"], d: ["192.0.2.2"], c: ["192.0.2.3"] },
        writes: 2,
      },
      {
        say: "an edit elsewhere (a new pool) moves nothing and writes nothing",
        config: pool("lan", ["192.0.2.0/30"]) + pool("more", ["198.51.100.8/29"]),
        want: { a: ["192.0.2.0"], b: ["192.0.2.1"], d: ["192.0.2.2"], c: ["192.0.2.3"] },
        events: [],
        writes: 0,
      },
    ]);
  });
});

describe("ServiceController: restore and restart", () => {
  it("re-takes status IPs oldest first before any allocation; a restart moves nothing", async () => {
    const c = new FakeCluster();
    const lan = { pool: "lan" };
    // Written by an earlier controller; "young" claims "old"'s IP (e.g. a hand edit).
    c.put(service("fresh", { created: 0 }));
    c.put(service("old", { created: 1, status: { ips: ["192.0.2.1"], ...lan } }));
    c.put(service("first", { created: 2, status: { ips: ["192.0.2.0"], ...lan } }));
    c.put(service("young", { created: 3, status: { ips: ["192.0.2.1"], ...lan } }));
    c.put(
      service("stubborn", {
        created: 4,
        status: { ips: ["192.0.2.3"], ...lan },
        // Its requested IPs are unusable: it keeps what it has, also across a restart.
        spec: { loadBalancerIP: "192.0.2.2" },
        annotations: { "metallb.io/loadBalancerIPs": "192.0.2.3" },
      }),
    );
    const h = new Harness(c, config(pool("lan", ["192.0.2.0/29"])));
    await runSteps(h, [
      {
        say: "start: restore, then reconcile oldest first",
        restart: true,
        want: {
          fresh: ["192.0.2.2"],
          old: ["192.0.2.1"],
          first: ["192.0.2.0"],
          young: ["192.0.2.4"],
          stubborn: ["192.0.2.3"],
        },
        events: [
          ["fresh", "IPAllocated", "192.0.2.2"],
          ["young", "ClearAssignment", `192.0.2.1 is already used by Service ${NS}/old`],
          ["young", "IPAllocated", "192.0.2.4"],
          ["stubborn", "AllocationFailed", "set only one of them"],
        ],
        writes: 2,
      },
      {
        say: "restart: nothing moves, nothing is written",
        restart: true,
        want: {
          fresh: ["192.0.2.2"],
          old: ["192.0.2.1"],
          first: ["192.0.2.0"],
          young: ["192.0.2.4"],
          stubborn: ["192.0.2.3"],
        },
        events: [["stubborn", "AllocationFailed", "set only one of them"]],
        writes: 0,
      },
      {
        say: "restart with a config edited meanwhile: an IP outside it is cleared, with the reason",
        config: pool("lan", ["192.0.2.0/30"]),
        restart: true,
        want: { young: [], stubborn: ["192.0.2.3"], fresh: ["192.0.2.2"] },
        events: [
          ["young", "ClearAssignment", "192.0.2.4 is not in any address pool"],
          ["young", "AllocationFailed", 'pool "lan" has no free IPv4 address'],
          ["stubborn", "AllocationFailed", "set only one of them"],
        ],
        writes: 1,
      },
    ]);
  });
});

describe("ServiceController: taking over what MetalLB left", () => {
  /** A Service as MetalLB's controller leaves it: its status and its own pool annotation. */
  function left(name: string, ips: string[], metallbPool: string, o: ServiceOptions = {}) {
    const svc = service(name, {
      ...o,
      annotations: { ...o.annotations, "metallb.universe.tf/ip-allocated-from-pool": metallbPool },
    });
    svc.status = { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } };
    return svc;
  }

  it("keeps the IPs that fit with one annotation write each, moves the others, and a restart writes nothing", async () => {
    const c = new FakeCluster();
    const dual = { ipFamilies: ["IPv6", "IPv4"], ipFamilyPolicy: "RequireDualStack" };
    c.put(left("renamed", ["192.0.2.1"], "office", { created: 0 }));
    // IPv4 first although the Service is IPv6 first: the same IPs, left in MetalLB's order.
    c.put(left("dual", ["192.0.2.2", "2001:db8::2"], "lan", { created: 1, spec: dual }));
    c.put(
      left("shared-a", ["192.0.2.3"], "lan", {
        created: 2,
        annotations: { "metallb.io/allow-shared-ip": "k" },
      }),
    );
    c.put(
      left("shared-b", ["192.0.2.3"], "lan", {
        created: 3,
        annotations: { "metallb.universe.tf/allow-shared-ip": "k" },
        spec: { ports: [{ port: 443, protocol: "TCP" }] },
      }),
    );
    c.put(left("outside", ["198.51.100.9"], "old", { created: 4 }));
    const h = new Harness(c, config(pool("lan", ["192.0.2.0/29", "2001:db8::/125"])));
    await runSteps(h, [
      {
        say: "start: the IPs that fit stay, in their order; only the outside one moves",
        restart: true,
        want: {
          renamed: { ips: ["192.0.2.1"], pool: "lan" },
          dual: { ips: ["192.0.2.2", "2001:db8::2"], pool: "lan" },
          "shared-a": { ips: ["192.0.2.3"], pool: "lan" },
          "shared-b": { ips: ["192.0.2.3"], pool: "lan" },
          outside: { ips: ["192.0.2.0"], pool: "lan" },
        },
        events: [
          [
            "outside",
            "ClearAssignment",
            "IP 198.51.100.9 in its status, set before barelb handled the Service, cannot be kept (198.51.100.9 is not in any address pool",
          ],
          ["outside", "IPAllocated", "192.0.2.0"],
        ],
        writes: 5,
      },
      {
        say: "restart: nothing moves, nothing is written",
        restart: true,
        want: { dual: ["192.0.2.2", "2001:db8::2"], outside: ["192.0.2.0"] },
        events: [],
        writes: 0,
      },
    ]);
    expect(c.writes.filter((w) => w.op === "recordPool").map((w) => w.service)).toEqual(
      ["renamed", "dual", "shared-a", "shared-b"].map((n) => `${NS}/${n}`),
    );
    // MetalLB's record of the pool went with barelb's write.
    for (const svc of c.services.values()) {
      expect(svc.metadata?.annotations?.["metallb.universe.tf/ip-allocated-from-pool"]).toBe(
        undefined,
      );
    }
    // The ingress the annotation-only writes left alone (no ipMode: MetalLB wrote none).
    expect(c.ipModes("dual")).toEqual([undefined, undefined]);
  });

  it("leaves alone a Service of another class that another barelb wrote", async () => {
    const c = new FakeCluster();
    c.put(
      service("theirs", {
        spec: { loadBalancerClass: "barelb.io/b" },
        status: { ips: ["192.0.2.1"], pool: "lan" },
      }),
    );
    const h = new Harness(c, config(pool("lan", ["192.0.2.0/29"])), "barelb.io/a");
    await runSteps(h, [
      {
        say: "start with --lb-class barelb.io/a",
        restart: true,
        want: {},
        events: [],
        writes: 0,
      },
    ]);
    expect([c.ips("theirs"), c.pool("theirs")]).toEqual([["192.0.2.1"], "lan"]);
  });

  it("clears a status it took over when the Service stops being barelb's, though MetalLB owns it", async () => {
    const c = new FakeCluster();
    const svc = left("a", ["192.0.2.1"], "lan");
    // managedFields as the API server keeps them: MetalLB's "controller" still owns the
    // ingress barelb kept as it was (barelb's annotation write in the same second).
    svc.metadata = {
      ...svc.metadata,
      managedFields: [
        {
          manager: "controller",
          operation: "Update",
          subresource: "status",
          time: new Date(Date.UTC(2026, 0, 1)),
          fieldsV1: { "f:status": { "f:loadBalancer": { "f:ingress": {} } } },
        },
      ],
    };
    c.put(svc);
    const h = new Harness(c, config(pool("lan", ["192.0.2.0/29"])));
    await runSteps(h, [
      { say: "start", restart: true, want: { a: { ips: ["192.0.2.1"], pool: "lan" } }, writes: 1 },
      {
        say: "another class (the API server allows it only through a type change): the IP barelb held goes, with the status",
        edit: ["a", withSpec({ loadBalancerClass: "other.io/lb" })],
        want: { a: [] },
        events: [["a", "ClearAssignment", "released IP 192.0.2.1: the Service is no longer"]],
        writes: 1,
      },
    ]);
    expect(c.writes.at(-1)).toEqual({ op: "clear", service: `${NS}/a` });
  });
});

describe("ServiceController: writes the API server refuses", () => {
  it("retries a failed write with the same IP, which nobody else takes meanwhile", async () => {
    const c = new FakeCluster();
    const h = new Harness(c, config(pool("lan", ["192.0.2.0/31"])));
    const a = c.put(service("a"));
    c.failNext = 1;
    await expect(h.ctrl.reconcile(a)).rejects.toThrow("refused");
    expect(c.ips("a")).toEqual([]);
    expect(h.ctrl.allocator.get(a)?.ips).toEqual(["192.0.2.0"]);
    expect(c.events).toEqual([]); // not claimed before it is written

    await h.drain([c.put(service("b"))]);
    expect(c.ips("b")).toEqual(["192.0.2.1"]);

    expect(await h.ctrl.reconcile(a)).toBe("ok"); // the retry
    expect(c.ips("a")).toEqual(["192.0.2.0"]);
    expect(c.events.map((e) => [e.service, e.reason, e.message])).toEqual([
      ["b", "IPAllocated", "Assigned IP 192.0.2.1 from pool lan"],
      ["a", "IPAllocated", "Assigned IP 192.0.2.0 from pool lan"],
    ]);
  });

  it("still hands a freed IP to the pending Services when the clear that followed failed", async () => {
    const c = new FakeCluster();
    const h = new Harness(c, config(pool("lan", ["192.0.2.0/32"])));
    await h.drain([c.put(service("a")), c.put(service("b"))]);
    expect([c.ips("a"), c.ips("b")]).toEqual([["192.0.2.0"], []]);

    const a = c.edit("a", withSpec({ type: "NodePort" }));
    c.failNext = 1;
    await expect(h.ctrl.reconcile(a)).rejects.toThrow("refused");
    expect(h.ctrl.allocator.get(a)).toBeUndefined();
    expect(await h.ctrl.reconcile(a)).toBe("reprocessAll"); // the retry
    expect(c.ips("a")).toEqual([]);
    await h.drain(h.ctrl.pendingKeys());
    expect(c.ips("b")).toEqual(["192.0.2.0"]);
  });

  it("settles through the work queue's retries", async () => {
    const c = new FakeCluster();
    const h = new Harness(c, config(pool("lan", ["192.0.2.0/30"])));
    c.failNext = 3;
    await h.drain([c.put(service("a")), c.put(service("b")), c.put(service("c"))]);
    expect(h.errors.map((e) => e.key)).toEqual([`${NS}/a`, `${NS}/b`, `${NS}/c`]);
    expect([c.ips("a"), c.ips("b"), c.ips("c")]).toEqual([
      ["192.0.2.0"],
      ["192.0.2.1"],
      ["192.0.2.2"],
    ]);
    expect(c.writes).toHaveLength(3);
  });
});

describe("ServiceController: dual-stack", () => {
  it("runs in order", async () => {
    const h = new Harness(
      new FakeCluster(),
      config(
        pool("dual", ["192.0.2.0/31", "2001:db8::/127"]) +
          pool("v6only", ["2001:db8:6::/127"], "auto-assign: false"),
      ),
    );
    const stack = (
      families: ("IPv4" | "IPv6")[],
      policy: string,
      more: Partial<V1ServiceSpec> = {},
    ) => ({ spec: { ipFamilies: families, ipFamilyPolicy: policy, ...more } });
    await runSteps(h, [
      {
        say: "RequireDualStack: one IP per family, ordered like ipFamilies",
        put: [service("both", stack(["IPv6", "IPv4"], "RequireDualStack"))],
        want: { both: { ips: ["2001:db8::", "192.0.2.0"], pool: "dual" } },
        events: [["both", "IPAllocated", "Assigned IPs 2001:db8::, 192.0.2.0 from pool dual"]],
      },
      {
        say: "SingleStack IPv6",
        put: [service("v6", stack(["IPv6"], "SingleStack"))],
        want: { v6: ["2001:db8::1"] },
      },
      {
        say: "RequireDualStack without room for IPv6: nothing",
        put: [service("both2", stack(["IPv4", "IPv6"], "RequireDualStack"))],
        want: { both2: [] },
        events: [["both2", "AllocationFailed", "no free IPv6 address"]],
      },
      {
        say: "PreferDualStack without room for IPv6: IPv4 only",
        put: [service("prefer", stack(["IPv4", "IPv6"], "PreferDualStack"))],
        want: { prefer: ["192.0.2.1"] },
      },
      {
        say: "RequireDualStack with one requested IP: refused",
        put: [
          service(
            "half",
            stack(["IPv4", "IPv6"], "RequireDualStack", { loadBalancerIP: "192.0.2.1" }),
          ),
        ],
        want: { half: [] },
        events: [["half", "AllocationFailed", "needs one IP per family"]],
      },
      {
        say: "an IPv6 IP requested by an IPv4 Service: refused",
        put: [service("wrong", stack(["IPv4"], "SingleStack", { loadBalancerIP: "2001:db8::1" }))],
        want: { wrong: [] },
        events: [["wrong", "AllocationFailed", "2001:db8::1 is IPv6"]],
      },
      {
        say: "the pool annotation on a single-family pool, RequireDualStack: refused",
        put: [
          service("pinned", {
            ...stack(["IPv6", "IPv4"], "RequireDualStack"),
            annotations: { "barelb.io/address-pool": "v6only" },
          }),
        ],
        want: { pinned: [] },
        events: [["pinned", "AllocationFailed", 'pool "v6only" does not have both']],
      },
    ]);
  });
});

describe("ServiceController: PreferDualStack gets its second family later", () => {
  const prefer = (families: ("IPv4" | "IPv6")[], o: ServiceOptions = {}) => ({
    ...o,
    spec: { ipFamilies: families, ipFamilyPolicy: "PreferDualStack", ...o.spec },
  });
  const lanV4 = pool("lan", ["192.0.2.0/30"]);
  const lanDual = pool("lan", ["192.0.2.0/30", "2001:db8::/127"]);
  const v6only = pool("v6", ["2001:db8:6::/127"]);

  it("when its pool gains the family, or an IP of it frees up, without moving the first", async () => {
    const h = new Harness(new FakeCluster(), config(lanV4));
    await runSteps(h, [
      {
        say: "only IPv4 exists: IPv4 only",
        put: [service("p", prefer(["IPv4", "IPv6"]))],
        want: { p: { ips: ["192.0.2.0"], pool: "lan" } },
      },
      {
        say: "an IPv6-only pool appears: no change (a Service's IPs come from one pool)",
        config: lanV4 + v6only,
        want: { p: ["192.0.2.0"] },
        events: [],
        writes: 0,
      },
      {
        say: "its pool gains IPv6: p gets one, IPv4 unchanged",
        config: lanDual + v6only,
        want: { p: { ips: ["192.0.2.0", "2001:db8::"], pool: "lan" } },
        events: [["p", "IPAllocated", "Assigned IPs 192.0.2.0, 2001:db8:: from pool lan"]],
        writes: 1,
      },
      {
        say: "s takes lan's last IPv6",
        put: [
          service("s", {
            spec: { ipFamilies: ["IPv6"] },
            annotations: { "barelb.io/address-pool": "lan" },
          }),
        ],
        want: { s: ["2001:db8::1"] },
      },
      {
        say: "q, IPv4 first: lan has no IPv6 left, IPv4 only",
        put: [service("q", prefer(["IPv4", "IPv6"]))],
        want: { q: ["192.0.2.1"] },
        writes: 1,
      },
      {
        say: "a restart moves nothing and adds nothing",
        restart: true,
        want: { p: ["192.0.2.0", "2001:db8::"], q: ["192.0.2.1"], s: ["2001:db8::1"] },
        events: [],
        writes: 0,
      },
      {
        say: "s leaves: q gets the freed IPv6, keeping its IPv4",
        delete: "s",
        want: {
          q: { ips: ["192.0.2.1", "2001:db8::1"], pool: "lan" },
          p: ["192.0.2.0", "2001:db8::"],
        },
        events: [["q", "IPAllocated", "Assigned IPs 192.0.2.1, 2001:db8::1 from pool lan"]],
        writes: 1,
      },
    ]);
  });

  it("IPv6 first: the second family is written in ipFamilies order", async () => {
    const h = new Harness(new FakeCluster(), config(pool("lan", ["2001:db8::/127"])));
    await runSteps(h, [
      {
        say: "IPv6 only",
        put: [service("p", prefer(["IPv6", "IPv4"]))],
        want: { p: ["2001:db8::"] },
      },
      {
        say: "lan gains IPv4",
        config: pool("lan", ["2001:db8::/127", "192.0.2.8/31"]),
        want: { p: ["2001:db8::", "192.0.2.8"] },
      },
    ]);
  });

  it("a Service without any IP comes before one missing its second family", async () => {
    const h = new Harness(
      new FakeCluster(),
      config(pool("lan", ["192.0.2.0/31", "2001:db8::/128"])),
    );
    const v6 = { spec: { ipFamilies: ["IPv6"] } };
    await runSteps(h, [
      { say: "s", put: [service("s", v6)], want: { s: ["2001:db8::"] } },
      {
        say: "p: IPv4 only",
        put: [service("p", prefer(["IPv4", "IPv6"]))],
        want: { p: ["192.0.2.0"] },
      },
      { say: "n: nothing", put: [service("n", v6)], want: { n: [] } },
      {
        say: "s leaves: n gets its IP, p keeps waiting",
        delete: "s",
        want: { n: ["2001:db8::"], p: ["192.0.2.0"] },
        writes: 1,
      },
      {
        say: "n leaves: p gets it",
        delete: "n",
        want: { p: ["192.0.2.0", "2001:db8::"] },
      },
    ]);
  });

  it("asking for one IP is asking for exactly that one", async () => {
    const h = new Harness(new FakeCluster(), config(lanDual));
    await runSteps(h, [
      {
        say: "requested IPv4 only",
        put: [service("p", prefer(["IPv4", "IPv6"], { spec: { loadBalancerIP: "192.0.2.3" } }))],
        want: { p: ["192.0.2.3"] },
      },
      { say: "x", put: [service("x")], want: { x: ["192.0.2.0"] } },
      { say: "x leaves", delete: "x", want: { p: ["192.0.2.3"] }, events: [], writes: 0 },
    ]);
  });
});

describe("ServiceController: ipMode (barelb.io/ip-mode)", () => {
  it("writes the mode asked for with the IPs, once, and keeps the IPs on a bad value", async () => {
    const h = new Harness(new FakeCluster(), config(pool("lan", ["192.0.2.0/30"])));
    const c = h.cluster;
    await runSteps(h, [
      {
        say: "no annotation: VIP",
        put: [service("a")],
        want: { a: ["192.0.2.0"] },
        writes: 1,
      },
      {
        say: "Proxy asked for (any case): the same IP, rewritten with ipMode Proxy",
        edit: ["a", withAnnotation("barelb.io/ip-mode", "proxy")],
        want: { a: ["192.0.2.0"] },
        events: [],
        writes: 1,
      },
      {
        say: "nothing changes: no write",
        edit: ["a", withAnnotation("barelb.io/ip-mode", "Proxy")],
        want: { a: ["192.0.2.0"] },
        writes: 0,
      },
      {
        say: "a new Service asking for Proxy gets it with its first write",
        put: [service("b", { annotations: { "barelb.io/ip-mode": "Proxy" } })],
        want: { b: ["192.0.2.1"] },
        writes: 1,
      },
      {
        say: "a bad value: a Warning naming the annotation, the IP and mode kept",
        edit: ["a", withAnnotation("barelb.io/ip-mode", "DSR")],
        want: { a: ["192.0.2.0"] },
        events: [["a", "AllocationFailed", "barelb.io/ip-mode"]],
        writes: 0,
      },
      {
        say: "a bad value on a new Service: no IP, told why",
        put: [service("c", { annotations: { "barelb.io/ip-mode": "DSR" } })],
        want: { c: [] },
        events: [["c", "AllocationFailed", "must be VIP or Proxy"]],
        writes: 0,
      },
      {
        say: "the annotation removed: back to VIP",
        edit: ["a", withAnnotation("barelb.io/ip-mode", undefined)],
        want: { a: ["192.0.2.0"] },
        writes: 1,
      },
    ]);
    expect([c.ipModes("a"), c.ipModes("b")]).toEqual([["VIP"], ["Proxy"]]);
    expect(c.failures).toEqual(["InvalidServiceRequest", "InvalidServiceRequest"]);
  });

  it("a status without ipMode (API server before 1.30) is not rewritten", async () => {
    const c = new FakeCluster();
    const a = service("a", { status: { ips: ["192.0.2.0"], pool: "lan" } });
    for (const i of a.status?.loadBalancer?.ingress ?? []) delete i.ipMode;
    c.put(a);
    const h = new Harness(c, config(pool("lan", ["192.0.2.0/30"])));
    await runSteps(h, [{ say: "a restart", restart: true, want: { a: ["192.0.2.0"] }, writes: 0 }]);
  });

  it("a restart keeps the IPs of a Service with a bad ipMode", async () => {
    const c = new FakeCluster();
    c.put(
      service("a", {
        status: { ips: ["192.0.2.0"], pool: "lan" },
        annotations: { "barelb.io/ip-mode": "x" },
      }),
    );
    const h = new Harness(c, config(pool("lan", ["192.0.2.0/30"])));
    await runSteps(h, [
      { say: "restart", restart: true, want: { a: ["192.0.2.0"] }, writes: 0 },
      {
        say: "another Service cannot take its IP",
        put: [service("b", { spec: { loadBalancerIP: "192.0.2.0" } })],
        want: { a: ["192.0.2.0"], b: [] },
      },
    ]);
  });
});

describe("ServiceController: another implementation acting on a Service", () => {
  const yaml = pool("lan", ["192.0.2.0/30"]);
  /** A controller whose `foreign` port answers from a Map the test fills. */
  function setup() {
    const c = new FakeCluster();
    const found = new Map<string, ForeignFinding>();
    const counts: Record<string, number>[] = [];
    let now = Date.UTC(2026, 2, 1);
    const ctrl = new ServiceController({
      config: config(yaml),
      lookup: (key) => c.services.get(key),
      all: () => c.services.values(),
      writer: c,
      events: c,
      log: pino({ level: "silent" }),
      lbClass: undefined,
      observer: {
        allocationFailed: (code) => c.failures.push(code),
        foreignLoadBalancers: (byKind) => counts.push({ ...byKind }),
      },
      foreign: (svc) => found.get(svc.metadata?.name ?? ""),
      now: () => now,
    });
    return { c, found, counts, ctrl, tick: (ms: number) => (now += ms), now: () => now };
  }
  const serviceLB: ForeignFinding = {
    kind: "ServiceLB",
    message: "k3s ServiceLB also acts on this Service (pod kube-system/svclb-web-1)",
    pods: ["kube-system/svclb-web-1"],
    managers: [],
    writtenAt: undefined,
  };

  it("writes nothing while ServiceLB's pods serve it, keeps what it holds, then takes it back", async () => {
    const { c, found, counts, ctrl } = setup();
    ctrl.restore();
    const key = c.put(service("web"));
    expect(await ctrl.reconcile(key)).toBe("ok");
    expect(c.ips("web")).toEqual(["192.0.2.0"]);

    // ServiceLB starts and writes a node IP over it.
    found.set("web", serviceLB);
    c.edit("web", (s) => (s.status = { loadBalancer: { ingress: [{ ip: "198.51.100.7" }] } }));
    const writes = c.writes.length;
    expect(await ctrl.reconcile(key)).toEqual({ after: Infinity });
    expect(await ctrl.reconcile(key)).toEqual({ after: Infinity });
    expect(c.writes.length).toBe(writes);
    expect(c.ips("web")).toEqual(["198.51.100.7"]);
    // Said once, while it lasts.
    expect(c.events.filter((e) => e.reason === "ForeignLoadBalancer")).toEqual([
      {
        service: "web",
        type: "Warning",
        reason: "ForeignLoadBalancer",
        message: serviceLB.message,
      },
    ]);
    expect(counts.at(-1)).toEqual({ ServiceLB: 1, StatusWriter: 0 });
    // Its IP stays held: another Service does not get it.
    const other = c.put(service("other"));
    await ctrl.reconcile(other);
    expect(c.ips("other")).toEqual(["192.0.2.1"]);

    // ServiceLB goes (--disable servicelb): barelb writes its IP back, once.
    found.delete("web");
    expect(await ctrl.reconcile(key)).toBe("ok");
    expect(c.ips("web")).toEqual(["192.0.2.0"]);
    expect(c.writes.length).toBe(writes + 2);
    expect(counts.at(-1)).toEqual({ ServiceLB: 0, StatusWriter: 0 });
  });

  it("allocates nothing for a Service ServiceLB serves before barelb wrote it", async () => {
    const { c, found, ctrl } = setup();
    ctrl.restore();
    found.set("web", serviceLB);
    const key = c.put(service("web"));
    expect(await ctrl.reconcile(key)).toEqual({ after: Infinity });
    expect(c.writes).toEqual([]);
    expect(ctrl.allocator.size).toBe(0);
    expect(ctrl.pendingKeys()).toEqual([]);
  });

  it("after another writer's write, waits the hold, then writes its IPs back once", async () => {
    const { c, found, ctrl, tick, now } = setup();
    ctrl.restore();
    const key = c.put(service("web"));
    await ctrl.reconcile(key);
    const writer: ForeignFinding = {
      kind: "StatusWriter",
      message: 'another LoadBalancer implementation acts on this Service; field manager "k3s"',
      pods: [],
      managers: ["k3s"],
      writtenAt: now(),
    };
    found.set("web", writer);
    c.edit("web", (s) => (s.status = { loadBalancer: { ingress: [{ ip: "198.51.100.7" }] } }));
    const writes = c.writes.length;
    expect(await ctrl.reconcile(key)).toEqual({ after: FOREIGN_WRITE_HOLD_MS });
    tick(20_000);
    expect(await ctrl.reconcile(key)).toEqual({ after: FOREIGN_WRITE_HOLD_MS - 20_000 });
    expect(c.writes.length).toBe(writes);
    tick(40_000);
    // The hold is over; the finding still stands (the status is the other's) but barelb writes.
    expect(await ctrl.reconcile(key)).toBe("ok");
    expect(c.ips("web")).toEqual(["192.0.2.0"]);
    expect(c.writes.length).toBe(writes + 1);
    expect(c.events.filter((e) => e.reason === "ForeignLoadBalancer")).toHaveLength(1);
  });
});

describe("ServiceController: a Service handed to another implementation", () => {
  const yaml = pool("lan", ["192.0.2.0/30"]);
  const lbStatus = (manager: string) =>
    ({
      manager,
      operation: "Update",
      subresource: "status",
      time: new Date(Date.UTC(2026, 2, 1)),
      fieldsV1: { "f:status": { "f:loadBalancer": {} } },
    }) as V1ManagedFieldsEntry;

  it("clears only its annotation when the other has written its own status already", async () => {
    const h = new Harness(new FakeCluster(), config(yaml));
    const c = h.cluster;
    await h.drain(h.ctrl.restore());
    await h.drain([c.put(service("web"))]);
    expect(c.ips("web")).toEqual(["192.0.2.0"]);
    // The user gives it another class; that implementation writes its IP first.
    const key = c.edit("web", (s) => {
      s.spec = { ...s.spec, loadBalancerClass: "example.com/other" };
      s.status = { loadBalancer: { ingress: [{ ip: "198.51.100.20" }] } };
      s.metadata = { ...s.metadata, managedFields: [lbStatus("other-lb")] };
    });
    await h.drain([key]);
    expect(c.ips("web")).toEqual(["198.51.100.20"]);
    expect(c.pool("web")).toBeUndefined();
    expect(c.writes.at(-1)).toEqual({ op: "clear", service: key, keepIngress: true });
    expect(c.events.at(-1)?.message).toMatch(
      /^released IP 192\.0\.2\.0: .*; its status.loadBalancer, written by another implementation, stays$/,
    );
  });

  it("clears its own ingress when barelb wrote it last", async () => {
    const h = new Harness(new FakeCluster(), config(yaml));
    const c = h.cluster;
    await h.drain(h.ctrl.restore());
    await h.drain([c.put(service("web"))]);
    const key = c.edit("web", (s) => {
      s.spec = { ...s.spec, loadBalancerClass: "example.com/other" };
      s.metadata = { ...s.metadata, managedFields: [lbStatus("barelb-controller")] };
    });
    await h.drain([key]);
    expect(c.ips("web")).toEqual([]);
    expect(c.writes.at(-1)).toEqual({ op: "clear", service: key });
  });
});
