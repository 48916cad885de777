import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { CommandError, processRef, run, terminate, type ProcessRef } from "../util/proc.js";
import { launch, waitFor } from "./daemon.js";
import type { Lab } from "./lab.js";
import { attachNetns, createNetns, deleteNetns, listNetns, netnsExec, netnsPids } from "./netns.js";
import { writeRecord, withLabLock } from "./state.js";
import {
  birdConfig,
  frrConfig,
  frrReconfigure,
  neighborName,
  parseBirdBfd,
  parseBirdProtocols,
  parseBirdRoutes,
  parseFibNextHops,
  parseFrrBfd,
  parseFrrNeighbors,
  parseFrrRoutes,
  type BfdView,
  type RouteView,
  type RouterKind,
  type RouterNeighbor,
  type SessionView,
} from "./router-text.js";

/**
 * Real routers for the lab: BIRD 2 or FRR 8 (zebra, bgpd, bfdd) in a network namespace,
 * without systemd and without touching the host's /etc or /run: configuration, control
 * sockets, pid files and logs all live under the router's own directory, so several run at
 * once (one per lab, or a router and fake nodes in one lab). The kernel FIB of the namespace
 * gets the routes (ECMP on), so traffic follows them. `addRouterToLab` builds the namespace:
 * one leg on the lab's LAN, one toward a "remote client" that reaches LoadBalancer IPs only
 * through the router's BGP routes.
 */

export type { RouterKind, RouterNeighbor, RouteView, SessionView, BfdView };

export interface RouterOptions {
  kind: RouterKind;
  netns: string;
  /** Config, sockets, pid files and logs; created if missing. */
  dir: string;
  asn: number;
  routerId: string;
  neighbors: readonly RouterNeighbor[];
  /** Prefixes to originate (a fake node in a test); a router announces nothing. */
  announce?: readonly string[];
  /** Tie the daemons to this process's life (default true; false for `lab up`). */
  tied?: boolean;
}

export interface Router {
  readonly kind: RouterKind;
  readonly netns: string;
  readonly dir: string;
  sessions(): Promise<SessionView[]>;
  /** The daemon's paths for exactly `prefix`. */
  routes(prefix: string): Promise<RouteView[]>;
  /** Next hops (sorted) of exactly `prefix` in the namespace's kernel FIB. */
  fib(prefix: string): Promise<string[]>;
  bfd(): Promise<BfdView[]>;
  /** The daemons' log text. */
  log(): Promise<string>;
  /** Reconfigures live; unchanged neighbors keep their sessions. */
  setNeighbors(neighbors: readonly RouterNeighbor[]): Promise<void>;
  /** Kills its processes and removes its sockets and pid files; idempotent. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 15_000;

export async function startRouter(opts: RouterOptions): Promise<Router> {
  await mkdir(opts.dir, { recursive: true });
  return opts.kind === "bird" ? startBird(opts) : startFrr(opts);
}

async function fib(netns: string, prefix: string): Promise<string[]> {
  const family = prefix.includes(":") ? "-6" : "-4";
  const { stdout } = await netnsExec(netns, ["ip", "-j", family, "route", "show", "exact", prefix]);
  return parseFibNextHops(stdout.trim());
}

/** Runs a daemon's processes and stops them once, removing the given run files. */
class Processes {
  private refs: (ProcessRef & { name: string })[] = [];
  private stopped = false;
  constructor(private readonly runFiles: readonly string[]) {}
  add(name: string, ref: ProcessRef) {
    this.refs.push({ name, ...ref });
  }
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // In reverse start order (FRR: bfdd and bgpd before zebra, so zebra removes the routes).
    for (const ref of [...this.refs].reverse()) await terminate(ref, 5_000);
    // FRR daemons keep a crash-log directory in /var/tmp/frr/<daemon>.<pid> (not movable in
    // FRR 8) and remove it only on a clean exit.
    const frrTmp = this.refs.map((r) => join("/var/tmp/frr", `${r.name}.${r.pid}`));
    await Promise.all(
      [...this.runFiles, ...frrTmp].map((f) => rm(f, { force: true, recursive: true })),
    );
  }
}

