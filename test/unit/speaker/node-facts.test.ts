import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readHostFacts, type HostRoots } from "../../../src/speaker/node-facts.js";
import { nodeWarnings } from "../../../src/speaker/node-warnings.js";

// The reading of /sys and /proc, on a fake tree in a temp dir laid out as the kernel's. A real
// Wi-Fi device cannot be made in this lab (no mac80211_hwsim, no radio), so the Wi-Fi case is
// tested only here; kube-ipvs0 is also tested for real in test/e2e/node-warnings.test.ts.

describe("readHostFacts", () => {
  let dir = "";
  let roots: HostRoots;

  /** An interface in the fake tree: its sysfs flags, arp_ignore and, for Wi-Fi, the marker. */
  async function link(
    name: string,
    o: { index: number; flags?: string; arpIgnore?: string; wifi?: "wireless" | "phy80211" },
  ): Promise<void> {
    const sys = join(roots.sys, "class/net", name);
    await mkdir(sys, { recursive: true });
    await writeFile(join(sys, "ifindex"), `${o.index}\n`);
    await writeFile(join(sys, "flags"), `${o.flags ?? "0x1003"}\n`);
    if (o.wifi !== undefined) await mkdir(join(sys, o.wifi));
    const conf = join(roots.proc, "sys/net/ipv4/conf", name);
    await mkdir(conf, { recursive: true });
    await writeFile(join(conf, "arp_ignore"), `${o.arpIgnore ?? "0"}\n`);
  }
  async function arpIgnoreAll(value: string): Promise<void> {
    const conf = join(roots.proc, "sys/net/ipv4/conf/all");
    await mkdir(conf, { recursive: true });
    await writeFile(join(conf, "arp_ignore"), `${value}\n`);
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "barelb-node-facts-"));
    roots = { sys: join(dir, "sys"), proc: join(dir, "proc") };
    await arpIgnoreAll("0");
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const noDump = () => Promise.reject(new Error("kube-ipvs0 absent: no dump expected"));

  it("a wired node without kube-ipvs0: no dump, nothing to say", async () => {
    await link("eth0", { index: 2 });
    const f = await readHostFacts({
      interfaces: ["eth0"],
      lbIPs: new Set(),
      ipv4Addresses: noDump,
      roots,
    });
    expect(f.ipvsAddresses).toBeNull();
    expect(f.arpIgnoreAll).toBe(0);
    expect(f.interfaces).toEqual([
      { name: "eth0", arpIgnore: 0, wireless: false, promiscuous: false },
    ]);
    expect(nodeWarnings(f)).toEqual([]);
  });

  it("finds kube-ipvs0's addresses by its ifindex", async () => {
    await link("eth0", { index: 2 });
    await link("kube-ipvs0", { index: 7, flags: "0x82" });
    const dump = new Map([
      [2, ["192.0.2.10"]],
      [7, ["10.96.0.1", "192.0.2.40"]],
    ]);
    const f = await readHostFacts({
      interfaces: ["eth0"],
      lbIPs: new Set(["192.0.2.40"]),
      ipv4Addresses: () => Promise.resolve(dump),
      roots,
    });
    expect(f.ipvsAddresses).toEqual(["10.96.0.1", "192.0.2.40"]);
    expect(nodeWarnings(f).map((w) => w.kind)).toEqual(["KubeProxyIPVSWithoutStrictARP"]);

    await arpIgnoreAll("1");
    const fixed = await readHostFacts({
      interfaces: ["eth0"],
      lbIPs: new Set(["192.0.2.40"]),
      ipv4Addresses: () => Promise.resolve(dump),
      roots,
    });
    expect(fixed.arpIgnoreAll).toBe(1);
    expect(nodeWarnings(fixed)).toEqual([]);
  });

  it.each(["wireless", "phy80211"] as const)(
    "tells a Wi-Fi interface by its %s entry, and reads IFF_PROMISC from flags",
    async (marker) => {
      await link("eth0", { index: 2 });
      await link("wlan0", { index: 3, wifi: marker, flags: "0x1003", arpIgnore: "1" });
      await link("wlan1", { index: 4, wifi: marker, flags: "0x1103" });
      const f = await readHostFacts({
        interfaces: ["eth0", "wlan0", "wlan1"],
        lbIPs: new Set(),
        ipv4Addresses: noDump,
        roots,
      });
      expect(f.interfaces).toEqual([
        { name: "eth0", arpIgnore: 0, wireless: false, promiscuous: false },
        { name: "wlan0", arpIgnore: 1, wireless: true, promiscuous: false },
        { name: "wlan1", arpIgnore: 0, wireless: true, promiscuous: true },
      ]);
      const [w] = nodeWarnings(f);
      expect(w?.kind).toBe("WirelessInterface");
      expect(w?.message).toContain("ip link set wlan0 promisc on");
      expect(w?.message).not.toContain("wlan1");
    },
  );

  it("an interface gone between the list and the read: not Wi-Fi, arp_ignore unknown", async () => {
    const f = await readHostFacts({
      interfaces: ["gone0"],
      lbIPs: new Set(),
      ipv4Addresses: noDump,
      roots,
    });
    expect(f.interfaces).toEqual([
      { name: "gone0", arpIgnore: null, wireless: false, promiscuous: false },
    ]);
  });
});
