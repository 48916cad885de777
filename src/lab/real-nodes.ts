import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parse, stringify } from "yaml";
import { CoreV1Api, type V1Node } from "@kubernetes/client-node";
import { loadKubeConfig } from "../k8s/client.js";
import { packageRoot } from "../util/paths.js";
import { eventually } from "../util/wait.js";
import { run, type ProcessRef } from "../util/proc.js";
import { runBuildScript } from "./build-script.js";
import { launch, waitFor } from "./daemon.js";
import { ip, netnsExec } from "./netns.js";
import type { LabHostRecord, LabRecord } from "./state.js";

/**
 * Real nodes for the lab (`barelb lab up --kubelet`): each node namespace runs containerd
 * (with runc and Debian's CNI plugins), a kubelet that registers its own Node, and kube-proxy;
 * kube-controller-manager (which hands each Node a pod CIDR) and kube-scheduler run beside the
 * API server. Everything is built from pinned Go modules by scripts/lab/build-nodes.sh.
 *
 * How several kubelets share one host here:
 * - every program runs in its node's network namespace through `nsenter --net`, in the host's
 *   mount namespace, so kubelet's volume mounts are visible to runc;
 * - each node has its own directories (containerd root and state, kubelet root, certificates,
 *   pod logs, CNI configuration and IPAM state) under the lab's directory, its own containerd
 *   socket, and its own runc state;
 * - no QoS cgroups (cgroupsPerQOS false): one kubelet's orphan-cgroup cleanup would kill the
 *   other kubelets' pods;
 * - containerd may not lower oom_score_adj (these machines lack CAP_SYS_RESOURCE), so
 *   restrict_oom_score_adj is on.
 *
 * Addresses: pods and Service ClusterIPs come from the lab's own /26 of 198.51.100.0/24
 * (ClusterIPs in its first /28, pods in its upper /27 split into a /29 per node), so no
 * packet of a lab is ever addressed outside the documentation ranges. Each node routes the
 * other nodes' pod CIDRs to them over the LAN (no overlay); the root namespace routes them
 * too (the API server answers pods), and a catch-all unreachable route for the /26 keeps
 * anything of the lab from following the host's default route.
 */

/** A /29 per node out of a /27: at most four kubelet nodes per lab. */
export const MAX_KUBELET_NODES = 4;

export const PAUSE_IMAGE = "registry.k8s.io/pause:3.10.2";

export function realNodeAddresses(slot: number) {
  const base = 64 * slot;
  return {
    /** Everything of the lab's pods and Services: routed nowhere outside the lab. */
    labCidr: `198.51.100.${base}/26`,
    serviceCidr: `198.51.100.${base}/28`,
    /** ClusterIP of the `kubernetes` Service (first of the range). */
    kubernetesServiceIP: `198.51.100.${base + 1}`,
    clusterCidr: `198.51.100.${base + 32}/27`,
    nodeCidrMaskSize: 29,
  };
}

/** Builds (first time) or finds the node binaries; returns their directory. */
export async function ensureNodeBinaries(
  onProgress: (line: string) => void = () => undefined,
): Promise<string> {
  if (process.env.BARELB_NODES_BIN) return process.env.BARELB_NODES_BIN;
  return runBuildScript(
    join(packageRoot(), "scripts", "lab", "build-nodes.sh"),
    [],
    onProgress,
    "could not build kubelet, kube-proxy, containerd and runc from Go modules",
  );
}

export interface LabImage {
  /** docker-archive that `ctr images import` reads. */
  archive: string;
  /** The image reference it carries, e.g. localhost/barelb:0.1.0. */
  image: string;
}

/** Builds (first time, or after a source change) barelb's image and the pause image. */
export async function ensureLabImages(
  onProgress: (line: string) => void = () => undefined,
): Promise<{ barelb: LabImage; pause: LabImage }> {
  const scripts = join(packageRoot(), "scripts", "image");
  const imageLine = (line: string): LabImage => {
    const archive = /ARCHIVE=(\S+)/.exec(line)?.[1];
    const image = /IMAGE=(\S+)/.exec(line)?.[1];
    if (archive === undefined || image === undefined)
      throw new Error(`image build printed no ARCHIVE= and IMAGE=: ${line}`);
    return { archive, image };
  };
  const pause = imageLine(
    await runBuildScript(
      join(scripts, "pause.sh"),
      [],
      onProgress,
      "could not build the pause image",
    ),
  );
  // Tagged as the chart's default image, as a release publishes it: the chart installs it
  // with no image values, and the nodes find it already there (pull policy IfNotPresent).
  const barelb = imageLine(
    await runBuildScript(
      join(scripts, "build.sh"),
      ["--tag", await chartDefaultImage()],
      onProgress,
      "could not build barelb's image",
    ),
  );
  return { barelb, pause };
}

