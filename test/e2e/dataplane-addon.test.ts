import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLab, type Lab } from "../../src/lab/lab.js";
import { spawnProcess } from "../../src/util/proc.js";
import { prereqs } from "../helpers/prereq.js";

// The addon's edges, run in a lab node namespace by test/fixtures/addon-probe.ts: misuse
// raises errors with errno names, close is idempotent, open/close cycles leak nothing, and
// without CAP_NET_RAW opening fails with EPERM.

const probe = fileURLToPath(
  new URL("../../dist-test/test/fixtures/addon-probe.js", import.meta.url),
);

type Outcome = {
  ok?: true;
  name?: string;
  code?: string;
  syscall?: string;
  errno?: number;
  message?: string;
};

describe.runIf(prereqs("data plane addon e2e", ["root", "ip", "arping", "setpriv"]))(
  "data plane addon",
  () => {
    let lab: Lab;
    beforeAll(async () => {
      lab = await createLab({ nodes: 1, controlPlane: false, persistent: false });
    });
    afterAll(async () => {
      await lab.down();
    });

    const runProbe = async (prefix: string[] = []) => {
      const node = lab.node("node-1");
      const argv = [...prefix, process.execPath, probe, node.ifname];
      const { stdout } = await lab.exec(node, argv);
      return JSON.parse(stdout) as Record<string, Outcome | number>;
    };

    it("reports misuse as errors with errno names, closes cleanly, leaks no descriptors", async () => {
      const r = await runProbe();
      expect(r.packetOpen).toEqual({ ok: true });
      expect(r.icmp6Open).toEqual({ ok: true });
      expect(r.packetNoSuchInterface).toMatchObject({
        code: "ENODEV",
        syscall: "bind(AF_PACKET)",
        errno: -19,
      });
      expect(r.icmp6NoSuchInterface).toMatchObject({ code: "ENXIO", syscall: "if_indextoname" });
      expect(r.badFilter).toMatchObject({ name: "RangeError" });
      expect(r.badCallback).toMatchObject({
        name: "TypeError",
        message: "onError must be a function",
      });
      expect(r.sendAfterClose).toMatchObject({ code: "EBADF" });
      expect(r.shortFrame).toMatchObject({ name: "RangeError" });
      expect(r.joinTwice).toMatchObject({
        code: "EADDRINUSE",
        syscall: "setsockopt(IPV6_JOIN_GROUP)",
      });
      // tcpSocket: a TCP socket with its MD5 key set (BGP `password`), errors like the rest.
      expect(r.tcpOpen).toEqual({ ok: true });
      expect(r.tcpBadAddress).toMatchObject({
        name: "TypeError",
        message: "peer is not an IP address",
      });
      expect(r.tcpMixedFamilies).toMatchObject({ name: "TypeError" });
      expect(r.tcpLongPassword).toMatchObject({ name: "RangeError" });
      expect(r.tcpSourceNotHeld).toMatchObject({
        code: "EADDRNOTAVAIL",
        syscall: "bind",
        errno: -99,
      });
      expect(r.fdsLeaked).toBe(0);
    });

    it("needs CAP_NET_RAW and nothing more (the speaker's only capability)", async () => {
      const r = await runProbe([
        "setpriv",
        "--inh-caps=-all",
        "--bounding-set=-all,+net_raw",
        "--",
      ]);
      expect(r.packetOpen).toEqual({ ok: true });
      expect(r.icmp6Open).toEqual({ ok: true });
      expect(r.joinTwice).toMatchObject({ code: "EADDRINUSE" }); // the first join worked
      expect(r.tcpOpen).toEqual({ ok: true }); // TCP_MD5SIG needs no capability
      expect(r.fdsLeaked).toBe(0);
    });

    it("keeps a packet socket working across a link flap, reporting ENETDOWN", async () => {
      const node = lab.node("node-1");
      const child = spawnProcess(
        "ip",
        ["netns", "exec", node.netns, process.execPath, probe, node.ifname, "flap"],
        {
          tied: true,
          stdio: ["ignore", "pipe", "inherit"],
        },
      );
      const lines: Record<string, unknown>[] = [];
      const done = new Promise<void>((resolve) => child.on("exit", () => resolve()));
      createInterface({ input: child.stdout ?? process.stdin }).on("line", (l) => {
        lines.push(JSON.parse(l) as Record<string, unknown>);
      });
      while (!lines.some((l) => l.phase === "flapped")) {
        if (child.exitCode !== null) throw new Error("probe exited early");
        await new Promise((r) => setTimeout(r, 50));
      }
      // Any broadcast ARP request from the client reaches node-1's packet socket.
      await lab
        .exec(lab.client, ["arping", "-c", "2", "-w", "3", "-I", lab.client.ifname, node.ipv4])
        .catch(() => undefined);
      await done;
      const result = lines.at(-1) as { errors: string[]; received: number };
      expect(result.errors).toContain("ENETDOWN");
      expect(result.received).toBeGreaterThanOrEqual(1);
    });

    it("fails with EPERM without CAP_NET_RAW", async () => {
      // Root without any capability: what the speaker gets if its pod lacks NET_RAW.
      const r = await runProbe(["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"]);
      expect(r.packetOpen).toMatchObject({ code: "EPERM", syscall: "socket(AF_PACKET)" });
      expect(r.icmp6Open).toMatchObject({
        code: "EPERM",
        syscall: "socket(AF_INET6, IPPROTO_ICMPV6)",
      });
    });
  },
);
