import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatIPValue, parseCIDR } from "../../src/net/ip.js";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { setLinkState } from "../../src/lab/netns.js";
import { packageRoot } from "../../src/util/paths.js";
import { prereqs } from "../helpers/prereq.js";
import { arping, eventually, NET_RAW_ONLY, sleep, Speaker } from "./dataplane-helpers.js";

// The data plane on its own, in a lab of two nodes and a client: each node runs the data
// plane fixture (netlink interfaces, the addon's sockets), the test says which IPs each node
// owns, and real clients (iputils arping, ndisc6, the client's own kernel) ask for them.

/** The i-th free IPv4 address of the lab's VIP range. */
function vip4(lab: Lab, i: number): string {
  const start = lab.addresses.vipRange4.split("-")[0] ?? "";
  const parts = start.split(".").map(Number);
  return [...parts.slice(0, 3), (parts[3] ?? 0) + i].join(".");
}

/** The i-th address of the lab's IPv6 VIP range (a /112: i < 65,536). */
function vip6(lab: Lab, i: number): string {
  const cidr = parseCIDR(lab.addresses.vipCidr6);
  if (!cidr.ok) throw new Error(`lab VIP CIDR: ${cidr.error}`);
  return formatIPValue(6, cidr.value.start + BigInt(i));
}

interface NeighJson {
  dst: string;
  lladdr?: string;
  state?: string[];
}

async function clientNeighbor(lab: Lab, ip: string): Promise<NeighJson | undefined> {
  const { stdout } = await lab.exec(lab.client, [
    "ip",
    "-j",
    "neigh",
    "show",
    ip,
    "dev",
    lab.client.ifname,
  ]);
  return (JSON.parse(stdout === "" ? "[]" : stdout) as NeighJson[])[0];
}

/**
 * Has the client's kernel resolve `ip` itself, as any LAN host would before sending: one UDP
 * datagram to it (the discard port; nothing listens, nothing needs to).
 */
async function resolveFromClient(lab: Lab, ip: string): Promise<void> {
  const family = ip.includes(":") ? "udp6" : "udp4";
  const script = `const s=require("node:dgram").createSocket("${family}");s.send("x",9,"${ip}",()=>setTimeout(()=>s.close(),300));`;
  await lab.exec(lab.client, [process.execPath, "-e", script]);
}

async function ndisc6(lab: Lab, ip: string): Promise<string[]> {
  let stdout: string;
  try {
    ({ stdout } = await lab.exec(
      lab.client,
      ["ndisc6", "-r", "2", "-w", "1000", ip, lab.client.ifname],
      20_000,
    ));
  } catch (e: unknown) {
    const out = (e as { stdout?: unknown }).stdout;
    if (typeof out !== "string") throw e;
    stdout = out;
  }
  return [...stdout.matchAll(/Target link-layer address: ([0-9A-Fa-f:]{17})/g)].map((m) =>
    (m[1] ?? "").toLowerCase(),
  );
}

