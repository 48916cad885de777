import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { CommandError, isRunning, processRef, terminate } from "../util/proc.js";
import { ensureControlPlaneBinaries, startControlPlane } from "./controlplane.js";
import {
  ip,
  attachNetns,
  createBridge,
  createNetns,
  deleteLink,
  deleteNetns,
  listLinks,
  listNetns,
  netnsExec,
  netnsPids,
} from "./netns.js";
import { MAX_LABS, MAX_NODES } from "./limits.js";
import { ensureHelm, helmUnavailable } from "./helm.js";
import { registerNodes } from "./nodes.js";
import {
  MAX_KUBELET_NODES,
  ensureLabImages,
  ensureNodeBinaries,
  killContainers,
  realNodeAddresses,
  removeCniLeftovers,
  removeLocalRoute,
  routeLabAddressesLocally,
  startRealNodes,
  unmountUnder,
  type LabImage,
} from "./real-nodes.js";
import {
  isStale,
  labsDir,
  readRecords,
  removeRecord,
  withLabLock,
  writeRecord,
  type LabHostRecord,
  type LabRecord,
} from "./state.js";

/**
 * The lab: a Linux bridge as the LAN, N node namespaces and one client namespace on it, and
 * optionally a real control plane whose API server listens on the bridge address, so a
 * process in a node namespace reaches it as a speaker on a real node would.
 *
 * Addresses come from the documentation ranges only. Up to four labs can run at once, each
 * in its own /26 of 192.0.2.0/24 ("slot") and its own /64 of 2001:db8::/32:
 *   slot k: gateway .64k+1, client .64k+2, node-i .64k+10+i, free for VIPs .64k+32 – .64k+62
 *           2001:db8:0:k::1, ::2, ::(10+i); VIPs 2001:db8:0:k::1:0/112
 */

export { MAX_LABS, MAX_NODES };

export interface LabOptions {
  nodes: number;
  controlPlane: boolean;
  /**
   * Real nodes: kubelet, containerd and kube-proxy in every node namespace, and
   * kube-controller-manager and kube-scheduler beside the API server (implies controlPlane).
   */
  kubelet?: boolean;
  /** true: outlives this process (`lab up`); false: removed when this process dies. */
  persistent: boolean;
  onProgress?: (line: string) => void;
}

const netnsPattern = /^barelb-([0-9a-f]{6})-/;
const linkPattern = /^blb([0-9a-f]{6})(n\d+|c)?$/;

export function slotAddresses(slot: number) {
  const base = 64 * slot;
  // Written in canonical form (RFC 5952), as `ip` and the API server print them.
  const v6 = (suffix: string) =>
    slot === 0 ? `2001:db8::${suffix}` : `2001:db8:0:${slot}::${suffix}`;
  return {
    gateway4: `192.0.2.${base + 1}`,
    gateway6: v6("1"),
    client4: `192.0.2.${base + 2}`,
    client6: v6("2"),
    node4: (i: number) => `192.0.2.${base + 10 + i}`,
    node6: (i: number) => v6(String(10 + i)),
    /** Addresses no lab host uses, free for LoadBalancer IPs in this lab. */
    vipRange4: `192.0.2.${base + 32}-192.0.2.${base + 62}`,
    vipCidr6: `${v6("1:0")}/112`,
    prefix4: 26,
    prefix6: 64,
  };
}

export class Lab {
  constructor(readonly record: LabRecord) {}