// ---- BIRD --------------------------------------------------------------------------------

async function startBird(opts: RouterOptions): Promise<Router> {
  const conf = join(opts.dir, "bird.conf");
  const sock = join(opts.dir, "bird.ctl");
  const pid = join(opts.dir, "bird.pid");
  const logFile = join(opts.dir, "bird.log");
  const stdoutLog = join(opts.dir, "bird.out");
  let neighbors = [...opts.neighbors];
  const writeConf = () =>
    writeFile(
      conf,
      birdConfig({
        asn: opts.asn,
        routerId: opts.routerId,
        neighbors,
        logFile,
        ...(opts.announce === undefined ? {} : { announce: opts.announce }),
      }),
    );
  await writeConf();
  const procs = new Processes([sock, pid]);
  const birdc = async (...args: string[]) =>
    (await run("birdc", ["-s", sock, ...args], { timeoutMs: 10_000 })).stdout;
  try {
    const ref = launch(
      { name: "bird", bin: "bird", logFile: stdoutLog, tied: opts.tied ?? true, netns: opts.netns },
      ["-f", "-c", conf, "-s", sock, "-P", pid],
    );
    procs.add("bird", ref);
    await waitFor("bird", ref, stdoutLog, START_TIMEOUT_MS, async () => {
      await birdc("show", "status");
      return true;
    });
  } catch (e: unknown) {
    await procs.stop();
    throw e;
  }
  const fromName = () => new Map(neighbors.map((n) => [neighborName(n.address), n.address]));
  return {
    kind: "bird",
    netns: opts.netns,
    dir: opts.dir,
    sessions: async () =>
      parseBirdProtocols(await birdc("show", "protocols", "all")).map(
        ({ protocol: _p, ...s }) => s,
      ),
    routes: async (prefix) => {
      const names = fromName();
      let text: string;
      try {
        text = await birdc("show", "route", prefix, "all");
      } catch (e: unknown) {
        if (e instanceof CommandError && /Network not found/.test(e.stdout)) return [];
        throw e;
      }
      return parseBirdRoutes(text).map((r) => ({
        ...r,
        from: names.get(r.from) ?? r.from,
      }));
    },
    fib: (prefix) => fib(opts.netns, prefix),
    bfd: async () => parseBirdBfd(await birdc("show", "bfd", "sessions")),
    log: async () => readFile(logFile, "utf8").catch(() => ""),
    setNeighbors: async (next) => {
      neighbors = [...next];
      await writeConf();
      const out = await birdc("configure");
      if (!/Reconfigured|Reconfiguration in progress/.test(out)) {
        throw new Error(`birdc configure: ${out.trim()}`);
      }
    },
    stop: () => procs.stop(),
  };
}

// ---- FRR ---------------------------------------------------------------------------------

const FRR_BIN = "/usr/lib/frr";