describe.runIf(prereqs("data plane e2e", ["root", "ip", "arping", "ndisc6", "setpriv"]))(
  "data plane",
  () => {
    let lab: Lab;
    let s1: Speaker;
    let s2: Speaker;
    const extra: Speaker[] = [];

    beforeAll(async () => {
      lab = await createLab({ nodes: 2, controlPlane: false, persistent: false });
      s1 = (await Speaker.start(lab.node("node-1").netns)).speaker;
      // Node 2's data plane has only CAP_NET_RAW, as in the speaker's pod.
      s2 = (await Speaker.start(lab.node("node-2").netns, [], [], NET_RAW_ONLY)).speaker;
    });

    afterAll(async () => {
      for (const s of [s1, s2, ...extra] as (Speaker | undefined)[]) await s?.stop();
      await lab.down();
    });

    const mac = (node: string) => lab.node(node).mac.toLowerCase();

    it("uses each node's eth0 for ARP and NDP, and skips lo", async () => {
      const st = await s1.status();
      expect(
        st.interfaces.map(({ name, arp, ndp, errors }) => ({ name, arp, ndp, errors })),
      ).toEqual([{ name: "eth0", arp: true, ndp: true, errors: [] }]);
      expect(st.skipped).toContainEqual({ name: "lo", reason: "excluded by pattern ^lo$" });
    });

    it("arping gets exactly one reply per request, from the owning node's MAC", async () => {
      await s1.own([[vip4(lab, 8), {}]]);
      const r = await arping(lab, vip4(lab, 8), 3);
      expect(r.sent).toBe(3);
      expect(r.replies).toEqual([mac("node-1"), mac("node-1"), mac("node-1")]);
      const st = await s1.status();
      expect(st.metrics.repliesSent[`arp ${vip4(lab, 8)} eth0`]).toBe(3);
      expect(st.metrics.gratuitousSent[`arp ${vip4(lab, 8)} eth0`]).toBeGreaterThanOrEqual(1);
    });

    it("an IPv4 address nobody owns gets no reply", async () => {
      const r = await arping(lab, vip4(lab, 9), 2);
      expect(r).toEqual({ replies: [], sent: 2 });
      // The requests did reach both speakers, which declined them.
      for (const s of [s1, s2])
        expect((await s.status()).metrics.ignored["arp eth0 not-owned"]).toBeGreaterThanOrEqual(2);
    });

    it("moving an IPv4 address: the client's entry switches to the new node from the gratuitous burst alone", async () => {
      const ip = vip4(lab, 8);
      await resolveFromClient(lab, ip);
      expect((await clientNeighbor(lab, ip))?.lladdr).toBe(mac("node-1"));

      const started = Date.now();
      await s1.own([]);
      await s2.own([[ip, {}]]);
      const entry = await eventually(
        async () => {
          const n = await clientNeighbor(lab, ip);
          return n?.lladdr === mac("node-2") ? n : undefined;
        },
        8_000,
        "the client's neighbor entry to switch to node-2",
      );
      console.log(
        `client switched ${ip} to node-2 after ${Date.now() - started} ms (state ${entry.state?.join(",")})`,
      );
      // No request was needed: node-2 never received one for this IP.
      expect((await s2.status()).metrics.requestsReceived[`arp ${ip} eth0`]).toBeUndefined();
      // Node-1 stopped at once: no more answers from it.
      expect(await arping(lab, ip, 2)).toEqual({
        replies: [mac("node-2"), mac("node-2")],
        sent: 2,
      });
    });

    it("ndisc6 gets the owning node's MAC, from one node only; an IPv6 address nobody owns gets none", async () => {
      const ip = vip6(lab, 5);
      await s2.own([
        [vip4(lab, 8), {}],
        [ip, {}],
      ]);
      expect(await ndisc6(lab, ip)).toEqual([mac("node-2")]);
      const [st1, st2] = [await s1.status(), await s2.status()];
      expect(st2.metrics.repliesSent[`ndp ${ip} eth0`]).toBeGreaterThanOrEqual(1);
      expect(st1.metrics.repliesSent[`ndp ${ip} eth0`]).toBeUndefined();
      expect(await ndisc6(lab, vip6(lab, 6))).toEqual([]);
    });

    it("answers the client kernel's unicast probes (NUD) for IPv6 and IPv4, and ARP probes (arping -D)", async () => {
      // A stale neighbor entry, used: the client's kernel waits delay_first_probe_time (1 s
      // here), then probes the entry with Neighbor Solicitations / ARP requests sent to the
      // owner's MAC and the address itself, not to the multicast group or broadcast. Unanswered,
      // the entry fails after three probes and traffic to the IP stops (MetalLB #2920).
      const ip6 = vip6(lab, 0x40);
      const ip4 = vip4(lab, 12);
      await s1.own([
        [ip6, {}],
        [ip4, {}],
      ]);
      const ifname = lab.client.ifname;
      for (const family of ["ipv6", "ipv4"]) {
        await lab.exec(lab.client, [
          "sysctl",
          "-qw",
          `net.${family}.neigh.${ifname}.delay_first_probe_time=1`,
        ]);
      }
      for (const ip of [ip6, ip4]) {
        await lab.exec(lab.client, [
          "ip",
          "neigh",
          "replace",
          ip,
          "lladdr",
          mac("node-1"),
          "nud",
          "stale",
          "dev",
          ifname,
        ]);
        await resolveFromClient(lab, ip);
      }
      for (const ip of [ip6, ip4]) {
        const entry = await eventually(
          async () => {
            const n = await clientNeighbor(lab, ip);
            return n?.state?.includes("REACHABLE") || n?.state?.includes("FAILED") ? n : undefined;
          },
          10_000,
          `the client's probe of ${ip} to end`,
        );
        expect({ ip, state: entry.state, lladdr: entry.lladdr }).toEqual({
          ip,
          state: ["REACHABLE"],
          lladdr: mac("node-1"),
        });
      }
      // An RFC 5227 probe (sender IP 0.0.0.0) for an owned address is defended, as the kernel
      // does for its own: arping -D reports the duplicate and exits 1.
      const dad = await lab
        .exec(lab.client, ["arping", "-D", "-c", "2", "-w", "3", "-I", ifname, ip4], 20_000)
        .then(
          (r) => ({ code: 0, stdout: r.stdout }),
          (e: unknown) => ({ code: 1, stdout: String((e as { stdout?: unknown }).stdout) }),
        );
      expect(dad.code).toBe(1);
      expect(dad.stdout.toLowerCase()).toContain(mac("node-1"));
    });

    it("moving an IPv6 address: the client's entry switches by the unsolicited advertisement alone", async () => {
      const ip = vip6(lab, 5);
      await resolveFromClient(lab, ip);
      expect((await clientNeighbor(lab, ip))?.lladdr).toBe(mac("node-2"));
      const before = (await s1.status()).metrics.requestsReceived[`ndp ${ip} eth0`];
      await s2.own([[vip4(lab, 8), {}]]);
      await s1.own([[ip, {}]]);
      await eventually(
        async () => ((await clientNeighbor(lab, ip))?.lladdr === mac("node-1") ? true : undefined),
        8_000,
        "the client's IPv6 neighbor entry to switch to node-1",
      );
      expect((await s1.status()).metrics.requestsReceived[`ndp ${ip} eth0`]).toBe(before);
    });

    it("does not answer on an interface the IP is not allowed on", async () => {
      const ip = vip4(lab, 10);
      await s1.own([[ip, { interfaces: ["eth1"] }]]);
      expect(await arping(lab, ip, 2)).toEqual({ replies: [], sent: 2 });
      expect((await s1.status()).metrics.ignored["arp eth0 interface-not-allowed"]).toBe(2);
    });

    it("survives a link flap: answers again once the link is back, and re-announces", async () => {
      const ip = vip4(lab, 11);
      const node1 = lab.node("node-1");
      await s1.own([[ip, {}]]);
      const gratuitousBefore = (await s1.status()).metrics.gratuitousSent[`arp ${ip} eth0`] ?? 0;

      await setLinkState(node1.netns, node1.ifname, false);
      await eventually(
        async () => ((await s1.status()).interfaces.length === 0 ? true : undefined),
        5_000,
        "eth0 to be dropped",
      );
      await sleep(300);
      await setLinkState(node1.netns, node1.ifname, true);
      await eventually(
        async () =>
          (await s1.status()).interfaces.some((i) => i.name === "eth0" && i.arp) ? true : undefined,
        5_000,
        "eth0 to be used again",
      );
      expect(s1.running).toBe(true);
      expect((await arping(lab, ip, 2)).replies).toEqual([mac("node-1"), mac("node-1")]);
      expect((await s1.status()).metrics.gratuitousSent[`arp ${ip} eth0`]).toBeGreaterThan(
        gratuitousBefore,
      );
    });

    it("follows interfaces that appear and disappear, without restart", async () => {
      const node1 = lab.node("node-1");
      const names = async () => (await s1.status()).interfaces.map((i) => i.name).sort();
      await lab.exec(node1, ["ip", "link", "add", "eth9", "type", "veth", "peer", "name", "eth9p"]);
      await lab.exec(node1, ["ip", "link", "set", "eth9", "up"]);
      await lab.exec(node1, ["ip", "link", "set", "eth9p", "up"]);
      await eventually(
        async () => ((await names()).includes("eth9") ? true : undefined),
        5_000,
        "eth9 to be used",
      );
      expect(await names()).toEqual(["eth0", "eth9", "eth9p"]);
      await lab.exec(node1, ["ip", "link", "del", "eth9"]);
      await eventually(
        async () => ((await names()).length === 1 ? true : undefined),
        5_000,
        "eth9 to be dropped",
      );
      expect(await names()).toEqual(["eth0"]);
    });

    it("periodic refresh: gratuitous ARP keeps coming while owned when enabled, none after the burst when off", async () => {
      // A second data plane on node-1 with a 1 s refresh after a one-send burst; s1 (no
      // refresh, five-send burst) owns another IP. The client hears both for 8 s.
      const { speaker } = await Speaker.start(lab.node("node-1").netns, [
        "--count",
        "1",
        "--refresh-ms",
        "1000",
      ]);
      extra.push(speaker);
      const on = vip4(lab, 30);
      const off = vip4(lab, 31);
      const program = join(packageRoot(), "dist-test", "test", "fixtures", "garp-listener.js");
      const listening = lab.exec(
        lab.client,
        ["env", `IFNAME=${lab.client.ifname}`, process.execPath, program, "8000"],
        30_000,
      );
      await sleep(500); // the listener's socket is open
      await speaker.own([[on, {}]]);
      await s1.own([[off, {}]]);
      const heard = JSON.parse((await listening).stdout) as {
        ip: string;
        mac: string;
        op: number;
        atMs: number;
      }[];
      await speaker.own([]);
      await s1.own([]);
      // Each round is a gratuitous request and a gratuitous reply: count the requests.
      const times = (ip: string) =>
        heard.filter((h) => h.ip === ip && h.op === 1).map((h) => h.atMs);
      // Refresh on: the burst's one send, then one about every second until the end.
      const refreshed = times(on);
      expect(refreshed.length).toBeGreaterThanOrEqual(6);
      expect(Math.max(...refreshed)).toBeGreaterThan(6_500);
      expect(heard.filter((h) => h.ip === on).every((h) => h.mac === mac("node-1"))).toBe(true);
      // Refresh off: the five-send burst, over in 4.4 s, and nothing after it.
      const burst = times(off);
      expect(burst).toHaveLength(5);
      const first = Math.min(...burst);
      expect(Math.max(...burst) - first).toBeLessThan(5_000);
      await speaker.stop();
    });

    it("a takeover of 3,000 IPv6 addresses at once: every unsolicited advertisement goes out", async () => {
      // Far more frames at once than a socket's send buffer holds: unpaced, the kernel refuses
      // most of them (ENOBUFS) and neighbors keep the old MAC.
      const ips = Array.from({ length: 3000 }, (_, i) => vip6(lab, 0x1000 + i));
      await s2.own(ips.map((ip) => [ip, {}]));
      const st = await eventually(
        async () => {
          const st = await s2.status();
          return st.announcing.length === 0 ? st : undefined;
        },
        60_000,
        "the bursts to end",
      );
      const perIP = ips.map((ip) => st.metrics.gratuitousSent[`ndp ${ip} eth0`] ?? 0);
      expect(perIP.filter((n) => n !== 5)).toEqual([]);
      expect(st.metrics.sendFailed).toEqual({});
      // And the IPs answer: the client asks for the last one announced.
      expect(await ndisc6(lab, ips[ips.length - 1] ?? "")).toEqual([mac("node-2")]);
    });

    it("an excluded interface answers nothing", async () => {
      await s2.stop();
      const { speaker, ready } = await Speaker.start(lab.node("node-2").netns, [
        "--exclude",
        JSON.stringify(["^lo$", "^eth"]),
      ]);
      extra.push(speaker);
      expect(ready.interfaces).toEqual([]);
      expect(ready.skipped).toContainEqual({ name: "eth0", reason: "excluded by pattern ^eth" });
      const ip = vip4(lab, 12);
      await speaker.own([[ip, {}]]);
      expect(await arping(lab, ip, 2)).toEqual({ replies: [], sent: 2 });
    });
  },
);
