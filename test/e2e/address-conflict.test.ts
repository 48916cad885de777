import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoreV1Api, type CoreV1Event, type V1Service } from "@kubernetes/client-node";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { LabCluster, sampleService, setEndpoints } from "../../src/lab/cluster.js";
import {
  attachNetns,
  createNetns,
  deleteNetns,
  listNetns,
  netnsExec,
} from "../../src/lab/netns.js";
import { loadKubeConfig } from "../../src/k8s/client.js";
import { formatIPValue, parseCIDR } from "../../src/net/ip.js";
import { ANNOUNCED_CONDITION, familyOf } from "../../src/speaker/announced-condition.js";
import { prereqs } from "../helpers/prereq.js";
import { statusReport } from "../helpers/status.js";
import { answering, owner, serviceIP } from "../helpers/arp-owner.js";
import { eventually } from "../helpers/k8s.js";

// An address another host on the LAN already uses (issue 11). Real API server, two node
// namespaces with speakers, the client namespace that asks (arping, ndisc6), and a "foreign
// host": one more namespace on the lab's bridge whose kernel holds the conflicting addresses
// and answers ARP and NDP for them, as a printer with a static IP would.

const NS = "default";

describe.runIf(
  prereqs("address conflict e2e", ["root", "ip", "arping", "ndisc6", "setpriv", "go"]),
)("address in use by another host on the LAN", () => {
  let lab: Lab;
  let cluster: LabCluster;
  // Mutable: the speakers restarted for the `announce` case pick the new flags up.
  const speakerOpts = { speakerArgs: ["--on-address-conflict", "hold"] };
  let foreignNetns = "";
  let foreignMac = "";
  const core = () => loadKubeConfig(lab.kubeconfig).makeApiClient(CoreV1Api);

  /** The i-th address of the lab's IPv4 VIP range, counted from its end (the allocator starts at the front). */
  const vip4 = (i: number) => {
    const end = lab.addresses.vipRange4.split("-")[1] ?? "";
    const parts = end.split(".").map(Number);
    return [...parts.slice(0, 3), (parts[3] ?? 0) - i].join(".");
  };
  const vip6 = (i: number) => {
    const cidr = parseCIDR(lab.addresses.vipCidr6);
    if (!cidr.ok) throw new Error(cidr.error);
    return formatIPValue(6, cidr.value.start + 0xff00n + BigInt(i));
  };
  const foreign = (argv: string[]) => netnsExec(foreignNetns, argv);

  async function createService(name: string, ip: string): Promise<void> {
    const svc = sampleService();
    const body: V1Service = {
      ...svc,
      metadata: { ...svc.metadata, name },
      spec: {
        ...svc.spec,
        loadBalancerIP: ip,
        ...(ip.includes(":") ? { ipFamilies: ["IPv6"], ipFamilyPolicy: "SingleStack" } : {}),
      },
    };
    await core().createNamespacedService({ namespace: NS, body });
    await setEndpoints(lab, NS, name, [{ node: "node-1" }, { node: "node-2" }]);
    expect(await serviceIP(lab, NS, name)).toBe(ip);
  }

  const conflictEvents = async (name: string): Promise<CoreV1Event[]> =>
    (
      await core().listNamespacedEvent({
        namespace: NS,
        fieldSelector: `involvedObject.name=${name},reason=AddressInUse`,
      })
    ).items;

  const condition = (
    name: string,
    ip: string,
    want: (c: { status: string; reason?: string; message?: string }) => boolean,
  ) =>
    eventually(
      `Service ${name}'s announced condition`,
      async () => {
        const svc = await core().readNamespacedService({ name, namespace: NS });
        const c = svc.status?.conditions?.find((x) => x.type === ANNOUNCED_CONDITION[familyOf(ip)]);
        return c !== undefined && want(c) ? c : undefined;
      },
      45_000,
      200,
    );

  /** The MACs answering ndisc6 from the client. */
  async function ndisc6(ip: string): Promise<string[]> {
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
    const macs = [...stdout.matchAll(/Target link-layer address: ([0-9A-Fa-f:]{17})/g)].map((m) =>
      (m[1] ?? "").toLowerCase(),
    );
    return [...new Set(macs)].sort();
  }

  beforeAll(async () => {
    lab = await createLab({ nodes: 2, controlPlane: true, persistent: false });
    // Named like the lab's own namespace and links, so a crashed run's leftovers go with the
    // lab's stale cleanup; removed in afterAll otherwise.
    foreignNetns = `barelb-${lab.id}-foreign`;
    await createNetns(foreignNetns);
    const link = await attachNetns(
      foreignNetns,
      lab.record.bridge,
      `blb${lab.id}n99`,
      `${vip4(0)}/${lab.addresses.prefix4}`,
      `${vip6(0)}/${lab.addresses.prefix6}`,
    );
    foreignMac = link.mac.toLowerCase();
    cluster = await LabCluster.start(lab, speakerOpts);
  });
  afterAll(async () => {
    // Also after a failed beforeAll: each part only if it was made.
    try {
      await (cluster as LabCluster | undefined)?.stop();
    } finally {
      if (foreignNetns !== "" && (await listNetns()).includes(foreignNetns))
        await deleteNetns(foreignNetns).catch(() => undefined);
      await (lab as Lab | undefined)?.down();
    }
  });

  it("hold: a new IP the foreign host answers for is not announced; Event and condition AddressInUse; announced once the host lets it go", async () => {
    const ip = vip4(0);
    await createService("taken", ip);
    const [event] = await eventually(
      "an AddressInUse Event on Service taken",
      async () => {
        const e = await conflictEvents("taken");
        return e.length > 0 ? e : undefined;
      },
      30_000,
      200,
    );
    expect(event?.type).toBe("Warning");
    expect(event?.message).toContain(ip);
    expect(event?.message).toContain(foreignMac);
    expect(event?.message).toMatch(/seen by node node-\d on eth0/);
    expect(event?.message).toContain("not announced");
    const c = await condition("taken", ip, (c) => c.reason === "AddressInUse");
    expect(c.status).toBe("False");
    // barelb status names it, with the other host's MAC.
    const held = (await statusReport(lab.kubeconfig)).services.find((x) => x.name === "taken");
    expect(held?.announcedBy).toEqual([]);
    expect(held?.reason).toContain(`${ip}: `);
    expect(held?.reason).toContain(foreignMac);
    // Nobody but the foreign host answers, now and a few seconds later.
    for (let i = 0; i < 3; i++) {
      expect(await answering(lab, ip, 2)).toEqual([`unknown ${foreignMac}`]);
    }
    // The foreign host lets the address go: the next probe (30 s after the conflict) is
    // clear and a node announces it.
    await foreign(["ip", "addr", "del", `${ip}/${lab.addresses.prefix4}`, "dev", "eth0"]);
    const node = await eventually(
      "a node answering for the released IP",
      async () => {
        const a = await answering(lab, ip, 1);
        return a.length === 1 && a[0]?.startsWith("node-") ? a[0] : undefined;
      },
      45_000,
      500,
    );
    await condition(
      "taken",
      ip,
      (c) =>
        c.status === "True" &&
        c.reason === "Announcing" &&
        c.message?.startsWith(`node ${node} announces`) === true,
    );
  }, 120_000);

  it("IPv6, hold: the foreign host answers the duplicate address probe; only it answers ndisc6", async () => {
    const ip = vip6(0);
    await createService("taken6", ip);
    const [event] = await eventually(
      "an AddressInUse Event on Service taken6",
      async () => {
        const e = await conflictEvents("taken6");
        return e.length > 0 ? e : undefined;
      },
      30_000,
      200,
    );
    expect(event?.message).toContain(foreignMac);
    expect(event?.message).toContain("answered the duplicate address probe");
    expect((await condition("taken6", ip, (c) => c.reason === "AddressInUse")).status).toBe(
      "False",
    );
    expect(await ndisc6(ip)).toEqual([foreignMac]);
  }, 60_000);

  it("a foreign gratuitous ARP for an IP a node announces: an Event, and the node keeps announcing", async () => {
    await core().createNamespacedService({ namespace: NS, body: sampleService() });
    await setEndpoints(lab, NS, "sample", [{ node: "node-1" }, { node: "node-2" }]);
    const ip = await serviceIP(lab, NS, "sample");
    const before = await owner(lab, ip, "a node answering for sample");
    // The foreign host takes the address too and says so with gratuitous ARP.
    await foreign(["ip", "addr", "add", `${ip}/32`, "dev", "eth0"]);
    try {
      await foreign(["arping", "-U", "-c", "2", "-I", "eth0", "-s", ip, ip]).catch(() => undefined);
      const [event] = await eventually(
        "an AddressInUse Event on Service sample",
        async () => {
          const e = await conflictEvents("sample");
          return e.length > 0 ? e : undefined;
        },
        20_000,
        200,
      );
      expect(event?.message).toContain(foreignMac);
      expect(event?.message).toContain(`node ${before} keeps announcing it`);
      expect((await condition("sample", ip, (c) => c.reason === "AddressInUse")).status).toBe(
        "True",
      );
      const claimed = (await statusReport(lab.kubeconfig)).services.find(
        (x) => x.name === "sample",
      );
      expect(claimed?.reason).toContain(foreignMac);
      expect(await answering(lab, ip, 2)).toContain(before);
    } finally {
      await foreign(["ip", "addr", "del", `${ip}/32`, "dev", "eth0"]).catch(() => undefined);
    }
  }, 60_000);

  it("announce: a new IP the foreign host answers for is announced anyway, with a warning", async () => {
    speakerOpts.speakerArgs = ["--on-address-conflict", "announce"];
    for (const n of lab.nodes) {
      await cluster.stopSpeaker(n.name, "SIGTERM");
      cluster.startSpeaker(n.name);
    }
    const ip = vip4(1);
    await foreign(["ip", "addr", "add", `${ip}/${lab.addresses.prefix4}`, "dev", "eth0"]);
    await createService("taken-announce", ip);
    const [event] = await eventually(
      "an AddressInUse Event on Service taken-announce",
      async () => {
        const e = await conflictEvents("taken-announce");
        return e.length > 0 ? e : undefined;
      },
      30_000,
      200,
    );
    expect(event?.message).toContain("announced anyway");
    expect(event?.message).toContain(foreignMac);
    expect((await condition("taken-announce", ip, (c) => c.reason === "AddressInUse")).status).toBe(
      "True",
    );
    const macs = await eventually(
      "both the foreign host and a node answering",
      async () => {
        const a = await answering(lab, ip, 3);
        return a.length === 2 ? a : undefined;
      },
      20_000,
      500,
    );
    expect(macs).toContain(`unknown ${foreignMac}`);
    expect(macs.some((m) => m.startsWith("node-"))).toBe(true);
  }, 90_000);
});
