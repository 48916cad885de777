import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { IPVS_INTERFACE, type HostFacts, type InterfaceFacts } from "./node-warnings.js";

/**
 * Reads the facts node-warnings.ts judges, from this network namespace: `/sys/class/net` (is
 * there a kube-ipvs0, which interfaces are Wi-Fi or promiscuous), `/proc/sys/net/ipv4/conf`
 * (arp_ignore) and an rtnetlink dump (kube-ipvs0's addresses). kube-ipvs0 is never an
 * interface barelb announces on (the interface policy excludes `kube-ipvs.*`), so it is looked
 * up here by name. Both roots can be moved, so a test builds a fake tree in a temp dir.
 */

export interface HostRoots {
  /** Where sysfs is mounted: `/sys`. */
  sys: string;
  /** Where procfs is mounted: `/proc`. */
  proc: string;
}

export const HOST_ROOTS: HostRoots = { sys: "/sys", proc: "/proc" };

const IFF_PROMISC = 0x100;

/**
 * The facts for `interfaces` (the ones the speaker announces on). `ipv4Addresses` is the
 * netlink dump (readIPv4Addresses), asked for only when kube-ipvs0 exists.
 */
export async function readHostFacts(opts: {
  interfaces: readonly string[];
  lbIPs: { has(ip: string): boolean };
  ipv4Addresses: () => Promise<ReadonlyMap<number, readonly string[]>>;
  roots?: HostRoots;
}): Promise<HostFacts> {
  const roots = opts.roots ?? HOST_ROOTS;
  const ipvsIndex = await readNumber(join(roots.sys, "class/net", IPVS_INTERFACE, "ifindex"));
  const ipvsAddresses =
    ipvsIndex === null ? null : [...((await opts.ipv4Addresses()).get(ipvsIndex) ?? [])];
  return {
    ipvsAddresses,
    arpIgnoreAll: await readNumber(arpIgnorePath(roots, "all")),
    interfaces: await Promise.all(opts.interfaces.map((name) => readInterface(roots, name))),
    lbIPs: opts.lbIPs,
  };
}

async function readInterface(roots: HostRoots, name: string): Promise<InterfaceFacts> {
  const dir = join(roots.sys, "class/net", name);
  const [wireless, phy, flags, arpIgnore] = await Promise.all([
    exists(join(dir, "wireless")),
    exists(join(dir, "phy80211")),
    readNumber(join(dir, "flags")),
    readNumber(arpIgnorePath(roots, name)),
  ]);
  return {
    name,
    arpIgnore,
    wireless: wireless || phy,
    promiscuous: flags !== null && (flags & IFF_PROMISC) !== 0,
  };
}

function arpIgnorePath(roots: HostRoots, conf: string): string {
  return join(roots.proc, "sys/net/ipv4/conf", conf, "arp_ignore");
}

/** A file holding one number (decimal, or hex with 0x as sysfs' `flags`); null if unreadable. */
async function readNumber(path: string): Promise<number | null> {
  try {
    const text = (await readFile(path, "utf8")).trim();
    const n = text.startsWith("0x") ? Number.parseInt(text.slice(2), 16) : Number(text);
    return text !== "" && Number.isInteger(n) ? n : null;
  } catch {
    return null;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
