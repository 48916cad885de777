import { spawn } from "node:child_process";
import { join } from "node:path";
import { ensureControlPlaneBinaries } from "../lab/controlplane.js";
import { LabCluster, sampleService, setEndpoints } from "../lab/cluster.js";
import { createLab, downLabs, listLabs, type Lab } from "../lab/lab.js";
import { run } from "../util/proc.js";
import { eventually } from "../util/wait.js";
import type { Actions } from "./program.js";
import { UserError } from "./errors.js";
import { table } from "./table.js";

/** The real `barelb lab …` actions. Human-readable output on stdout, progress on stderr. */
export function labActions(
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): Omit<Actions, "configValidate" | "configImportMetallb" | "controller" | "speaker" | "status"> {
  const progress = (line: string) => err(`  ${line}\n`);
  return {
    async labUp({ nodes, controlPlane, kubelet, foreground }) {
      requireRoot();
      const lab = await createLab({
        nodes,
        controlPlane,
        kubelet,
        persistent: !foreground,
        onProgress: progress,
      });
      out(describeLab(lab));
      if (!foreground) {
        out(`remove it with:  barelb lab down ${lab.id}\n`);
        return;
      }
      out("running in the foreground: Ctrl-C removes the lab\n");
      await untilSignal();
      err("removing the lab\n");
      await lab.down();
    },

    async labDown({ ids }) {
      requireRoot();
      const removed = await downLabs(ids, progress);
      out(removed.length === 0 ? "no labs to remove\n" : `removed lab ${removed.join(", ")}\n`);
    },

    async labList() {
      const labs = await listLabs();
      if (labs.length === 0) {
        out("no labs\n");
        return;
      }
      const rows = labs.map((l) => [
        l.id,
        l.stale ? "stale" : l.running ? "up" : "control plane stopped",
        String(l.hosts.filter((h) => h.name !== "client").length),
        l.owner === null ? "until lab down" : `while pid ${l.owner.pid} runs`,
        l.kubeconfig ?? "-",
      ]);
      out(table([["ID", "STATE", "NODES", "KEPT", "KUBECONFIG"], ...rows]));
    },

    async labDemo({ nodes }) {
      requireRoot();
      err("bringing up a lab with barelb running (removed again at the end)\n");
      const lab = await createLab({
        nodes,
        controlPlane: true,
        persistent: false,
        onProgress: progress,
      });
      let cluster: LabCluster | undefined;
      try {
        out(describeLab(lab));
        const kubectl = join(await ensureControlPlaneBinaries(), "kubectl");
        const k = (...args: string[]) => run(kubectl, ["--kubeconfig", lab.kubeconfig, ...args]);
        progress("starting the barelb controller and a speaker per node");
        cluster = await LabCluster.start(lab);
        const svc = sampleService();
        await cluster.core().createNamespacedService({ namespace: "default", body: svc });
        await setEndpoints(
          lab,
          "default",
          svc.metadata?.name ?? "sample",
          lab.nodes.map((n) => ({ node: n.name })),
        );
        out("\n$ kubectl apply -f config/pool-configmap.yaml -f config/sample-service.yaml\n");
        const ip = await eventually(
          "the sample Service to get an EXTERNAL-IP",
          async () => {
            const s = await cluster
              ?.core()
              .readNamespacedService({ name: "sample", namespace: "default" });
            return s?.status?.loadBalancer?.ingress?.[0]?.ip;
          },
          30_000,
        );
        out("\n$ kubectl get svc sample\n");
        out((await k("get", "svc", "sample")).stdout);

        const byMac = new Map(lab.nodes.map((n) => [n.mac.toLowerCase(), n.name]));
        const whoAnswers = async (): Promise<string | undefined> => {
          const r = await lab
            .exec(lab.client, ["arping", "-c", "1", "-w", "1", "-I", "eth0", ip])
            .catch((e: unknown) => ({ stdout: (e as { stdout?: string }).stdout ?? "" }));
          const mac = /reply from \S+ \[([0-9A-Fa-f:]+)\]/.exec(r.stdout)?.[1]?.toLowerCase();
          return mac === undefined ? undefined : (byMac.get(mac) ?? mac);
        };
        const owner = await eventually("an ARP answer for the IP", whoAnswers, 30_000);
        out(`\n$ (client ${lab.client.ipv4}) arping ${ip}\n`);
        out(`answered by ${owner} (${lab.node(owner).mac}): the LAN sends ${ip}'s traffic there\n`);

        // The client's kernel sends its traffic for the IP to the MAC in its neighbor entry:
        // make one (ping resolves the address; nobody answers the ping itself, the lab has no
        // kube-proxy) and time when that entry switches to another node.
        await lab.exec(lab.client, ["ping", "-c", "1", "-W", "1", ip]).catch(() => undefined);
        out(
          `\n$ (client) ip neigh show ${ip}\n${(await lab.exec(lab.client, ["ip", "neigh", "show", ip])).stdout}`,
        );
        const monitor = spawn("ip", ["netns", "exec", lab.client.netns, "ip", "monitor", "neigh"], {
          stdio: ["ignore", "pipe", "ignore"],
        });
        const switched = new Promise<{ node: string; at: number }>((resolve) => {
          let buf = "";
          monitor.stdout.on("data", (chunk: Buffer) => {
            const at = performance.now();
            buf += chunk.toString();
            const lines = buf.split("\n");
            buf = lines.pop() ?? "";
            for (const line of lines) {
              const mac = new RegExp(`^${ip.replaceAll(".", "\\.")} .*lladdr ([0-9a-f:]+)`).exec(
                line,
              )?.[1];
              const node = mac === undefined ? undefined : byMac.get(mac);
              if (node !== undefined && node !== owner) resolve({ node, at });
            }
          });
        });
        try {
          await new Promise((r) => setTimeout(r, 200)); // the monitor is listening
          out(`\nkilling the speaker on ${owner} (SIGKILL) ...\n`);
          const t0 = performance.now();
          await cluster.stopSpeaker(owner, "SIGKILL");
          const result = await Promise.race([
            switched,
            new Promise<undefined>((r) => setTimeout(() => r(undefined), 30_000)),
          ]);
          if (result === undefined)
            throw new Error("the client's neighbor entry did not switch within 30 s");
          out(
            `the client's neighbor entry for ${ip} switched to ${result.node} (${lab.node(result.node).mac}) ` +
              `${((result.at - t0) / 1000).toFixed(2)} s after the kill, from the new node's gratuitous ARP\n`,
          );
        } finally {
          monitor.kill();
        }
        out(
          `\n$ (client) ip neigh show ${ip}\n${(await lab.exec(lab.client, ["ip", "neigh", "show", ip])).stdout}`,
        );
        const now = await eventually("an ARP answer after the failover", whoAnswers, 10_000);
        out(`\n$ (client) arping ${ip}\nanswered by ${now} (${lab.node(now).mac})\n`);
      } finally {
        err("removing the lab\n");
        await cluster?.stop();
        await lab.down();
      }
    },
  };
}

