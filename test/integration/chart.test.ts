import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parse, parseAllDocuments, stringify } from "yaml";
import { CommanderError } from "commander";
import {
  ApiException,
  AuthorizationV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1ConfigMap,
  type V1Container,
  type V1DaemonSet,
  type V1Secret,
  type V1Deployment,
  type V1PolicyRule,
  type V1ClusterRole,
  type V1ClusterRoleBinding,
  type V1Role,
  type V1RoleBinding,
  type V1Service,
} from "@kubernetes/client-node";
import { buildProgram, type Actions } from "../../src/cli/program.js";
import { extractConfigText, parseConfig } from "../../src/config/index.js";
import { mergePatch } from "../../src/k8s/client.js";
import { ensureControlPlaneBinaries } from "../../src/lab/controlplane.js";
import { SPEAKER_NODE_FLAGS } from "../../src/speaker/node-flags.js";
import { packageRoot } from "../../src/util/paths.js";
import { ensureHelm, helm, helmUnavailable, type HelmResult } from "../../src/lab/helm.js";
import {
  createTestNamespace,
  eventually,
  integrationKubeConfig,
  kubeConfigWithToken,
} from "../helpers/k8s.js";
import { inCI } from "../helpers/prereq.js";

// The Helm chart (charts/barelb) and the example manifests (config/): the chart lints, renders
// with its defaults and with every option, its values.schema.json refuses typos and wrong
// types, what it renders says what barelb's design needs (host network and NET_RAW only for the
// speaker, a locked-down controller, RBAC rules exactly as listed), and every object it renders
// is accepted by a real kube-apiserver (server-side dry run, strict field validation). The
// chart's RBAC is also applied for real and checked with SubjectAccessReviews.

const root = packageRoot();
const chartDir = join(root, "charts", "barelb");
const run = promisify(execFile);

const helmProblem = helmUnavailable();
if (helmProblem !== null) {
  if (inCI) throw new Error(`chart tests need helm: ${helmProblem} (CI=true: a failure)`);
  console.warn(`SKIPPED chart tests need helm: ${helmProblem}`);
}
const kc = integrationKubeConfig();

// ---- rendering --------------------------------------------------------------------------

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

let helmBin = "";
let work = "";
let fileCount = 0;

async function tempFile(name: string, text: string): Promise<string> {
  const path = join(work, `${++fileCount}-${name}`);
  await writeFile(path, text);
  return path;
}

interface RenderOptions {
  release?: string;
  namespace?: string;
}

async function helmTemplate(values: object, opts: RenderOptions = {}): Promise<HelmResult> {
  const valuesFile = await tempFile("values.json", JSON.stringify(values));
  return helm(helmBin, [
    "template",
    opts.release ?? "barelb",
    chartDir,
    "--namespace",
    opts.namespace ?? "barelb-system",
    "--values",
    valuesFile,
  ]);
}