/** `image.repository:appVersion` of charts/barelb: what `helm install` runs by default. */
export async function chartDefaultImage(): Promise<string> {
  const chartDir = join(packageRoot(), "charts", "barelb");
  const values = parse(await readFile(join(chartDir, "values.yaml"), "utf8")) as {
    image?: { repository?: string };
  };
  const chart = parse(await readFile(join(chartDir, "Chart.yaml"), "utf8")) as {
    appVersion?: string;
  };
  const repo = values.image?.repository;
  if (repo === undefined || chart.appVersion === undefined)
    throw new Error(
      `${chartDir}: no image.repository in values.yaml or no appVersion in Chart.yaml`,
    );
  return `${repo}:${chart.appVersion}`;
}

export interface RealNodesOptions {
  binDir: string;
  /** The API server's kubeconfig (admin), its pki directory and address. */
  kubeconfig: string;
  pkiDir: string;
  images: readonly LabImage[];
  tied: boolean;
  progress: (line: string) => void;
}

function nodeDir(rec: LabRecord, node: string): string {
  return join(rec.dir, "nodes", node);
}

function containerdSocket(rec: LabRecord, node: string): string {
  return join(nodeDir(rec, node), "containerd", "containerd.sock");
}

/** The CNI network's name: per node, so what the plugins leave under /var/lib/cni is findable. */
function cniNetworkName(rec: LabRecord, node: string): string {
  return `barelb-${rec.id}-${node}`;
}

/**
 * Starts kube-controller-manager, kube-scheduler and every node's containerd, kubelet and
 * kube-proxy, imports the images into each containerd, waits for every Node to be Ready with
 * a pod CIDR and routes the pod CIDRs. Adds every process it starts to `rec.processes`
 * (the caller writes the record).
 */