  get id(): string {
    return this.record.id;
  }
  get nodes(): LabHostRecord[] {
    return this.record.hosts.filter((h) => h.name !== "client");
  }
  get client(): LabHostRecord {
    const c = this.record.hosts.find((h) => h.name === "client");
    if (c === undefined) throw new Error(`lab ${this.id} has no client`);
    return c;
  }
  get kubeconfig(): string {
    if (this.record.kubeconfig === null) throw new Error(`lab ${this.id} has no control plane`);
    return this.record.kubeconfig;
  }
  get addresses() {
    return slotAddresses(this.record.slot);
  }
  node(name: string): LabHostRecord {
    const n = this.record.hosts.find((h) => h.name === name);
    if (n === undefined) throw new Error(`lab ${this.id} has no host ${name}`);
    return n;
  }
  /** Runs a command inside a host's namespace. */
  exec(host: LabHostRecord, argv: readonly string[], timeoutMs?: number) {
    return netnsExec(host.netns, argv, timeoutMs === undefined ? {} : { timeoutMs });
  }
  /** Removes everything this lab created. */
  down(): Promise<void> {
    return withLabLock(() => teardown(this.record));
  }
}

/** Creates a lab. On any failure, what was already created is removed before rethrowing. */
export async function createLab(opts: LabOptions): Promise<Lab> {
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > MAX_NODES) {
    throw new Error(`a lab has 1 to ${MAX_NODES} nodes, not ${opts.nodes}`);
  }
  if (opts.kubelet === true && opts.nodes > MAX_KUBELET_NODES) {
    throw new Error(`a lab with real nodes has 1 to ${MAX_KUBELET_NODES} nodes, not ${opts.nodes}`);
  }
  const progress = opts.onProgress ?? (() => undefined);
  const binDir =
    opts.controlPlane || opts.kubelet === true ? await ensureControlPlaneBinaries(progress) : null;
  const real =
    opts.kubelet === true
      ? { binDir: await ensureNodeBinaries(progress), images: await ensureLabImages(progress) }
      : null;

  const rec = await withLabLock(async () => {
    await cleanupStaleLocked(progress);
    const live = await readRecords();
    const taken = await hostSlots();
    const used = new Set([...live.map((r) => r.slot), ...taken.keys()]);
    const slot = [...Array(MAX_LABS).keys()].find((s) => !used.has(s));
    if (slot === undefined) {
      const hostNote = [...taken].map(([s, why]) => `slot ${s} holds this host's ${why}`);
      throw new Error(
        `no free lab slot: ${[...live.map((r) => `lab ${r.id} runs`), ...hostNote].join("; ")}; remove labs with: barelb lab down`,
      );
    }
    const id = randomBytes(3).toString("hex");
    const a = slotAddresses(slot);
    const hostNames = [...Array(opts.nodes).keys()].map((i) => `node-${i + 1}`).concat("client");
    const owner = opts.persistent ? null : processRef(process.pid);
    if (owner === undefined) throw new Error("cannot read this process's start time from /proc");
    const record: LabRecord = {
      id,
      slot,
      createdAt: new Date().toISOString(),
      owner,
      dir: join(labsDir(), id),
      bridge: `blb${id}`,
      gateway4: a.gateway4,
      gateway6: a.gateway6,
      prefix4: a.prefix4,
      prefix6: a.prefix6,
      netns: hostNames.map((h) => `barelb-${id}-${h}`),
      links: [
        `blb${id}`,
        ...hostNames.map((h) => `blb${id}${h === "client" ? "c" : `n${h.slice(5)}`}`),
      ],
      hosts: [],
      processes: [],
      kubeconfig: null,
      server: null,
    };
    // Record first: whatever happens next, cleanup can find it.
    await writeRecord(record);
    return record;
  });

  try {
    await build(rec, opts, binDir, real, progress);
    return new Lab(rec);
  } catch (e: unknown) {
    await withLabLock(() => teardown(rec)).catch((cleanupErr: unknown) => {
      progress(`cleanup after failure also failed: ${String(cleanupErr)}`);
    });
    throw e;
  }
}

/**
 * Slots whose addresses this host itself uses outside any lab (an uplink in 192.0.2.0/24, as
 * some virtual machines have, or its gateway): a lab there would answer ARP for the host's
 * own address on the lab's bridge, or take the address of the host's gateway.
 */