function parseManifests(text: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML: ${doc.errors[0]?.message}`);
    const obj = doc.toJS() as K8sObject | null;
    if (obj !== null) objects.push(obj);
  }
  return objects;
}

async function render(values: object = {}, opts: RenderOptions = {}): Promise<K8sObject[]> {
  const r = await helmTemplate(values, opts);
  if (r.code !== 0) throw new Error(`helm template failed (exit ${r.code}):\n${r.stderr}`);
  return parseManifests(r.stdout);
}

/** The types of what the chart renders, by kind. */
interface RenderedKinds {
  Deployment: V1Deployment;
  DaemonSet: V1DaemonSet;
  ConfigMap: V1ConfigMap;
  Service: V1Service;
  ServiceAccount: K8sObject;
  ClusterRole: V1ClusterRole;
  Role: V1Role;
  ClusterRoleBinding: V1ClusterRoleBinding;
  RoleBinding: V1RoleBinding;
  Secret: V1Secret;
  ServiceMonitor: K8sObject;
  PodMonitor: K8sObject;
  PrometheusRule: K8sObject;
}

/** The one object of `kind` whose name ends in `nameSuffix`. */
function find<K extends keyof RenderedKinds>(
  objects: readonly K8sObject[],
  kind: K,
  nameSuffix = "",
): RenderedKinds[K] {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name.endsWith(nameSuffix));
  if (found.length !== 1) {
    throw new Error(`expected one ${kind} *${nameSuffix}, found ${found.length}`);
  }
  return found[0] as unknown as RenderedKinds[K];
}

function container(workload: V1Deployment | V1DaemonSet): V1Container {
  const containers = workload.spec?.template.spec?.containers ?? [];
  expect(containers).toHaveLength(1);
  return containers[0] as V1Container;
}

function kinds(objects: readonly K8sObject[]): string[] {
  return objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
}

/** RBAC rules as `group/resource` → sorted verbs, for exact comparison. */
function ruleTable(rules: readonly V1PolicyRule[] | undefined): Record<string, string[]> {
  const table: Record<string, string[]> = {};
  for (const rule of rules ?? []) {
    expect(rule.resourceNames ?? []).toEqual([]);
    expect(rule.nonResourceURLs ?? []).toEqual([]);
    for (const group of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) {
        const key = `${group === "" ? "core" : group}/${resource}`;
        table[key] = [...new Set([...(table[key] ?? []), ...rule.verbs])].sort();
      }
    }
  }
  return table;
}

// What each program does with the API (the controller: src/controller and src/k8s; the speaker:
// its design), as cluster-wide rules (ClusterRole) and rules in the release namespace (Role).
// Exactly these: a missing verb breaks barelb, an extra one widens what a stolen token can do.
const NEEDED = {
  controller: {
    cluster: {
      "core/services": ["get", "list", "watch"],
      "core/services/status": ["patch", "update"],
      "core/nodes": ["get", "list", "watch"],
      "core/pods": ["list", "watch"],
      "core/events": ["create", "patch"],
    },
    namespace: {
      "core/configmaps": ["get", "list", "watch"],
      "coordination.k8s.io/leases": ["create", "get", "update"],
    },
  },
  speaker: {
    cluster: {
      "core/services": ["get", "list", "watch"],
      "core/nodes": ["get", "list", "watch"],
      "discovery.k8s.io/endpointslices": ["get", "list", "watch"],
      "core/events": ["create", "patch"],
      "core/services/status": ["patch"],
    },
    namespace: {
      "core/configmaps": ["get", "list", "watch"],
      "coordination.k8s.io/leases": ["create", "delete", "get", "list", "patch", "watch"],
    },
  },
} as const;

type Component = keyof typeof NEEDED;

/** Values with one BGP pool (`routed`), changed by `pool`, and the other BGP keys given. */
function bgpValues(opts: {
  pool?: Record<string, unknown>;
  peers?: object[];
  bgpCommunities?: Record<string, unknown>;
  bfdProfiles?: object[];
}): object {
  const { pool, ...rest } = opts;
  return {
    config: {
      create: true,
      addressPools: [{ name: "routed", protocol: "bgp", addresses: ["198.51.100.0/24"], ...pool }],
      ...rest,
    },
  };
}

// ---- the tests --------------------------------------------------------------------------

describe.runIf(helmProblem === null)("Helm chart charts/barelb", () => {
  beforeAll(async () => {
    helmBin = await ensureHelm();
    work = await mkdtemp(join(tmpdir(), "barelb-chart-"));
  });
  afterAll(async () => {
    if (work !== "") await rm(work, { recursive: true, force: true });
  });

  const allOptions = {
    loadBalancerClass: "example.com/barelb",
    imagePullSecrets: [{ name: "registry-credentials" }],
    config: {
      create: true,
      addressPools: [
        {
          name: "lab",
          addresses: ["192.0.2.32-192.0.2.62", "2001:db8::1:0/112"],
          "avoid-buggy-ips": true,
          "node-selectors": [{ matchLabels: { rack: "a" } }],
          "service-selectors": [
            { matchExpressions: [{ key: "tier", operator: "In", values: ["web"] }] },
          ],
          interfaces: ["eth0"],
        },
        {
          name: "reserved",
          protocol: "layer2",
          addresses: ["198.51.100.10/32"],
          "auto-assign": false,
          priority: 5,
          namespaces: ["prod"],
        },
        {
          name: "routed",
          protocol: "bgp",
          addresses: ["198.51.100.64/26", "2001:db8:2::/120"],
          "bgp-advertisements": [
            { "aggregation-length": 32, localpref: 100, communities: ["no-advertise"] },
            {
              "aggregation-length": 26,
              "aggregation-length-v6": 120,
              communities: ["64500:10", "large:64500:1:2"],
            },
          ],
        },
      ],
      peers: [
        {
          "peer-address": "192.0.2.1",
          // A 4-byte AS number: rendered as an integer, not in exponent form.
          "peer-asn": 4200000001,
          "my-asn": 64500,
          "source-address": "192.0.2.10",
          "hold-time": "9s",
          "keepalive-time": "3s",
          "router-id": "192.0.2.10",
          // Looks like a number and a boolean: must reach the parser as strings.
          password: "12345",
          "bfd-profile": "fast",
          "ebgp-multihop": true,
          "node-selectors": [{ "match-labels": { rack: "a" } }],
        },
        {
          "peer-address": "2001:db8::5",
          "peer-port": 1179,
          "peer-asn": 64500,
          "my-asn": 64500,
          password: "true",
        },
      ],
      bgpCommunities: { "no-advertise": "65535:65282" },
      bfdProfiles: [
        { name: "fast", "receive-interval": 100, "transmit-interval": 100, "detect-multiplier": 3 },
      ],
    },
    prometheus: {
      serviceMonitor: { enabled: true, labels: { release: "prom" }, interval: "30s" },
      rules: { enabled: true, labels: { release: "prom" } },
    },
    grafana: { dashboard: { enabled: true, annotations: { grafana_folder: "Networking" } } },
    controller: {
      resources: { requests: { cpu: "10m", memory: "64Mi" }, limits: { memory: "256Mi" } },
      nodeSelector: { "node-role.kubernetes.io/control-plane": "" },
      tolerations: [{ key: "dedicated", operator: "Equal", value: "lb", effect: "NoSchedule" }],
      priorityClassName: "system-cluster-critical",
      podAnnotations: { "example.com/note": "controller" },
      podLabels: { team: "net" },
      extraArgs: ["--retry-period=1s"],
      serviceAccount: { annotations: { "example.com/owner": "net" } },
    },
    speaker: {
      excludeInterfaces: ["^cali", "^veth"],
      resources: { requests: { cpu: "10m", memory: "64Mi" } },
      nodeSelector: { rack: "a" },
      tolerations: [{ operator: "Exists" }],
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [
              { matchExpressions: [{ key: "rack", operator: "In", values: ["a", "b"] }] },
            ],
          },
        },
      },
      priorityClassName: "system-node-critical",
      podAnnotations: { "example.com/note": "speaker" },
      extraArgs: ["--log-level=debug"],
      nodeFlags: ["--max-semi-space-size=2", "--max-old-space-size=96"],
    },
  };

  it("passes helm lint --strict, with default values and with every option set", async () => {
    const plain = await helm(helmBin, ["lint", "--strict", chartDir]);
    expect(plain.stdout + plain.stderr).toContain("1 chart(s) linted, 0 chart(s) failed");
    expect(plain.code).toBe(0);
    const valuesFile = await tempFile("all.json", JSON.stringify(allOptions));
    const full = await helm(helmBin, ["lint", "--strict", chartDir, "--values", valuesFile]);
    expect(full.stdout + full.stderr).toContain("1 chart(s) linted, 0 chart(s) failed");
    expect(full.code).toBe(0);
  });

  it("renders the controller and the speaker with their RBAC, in the release namespace", async () => {
    const objects = await render({}, { namespace: "lb" });
    expect(kinds(objects)).toEqual([
      "ClusterRole/barelb-controller",
      "ClusterRole/barelb-speaker",
      "ClusterRoleBinding/barelb-controller",
      "ClusterRoleBinding/barelb-speaker",
      "DaemonSet/barelb-speaker",
      "Deployment/barelb-controller",
      "Role/barelb-controller",
      "Role/barelb-speaker",
      "RoleBinding/barelb-controller",
      "RoleBinding/barelb-speaker",
      "Secret/barelb-heartbeat-key",
      "ServiceAccount/barelb-controller",
      "ServiceAccount/barelb-speaker",
    ]);
    const chart = parse(await readFile(join(chartDir, "Chart.yaml"), "utf8")) as {
      version: string;
      appVersion: string;
    };
    for (const o of objects) {
      if (!o.kind.startsWith("Cluster")) expect(o.metadata.namespace).toBe("lb");
      expect(o.metadata.labels).toMatchObject({
        "helm.sh/chart": `barelb-${chart.version}`,
        "app.kubernetes.io/name": "barelb",
        "app.kubernetes.io/instance": "barelb",
        "app.kubernetes.io/version": chart.appVersion,
        "app.kubernetes.io/managed-by": "Helm",
        "app.kubernetes.io/part-of": "barelb",
      });
    }
    const deploy = find(objects, "Deployment");
    // The default repository is where the release workflow publishes the image.
    expect(container(deploy).image).toBe(`ghcr.io/barelb/barelb:${chart.appVersion}`);
    // The chart's appVersion is the package's version: the image tag it defaults to.
    const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as {
      version: string;
    };
    expect(chart.appVersion).toBe(pkg.version);
    expect(find(objects, "DaemonSet").spec?.updateStrategy).toEqual({
      type: "RollingUpdate",
      rollingUpdate: { maxUnavailable: 1 },
    });
  });

  it("speaker: host network, root with NET_RAW only, read-only root, node name from the downward API", async () => {
    const ds = find(await render(), "DaemonSet");
    const pod = ds.spec?.template.spec;
    expect(pod?.hostNetwork).toBe(true);
    expect(pod?.dnsPolicy).toBe("ClusterFirstWithHostNet");
    expect(pod?.terminationGracePeriodSeconds).toBe(5);
    expect(pod?.serviceAccountName).toBe("barelb-speaker");
    expect(pod?.nodeSelector).toEqual({ "kubernetes.io/os": "linux" });
    // Control-plane nodes too (small clusters run workloads there).
    expect(pod?.tolerations).toEqual([
      { key: "node-role.kubernetes.io/control-plane", operator: "Exists", effect: "NoSchedule" },
      { key: "node-role.kubernetes.io/master", operator: "Exists", effect: "NoSchedule" },
    ]);
    const c = container(ds);
    expect(c.securityContext).toEqual({
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"], add: ["NET_RAW"] },
    });
    expect(pod?.securityContext?.seccompProfile?.type).toBe("RuntimeDefault");
    expect(c.env).toEqual([
      { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
      { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
      { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      { name: "POD_UID", valueFrom: { fieldRef: { fieldPath: "metadata.uid" } } },
    ]);
    // Node runs with the speaker's memory flags (src/speaker/node-flags.ts), the image's entry
    // point with flags in front.
    expect(c.command).toEqual(["node", ...SPEAKER_NODE_FLAGS, "/app/dist/cli/main.js"]);
    expect(c.ports).toEqual([
      { name: "metrics", containerPort: 7473, protocol: "TCP" },
      { name: "heartbeat", containerPort: 7946, protocol: "UDP" },
    ]);
    expect(c.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: "metrics" });
    expect(c.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "metrics" });
    // The speaker's command-line contract, in order.
    expect(c.args).toEqual([
      "speaker",
      "--config-map=barelb-config",
      "--lease-duration=40s",
      "--renew-interval=10s",
      "--heartbeat-port=7946",
      "--heartbeat-key-file=/etc/barelb/heartbeat/key",
      "--heartbeat-key-grace=3m",
      "--address-probe=300ms",
      "--on-address-conflict=hold",
      "--metrics-address=0.0.0.0",
      "--metrics-port=7473",
      "--log-level=info",
    ]);
  });

  it("speaker: heartbeat key from a Secret the chart makes, mounted as a directory", async () => {
    const objects = await render();
    const secret = find(objects, "Secret");
    expect(secret.metadata?.name).toBe("barelb-heartbeat-key");
    const key = Buffer.from(String(secret.data?.key), "base64").toString();
    expect(key).toMatch(/^[A-Za-z0-9]{64}$/);
    const ds = find(objects, "DaemonSet");
    // Not a subPath mount: kubelet updates the files of a directory mount, so a rotated key
    // reaches the running speaker.
    expect(container(ds).volumeMounts).toEqual([
      { name: "heartbeat-key", mountPath: "/etc/barelb/heartbeat", readOnly: true },
    ]);
    expect(ds.spec?.template.spec?.volumes).toEqual([
      {
        name: "heartbeat-key",
        secret: {
          secretName: "barelb-heartbeat-key",
          items: [{ key: "key", path: "key" }],
          defaultMode: 0o400,
        },
      },
    ]);
    // The user's own Secret: the chart makes none and mounts that one.
    const own = await render({
      speaker: { heartbeatKey: { existingSecret: "my-key", grace: "5m" } },
    });
    expect(own.filter((o) => o.kind === "Secret")).toEqual([]);
    const ownDs = find(own, "DaemonSet");
    expect(ownDs.spec?.template.spec?.volumes?.[0]?.secret?.secretName).toBe("my-key");
    expect(container(ownDs).args).toContain("--heartbeat-key-grace=5m");
  });

  it("controller: non-root, two replicas, no capabilities, read-only root, probes", async () => {
    const deploy = find(await render(), "Deployment");
    expect(deploy.spec?.replicas).toBe(2);
    const pod = deploy.spec?.template.spec;
    expect(pod?.hostNetwork ?? false).toBe(false);
    expect(pod?.serviceAccountName).toBe("barelb-controller");
    expect(pod?.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65534,
      runAsGroup: 65534,
      fsGroup: 65534,
      seccompProfile: { type: "RuntimeDefault" },
    });
    const c = container(deploy);
    expect(c.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    expect(c.env?.map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath])).toEqual([
      ["POD_NAMESPACE", "metadata.namespace"],
      ["POD_NAME", "metadata.name"],
      ["POD_UID", "metadata.uid"],
    ]);
    expect(c.ports).toEqual([{ name: "metrics", containerPort: 7472, protocol: "TCP" }]);
    expect(c.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: "metrics" });
    expect(c.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "metrics" });
    // Replicas spread over nodes when the user gives no affinity of their own.
    const spread = pod?.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution;
    expect(spread?.[0]?.podAffinityTerm.topologyKey).toBe("kubernetes.io/hostname");
    expect(spread?.[0]?.podAffinityTerm.labelSelector?.matchLabels).toEqual(
      deploy.spec?.selector.matchLabels,
    );
  });

  describe("the rendered command lines, parsed by barelb's own CLI", () => {
    // Actions that record instead of running. A Proxy, so this keeps compiling as the CLI
    // grows commands (`barelb speaker` is being written).
    function cli() {
      const calls: { action: string; args: unknown }[] = [];
      const actions = new Proxy(
        {},
        {
          get:
            (_target, action: string) =>
            (args: unknown): Promise<number> => {
              calls.push({ action, args });
              return Promise.resolve(0);
            },
        },
      ) as Actions;
      let err = "";
      const program = buildProgram(actions, "0.0.0", {
        writeOut: () => undefined,
        writeErr: (s) => (err += s),
      });
      return {
        hasCommand: (name: string) => program.commands.some((c) => c.name() === name),
        parse: async (argv: readonly string[]) => {
          try {
            await program.parseAsync([...argv], { from: "user" });
          } catch (e: unknown) {
            if (e instanceof CommanderError)
              throw new Error(`CLI refused ${argv.join(" ")}: ${err}`, { cause: e });
            throw e;
          }
          return calls;
        },
      };
    }

    it("controller: defaults", async () => {
      const c = container(find(await render(), "Deployment"));
      const calls = await cli().parse(c.args ?? []);
      expect(calls).toHaveLength(1);
      expect(calls[0]?.action).toBe("controller");
      expect(calls[0]?.args).toMatchObject({
        configMap: "barelb-config",
        lbClass: undefined,
        leaderElect: true,
        leaseDurationMs: 15_000,
        renewDeadlineMs: 10_000,
        retryPeriodMs: 2_000,
        metricsAddress: "0.0.0.0",
        metricsPort: 7472,
        logLevel: "info",
      });
    });

    it("controller: leader election durations", async () => {
      const objects = await render({
        controller: {
          leaderElection: { leaseDuration: "30s", renewDeadline: "20s", retryPeriod: "500ms" },
        },
      });
      const calls = await cli().parse(container(find(objects, "Deployment")).args ?? []);
      expect(calls[0]?.args).toMatchObject({
        leaderElect: true,
        leaseDurationMs: 30_000,
        renewDeadlineMs: 20_000,
        retryPeriodMs: 500,
      });
    });

    it("controller: class, config name, port, no leader election, extra args", async () => {
      const objects = await render({
        loadBalancerClass: "example.com/barelb",
        config: { name: "pools" },
        controller: {
          replicas: 1,
          logLevel: "debug",
          metricsPort: 9000,
          leaderElection: { enabled: false },
          extraArgs: ["--log-level=trace"],
        },
      });
      const c = container(find(objects, "Deployment"));
      expect(c.args).toContain("--no-leader-elect");
      const calls = await cli().parse(c.args ?? []);
      expect(calls[0]?.args).toMatchObject({
        configMap: "pools",
        lbClass: "example.com/barelb",
        leaderElect: false,
        metricsPort: 9000,
        // extraArgs come last, so they override the chart's own flags.
        logLevel: "trace",
      });
    });

    it("speaker: accepted by the CLI once `barelb speaker` exists", async () => {
      const ds = find(
        await render({
          speaker: {
            excludeInterfaces: ["^x"],
            refreshAnnouncements: "45s",
            addressConflict: { probe: "0", onConflict: "announce" },
          },
        }),
        "DaemonSet",
      );
      const args = container(ds).args ?? [];
      const program = cli();
      if (!program.hasCommand("speaker")) {
        console.warn(
          "NOTE `barelb speaker` is not in the CLI yet: its flags are checked against the contract only",
        );
        return;
      }
      // The DaemonSet gives the node name through the downward API, as $NODE_NAME.
      const saved = process.env.NODE_NAME;
      process.env.NODE_NAME = "node-a";
      try {
        const calls = await cli().parse(args);
        expect(calls[0]?.action).toBe("speaker");
        expect(calls[0]?.args).toMatchObject({
          nodeName: "node-a",
          configMap: "barelb-config",
          heartbeatPort: 7946,
          heartbeatKeyFile: "/etc/barelb/heartbeat/key",
          heartbeatKeyGraceMs: 180_000,
          metricsPort: 7473,
          excludeInterfaces: ["^x"],
          refreshAnnouncementsMs: 45_000,
          addressProbeMs: 0,
          onAddressConflict: "announce",
        });
      } finally {
        if (saved === undefined) delete process.env.NODE_NAME;
        else process.env.NODE_NAME = saved;
      }
    });
  });

  it("RBAC: each program gets exactly the rules it needs, bound to its ServiceAccount", async () => {
    const objects = await render({}, { namespace: "lb" });
    for (const component of ["controller", "speaker"] as const) {
      const name = `barelb-${component}`;
      const clusterRole = find(objects, "ClusterRole", component);
      const role = find(objects, "Role", component);
      expect(ruleTable(clusterRole.rules)).toEqual(NEEDED[component].cluster);
      expect(ruleTable(role.rules)).toEqual(NEEDED[component].namespace);
      for (const [kind, roleKind] of [
        ["ClusterRoleBinding", "ClusterRole"],
        ["RoleBinding", "Role"],
      ] as const) {
        const binding = find(objects, kind, component);
        expect(binding.roleRef).toEqual({
          apiGroup: "rbac.authorization.k8s.io",
          kind: roleKind,
          name,
        });
        expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name, namespace: "lb" }]);
      }
    }
  });

  describe("options", () => {
    it("loadBalancerClass and extraArgs reach both programs; exclude-interfaces is joined", async () => {
      const objects = await render(allOptions);
      const controllerArgs = container(find(objects, "Deployment")).args ?? [];
      const speakerArgs = container(find(objects, "DaemonSet")).args ?? [];
      expect(controllerArgs).toContain("--lb-class=example.com/barelb");
      expect(speakerArgs).toContain("--lb-class=example.com/barelb");
      expect(controllerArgs.at(-1)).toBe("--retry-period=1s");
      expect(speakerArgs.at(-1)).toBe("--log-level=debug");
      expect(speakerArgs).toContain("--exclude-interfaces=^cali,^veth");
    });

    it("scheduling and pod options land on the right pods", async () => {
      const objects = await render(allOptions);
      const ctl = find(objects, "Deployment").spec?.template;
      const spk = find(objects, "DaemonSet").spec?.template;
      expect(ctl?.spec?.nodeSelector).toEqual({
        "kubernetes.io/os": "linux",
        "node-role.kubernetes.io/control-plane": "",
      });
      expect(spk?.spec?.nodeSelector).toEqual({ "kubernetes.io/os": "linux", rack: "a" });
      expect(ctl?.spec?.tolerations).toEqual(allOptions.controller.tolerations);
      expect(spk?.spec?.tolerations?.slice(2)).toEqual(allOptions.speaker.tolerations);
      expect(spk?.spec?.affinity).toEqual(allOptions.speaker.affinity);
      expect(ctl?.spec?.priorityClassName).toBe("system-cluster-critical");
      expect(spk?.spec?.priorityClassName).toBe("system-node-critical");
      expect(ctl?.metadata?.annotations).toEqual({ "example.com/note": "controller" });
      expect(ctl?.metadata?.labels).toMatchObject({ team: "net" });
      expect(spk?.metadata?.annotations).toEqual({ "example.com/note": "speaker" });
      expect(ctl?.spec?.imagePullSecrets).toEqual([{ name: "registry-credentials" }]);
      expect(spk?.spec?.imagePullSecrets).toEqual([{ name: "registry-credentials" }]);
      expect(ctl?.spec?.containers[0]?.resources).toEqual(allOptions.controller.resources);
      expect(spk?.spec?.containers[0]?.resources).toEqual(allOptions.speaker.resources);
      const sa = find(objects, "ServiceAccount", "controller");
      expect(sa.metadata).toMatchObject({ annotations: { "example.com/owner": "net" } });
    });

    it("speaker.nodeFlags: Node's flags in the command, or the image's entry point when empty", async () => {
      const command = (objects: K8sObject[]) => container(find(objects, "DaemonSet")).command;
      expect(command(await render(allOptions))).toEqual([
        "node",
        "--max-semi-space-size=2",
        "--max-old-space-size=96",
        "/app/dist/cli/main.js",
      ]);
      expect(command(await render({ speaker: { nodeFlags: [] } }))).toBeUndefined();
      // Only the speaker: the controller runs the image's entry point.
      expect(container(find(await render({}), "Deployment")).command).toBeUndefined();
    });

    it("control-plane tolerations can be turned off", async () => {
      const ds = find(await render({ speaker: { tolerateControlPlane: false } }), "DaemonSet");
      expect(ds.spec?.template.spec?.tolerations).toBeUndefined();
    });

    it("image: tag, digest, pull policy", async () => {
      const tagged = await render({
        image: { repository: "registry.example.com/lb", tag: "1.2.3" },
      });
      expect(container(find(tagged, "Deployment")).image).toBe("registry.example.com/lb:1.2.3");
      const digest = `sha256:${"ab".repeat(32)}`;
      const pinned = await render({
        image: {
          repository: "registry.example.com/lb",
          tag: "1.2.3",
          digest,
          pullPolicy: "Always",
        },
      });
      for (const w of [find(pinned, "Deployment"), find(pinned, "DaemonSet")]) {
        expect(container(w).image).toBe(`registry.example.com/lb@${digest}`);
        expect(container(w).imagePullPolicy).toBe("Always");
      }
    });

    it("names follow the release: <release>-barelb-*, or fullnameOverride", async () => {
      expect(kinds(await render({}, { release: "edge" }))).toContain(
        "DaemonSet/edge-barelb-speaker",
      );
      expect(kinds(await render({ fullnameOverride: "lb" }))).toContain("Deployment/lb-controller");
    });

    it("existing ServiceAccounts, or no RBAC at all", async () => {
      const objects = await render({
        controller: { serviceAccount: { create: false, name: "my-controller" } },
        speaker: { serviceAccount: { create: false, name: "my-speaker" } },
      });
      expect(objects.filter((o) => o.kind === "ServiceAccount")).toEqual([]);
      expect(find(objects, "Deployment").spec?.template.spec?.serviceAccountName).toBe(
        "my-controller",
      );
      expect(find(objects, "RoleBinding", "speaker").subjects?.[0]?.name).toBe("my-speaker");
      const noRbac = await render({ rbac: { create: false } });
      expect(kinds(noRbac).filter((k) => k.includes("Role"))).toEqual([]);
    });

    it("config.create renders a pool ConfigMap that barelb's own parser accepts", async () => {
      const objects = await render(allOptions, { namespace: "lb" });
      const cm = find(objects, "ConfigMap", "-config");
      expect(cm.metadata?.name).toBe("barelb-config");
      expect(cm.metadata?.namespace).toBe("lb");
      const extracted = extractConfigText(stringify(cm));
      if (!extracted.ok) throw new Error(JSON.stringify(extracted.errors));
      // A 4-byte AS number as a person writes it (Helm may hold it as a float).
      expect(extracted.text).toContain("peer-asn: 4200000001\n");
      const result = parseConfig(extracted.text);
      if (!result.ok) throw new Error(JSON.stringify(result.errors));
      expect(result.warnings).toEqual([]);
      const [lab, reserved, routed] = result.config.pools;
      expect(result.config.pools).toHaveLength(3);
      expect(lab).toMatchObject({
        name: "lab",
        protocol: "layer2", // defaulted by the chart
        avoidBuggyIPs: true,
        autoAssign: true,
        interfaces: ["eth0"],
        families: [4, 6],
      });
      expect(lab?.addresses.map((a) => a.text)).toEqual([
        "192.0.2.32-192.0.2.62",
        "2001:db8::1:0/112",
      ]);
      expect(lab?.nodeSelectors).toEqual([{ matchLabels: { rack: "a" }, matchExpressions: [] }]);
      expect(reserved).toMatchObject({
        name: "reserved",
        autoAssign: false,
        priority: 5,
        namespaces: ["prod"],
      });
      // BGP: the pool, its advertisements, the peers and the BFD profile, as written.
      expect(routed?.protocol).toBe("bgp");
      expect(
        routed?.bgpAdvertisements.map((a) => [
          a.aggregationLength,
          a.aggregationLengthV6,
          a.localPref,
          a.communities.map((c) => c.text),
        ]),
      ).toEqual([
        [32, 128, 100, ["65535:65282"]],
        [26, 120, undefined, ["64500:10", "large:64500:1:2"]],
      ]);
      const [v4, v6] = result.config.peers;
      expect(result.config.peers).toHaveLength(2);
      expect(v4).toMatchObject({
        peerASN: 4200000001,
        myASN: 64500,
        port: 179,
        holdTime: 9,
        keepaliveTime: 3,
        password: "12345",
        bfdProfile: "fast",
        ebgpMultiHop: true,
        nodeSelectors: [{ matchLabels: { rack: "a" }, matchExpressions: [] }],
      });
      expect(v6).toMatchObject({ peerASN: 64500, port: 1179, password: "true", holdTime: 90 });
      expect(result.config.bfdProfiles).toEqual([
        expect.objectContaining({ name: "fast", receiveInterval: 100, detectMultiplier: 3 }),
      ]);
      // Without BGP values the ConfigMap has no BGP keys at all.
      const plain = await render({
        config: { create: true, addressPools: [{ name: "a", addresses: ["192.0.2.1"] }] },
      });
      expect(parse(find(plain, "ConfigMap", "-config").data?.config ?? "")).toEqual({
        "address-pools": [{ name: "a", protocol: "layer2", addresses: ["192.0.2.1"] }],
      });
      // Not created by default: users apply their own (config/pool-configmap.yaml).
      expect((await render()).filter((o) => o.kind === "ConfigMap")).toEqual([]);
    });

    it("prometheus.serviceMonitor: a ServiceMonitor and a headless metrics Service per program", async () => {
      const objects = await render(allOptions, { namespace: "lb" });
      for (const [component, port] of [
        ["controller", 7472],
        ["speaker", 7473],
      ] as const) {
        const svc = find(objects, "Service", `${component}-metrics`);
        expect(svc.spec).toMatchObject({
          clusterIP: "None",
          ports: [{ name: "metrics", port, targetPort: "metrics", protocol: "TCP" }],
        });
        const workload =
          component === "controller" ? find(objects, "Deployment") : find(objects, "DaemonSet");
        // The Service selects exactly this program's pods.
        expect(svc.spec?.selector).toEqual(workload.spec?.selector.matchLabels);
        expect(workload.spec?.template.metadata?.labels).toMatchObject(svc.spec?.selector ?? {});

        const sm = find(objects, "ServiceMonitor", component);
        expect(sm.apiVersion).toBe("monitoring.coreos.com/v1");
        expect(sm.metadata.namespace).toBe("lb");
        expect(sm.metadata.labels).toMatchObject({ release: "prom" });
        // It selects the metrics Service by labels the Service has.
        expect(svc.metadata?.labels).toMatchObject(svc.spec?.selector ?? {});
        expect(sm.spec).toMatchObject({
          namespaceSelector: { matchNames: ["lb"] },
          selector: { matchLabels: svc.spec?.selector },
          endpoints: [{ port: "metrics", path: "/metrics", interval: "30s" }],
        });
      }
      expect(objects.filter((o) => o.kind === "PodMonitor")).toEqual([]);
      const none = await render();
      expect(none.filter((o) => o.kind === "ServiceMonitor" || o.kind === "Service")).toEqual([]);
    });

    it("prometheus.podMonitor: a PodMonitor per program selecting its pods", async () => {
      const objects = await render({ prometheus: { podMonitor: { enabled: true } } });
      for (const component of ["controller", "speaker"] as const) {
        const pm = find(objects, "PodMonitor", component);
        expect(pm.apiVersion).toBe("monitoring.coreos.com/v1");
        expect(pm.spec).toMatchObject({
          selector: {
            matchLabels: { "app.kubernetes.io/component": component },
          },
          podMetricsEndpoints: [{ port: "metrics", path: "/metrics" }],
        });
      }
      expect(objects.filter((o) => o.kind === "ServiceMonitor")).toEqual([]);
    });

    it("prometheus.rules: a PrometheusRule with exactly config/prometheus-rules.yaml's rules", async () => {
      const plain: unknown = parse(
        await readFile(join(root, "config", "prometheus-rules.yaml"), "utf8"),
      );
      const objects = await render(allOptions, { namespace: "lb" });
      const rule = find(objects, "PrometheusRule");
      expect(rule.apiVersion).toBe("monitoring.coreos.com/v1");
      expect(rule.metadata.namespace).toBe("lb");
      expect(rule.metadata.labels).toMatchObject({ release: "prom" });
      expect(rule.spec).toEqual(plain);

      // Each alert's for, severity and threshold come from the values.
      const tuned = await render({
        prometheus: {
          rules: {
            enabled: true,
            poolNearlyExhausted: { ratio: 0.75, for: "1h" },
            sendFailures: { window: "30m", threshold: 5, severity: "critical" },
            bgpSessionDown: { for: "5m", severity: "critical" },
            bfdSessionDown: { for: "30s" },
          },
        },
      });
      const rules = (
        find(tuned, "PrometheusRule").spec as {
          groups: { rules: { alert: string; expr: string; for: string; labels: object }[] }[];
        }
      ).groups.flatMap((g) => g.rules);
      const pool = rules.find((r) => r.alert === "BarelbPoolNearlyExhausted");
      expect(pool?.expr).toMatch(/> 0\.75$/);
      expect(pool?.for).toBe("1h");
      const send = rules.find((r) => r.alert === "BarelbAnnouncementSendFailures");
      expect(send?.expr).toBe("increase(barelb_send_failures_total[30m]) > 5");
      expect(send?.labels).toEqual({ severity: "critical" });
      const bgp = rules.find((r) => r.alert === "BarelbBGPSessionDown");
      expect([bgp?.expr, bgp?.for, bgp?.labels]).toEqual([
        "barelb_speaker_bgp_session_up == 0",
        "5m",
        { severity: "critical" },
      ]);
      const bfd = rules.find((r) => r.alert === "BarelbBFDSessionDown");
      expect([bfd?.expr, bfd?.for, bfd?.labels]).toEqual([
        "barelb_speaker_bfd_session_up == 0",
        "30s",
        { severity: "warning" },
      ]);

      expect((await render()).filter((o) => o.kind === "PrometheusRule")).toEqual([]);
    });

    it("grafana.dashboard: the dashboard JSON in a ConfigMap labelled for the Grafana sidecar", async () => {
      const json = await readFile(join(chartDir, "dashboards", "barelb.json"), "utf8");
      const objects = await render(allOptions, { namespace: "lb" });
      const cm = find(objects, "ConfigMap", "-dashboard");
      expect(cm.metadata?.namespace).toBe("lb");
      expect(cm.metadata?.labels).toMatchObject({ grafana_dashboard: "1" });
      expect(cm.metadata?.annotations).toEqual({ grafana_folder: "Networking" });
      expect(JSON.parse(cm.data?.["barelb.json"] ?? "")).toEqual(JSON.parse(json));

      const elsewhere = await render({
        grafana: { dashboard: { enabled: true, namespace: "monitoring", labels: { dash: "yes" } } },
      });
      const moved = find(elsewhere, "ConfigMap", "-dashboard");
      expect(moved.metadata?.namespace).toBe("monitoring");
      // Merged with the default label (null removes it, as for any Helm value).
      expect(moved.metadata?.labels).toMatchObject({ dash: "yes", grafana_dashboard: "1" });
      expect(moved.metadata?.annotations).toBeUndefined();

      expect((await render()).filter((o) => o.kind === "ConfigMap")).toEqual([]);
    });
  });

  it.each<[string, object, string]>([
    [
      "a typo at the top",
      { contoller: { replicas: 1 } },
      "Additional property contoller is not allowed",
    ],
    [
      "a typo inside a component",
      { controller: { replica: 1 } },
      "Additional property replica is not allowed",
    ],
    [
      "a typo in a pool key",
      {
        config: {
          create: true,
          addressPools: [{ name: "a", addresses: ["192.0.2.1"], "auto-asign": true }],
        },
      },
      "Additional property auto-asign is not allowed",
    ],
    [
      "a string for a number",
      { controller: { replicas: "two" } },
      "controller.replicas: Invalid type. Expected: integer, given: string",
    ],
    [
      "a number for a duration",
      { speaker: { leaseDuration: 10 } },
      "speaker.leaseDuration: Invalid type",
    ],
    [
      "a malformed duration",
      { controller: { leaderElection: { retryPeriod: "soon" } } },
      "controller.leaderElection.retryPeriod: Does not match pattern",
    ],
    [
      "a port out of range",
      { speaker: { heartbeatPort: 70000 } },
      "speaker.heartbeatPort: Must be less than or equal to 65535",
    ],
    ["an unknown log level", { speaker: { logLevel: "verbose" } }, "speaker.logLevel"],
    [
      "a list for a map",
      { speaker: { nodeSelector: ["rack=a"] } },
      "speaker.nodeSelector: Invalid type. Expected: object, given: array",
    ],
    [
      "a flag without dashes",
      { controller: { extraArgs: ["retry-period=1s"] } },
      "controller.extraArgs.0: Does not match pattern",
    ],
    [
      "a Node flag without dashes",
      { speaker: { nodeFlags: ["max-semi-space-size=1"] } },
      "speaker.nodeFlags.0: Does not match pattern",
    ],
    [
      "a bad protocol",
      {
        config: {
          create: true,
          addressPools: [{ name: "a", protocol: "ospf", addresses: ["192.0.2.1"] }],
        },
      },
      'config.addressPools.0.protocol must be one of the following: "layer2", "bgp"',
    ],
    [
      "a peer without my-asn",
      bgpValues({ peers: [{ "peer-address": "192.0.2.1", "peer-asn": 64501 }] }),
      "config.peers.0: my-asn is required",
    ],
    [
      "an AS number of 0",
      bgpValues({ peers: [{ "peer-address": "192.0.2.1", "peer-asn": 0, "my-asn": 64500 }] }),
      "config.peers.0.peer-asn: Must be greater than or equal to 1",
    ],
    [
      "an AS number as a string",
      bgpValues({
        peers: [{ "peer-address": "192.0.2.1", "peer-asn": "64501", "my-asn": 64500 }],
      }),
      "config.peers.0.peer-asn: Invalid type. Expected: integer, given: string",
    ],
    [
      "a hold time without a unit",
      bgpValues({
        peers: [
          { "peer-address": "192.0.2.1", "peer-asn": 64501, "my-asn": 64500, "hold-time": "90" },
        ],
      }),
      "config.peers.0.hold-time: Does not match pattern",
    ],
    [
      "a camelCase peer key",
      bgpValues({
        peers: [{ "peer-address": "192.0.2.1", "peer-asn": 64501, "my-asn": 64500, peerPort: 1 }],
      }),
      "config.peers.0: Additional property peerPort is not allowed",
    ],
    [
      "a host name for a peer",
      bgpValues({ peers: [{ "peer-address": "router.lan", "peer-asn": 64501, "my-asn": 64500 }] }),
      "config.peers.0.peer-address: Does not match pattern",
    ],
    [
      "a malformed community",
      bgpValues({ bgpCommunities: { "no-advertise": "65535" } }),
      "config.bgpCommunities.no-advertise: Does not match pattern",
    ],
    [
      "a BFD interval out of range",
      bgpValues({ bfdProfiles: [{ name: "fast", "receive-interval": 5 }] }),
      "config.bfdProfiles.0.receive-interval: Must be greater than or equal to 10",
    ],
    [
      "an aggregation length out of range",
      bgpValues({ pool: { "bgp-advertisements": [{ "aggregation-length": 33 }] } }),
      "config.addressPools.0.bgp-advertisements.0.aggregation-length: Must be less than or equal to 32",
    ],
    [
      "interfaces in a bgp pool",
      bgpValues({ pool: { interfaces: ["eth0"] } }),
      'config.addressPools[0].interfaces (pool "routed"): only for protocol: layer2 pools',
    ],
    [
      "bgp-advertisements in a layer2 pool",
      bgpValues({ pool: { protocol: "layer2", "bgp-advertisements": [{}] } }),
      'config.addressPools[0].bgp-advertisements (pool "routed"): only for protocol: bgp pools',
    ],
    [
      "a community name bgpCommunities does not define",
      bgpValues({ pool: { "bgp-advertisements": [{ communities: ["no-export"] }] } }),
      'config.addressPools[0].bgp-advertisements[0].communities[0] "no-export": not a community',
    ],
    [
      "a BFD profile bfdProfiles does not define",
      bgpValues({
        peers: [
          { "peer-address": "192.0.2.1", "peer-asn": 64501, "my-asn": 64500, "bfd-profile": "x" },
        ],
      }),
      'config.peers[0].bfd-profile "x": no such profile in config.bfdProfiles',
    ],
    [
      "two BFD profiles with one name",
      bgpValues({ bfdProfiles: [{ name: "fast" }, { name: "fast" }] }),
      'config.bfdProfiles[1].name "fast": duplicate BFD profile name',
    ],
    [
      "config.create without pools",
      { config: { create: true } },
      "config.addressPools: Array must have at least 1 items",
    ],
    [
      "two controllers without leader election",
      { controller: { leaderElection: { enabled: false } } },
      "controller.replicas: Must be less than or equal to 1",
    ],
    ["a malformed digest", { image: { digest: "latest" } }, "image.digest: Does not match pattern"],
    [
      "both monitors",
      { prometheus: { serviceMonitor: { enabled: true }, podMonitor: { enabled: true } } },
      "choose one",
    ],
    [
      "no ServiceAccount name",
      { speaker: { serviceAccount: { create: false } } },
      "speaker.serviceAccount.name must name an existing ServiceAccount",
    ],
  ])("refuses %s", async (_what, values, message) => {
    const r = await helmTemplate(values);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(message);
  });

  it("config/pool-configmap.yaml is a valid pool config (parseConfig)", async () => {
    const text = await readFile(join(root, "config", "pool-configmap.yaml"), "utf8");
    const extracted = extractConfigText(text);
    if (!extracted.ok) throw new Error(JSON.stringify(extracted.errors));
    expect(extracted).toMatchObject({ source: "configmap", name: "barelb-config" });
    const result = parseConfig(extracted.text);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.config.pools.map((p) => [p.name, p.addresses.map((a) => a.text)])).toEqual([
      ["default", ["192.0.2.32-192.0.2.62", "2001:db8::1:0/112"]],
    ]);
    const doc = parse(text) as V1ConfigMap;
    expect(doc.metadata).toEqual({ name: "barelb-config", namespace: "barelb-system" });
  });

  // ---- against the real API server ------------------------------------------------------

  describe.runIf(kc !== null)("on the real API server", () => {
    const admin = kc as KubeConfig;
    const core = admin.makeApiClient(CoreV1Api);
    let kubectlBin = "";
    let ns = "";
    const suffix = Math.random().toString(16).slice(2, 8);
    const cleanups: (() => Promise<unknown>)[] = [];

    beforeAll(async () => {
      kubectlBin = join(await ensureControlPlaneBinaries(), "kubectl");
      ns = await createTestNamespace(admin, "it-chart");
    });
    afterAll(async () => {
      for (const c of cleanups.reverse()) await c();
      if (ns !== "") await core.deleteNamespace({ name: ns });
    });

    async function kubectl(args: readonly string[]): Promise<HelmResult> {
      try {
        const { stdout, stderr } = await run(kubectlBin, [...args], {
          // HOME: kubectl keeps a discovery cache under $HOME/.kube (else under the
          // working directory); keep it in this test's temporary directory.
          env: { PATH: process.env.PATH ?? "", HOME: work, KUBECONFIG: inject("kubeconfig") },
          maxBuffer: 16 * 1024 * 1024,
          timeout: 60_000,
        });
        return { code: 0, stdout, stderr };
      } catch (e: unknown) {
        const err = e as { code?: unknown; stdout?: string; stderr?: string };
        if (typeof err.code !== "number") throw new Error(`cannot run ${kubectlBin}`, { cause: e });
        return { code: err.code, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
      }
    }

    /** Server-side dry run with strict field validation: the server checks every field. */
    async function dryRun(objects: readonly K8sObject[]): Promise<HelmResult> {
      const file = await tempFile("manifests.yaml", objects.map((o) => stringify(o)).join("---\n"));
      return kubectl(["create", "--dry-run=server", "--validate=strict", "-o", "name", "-f", file]);
    }

    const isMonitoring = (o: K8sObject) => o.apiVersion.startsWith("monitoring.coreos.com/");

    it.each<[string, object]>([
      ["default values", {}],
      ["every option set", allOptions],
      [
        "PodMonitor, one controller without leader election, speaker updated OnDelete",
        {
          prometheus: { podMonitor: { enabled: true } },
          controller: { replicas: 1, leaderElection: { enabled: false } },
          // OnDelete, with the default rollingUpdate settings still in the values: the chart
          // must leave them out (they belong to RollingUpdate only).
          speaker: { tolerateControlPlane: false, updateStrategy: { type: "OnDelete" } },
        },
      ],
    ])(
      "every object rendered with %s passes a strict server-side dry run",
      async (_what, values) => {
        const objects = await render(values, { release: `it-${suffix}`, namespace: ns });
        // The Prometheus Operator's CRDs are not installed on the test API server, so the server
        // cannot check ServiceMonitor/PodMonitor; their fields are asserted above instead.
        const known = objects.filter((o) => !isMonitoring(o));
        const r = await dryRun(known);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        expect(r.stdout.trim().split("\n")).toHaveLength(known.length);
        // Nothing was created: it was a dry run.
        const sa = await core
          .readNamespacedServiceAccount({ name: `it-${suffix}-barelb-controller`, namespace: ns })
          .catch((e: unknown) => e);
        expect(sa instanceof ApiException && sa.code === 404).toBe(true);
      },
    );

    it("the dry run is strict: an unknown field in a rendered object is refused", async () => {
      const objects = await render({}, { release: `it-${suffix}`, namespace: ns });
      const ds = find(objects, "DaemonSet");
      Object.assign(ds.spec?.template.spec ?? {}, { hostNetwrok: true });
      const r = await dryRun([ds as unknown as K8sObject]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('unknown field "spec.template.spec.hostNetwrok"');
    });

    it("config/pool-configmap.yaml and config/sample-service.yaml pass a strict server-side dry run", async () => {
      for (const file of ["pool-configmap.yaml", "sample-service.yaml"]) {
        const objects = parseManifests(await readFile(join(root, "config", file), "utf8"));
        for (const o of objects) o.metadata.namespace = ns;
        const r = await dryRun(objects);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
      }
    });

    it("NOTES.txt tells the user what to do next", async () => {
      const install = (values: object) =>
        tempFile("notes-values.json", JSON.stringify(values)).then((valuesFile) =>
          helm(helmBin, [
            "install",
            "barelb",
            chartDir,
            "--namespace",
            ns,
            "--dry-run=client",
            "--kubeconfig",
            inject("kubeconfig"),
            "--values",
            valuesFile,
          ]),
        );
      const plain = await install({});
      expect(plain.stderr).toBe("");
      const notes = plain.stdout.slice(plain.stdout.indexOf("NOTES:"));
      expect(notes).toContain(`ConfigMap barelb-config`);
      expect(notes).toContain(`namespace: ${ns}`);
      expect(notes).toContain("--type=LoadBalancer");
      expect(notes).toContain("kubectl get svc sample");
      // The ConfigMap the notes show is a valid pool config.
      const heredoc = /kubectl apply -f - <<'YAML'\n([\s\S]*?)\nYAML\n/.exec(notes)?.[1] ?? "";
      const extracted = extractConfigText(heredoc);
      expect(extracted.ok && parseConfig(extracted.text).ok).toBe(true);

      // Without the ServiceMonitor: its CRD is not installed here, and helm install refuses
      // kinds the cluster does not know ("ensure CRDs are installed first").
      const created = await install({ ...allOptions, prometheus: {} });
      expect(created.stderr).toBe("");
      const notes2 = created.stdout.slice(created.stdout.indexOf("NOTES:"));
      expect(notes2).toContain("the chart created ConfigMap barelb-config");
      expect(notes2).toContain("lab: 192.0.2.32-192.0.2.62, 2001:db8::1:0/112");
      expect(notes2).toContain("routed (bgp): 198.51.100.64/26, 2001:db8:2::/120");
      expect(notes2).toContain("and BGP peers 192.0.2.1 (AS 4200000001), 2001:db8::5 (AS 64500)");
      expect(notes2).toContain("loadBalancerClass: example.com/barelb");
    });

    describe("RBAC applied for real", () => {
      const release = `it-rbac-${suffix}`;
      const sa = (component: Component) => `${release}-barelb-${component}`;

      beforeAll(async () => {
        const objects = await render({}, { release, namespace: ns });
        const rbac = objects.filter((o) =>
          ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"].includes(
            o.kind,
          ),
        );
        const file = await tempFile("rbac.yaml", rbac.map((o) => stringify(o)).join("---\n"));
        cleanups.push(() => kubectl(["delete", "--ignore-not-found", "--wait=false", "-f", file]));
        const r = await kubectl(["create", "-f", file]);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
      });

      const authz = () => admin.makeApiClient(AuthorizationV1Api);

      async function allowed(
        component: Component,
        attrs: {
          verb: string;
          group: string;
          resource: string;
          subresource?: string;
          namespace: string;
        },
      ): Promise<boolean> {
        const review = await authz().createSubjectAccessReview({
          body: {
            spec: {
              user: `system:serviceaccount:${ns}:${sa(component)}`,
              groups: [
                "system:serviceaccounts",
                `system:serviceaccounts:${ns}`,
                "system:authenticated",
              ],
              resourceAttributes: {
                verb: attrs.verb,
                group: attrs.group,
                resource: attrs.resource,
                subresource: attrs.subresource ?? "",
                namespace: attrs.namespace,
              },
            },
          },
        });
        return review.status?.allowed === true;
      }

      it("SubjectAccessReviews: each ServiceAccount may do exactly what its program needs", async () => {
        // The authorizer's caches take a moment to see new bindings: wait until each
        // ServiceAccount is allowed anything at all (if never, the table below says what).
        for (const component of ["controller", "speaker"] as const) {
          await eventually(`RBAC for the ${component} to take effect`, async () =>
            (await allowed(component, {
              verb: "get",
              group: "",
              resource: "configmaps",
              namespace: ns,
            })) ||
            (await allowed(component, {
              verb: "list",
              group: "",
              resource: "services",
              namespace: "",
            }))
              ? true
              : undefined,
          ).catch(() => undefined);
        }
        const resources: [group: string, resource: string, subresource?: string][] = [
          ["", "services"],
          ["", "services", "status"],
          ["", "nodes"],
          ["discovery.k8s.io", "endpointslices"],
          ["", "endpoints"],
          ["", "events"],
          ["", "configmaps"],
          ["coordination.k8s.io", "leases"],
          ["", "secrets"],
          ["", "pods"],
        ];
        const verbs = ["get", "list", "watch", "create", "update", "patch", "delete"];
        const namespaces = [ns, "default", ""]; // "" = cluster-wide
        const mismatches: string[] = [];
        const checks: Promise<void>[] = [];
        for (const component of ["controller", "speaker"] as const) {
          const needed = NEEDED[component] as {
            cluster: Record<string, readonly string[]>;
            namespace: Record<string, readonly string[]>;
          };
          for (const [group, resource, subresource] of resources) {
            const key = `${group === "" ? "core" : group}/${resource}${subresource ? `/${subresource}` : ""}`;
            for (const verb of verbs) {
              for (const namespace of resource === "nodes" ? [""] : namespaces) {
                const expected =
                  (needed.cluster[key] ?? []).includes(verb) ||
                  (namespace === ns && (needed.namespace[key] ?? []).includes(verb));
                checks.push(
                  allowed(component, { verb, group, resource, subresource, namespace }).then(
                    (got) => {
                      if (got !== expected) {
                        mismatches.push(
                          `${component} ${verb} ${key} in ${namespace || "all namespaces"}: ${got ? "allowed" : "denied"}, expected ${expected ? "allowed" : "denied"}`,
                        );
                      }
                    },
                  ),
                );
              }
            }
          }
        }
        await Promise.all(checks);
        expect(mismatches.sort()).toEqual([]);
        expect(checks.length).toBeGreaterThan(300);
      });

      it("with a real token, the controller and the speaker patch a Service's status and cannot delete it", async () => {
        await core.createNamespacedService({
          namespace: ns,
          body: {
            metadata: { name: "rbac-probe" },
            spec: { type: "ClusterIP", ports: [{ port: 8080 }] },
          },
        });
        const tokenFor = async (component: Component) => {
          const tr = await core.createNamespacedServiceAccountToken({
            name: sa(component),
            namespace: ns,
            body: { spec: { audiences: [], expirationSeconds: 600 } },
          });
          return kubeConfigWithToken(admin, tr.status?.token ?? "").makeApiClient(CoreV1Api);
        };
        const asController = await tokenFor("controller");
        // A JSON merge patch of the status subresource, as the controller's status writer sends.
        const patched = await asController.patchNamespacedServiceStatus(
          { name: "rbac-probe", namespace: ns, body: { status: { conditions: [] } } },
          mergePatch,
        );
        expect(patched.metadata?.name).toBe("rbac-probe");
        const forbidden = (e: unknown) => e instanceof ApiException && e.code === 403;
        await expect(
          asController.deleteNamespacedService({ name: "rbac-probe", namespace: ns }),
        ).rejects.toSatisfy(forbidden);
        await expect(asController.listNamespacedSecret({ namespace: ns })).rejects.toSatisfy(
          forbidden,
        );
        const asSpeaker = await tokenFor("speaker");
        expect((await asSpeaker.listNode()).items).toBeDefined();
        // The speaker patches status (its announced condition) but may not replace it.
        const bySpeaker = await asSpeaker.patchNamespacedServiceStatus(
          { name: "rbac-probe", namespace: ns, body: { status: { conditions: [] } } },
          mergePatch,
        );
        expect(bySpeaker.metadata?.name).toBe("rbac-probe");
        await expect(
          asSpeaker.replaceNamespacedServiceStatus({
            name: "rbac-probe",
            namespace: ns,
            body: bySpeaker,
          }),
        ).rejects.toSatisfy(forbidden);
        await expect(
          asSpeaker.deleteNamespacedService({ name: "rbac-probe", namespace: ns }),
        ).rejects.toSatisfy(forbidden);
      });
    });
  });
});