export async function startRealNodes(
  rec: LabRecord,
  nodes: readonly LabHostRecord[],
  opts: RealNodesOptions,
  recordProcess: (name: string, ref: ProcessRef) => Promise<void>,
): Promise<void> {
  const a = realNodeAddresses(rec.slot);
  const logs = join(rec.dir, "logs");
  await mkdir(logs, { recursive: true });
  const daemon = (name: string, bin: string, netns?: string) => ({
    name,
    bin: join(opts.binDir, bin),
    logFile: join(logs, `${name}.log`),
    tied: opts.tied,
    ...(netns === undefined ? {} : { netns }),
  });

  opts.progress("starting kube-controller-manager and kube-scheduler");
  const kcm = launch(daemon("kube-controller-manager", "kube-controller-manager"), [
    `--kubeconfig=${opts.kubeconfig}`,
    `--authentication-kubeconfig=${opts.kubeconfig}`,
    `--authorization-kubeconfig=${opts.kubeconfig}`,
    "--secure-port=0",
    "--leader-elect=false",
    "--allocate-node-cidrs=true",
    `--cluster-cidr=${a.clusterCidr}`,
    `--node-cidr-mask-size=${a.nodeCidrMaskSize}`,
    `--service-cluster-ip-range=${a.serviceCidr}`,
    `--service-account-private-key-file=${join(opts.pkiDir, "sa.key")}`,
    `--root-ca-file=${join(opts.pkiDir, "apiserver.crt")}`,
    "--use-service-account-credentials=true",
    "--v=1",
  ]);
  await recordProcess("kube-controller-manager", kcm);
  const schedulerConfig = join(rec.dir, "kube-scheduler.yaml");
  await writeFile(
    schedulerConfig,
    stringify({
      apiVersion: "kubescheduler.config.k8s.io/v1",
      kind: "KubeSchedulerConfiguration",
      clientConnection: { kubeconfig: opts.kubeconfig },
      leaderElection: { leaderElect: false },
    }),
  );
  const scheduler = launch(daemon("kube-scheduler", "kube-scheduler"), [
    `--config=${schedulerConfig}`,
    `--authentication-kubeconfig=${opts.kubeconfig}`,
    `--authorization-kubeconfig=${opts.kubeconfig}`,
    "--secure-port=0",
    "--v=1",
  ]);
  await recordProcess("kube-scheduler", scheduler);

  for (const n of nodes) {
    const dir = nodeDir(rec, n.name);
    for (const d of [
      "containerd",
      "kubelet/root",
      "kubelet/pki",
      "pod-logs",
      "cni/net.d",
      "cni/ipam",
    ])
      await mkdir(join(dir, d), { recursive: true });
    // Pods are routed through the node: forwarding on, in this namespace only.
    await netnsExec(n.netns, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    // A program on the node (a hostNetwork pod) connecting to a ClusterIP needs a route for
    // it before kube-proxy's DNAT rewrites the destination; real nodes use their default
    // route. This one leads to the root namespace, which answers "unreachable" for anything
    // kube-proxy did not rewrite.
    await netnsExec(n.netns, [
      "ip",
      "route",
      "add",
      a.serviceCidr,
      "via",
      rec.gateway4,
      "dev",
      n.ifname,
    ]);

    opts.progress(`${n.name}: starting containerd`);
    const cfg = join(dir, "containerd", "config.toml");
    await writeFile(cfg, containerdConfig(rec, n.name, opts.binDir));
    await writeFile(join(dir, "cni", "template.json"), cniTemplate(rec, n.name));
    const ctrd = launch(daemon(`${n.name}-containerd`, "containerd", n.netns), [`--config=${cfg}`]);
    await recordProcess(`${n.name}/containerd`, ctrd);
    const ctr = (...args: string[]) =>
      run(join(opts.binDir, "ctr"), ["--address", containerdSocket(rec, n.name), ...args], {
        timeoutMs: 10 * 60_000,
      });
    await waitFor(
      `containerd on ${n.name}`,
      ctrd,
      join(logs, `${n.name}-containerd.log`),
      30_000,
      async () => {
        await ctr("version");
        return true;
      },
    );
    for (const img of opts.images) {
      opts.progress(`${n.name}: importing ${img.image}`);
      await ctr("--namespace=k8s.io", "images", "import", "--snapshotter=overlayfs", img.archive);
    }

    opts.progress(`${n.name}: starting kubelet and kube-proxy`);
    const kubeletConfig = join(dir, "kubelet", "config.yaml");
    await writeFile(kubeletConfig, kubeletConfigYaml(rec, n));
    const kubelet = launch(daemon(`${n.name}-kubelet`, "kubelet", n.netns), [
      `--config=${kubeletConfig}`,
      `--kubeconfig=${opts.kubeconfig}`,
      `--root-dir=${join(dir, "kubelet", "root")}`,
      `--cert-dir=${join(dir, "kubelet", "pki")}`,
      `--hostname-override=${n.name}`,
      `--node-ip=${n.ipv4}`,
      "--v=1",
    ]);
    await recordProcess(`${n.name}/kubelet`, kubelet);
    const proxyConfig = join(dir, "kube-proxy.yaml");
    await writeFile(proxyConfig, kubeProxyConfigYaml(rec, n.name, opts.kubeconfig));
    const proxy = launch(daemon(`${n.name}-kube-proxy`, "kube-proxy", n.netns), [
      `--config=${proxyConfig}`,
      "--v=1",
    ]);
    await recordProcess(`${n.name}/kube-proxy`, proxy);
  }

  // Every Node registered by its kubelet, given a pod CIDR, and Ready (CNI configured).
  const core = loadKubeConfig(opts.kubeconfig).makeApiClient(CoreV1Api);
  const podCidrs = await eventually(
    "every Node to be Ready with a pod CIDR",
    async () => {
      const items = (await core.listNode().catch(() => ({ items: [] as V1Node[] }))).items;
      const cidrs = new Map<string, string>();
      for (const i of items) {
        const ready = i.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
        if (i.metadata?.name !== undefined && i.spec?.podCIDR !== undefined && ready === true)
          cidrs.set(i.metadata.name, i.spec.podCIDR);
      }
      return nodes.every((n) => cidrs.has(n.name)) ? cidrs : undefined;
    },
    180_000,
    500,
  ).catch((e: unknown) => {
    throw new Error(`Nodes not Ready with a pod CIDR; see the kubelet logs in ${logs}`, {
      cause: e,
    });
  });
  for (const n of nodes) {
    const cidr = podCidrs.get(n.name) ?? "";
    await ip(["route", "replace", cidr, "via", n.ipv4, "dev", rec.bridge]);
    for (const other of nodes.filter((o) => o !== n)) {
      await netnsExec(other.netns, [
        "ip",
        "route",
        "replace",
        cidr,
        "via",
        n.ipv4,
        "dev",
        other.ifname,
      ]);
    }
    opts.progress(`${n.name}: Ready, pods in ${cidr}`);
  }
  // kube-proxy has programmed the `kubernetes` Service on every node: pods reach the API.
  for (const n of nodes) {
    await waitForChain(n.netns, `${a.kubernetesServiceIP}/32`, 60_000);
  }
}

async function waitForChain(netns: string, match: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { stdout } = await netnsExec(netns, [
      "iptables",
      "-t",
      "nat",
      "-S",
      "KUBE-SERVICES",
    ]).catch(() => ({ stdout: "" }));
    if (stdout.includes(match)) return;
    if (Date.now() > deadline)
      throw new Error(
        `kube-proxy in ${netns} has not programmed ${match} after ${timeoutMs / 1000} s`,
      );
    await sleep(250);
  }
}

