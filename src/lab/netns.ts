import { run, type RunResult } from "../util/proc.js";

/**
 * Thin wrappers over iproute2 for the lab: a Linux bridge plays the LAN switch, each host
 * (node or client) is a network namespace joined to it by a veth pair whose inner end is
 * called eth0. Nothing here decides names or addresses; lab.ts does.
 */

export function ip(args: readonly string[]): Promise<RunResult> {
  return run("ip", args, { timeoutMs: 30_000 });
}

/** Runs a command inside a network namespace (with /sys remounted for it, as `ip netns exec` does). */
export function netnsExec(
  netns: string,
  argv: readonly string[],
  options: { timeoutMs?: number } = {},
): Promise<RunResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error("netnsExec needs a command");
  return run("ip", ["netns", "exec", netns, file, ...args], {
    timeoutMs: options.timeoutMs ?? 30_000,
  });
}

export async function createBridge(name: string, addr4: string, addr6: string): Promise<void> {
  await ip(["link", "add", name, "type", "bridge"]);
  // No STP (ports forward at once); keep MLD snooping on, as on a real switch.
  await ip(["link", "set", name, "type", "bridge", "stp_state", "0", "forward_delay", "0"]);
  await ip(["addr", "add", addr4, "dev", name]);
  await ip(["-6", "addr", "add", addr6, "dev", name, "nodad"]);
  await ip(["link", "set", name, "up"]);
}

export async function createNetns(name: string): Promise<void> {
  await ip(["netns", "add", name]);
  await netnsExec(name, ["ip", "link", "set", "lo", "up"]);
}

export interface HostLink {
  /** veth end left on the bridge in the root namespace. */
  hostIf: string;
  /** Interface name inside the namespace. */
  ifname: string;
  mac: string;
}

/** Joins `netns` to `bridge` with a veth pair and gives the inner end the addresses. */
export async function attachNetns(
  netns: string,
  bridge: string,
  hostIf: string,
  addr4: string,
  addr6: string,
): Promise<HostLink> {
  const ifname = "eth0";
  await ip(["link", "add", hostIf, "type", "veth", "peer", "name", ifname, "netns", netns]);
  await ip(["link", "set", hostIf, "master", bridge]);
  await ip(["link", "set", hostIf, "up"]);
  await netnsExec(netns, ["ip", "addr", "add", addr4, "dev", ifname]);
  await netnsExec(netns, ["ip", "-6", "addr", "add", addr6, "dev", ifname, "nodad"]);
  await netnsExec(netns, ["ip", "link", "set", ifname, "up"]);
  const mac = await linkMac(netns, ifname);
  return { hostIf, ifname, mac };
}

interface IpLinkJson {
  ifname: string;
  address?: string;
  operstate?: string;
  master?: string;
}

export async function linkMac(netns: string, ifname: string): Promise<string> {
  const { stdout } = await netnsExec(netns, ["ip", "-j", "link", "show", "dev", ifname]);
  const links = JSON.parse(stdout) as IpLinkJson[];
  const mac = links[0]?.address;
  if (mac === undefined) throw new Error(`no MAC address on ${ifname} in ${netns}`);
  return mac;
}

/** Names of all network namespaces on this machine. */
export async function listNetns(): Promise<string[]> {
  const { stdout } = await ip(["-j", "netns", "list"]);
  if (stdout.trim() === "") return [];
  return (JSON.parse(stdout) as { name: string }[]).map((n) => n.name);
}

/** Names of all links in the root namespace. */
export async function listLinks(): Promise<string[]> {
  const { stdout } = await ip(["-j", "link", "show"]);
  return (JSON.parse(stdout) as IpLinkJson[]).map((l) => l.ifname);
}

/** Pids of processes whose network namespace is `netns`. */
export async function netnsPids(netns: string): Promise<number[]> {
  try {
    const { stdout } = await ip(["netns", "pids", netns]);
    return stdout
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map(Number);
  } catch {
    return [];
  }
}

export async function deleteNetns(netns: string): Promise<void> {
  await ip(["netns", "delete", netns]);
}

export async function deleteLink(name: string): Promise<void> {
  await ip(["link", "delete", name]);
}

export async function setLinkState(netns: string, ifname: string, up: boolean): Promise<void> {
  await netnsExec(netns, ["ip", "link", "set", ifname, up ? "up" : "down"]);
}
