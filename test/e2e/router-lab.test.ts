import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { netnsExec, netnsPids } from "../../src/lab/netns.js";
import {
  addRouterToLab,
  startRouter,
  type Router,
  type RouterKind,
  type RouterLeg,
  type RouterNeighbor,
} from "../../src/lab/router.js";
import { eventually } from "../../src/util/wait.js";
import { prereqs } from "../helpers/prereq.js";

// The lab's real routers (src/lab/router.ts), with no barelb code: a router namespace on the
// lab's LAN running BIRD or FRR, and in two node namespaces the other daemon as a fake node
// announcing the same LoadBalancer IPs (a /32 and a /128). The router must hold both paths as
// one ECMP route in its kernel FIB, run BFD with the nodes, and drop a node's next hop within
// a BFD detection time when that node freezes (its TCP connection stays open, so only BFD can
// tell). Each router kind is run with eBGP (and TCP MD5) and with iBGP.

const ROUTER_ASN = 64512;
const BFD = { intervalMs: 100, multiplier: 3 };
// Long enough that a session going down within seconds can only be BFD's doing.
const HOLD_S = 90;
const PASSWORD = "lab-secret";

describe.runIf(prereqs("router lab e2e", ["root", "ip", "bird", "vtysh"]))(
  "real BIRD and FRR routers in a lab",
  () => {
    let lab: Lab;
    let leg: RouterLeg;
    const vip4 = () => lab.addresses.vipRange4.split("-")[0] ?? "";
    const vip6 = () => lab.addresses.vipCidr6.replace(/\/112$/, "5");

    beforeAll(async () => {
      lab = await createLab({ nodes: 2, controlPlane: false, persistent: false });
      leg = await addRouterToLab(lab);
    });
    afterAll(async () => {
      try {
        await (leg as RouterLeg | undefined)?.remove();
      } finally {
        await (lab as Lab | undefined)?.down();
      }
    });

    it("the remote client is off the LAN and reaches LoadBalancer IPs through the router", async () => {
      for (const [ip, family] of [
        [vip4(), "-4"],
        [vip6(), "-6"],
      ] as const) {
        const { stdout } = await netnsExec(leg.clientNetns, [
          "ip",
          "-j",
          family,
          "route",
          "get",
          ip,
        ]);
        const [r] = JSON.parse(stdout) as { gateway?: string; dev?: string }[];
        expect(r?.dev).toBe("eth0");
        expect(r?.gateway).toMatch(family === "-4" ? /^198\.51\.100\./ : /^2001:db8:ff:/);
      }
      // Nodes answer the remote client through the router.
      const node = lab.nodes[0];
      if (node === undefined) throw new Error("no node");
      const { stdout } = await netnsExec(node.netns, [
        "ip",
        "-j",
        "route",
        "get",
        leg.remoteClient4,
      ]);
      expect((JSON.parse(stdout) as { gateway?: string }[])[0]?.gateway).toBe(leg.router4);
    });

    const cases: { router: RouterKind; mode: "ebgp" | "ibgp" }[] = [
      { router: "bird", mode: "ebgp" },
      { router: "bird", mode: "ibgp" },
      { router: "frr", mode: "ebgp" },
      { router: "frr", mode: "ibgp" },
    ];
    it.each(cases)(
      "$router router, $mode: both nodes' paths as ECMP in the FIB, BFD Up; a frozen node's next hop leaves within BFD time",
      async ({ router: kind, mode }) => {
        const nodeKind: RouterKind = kind === "bird" ? "frr" : "bird";
        const nodeAsn = mode === "ebgp" ? 64500 : ROUTER_ASN;
        const secret = mode === "ebgp" ? { password: PASSWORD } : {};
        const dir = join(lab.record.dir, `${kind}-${mode}`);
        const started: Router[] = [];
        const frozen: number[] = [];
        const [n1, n2] = lab.nodes;
        if (n1 === undefined || n2 === undefined) throw new Error("two nodes expected");
        const routerNeighbors: RouterNeighbor[] = lab.nodes.flatMap((n) =>
          [n.ipv4, n.ipv6].map((address) => ({
            address,
            asn: nodeAsn,
            bfd: BFD,
            holdTime: HOLD_S,
            ...secret,
          })),
        );
        try {
          const router = await startRouter({
            kind,
            netns: leg.routerNetns,
            dir: join(dir, "router"),
            asn: ROUTER_ASN,
            routerId: leg.router4,
            neighbors: routerNeighbors,
          });
          started.push(router);
          for (const n of lab.nodes) {
            started.push(
              await startRouter({
                kind: nodeKind,
                netns: n.netns,
                dir: join(dir, n.name),
                asn: nodeAsn,
                routerId: n.ipv4,
                neighbors: [leg.router4, leg.router6].map((address) => ({
                  address,
                  asn: ROUTER_ASN,
                  bfd: BFD,
                  holdTime: HOLD_S,
                  ...secret,
                })),
                announce: [`${vip4()}/32`, `${vip6()}/128`],
              }),
            );
          }

          await eventually(
            "four sessions Established on the router",
            async () => {
              const s = await router.sessions();
              return s.length === 4 && s.every((x) => x.established) ? s : undefined;
            },
            20_000,
            200,
          );
          // Both paths, from both nodes, with the nodes' addresses as next hops.
          const paths = await eventually(
            "two paths for the IPv4 VIP",
            async () => {
              const r = await router.routes(`${vip4()}/32`);
              return r.length === 2 ? r : undefined;
            },
            10_000,
            100,
          );
          expect(paths.map((p) => p.from).sort()).toEqual([n1.ipv4, n2.ipv4].sort());
          expect(paths.flatMap((p) => p.nextHops).sort()).toEqual([n1.ipv4, n2.ipv4].sort());
          for (const p of paths) expect(p.asPath).toEqual(mode === "ebgp" ? [nodeAsn] : []);
          if (mode === "ibgp") for (const p of paths) expect(p.localPref).toBe(100);
          const paths6 = await eventually(
            "two paths for the IPv6 VIP",
            async () => {
              const r = await router.routes(`${vip6()}/128`);
              return r.length === 2 ? r : undefined;
            },
            10_000,
            100,
          );
          expect(paths6.map((p) => p.from).sort()).toEqual([n1.ipv6, n2.ipv6].sort());

          // ECMP in the kernel: IPv4 via both nodes; IPv6 via both nodes' global or
          // link-local addresses (FRR prefers the link-local next hop).
          await eventually(
            "the IPv4 VIP via both nodes in the router's FIB",
            async () => {
              const hops = await router.fib(vip4());
              return hops.join() === [n1.ipv4, n2.ipv4].sort().join() ? hops : undefined;
            },
            10_000,
            100,
          );
          const addrs = async (netns: string) => {
            const { stdout } = await netnsExec(netns, [
              "ip",
              "-j",
              "-6",
              "addr",
              "show",
              "dev",
              "eth0",
            ]);
            return (JSON.parse(stdout) as { addr_info: { local: string }[] }[]).flatMap((l) =>
              l.addr_info.map((a) => a.local),
            );
          };
          const node6 = [await addrs(n1.netns), await addrs(n2.netns)];
          const hops6 = await eventually(
            "the IPv6 VIP via both nodes in the router's FIB",
            async () => {
              const hops = await router.fib(vip6());
              return hops.length === 2 ? hops : undefined;
            },
            10_000,
            100,
          );
          expect(node6.map((own) => hops6.filter((h) => own.includes(h)).length)).toEqual([1, 1]);

          const bfd = await eventually(
            "four BFD sessions Up",
            async () => {
              const b = await router.bfd();
              return b.length === 4 && b.every((x) => x.state === "Up") ? b : undefined;
            },
            10_000,
            100,
          );
          expect(bfd.map((b) => b.neighbor).sort()).toEqual(
            routerNeighbors.map((n) => n.address).sort(),
          );

          if (mode === "ebgp") {
            // TCP MD5: a wrong password on the router for one neighbor keeps that session
            // down; the other sessions are untouched by the live reconfigure.
            const wrong = routerNeighbors.map((n) =>
              n.address === n2.ipv4 ? { ...n, password: "wrong" } : n,
            );
            await router.setNeighbors(wrong);
            await eventually(
              "node-2's IPv4 session down with the wrong password",
              async () => {
                const s = await router.sessions();
                const n2s = s.find((x) => x.neighbor === n2.ipv4);
                return n2s !== undefined && !n2s.established ? s : undefined;
              },
              10_000,
              100,
            );
            await eventually(
              "node-2's IPv4 next hop gone from the router's FIB",
              async () => ((await router.fib(vip4())).join() === n1.ipv4 ? true : undefined),
              5_000,
              50,
            );
            await new Promise((r) => setTimeout(r, 2_000));
            const s = await router.sessions();
            expect(
              s
                .filter((x) => x.established)
                .map((x) => x.neighbor)
                .sort(),
            ).toEqual([n1.ipv4, n1.ipv6, n2.ipv6].sort());
            await router.setNeighbors(routerNeighbors);
            await eventually(
              "node-2's IPv4 session back with the right password",
              async () => {
                const all = await router.sessions();
                return all.length === 4 && all.every((x) => x.established) ? all : undefined;
              },
              15_000,
              200,
            );
            await eventually(
              "the IPv4 VIP via both nodes again",
              async () => ((await router.fib(vip4())).length === 2 ? true : undefined),
              10_000,
              100,
            );
          }

          // Freeze node-1's daemon: its TCP connections stay open and its hold time is long,
          // so only BFD can take its next hops out.
          frozen.push(...(await netnsPids(n1.netns)));
          expect(frozen.length).toBeGreaterThan(0);
          for (const pid of frozen) process.kill(pid, "SIGSTOP");
          await eventually(
            "node-1's next hops gone from the router's FIB",
            async () => {
              const h4 = await router.fib(vip4());
              const h6 = await router.fib(vip6());
              return h4.join() === n2.ipv4 && h6.length === 1 && node6[1]?.includes(h6[0] ?? "")
                ? true
                : undefined;
            },
            5_000,
            50,
          );
          const after = await router.bfd();
          expect(
            after
              .filter((b) => b.state === "Up")
              .map((b) => b.neighbor)
              .sort(),
          ).toEqual([n2.ipv4, n2.ipv6].sort());
          const sessions = await router.sessions();
          expect(
            sessions
              .filter((x) => x.established)
              .map((x) => x.neighbor)
              .sort(),
          ).toEqual([n2.ipv4, n2.ipv6].sort());
          expect(await router.log()).not.toBe("");
        } finally {
          // Thawed, they exit cleanly on stop() (FRR then removes its crash-log directories).
          for (const pid of frozen) {
            try {
              process.kill(pid, "SIGCONT");
            } catch {
              // already gone
            }
          }
          for (const r of started.reverse()) await r.stop();
        }
      },
      60_000,
    );
  },
);
