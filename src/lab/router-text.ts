/**
 * The text side of the lab's routers (router.ts): the configuration BIRD 2 and FRR 8 are
 * started with, and parsers of what `birdc`, `vtysh … json` and `ip -j route` print. Pure, so
 * the formats are pinned by unit tests with captured output; router.ts runs the programs.
 */

export type RouterKind = "bird" | "frr";

export interface RouterNeighbor {
  address: string;
  asn: number;
  /** TCP MD5 (RFC 2385) password. */
  password?: string;
  /** Single-hop BFD toward this neighbor. */
  bfd?: { intervalMs: number; multiplier: number };
  /** Seconds; the daemon's default when unset. */
  holdTime?: number;
}

export interface RouterConfig {
  asn: number;
  routerId: string;
  neighbors: readonly RouterNeighbor[];
  /** Prefixes this daemon originates itself (a fake node in a test); none for a router. */
  announce?: readonly string[];
  /** BIRD only: where it writes its log. */
  logFile: string;
}

/** One path the daemon holds for a prefix. */
export interface RouteView {
  prefix: string;
  /** The neighbor it came from (its session address). */
  from: string;
  nextHops: string[];
  localPref?: number;
  /** "64500:100" */
  communities: string[];
  /** "64500:1:2" */
  largeCommunities: string[];
  asPath: number[];
  /** The daemon chose it as best. */
  best: boolean;
}

export interface SessionView {
  neighbor: string;
  state: string;
  established: boolean;
  lastError?: string;
}

export interface BfdView {
  neighbor: string;
  /** "Up", "Down", "Init", "AdminDown" (as BFD names them). */
  state: string;
}

const isV6 = (address: string) => address.includes(":");

/** A protocol / profile name derived from a neighbor address, stable across reconfigures. */
export function neighborName(address: string): string {
  return `n_${address.replace(/[^0-9A-Za-z]/g, "_")}`;
}