function containerdConfig(rec: LabRecord, node: string, binDir: string): string {
  const dir = join(nodeDir(rec, node), "containerd");
  const cni = join(nodeDir(rec, node), "cni");
  const q = (s: string) => JSON.stringify(s);
  return `# containerd for lab ${rec.id} ${node} (written by barelb lab)
version = 3
root = ${q(join(dir, "root"))}
state = ${q(join(dir, "state"))}

[grpc]
  address = ${q(join(dir, "containerd.sock"))}

[ttrpc]
  address = ${q(join(dir, "containerd.sock.ttrpc"))}

[plugins]
  [plugins.'io.containerd.nri.v1.nri']
    disable = true

  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = ${q(PAUSE_IMAGE)}

  [plugins.'io.containerd.cri.v1.runtime']
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = ${q(join(binDir, "runc"))}
          Root = ${q(join(dir, "runc"))}
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ['/usr/lib/cni']
      conf_dir = ${q(join(cni, "net.d"))}
      conf_template = ${q(join(cni, "template.json"))}
`;
}

/**
 * CNI for one node, filled in by containerd once the kubelet hands it the Node's pod CIDR:
 * a bridge in the node namespace as the pods' gateway, addresses from host-local. No
 * masquerading: pods keep their addresses across the lab, which routes them.
 */
function cniTemplate(rec: LabRecord, node: string): string {
  return `${JSON.stringify(
    {
      cniVersion: "1.0.0",
      name: cniNetworkName(rec, node),
      plugins: [
        {
          type: "bridge",
          bridge: "cni0",
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: "host-local",
            dataDir: join(nodeDir(rec, node), "cni", "ipam"),
            ranges: [[{ subnet: "{{.PodCIDR}}" }]],
            routes: [{ dst: "0.0.0.0/0" }],
          },
        },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  )}\n`;
}

function kubeletConfigYaml(rec: LabRecord, n: LabHostRecord): string {
  const dir = nodeDir(rec, n.name);
  const endpoint = `unix://${containerdSocket(rec, n.name)}`;
  return stringify({
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    containerRuntimeEndpoint: endpoint,
    imageServiceEndpoint: endpoint,
    address: n.ipv4,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: "127.0.0.1",
    healthzPort: 10248,
    // The lab's API server calls kubelets (logs, exec) without client certificates.
    authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
    authorization: { mode: "AlwaysAllow" },
    cgroupDriver: "cgroupfs",
    // Several kubelets on one host: no QoS cgroups, whose orphan cleanup would kill the other
    // nodes' pods, and so nothing to enforce allocatable resources on.
    cgroupsPerQOS: false,
    enforceNodeAllocatable: [],
    failCgroupV1: false,
    failSwapOn: false,
    podLogsDir: join(dir, "pod-logs"),
    // The lab has no DNS.
    resolvConf: "",
    // Every kubelet sees the host's disk: never evict for it.
    evictionHard: {
      "nodefs.available": "0%",
      "nodefs.inodesFree": "0%",
      "imagefs.available": "0%",
    },
    imageGCHighThresholdPercent: 100,
    serializeImagePulls: false,
    shutdownGracePeriod: "0s",
  });
}