function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new UserError(
      "barelb lab needs root: it creates network namespaces, veth pairs and a bridge. Run it as root (sudo).",
    );
  }
}

export function describeLab(lab: Lab): string {
  const r = lab.record;
  const a = lab.addresses;
  const lines = [`lab ${r.id} is up`];
  if (r.kubeconfig !== null) lines.push(`KUBECONFIG=${r.kubeconfig}`);
  if (r.kubelet !== undefined) lines.push(`IMAGE=${r.kubelet.image}`);
  if (r.kubeconfig !== null) lines.push(`API server: ${r.server ?? "?"}`);
  lines.push("");
  const rows = r.hosts.map((h) => [h.name, h.netns, h.ipv4, h.ipv6, h.mac]);
  lines.push(table([["HOST", "NETNS", "IPV4", "IPV6", "MAC"], ...rows]).trimEnd());
  lines.push("");
  lines.push(`bridge ${r.bridge}: ${r.gateway4}/${r.prefix4}, ${r.gateway6}/${r.prefix6}`);
  lines.push(`free for LoadBalancer IPs: ${a.vipRange4}, ${a.vipCidr6}`);
  lines.push(`run a command on a node:  ip netns exec ${r.netns[0] ?? "?"} <command>`);
  if (r.kubelet !== undefined) {
    lines.push(`kubectl and helm for it:  export PATH=${r.kubelet.tools.join(":")}:$PATH`);
    lines.push(
      `curl from the LAN:        ip netns exec ${lab.client.netns} curl http://<EXTERNAL-IP>:8080/`,
    );
  }
  return `${lines.join("\n")}\n`;
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    // Signal listeners alone do not keep Node's event loop alive.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    const done = () => {
      clearInterval(keepAlive);
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      resolve();
    };
    process.on("SIGINT", done);
    process.on("SIGTERM", done);
  });
}