function quote(s: string): string {
  if (/["\\\n]/.test(s)) throw new Error(`a password with quotes, backslashes or newlines`);
  return `"${s}"`;
}

// Lab timers: retry a refused or failed session within seconds, not BIRD's and FRR's default
// minutes, so a test that restarts a speaker does not wait on the router.
const CONNECT_RETRY_S = 3;

/** bird.conf: kernel sync with ECMP, BFD when any neighbor asks, one BGP protocol per neighbor. */
export function birdConfig(c: RouterConfig): string {
  const lines = [
    `log ${quote(c.logFile)} all;`,
    `router id ${c.routerId};`,
    `protocol device { scan time 10; }`,
  ];
  for (const af of ["ipv4", "ipv6"]) {
    lines.push(
      `protocol kernel kernel_${af} {`,
      `  ${af} { import none; export all; };`,
      // ECMP: equal BGP paths from several nodes become one multipath kernel route.
      `  merge paths on limit 16;`,
      `}`,
    );
  }
  const announce4 = (c.announce ?? []).filter((p) => !isV6(p));
  const announce6 = (c.announce ?? []).filter((p) => isV6(p));
  if (announce4.length > 0 || announce6.length > 0) {
    lines.push(
      `protocol static announce_ipv4 { ipv4; ${announce4.map((p) => `route ${p} blackhole;`).join(" ")} }`,
      `protocol static announce_ipv6 { ipv6; ${announce6.map((p) => `route ${p} blackhole;`).join(" ")} }`,
    );
  }
  if (c.neighbors.some((n) => n.bfd !== undefined)) lines.push(`protocol bfd { }`);
  for (const n of c.neighbors) {
    const af = isV6(n.address) ? "ipv6" : "ipv4";
    const exportWhat = (isV6(n.address) ? announce6 : announce4).length > 0 ? "all" : "none";
    lines.push(
      `protocol bgp ${neighborName(n.address)} {`,
      `  local as ${c.asn};`,
      `  neighbor ${n.address} as ${n.asn};`,
      // On the LAN: single-hop, next hops used as they are (iBGP would otherwise be multihop,
      // resolve next hops recursively and run multihop BFD).
      `  direct;`,
      `  connect retry time ${CONNECT_RETRY_S};`,
      `  error wait time 1, 10;`,
    );
    if (n.password !== undefined) lines.push(`  password ${quote(n.password)};`);
    if (n.holdTime !== undefined) lines.push(`  hold time ${n.holdTime};`);
    if (n.bfd !== undefined) {
      const ms = n.bfd.intervalMs;
      lines.push(
        `  bfd { min rx interval ${ms} ms; min tx interval ${ms} ms; multiplier ${n.bfd.multiplier}; };`,
      );
    }
    lines.push(`  ${af} { import all; export ${exportWhat}; gateway direct; };`, `}`);
  }
  return lines.join("\n") + "\n";
}

/** FRR commands (as vtysh reads them) for the BGP and BFD parts of the configuration. */
export function frrConfig(c: Omit<RouterConfig, "logFile">): string {
  const lines: string[] = [];
  const bfd = c.neighbors.filter((n) => n.bfd !== undefined);
  if (bfd.length > 0) {
    lines.push("bfd");
    for (const n of bfd) lines.push(...frrBfdProfile(n));
    lines.push("exit");
  }
  lines.push(
    `router bgp ${c.asn}`,
    ` bgp router-id ${c.routerId}`,
    // FRR 8 follows RFC 8212: no eBGP routes in or out without a policy unless told so.
    ` no bgp ebgp-requires-policy`,
    ` no bgp default ipv4-unicast`,
    ` no bgp network import-check`,
    ` bgp bestpath as-path multipath-relax`,
  );
  for (const n of c.neighbors) lines.push(...frrNeighbor(n));
  for (const af of ["ipv4", "ipv6"] as const) {
    lines.push(` address-family ${af} unicast`, `  maximum-paths 16`, `  maximum-paths ibgp 16`);
    for (const p of (c.announce ?? []).filter((x) => isV6(x) === (af === "ipv6")))
      lines.push(`  network ${p}`);
    for (const n of c.neighbors.filter((x) => isV6(x.address) === (af === "ipv6")))
      lines.push(`  neighbor ${n.address} activate`);
    lines.push(` exit-address-family`);
  }
  lines.push("exit");
  return lines.join("\n") + "\n";
}

function frrBfdProfile(n: RouterNeighbor): string[] {
  if (n.bfd === undefined) return [];
  return [
    ` profile ${neighborName(n.address)}`,
    `  receive-interval ${n.bfd.intervalMs}`,
    `  transmit-interval ${n.bfd.intervalMs}`,
    `  detect-multiplier ${n.bfd.multiplier}`,
    ` exit`,
  ];
}

/** The lines under `router bgp` for one neighbor (session only; activation is per family). */
function frrNeighbor(n: RouterNeighbor): string[] {
  const a = n.address;
  const lines = [
    ` neighbor ${a} remote-as ${n.asn}`,
    ` neighbor ${a} timers connect ${CONNECT_RETRY_S}`,
  ];
  if (n.password !== undefined) {
    if (/\s/.test(n.password)) throw new Error("an FRR password without whitespace");
    lines.push(` neighbor ${a} password ${n.password}`);
  }
  if (n.holdTime !== undefined)
    lines.push(` neighbor ${a} timers ${Math.max(1, Math.floor(n.holdTime / 3))} ${n.holdTime}`);
  if (n.bfd !== undefined)
    lines.push(` neighbor ${a} bfd`, ` neighbor ${a} bfd profile ${neighborName(a)}`);
  return lines;
}

/**
 * FRR commands that turn the neighbors `from` into `to`: neighbors gone or changed are removed
 * (their sessions close), new and changed ones added; unchanged ones keep their sessions.
 */
export function frrReconfigure(
  asn: number,
  from: readonly RouterNeighbor[],
  to: readonly RouterNeighbor[],
): string {
  const key = (n: RouterNeighbor) => JSON.stringify([n.asn, n.password, n.bfd, n.holdTime]);
  const before = new Map(from.map((n) => [n.address, key(n)]));
  const after = new Map(to.map((n) => [n.address, key(n)]));
  const removed = from.filter((n) => after.get(n.address) !== key(n));
  const added = to.filter((n) => before.get(n.address) !== key(n));
  const lines: string[] = [];
  const bfd = added.filter((n) => n.bfd !== undefined);
  if (bfd.length > 0) lines.push("bfd", ...bfd.flatMap(frrBfdProfile), "exit");
  lines.push(`router bgp ${asn}`);
  for (const n of removed) lines.push(` no neighbor ${n.address}`);
  for (const n of added) lines.push(...frrNeighbor(n));
  for (const af of ["ipv4", "ipv6"] as const) {
    const here = added.filter((n) => isV6(n.address) === (af === "ipv6"));
    if (here.length === 0) continue;
    lines.push(` address-family ${af} unicast`);
    for (const n of here) lines.push(`  neighbor ${n.address} activate`);
    lines.push(` exit-address-family`);
  }
  lines.push("exit");
  return lines.join("\n") + "\n";
}

// ---- BIRD output -------------------------------------------------------------------------

/** Blocks of `birdc show protocols all`: a header line and its indented detail lines. */
function birdBlocks(text: string): string[][] {
  const blocks: string[][] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "" || /^BIRD \S+ ready\./.test(line) || /^Name\s+Proto/.test(line))
      continue;
    if (/^\S/.test(line)) blocks.push([line]);
    else blocks.at(-1)?.push(line);
  }
  return blocks;
}