function kubeProxyConfigYaml(rec: LabRecord, node: string, kubeconfig: string): string {
  const a = realNodeAddresses(rec.slot);
  return stringify({
    apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
    kind: "KubeProxyConfiguration",
    clientConnection: { kubeconfig },
    hostnameOverride: node,
    mode: "iptables",
    clusterCIDR: a.clusterCidr,
    metricsBindAddress: "127.0.0.1:10249",
    healthzBindAddress: "0.0.0.0:10256",
    // conntrack tables are global: a namespace may not size them.
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
  });
}

/** Adds the catch-all route that keeps the lab's pod and Service addresses on this host. */
export async function routeLabAddressesLocally(slot: number): Promise<string> {
  const cidr = realNodeAddresses(slot).labCidr;
  await ip(["route", "replace", "unreachable", cidr]);
  return cidr;
}

export async function removeLocalRoute(cidr: string): Promise<void> {
  await ip(["route", "del", "unreachable", cidr]).catch(() => undefined);
}

/**
 * Stops what containerd started for a lab's nodes and survives containerd: the shims (which
 * daemonize) and the containers under them, found by the containerd address in each shim's
 * command line, which lies under `labDir`.
 */
export async function killContainers(labDir: string): Promise<void> {
  const procs = await processTable();
  const shims = procs.filter(
    (p) => p.cmdline.includes("containerd-shim-runc-v2") && p.cmdline.includes(`${labDir}/`),
  );
  if (shims.length === 0) return;
  const children = new Map<number, number[]>();
  for (const p of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const doomed: number[] = [];
  const walk = (pid: number) => {
    doomed.push(pid);
    for (const c of children.get(pid) ?? []) walk(c);
  };
  for (const s of shims) walk(s.pid);
  for (const pid of doomed) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline && doomed.some((pid) => existsSync(`/proc/${pid}`))) await sleep(50);
}

async function processTable(): Promise<{ pid: number; ppid: number; cmdline: string }[]> {
  const out: { pid: number; ppid: number; cmdline: string }[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const cmdline = (await readFile(`/proc/${name}/cmdline`, "utf8")).replaceAll("\0", " ");
      out.push({ pid: Number(name), ppid, cmdline });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Unmounts everything mounted under `dir` (pod volumes, overlay roots, pod netns), deepest first. */
export async function unmountUnder(dir: string): Promise<void> {
  const mountinfo = await readFile("/proc/self/mountinfo", "utf8");
  const points = mountinfo
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((p): p is string => p !== undefined && (p === dir || p.startsWith(`${dir}/`)))
    .map((p) => p.replace(/\\040/g, " "))
    .sort((x, y) => y.length - x.length);
  for (const p of new Set(points)) {
    await run("umount", [p]).catch(() => run("umount", ["-l", p]).catch(() => undefined));
  }
}

/**
 * What the CNI plugins keep outside the lab's directory, in their result cache
 * (/var/lib/cni/results): `<network>-<sandbox>-eth0` for the node's bridge network, named
 * after the lab, and containerd's `cni-loopback-<sandbox>-lo`, found by the sandboxes that
 * the lab's containerds recorded. Call before the lab's directory is removed.
 */
export async function removeCniLeftovers(labId: string, labDir: string): Promise<void> {
  const sandboxes = new Set<string>();
  const nodesDir = join(labDir, "nodes");
  for (const node of await readdir(nodesDir).catch(() => [])) {
    for (const d of [
      join(nodesDir, node, "containerd", "root", "io.containerd.grpc.v1.cri", "sandboxes"),
      join(nodesDir, node, "containerd", "state", "io.containerd.runtime.v2.task", "k8s.io"),
    ]) {
      for (const id of await readdir(d).catch(() => [])) sandboxes.add(id);
    }
  }
  const results = "/var/lib/cni/results";
  for (const name of await readdir(results).catch(() => [])) {
    const loopback = /^cni-loopback-([0-9a-f]+)-lo$/.exec(name)?.[1];
    if (name.startsWith(`barelb-${labId}-`) || (loopback !== undefined && sandboxes.has(loopback)))
      await rm(join(results, name), { force: true });
  }
}