async function startFrr(opts: RouterOptions): Promise<Router> {
  const d = opts.dir;
  const zserv = join(d, "zserv.api");
  const empty = join(d, "empty.conf");
  const conf = join(d, "frr.conf");
  await writeFile(empty, "");
  await writeFile(
    conf,
    frrConfig({
      asn: opts.asn,
      routerId: opts.routerId,
      neighbors: opts.neighbors,
      ...(opts.announce === undefined ? {} : { announce: opts.announce }),
    }),
  );
  const daemons = ["zebra", "bgpd", "bfdd"] as const;
  const group = (await groupExists("frrvty")) ? "frrvty" : "root";
  const procs = new Processes([
    zserv,
    join(d, "bfdd.sock"),
    ...daemons.flatMap((n) => [join(d, `${n}.pid`), join(d, `${n}.vty`)]),
  ]);
  const vtysh = async (...args: string[]) =>
    (await run("vtysh", ["--vty_socket", d, ...args], { timeoutMs: 10_000 })).stdout;
  try {
    for (const name of daemons) {
      const args = [
        // Stay root (no frr user or /var/run/frr needed: everything is under `dir`). FRR
        // insists its user be in its vty group when that group exists, hence that group.
        "-u",
        "root",
        "-g",
        group,
        "-i",
        join(d, `${name}.pid`),
        "-z",
        zserv,
        "--vty_socket",
        d,
        "-P",
        "0",
        "--log",
        `file:${join(d, `${name}.log`)}`,
        "-f",
        empty,
        ...(name === "bfdd" ? ["--bfdctl", join(d, "bfdd.sock")] : []),
        ...(name === "bgpd" ? ["-p", "179"] : []),
      ];
      const out = join(d, `${name}.out`);
      const ref = launch(
        {
          name,
          bin: join(FRR_BIN, name),
          logFile: out,
          tied: opts.tied ?? true,
          netns: opts.netns,
        },
        args,
      );
      procs.add(name, ref);
      await waitFor(name, ref, out, START_TIMEOUT_MS, () =>
        Promise.resolve(existsSync(join(d, `${name}.vty`)) && existsSync(zserv)),
      );
    }
    await vtysh("-f", conf);
  } catch (e: unknown) {
    await procs.stop();
    throw e;
  }
  let neighbors = [...opts.neighbors];
  const family = (prefix: string) => (prefix.includes(":") ? "ipv6" : "ipv4");
  return {
    kind: "frr",
    netns: opts.netns,
    dir: d,
    sessions: async () => parseFrrNeighbors(await vtysh("-c", "show bgp neighbors json")),
    routes: async (prefix) =>
      parseFrrRoutes(await vtysh("-c", `show bgp ${family(prefix)} unicast ${prefix} json`)),
    fib: (prefix) => fib(opts.netns, prefix),
    bfd: async () => parseFrrBfd(await vtysh("-c", "show bfd peers json")),
    log: async () =>
      (
        await Promise.all(daemons.map((n) => readFile(join(d, `${n}.log`), "utf8").catch(() => "")))
      ).join(""),
    setNeighbors: async (next) => {
      const file = join(d, "reconfigure.conf");
      await writeFile(file, frrReconfigure(opts.asn, neighbors, next));
      await vtysh("-f", file);
      neighbors = [...next];
    },
    stop: () => procs.stop(),
  };
}

async function groupExists(name: string): Promise<boolean> {
  const groups = await readFile("/etc/group", "utf8").catch(() => "");
  return groups.split("\n").some((l) => l.startsWith(`${name}:`));
}

// ---- the lab's router namespace ----------------------------------------------------------

export interface RouterLeg {
  /** The router's namespace: eth0 on the lab's LAN, eth1 toward the remote client. */
  routerNetns: string;
  /** A host behind the router, off the LAN. */
  clientNetns: string;
  /** The router's LAN addresses (the nodes' BGP neighbor). */
  router4: string;
  router6: string;
  /** The remote client's addresses and its network (routed by the nodes via the router). */
  remoteClient4: string;
  remoteClient6: string;
  remoteCidr4: string;
  remoteCidr6: string;
  remove(): Promise<void>;
}

/** Addresses of the router leg of lab slot `slot`. */
export function routerAddresses(slot: number) {
  const base = 64 * slot;
  const lan6 = (s: string) => (slot === 0 ? `2001:db8::${s}` : `2001:db8:0:${slot}::${s}`);
  const far6 = (s: string) => (slot === 0 ? `2001:db8:ff::${s}` : `2001:db8:ff:${slot}::${s}`);
  return {
    router4: `192.0.2.${base + 5}`,
    router6: lan6("5"),
    farRouter4: `198.51.100.${base + 1}`,
    farRouter6: far6("1"),
    remoteClient4: `198.51.100.${base + 2}`,
    remoteClient6: far6("2"),
    remoteCidr4: `198.51.100.${base}/26`,
    remoteCidr6: `${far6("")}/64`,
  };
}