function field(block: readonly string[], name: string): string | undefined {
  for (const line of block) {
    const m = new RegExp(`^\\s+${name}:\\s*(.*?)\\s*$`).exec(line);
    if (m?.[1] !== undefined) return m[1];
  }
  return undefined;
}

/** The BGP sessions in `birdc show protocols all`. */
export function parseBirdProtocols(text: string): (SessionView & { protocol: string })[] {
  const out: (SessionView & { protocol: string })[] = [];
  for (const block of birdBlocks(text)) {
    const [header = ""] = block;
    const cols = header.trim().split(/\s+/);
    if (cols[1] !== "BGP") continue;
    const neighbor = field(block, "Neighbor address");
    if (neighbor === undefined) continue;
    const state = field(block, "BGP state") ?? cols[3] ?? "unknown";
    const lastError = field(block, "Last error");
    out.push({
      protocol: cols[0] ?? "",
      neighbor,
      state,
      established: state === "Established",
      ...(lastError === undefined ? {} : { lastError }),
    });
  }
  return out;
}

/**
 * `birdc show route <prefix> all`: one entry per path, with the name of the protocol it came
 * from in `from` (router.ts maps it to the neighbor address).
 */
export function parseBirdRoutes(text: string): RouteView[] {
  const out: RouteView[] = [];
  let prefix = "";
  let cur: RouteView | undefined;
  for (const line of text.split("\n")) {
    if (line.trim() === "" || /^BIRD \S+ ready\./.test(line) || /^Table /.test(line)) continue;
    if (!line.startsWith("\t") && !line.startsWith("        \t")) {
      // "<prefix>   unicast [proto time from X] * (100) [AS64500i]" or, for further paths
      // of the same prefix, the same without the prefix.
      const m = /^(\S+)?\s+\S+\s+\[(\S+)[^\]]*\](\s+\*)?/.exec(line);
      if (m === null) continue;
      if (m[1] !== undefined) prefix = m[1];
      cur = {
        prefix,
        from: m[2] ?? "",
        nextHops: [],
        communities: [],
        largeCommunities: [],
        asPath: [],
        best: m[3] !== undefined,
      };
      out.push(cur);
      continue;
    }
    if (cur === undefined) continue;
    const t = line.trim();
    let m: RegExpExecArray | null;
    if ((m = /^via (\S+)/.exec(t)) !== null && m[1] !== undefined) cur.nextHops.push(m[1]);
    else if ((m = /^BGP\.as_path:(.*)$/.exec(t)) !== null)
      cur.asPath = [...(m[1] ?? "").matchAll(/\d+/g)].map((x) => Number(x[0]));
    else if ((m = /^BGP\.local_pref: (\d+)/.exec(t)) !== null) cur.localPref = Number(m[1]);
    else if ((m = /^BGP\.community:(.*)$/.exec(t)) !== null)
      cur.communities = [...(m[1] ?? "").matchAll(/\((\d+),\s*(\d+)\)/g)].map(
        (x) => `${x[1]}:${x[2]}`,
      );
    else if ((m = /^BGP\.large_community:(.*)$/.exec(t)) !== null)
      cur.largeCommunities = [...(m[1] ?? "").matchAll(/\((\d+),\s*(\d+),\s*(\d+)\)/g)].map(
        (x) => `${x[1]}:${x[2]}:${x[3]}`,
      );
  }
  return out;
}