export async function hostSlots(): Promise<Map<number, string>> {
  const { stdout: addrs } = await ip(["-j", "addr", "show"]);
  const { stdout: routes4 } = await ip(["-j", "-4", "route", "show", "table", "all"]);
  const { stdout: routes6 } = await ip(["-j", "-6", "route", "show", "table", "all"]);
  const found = new Map<number, string>();
  const note = (address: string, what: string) => {
    const slot = labSlotOf(address);
    if (slot !== undefined && !found.has(slot)) found.set(slot, `${what} ${address}`);
  };
  for (const link of JSON.parse(addrs) as {
    ifname: string;
    addr_info?: { local?: string }[];
  }[]) {
    if (linkPattern.test(link.ifname)) continue;
    for (const a of link.addr_info ?? []) if (a.local !== undefined) note(a.local, `address`);
  }
  for (const r of [
    ...(JSON.parse(routes4 || "[]") as { gateway?: string; dev?: string }[]),
    ...(JSON.parse(routes6 || "[]") as { gateway?: string; dev?: string }[]),
  ]) {
    if (r.gateway !== undefined && !(r.dev !== undefined && linkPattern.test(r.dev)))
      note(r.gateway, "gateway");
  }
  return found;
}

/** The lab slot whose addresses include `address`, if any. */
export function labSlotOf(address: string): number | undefined {
  const v4 = /^(192\.0\.2|198\.51\.100)\.(\d+)$/.exec(address);
  if (v4?.[2] !== undefined) return Math.floor(Number(v4[2]) / 64);
  for (const slot of Array(MAX_LABS).keys()) {
    const prefix = slot === 0 ? "2001:db8::" : `2001:db8:0:${slot}:`;
    if (address.startsWith(prefix)) return slot;
  }
  return undefined;
}

async function build(
  rec: LabRecord,
  opts: LabOptions,
  binDir: string | null,
  real: { binDir: string; images: { barelb: LabImage; pause: LabImage } } | null,
  progress: (line: string) => void,
): Promise<void> {
  const a = slotAddresses(rec.slot);
  await mkdir(rec.dir, { recursive: true });
  if (real !== null) {
    // Before anything can send from a pod or Service address: none may leave this host.
    rec.routes = [realNodeAddresses(rec.slot).labCidr];
    await writeRecord(rec);
    await routeLabAddressesLocally(rec.slot);
  }
  progress(
    `creating bridge ${rec.bridge} (${a.gateway4}/${a.prefix4}, ${a.gateway6}/${a.prefix6})`,
  );
  await createBridge(rec.bridge, `${a.gateway4}/${a.prefix4}`, `${a.gateway6}/${a.prefix6}`);
  for (const [i, netns] of rec.netns.entries()) {
    const name = netns.slice(`barelb-${rec.id}-`.length);
    const isClient = name === "client";
    const n = i + 1;
    const ipv4 = isClient ? a.client4 : a.node4(n);
    const ipv6 = isClient ? a.client6 : a.node6(n);
    const hostIf = rec.links[i + 1];
    if (hostIf === undefined) throw new Error("lab record lists fewer links than hosts");
    await createNetns(netns);
    const link = await attachNetns(
      netns,
      rec.bridge,
      hostIf,
      `${ipv4}/${a.prefix4}`,
      `${ipv6}/${a.prefix6}`,
    );
    rec.hosts.push({ name, netns, hostIf, ifname: link.ifname, ipv4, ipv6, mac: link.mac });
    progress(`created ${name} in namespace ${netns}: ${ipv4} ${ipv6} ${link.mac}`);
  }
  await writeRecord(rec);

  if (binDir !== null) {
    progress(`starting etcd and kube-apiserver on ${a.gateway4}`);
    const cp = await startControlPlane({
      bindAddress: a.gateway4,
      workDir: rec.dir,
      binDir,
      tied: !opts.persistent,
      ...(real === null ? {} : { serviceClusterIPRange: realNodeAddresses(rec.slot).serviceCidr }),
    });
    rec.processes.push({ name: "kube-apiserver", ...cp.apiserver }, { name: "etcd", ...cp.etcd });
    rec.kubeconfig = cp.kubeconfigPath;
    rec.server = cp.server;
    await writeRecord(rec);
    if (real !== null) {
      // kubectl of the control plane's release, and helm if this machine can have it.
      const tools = [binDir];
      if (helmUnavailable() === null) tools.push(dirname(await ensureHelm()));
      rec.kubelet = { image: real.images.barelb.image, tools };
      await startRealNodes(
        rec,
        rec.hosts.filter((h) => h.name !== "client"),
        {
          binDir: real.binDir,
          kubeconfig: cp.kubeconfigPath,
          pkiDir: join(rec.dir, "pki"),
          images: [real.images.pause, real.images.barelb],
          tied: !opts.persistent,
          progress,
        },
        async (name, ref) => {
          rec.processes.push({ name, ...ref });
          await writeRecord(rec);
        },
      );
      await writeRecord(rec);
      return;
    }
    await registerNodes(
      cp.kubeconfigPath,
      rec.hosts
        .filter((h) => h.name !== "client")
        .map((h) => ({ name: h.name, ipv4: h.ipv4, ipv6: h.ipv6 })),
    );
    progress(`registered ${opts.nodes} Node objects`);
  }
}