/**
 * Adds the router namespace to `lab` (on its bridge, at .5 and ::5 of the slot) and a remote
 * client namespace behind it, and routes the nodes' replies to the remote client through the
 * router. Both namespaces and the bridge port are written into the lab's record, so `lab.down()`
 * and the stale-lab cleanup remove them too; `remove()` takes them away earlier.
 */
export async function addRouterToLab(lab: Lab): Promise<RouterLeg> {
  const a = routerAddresses(lab.record.slot);
  const lanPrefix4 = lab.addresses.prefix4;
  const lanPrefix6 = lab.addresses.prefix6;
  const routerNetns = `barelb-${lab.id}-router`;
  const clientNetns = `barelb-${lab.id}-remote`;
  const bridgePort = `blb${lab.id}n98`;
  await withLabLock(async () => {
    lab.record.netns.push(routerNetns, clientNetns);
    lab.record.links.push(bridgePort);
    await writeRecord(lab.record);
  });
  const nodeRoutes: [string, string[]][] = lab.nodes.map((n) => [
    n.netns,
    ["ip", "route", "replace", a.remoteCidr4, "via", a.router4],
  ]);
  nodeRoutes.push(
    ...lab.nodes.map((n): [string, string[]] => [
      n.netns,
      ["ip", "-6", "route", "replace", a.remoteCidr6, "via", a.router6],
    ]),
  );
  const remove = async () => {
    for (const [netns, argv] of nodeRoutes) {
      await netnsExec(
        netns,
        argv.map((x) => (x === "replace" ? "del" : x)),
      ).catch(() => undefined);
    }
    const present = new Set(await listNetns());
    for (const ns of [clientNetns, routerNetns]) {
      if (!present.has(ns)) continue;
      const refs = (await netnsPids(ns)).map((p) => processRef(p)).filter((x) => x !== undefined);
      await Promise.all(refs.map((ref) => terminate(ref, 3_000)));
      await deleteNetns(ns);
    }
    await run("ip", ["link", "delete", bridgePort]).catch(() => undefined);
    await withLabLock(async () => {
      lab.record.netns = lab.record.netns.filter((n) => n !== routerNetns && n !== clientNetns);
      lab.record.links = lab.record.links.filter((l) => l !== bridgePort);
      await writeRecord(lab.record);
    });
  };
  try {
    await createNetns(routerNetns);
    await attachNetns(
      routerNetns,
      lab.record.bridge,
      bridgePort,
      `${a.router4}/${lanPrefix4}`,
      `${a.router6}/${lanPrefix6}`,
    );
    await createNetns(clientNetns);
    const r = (argv: string[]) => netnsExec(routerNetns, argv);
    const c = (argv: string[]) => netnsExec(clientNetns, argv);
    await r([
      "ip",
      "link",
      "add",
      "eth1",
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      clientNetns,
    ]);
    await r(["ip", "addr", "add", `${a.farRouter4}/26`, "dev", "eth1"]);
    await r(["ip", "-6", "addr", "add", `${a.farRouter6}/64`, "dev", "eth1", "nodad"]);
    await r(["ip", "link", "set", "eth1", "up"]);
    await r(["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    await r(["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
    await c(["ip", "addr", "add", `${a.remoteClient4}/26`, "dev", "eth0"]);
    await c(["ip", "-6", "addr", "add", `${a.remoteClient6}/64`, "dev", "eth0", "nodad"]);
    await c(["ip", "link", "set", "eth0", "up"]);
    await c(["ip", "route", "add", "default", "via", a.farRouter4]);
    await c(["ip", "-6", "route", "add", "default", "via", a.farRouter6]);
    for (const [netns, argv] of nodeRoutes) await netnsExec(netns, argv);
  } catch (e: unknown) {
    await remove().catch(() => undefined);
    throw e;
  }
  return {
    routerNetns,
    clientNetns,
    router4: a.router4,
    router6: a.router6,
    remoteClient4: a.remoteClient4,
    remoteClient6: a.remoteClient6,
    remoteCidr4: a.remoteCidr4,
    remoteCidr6: a.remoteCidr6,
    remove,
  };
}