/** `birdc show bfd sessions`. */
export function parseBirdBfd(text: string): BfdView[] {
  const out: BfdView[] = [];
  for (const line of text.split("\n")) {
    const cols = line.trim().split(/\s+/);
    const [addr, , state] = cols;
    if (addr === undefined || state === undefined || !/^[0-9a-fA-F.:]+$/.test(addr)) continue;
    if (!addr.includes(".") && !addr.includes(":")) continue;
    out.push({ neighbor: addr, state });
  }
  return out;
}

// ---- FRR output --------------------------------------------------------------------------

function obj(v: unknown): Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : {};
}
function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** `vtysh -c 'show bgp neighbors json'`. */
export function parseFrrNeighbors(json: string): SessionView[] {
  const out: SessionView[] = [];
  for (const [neighbor, v] of Object.entries(obj(JSON.parse(json)))) {
    const n = obj(v);
    const state = str(n.bgpState) ?? "unknown";
    const lastError =
      str(n.lastNotificationReason) ??
      str(n.lastResetDueTo) ??
      str(n.lastErrorCodeSubcode) ??
      undefined;
    out.push({
      neighbor,
      state,
      established: state === "Established",
      ...(lastError === undefined ? {} : { lastError }),
    });
  }
  return out;
}

/** `vtysh -c 'show bgp ipv4|ipv6 unicast <prefix> json'`. */
export function parseFrrRoutes(json: string): RouteView[] {
  const top = obj(JSON.parse(json));
  const prefix = str(top.prefix);
  if (prefix === undefined) return [];
  return arr(top.paths).map((p0) => {
    const p = obj(p0);
    const hops = arr(p.nexthops).map(obj);
    const global = hops.filter((h) => str(h.scope) !== "link-local");
    const nextHops = (global.length > 0 ? global : hops)
      .map((h) => str(h.ip))
      .filter((x) => x !== undefined);
    const asPath = arr(obj(p.aspath).segments).flatMap((s) =>
      arr(obj(s).list).filter((x) => typeof x === "number"),
    );
    const words = (v: unknown) => (str(obj(v).string) ?? "").split(/\s+/).filter((w) => w !== "");
    const bestpath = obj(p.bestpath);
    const view: RouteView = {
      prefix,
      from: str(obj(p.peer).peerId) ?? "",
      nextHops,
      communities: words(p.community),
      largeCommunities: words(p.largeCommunity),
      asPath,
      best: bestpath.overall === true || p.bestpath === true,
    };
    if (typeof p.locPrf === "number") view.localPref = p.locPrf;
    return view;
  });
}

/** `vtysh -c 'show bfd peers json'`. */
export function parseFrrBfd(json: string): BfdView[] {
  const name: Record<string, string> = {
    up: "Up",
    down: "Down",
    init: "Init",
    shutdown: "AdminDown",
  };
  return arr(JSON.parse(json)).flatMap((v) => {
    const p = obj(v);
    const neighbor = str(p.peer);
    const status = str(p.status) ?? "unknown";
    return neighbor === undefined ? [] : [{ neighbor, state: name[status] ?? status }];
  });
}

// ---- the kernel's FIB --------------------------------------------------------------------

/** Next hops (sorted) of the routes in `ip -j route show exact <prefix>`. */
export function parseFibNextHops(json: string): string[] {
  const hops: string[] = [];
  for (const r0 of arr(JSON.parse(json === "" ? "[]" : json))) {
    const r = obj(r0);
    const gw = str(r.gateway);
    if (gw !== undefined) hops.push(gw);
    for (const h of arr(r.nexthops)) {
      const g = str(obj(h).gateway);
      if (g !== undefined) hops.push(g);
    }
  }
  return [...new Set(hops)].sort();
}