/** Removes everything a lab record lists; keeps going past errors and reports them all. */
async function teardown(rec: LabRecord): Promise<void> {
  const errors: unknown[] = [];
  const attempt = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (e: unknown) {
      errors.push(e);
    }
  };
  const existingNetns = new Set(await listNetns());
  // Real nodes' kubelets, kube-proxies and containerds first (a kubelet would restart what
  // is killed under it), then the containers and their shims, which outlive containerd.
  const nodeProcesses = rec.processes.filter((p) => p.name.includes("/"));
  await Promise.all(nodeProcesses.map((p) => attempt(() => terminate(p, 10_000))));
  await attempt(() => killContainers(rec.dir));
  // Processes inside the namespaces (speakers, clients), then the control plane.
  for (const netns of rec.netns.filter((n) => existingNetns.has(n))) {
    await attempt(() => killNetnsProcesses(netns));
  }
  for (const p of rec.processes.filter((x) => !nodeProcesses.includes(x)))
    await attempt(() => terminate(p, 10_000));
  // Pod volumes, container root filesystems and pod network namespaces live under the lab's
  // directory as mounts.
  await attempt(() => unmountUnder(rec.dir));
  for (const cidr of rec.routes ?? []) await attempt(() => removeLocalRoute(cidr));
  await attempt(() => removeCniLeftovers(rec.id, rec.dir));
  // Links before namespaces: deleting a veth end removes its peer at once, while a deleted
  // namespace releases its veths later, asynchronously. The bridge (first in the list) last.
  const links = new Set(await listLinks());
  for (const l of [...rec.links.slice(1), ...rec.links.slice(0, 1)].filter((x) => links.has(x))) {
    await attempt(() => deleteLinkIfPresent(l));
  }
  for (const netns of rec.netns.filter((n) => existingNetns.has(n))) {
    await attempt(() => deleteNetns(netns));
  }
  await attempt(() => rm(rec.dir, { recursive: true, force: true }));
  if (errors.length > 0) {
    throw new AggregateError(errors, `lab ${rec.id}: cleanup left something behind`);
  }
  await removeRecord(rec.id);
}

/** Deletes a link; one already gone (a veth removed with its peer) is not an error. */
async function deleteLinkIfPresent(name: string): Promise<void> {
  try {
    await deleteLink(name);
  } catch (e: unknown) {
    if (!(e instanceof CommandError && /Cannot find device/.test(e.stderr))) throw e;
  }
}

async function killNetnsProcesses(netns: string): Promise<void> {
  const refs = (await netnsPids(netns)).map((p) => processRef(p)).filter((r) => r !== undefined);
  await Promise.all(refs.map((r) => terminate(r, 3_000)));
}

/** Removes stale labs (owner gone) and lab resources no record accounts for. */
export function cleanupStaleLabs(
  progress: (line: string) => void = () => undefined,
): Promise<string[]> {
  return withLabLock(() => cleanupStaleLocked(progress));
}

async function cleanupStaleLocked(progress: (line: string) => void): Promise<string[]> {
  const removed: string[] = [];
  const records = await readRecords();
  for (const rec of records.filter(isStale)) {
    progress(`removing stale lab ${rec.id} (its owner process ${rec.owner?.pid ?? "?"} is gone)`);
    await teardown(rec);
    removed.push(rec.id);
  }
  const liveIds = new Set(records.filter((r) => !isStale(r)).map((r) => r.id));
  const liveRoutes = new Set(records.filter((r) => !isStale(r)).flatMap((r) => r.routes ?? []));
  for (const slot of Array(MAX_LABS).keys()) {
    const cidr = realNodeAddresses(slot).labCidr;
    if (!liveRoutes.has(cidr)) await removeLocalRoute(cidr);
  }
  const orphanIds = new Set<string>();
  const orphanNetns = (await listNetns()).filter((n) => {
    const id = netnsPattern.exec(n)?.[1];
    return id !== undefined && !liveIds.has(id);
  });
  for (const netns of orphanNetns) {
    const id = netnsPattern.exec(netns)?.[1];
    if (id !== undefined) await killContainers(join(labsDir(), id));
    await killNetnsProcesses(netns);
  }
  // veths before namespaces, bridges last (see teardown).
  const orphanLinks = (await listLinks())
    .map((l) => ({ l, m: linkPattern.exec(l) }))
    .filter(({ m }) => m?.[1] !== undefined && !liveIds.has(m[1]))
    .sort((x, y) => Number(x.m?.[2] === undefined) - Number(y.m?.[2] === undefined));
  for (const { l, m } of orphanLinks) {
    await deleteLinkIfPresent(l);
    if (m?.[1] !== undefined) orphanIds.add(m[1]);
  }
  for (const netns of orphanNetns) {
    await deleteNetns(netns);
    const id = netnsPattern.exec(netns)?.[1];
    if (id !== undefined) orphanIds.add(id);
  }
  for (const id of orphanIds) {
    progress(`removed leftovers of lab ${id} that had no record`);
    await unmountUnder(join(labsDir(), id));
    await removeCniLeftovers(id, join(labsDir(), id));
    await rm(join(labsDir(), id), { recursive: true, force: true });
    removed.push(id);
  }
  return removed;
}

/** Removes the given labs, or all labs when `ids` is empty. Returns the ids removed. */
export function downLabs(
  ids: readonly string[],
  progress: (line: string) => void = () => undefined,
) {
  return withLabLock(async () => {
    const records = await readRecords();
    const unknown = ids.filter((id) => !records.some((r) => r.id === id));
    if (unknown.length > 0) throw new Error(`no lab with id ${unknown.join(", ")}`);
    const chosen = ids.length === 0 ? records : records.filter((r) => ids.includes(r.id));
    const removed: string[] = [];
    for (const rec of chosen) {
      progress(`removing lab ${rec.id}`);
      await teardown(rec);
      removed.push(rec.id);
    }
    if (ids.length === 0) removed.push(...(await cleanupStaleLocked(progress)));
    return removed;
  });
}

/** Labs currently recorded, with whether their control plane is still running. */
export async function listLabs(): Promise<(LabRecord & { stale: boolean; running: boolean })[]> {
  return (await readRecords()).map((r) => ({
    ...r,
    stale: isStale(r),
    running: r.processes.every((p) => isRunning(p)),
  }));
}
