import { join } from "node:path";
import { ensureControlPlaneBinaries } from "../lab/controlplane.js";
import { createLab, downLabs, listLabs, type Lab } from "../lab/lab.js";
import { run } from "../util/proc.js";
import type { Actions } from "./program.js";
import { UserError } from "./errors.js";
import { table } from "./table.js";

/** The real `barelb lab …` actions. Human-readable output on stdout, progress on stderr. */
export function labActions(
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): Omit<Actions, "configValidate" | "controller" | "speaker"> {
  const progress = (line: string) => err(`  ${line}\n`);
  return {
    async labUp({ nodes, controlPlane, foreground }) {
      requireRoot();
      const lab = await createLab({
        nodes,
        controlPlane,
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
      err("bringing up a lab (removed again at the end)\n");
      const lab = await createLab({
        nodes,
        controlPlane: true,
        persistent: false,
        onProgress: progress,
      });
      try {
        out(describeLab(lab));
        const kubectl = join(await ensureControlPlaneBinaries(), "kubectl");
        out(`\n$ kubectl get nodes -o wide\n`);
        out(
          (await run(kubectl, ["--kubeconfig", lab.kubeconfig, "get", "nodes", "-o", "wide"]))
            .stdout,
        );
        const target = lab.nodes[0];
        if (target === undefined) throw new Error("the lab has no node");
        out(`\n$ (client) arping -c 1 ${target.ipv4}\n`);
        const arp = await lab.exec(lab.client, [
          "arping",
          "-c",
          "1",
          "-w",
          "3",
          "-I",
          "eth0",
          target.ipv4,
        ]);
        out(arp.stdout);
        out(`${target.name} has MAC ${target.mac}\n`);
      } finally {
        err("removing the lab\n");
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
  if (r.kubeconfig !== null)
    lines.push(`KUBECONFIG=${r.kubeconfig}`, `API server: ${r.server ?? "?"}`);
  lines.push("");
  const rows = r.hosts.map((h) => [h.name, h.netns, h.ipv4, h.ipv6, h.mac]);
  lines.push(table([["HOST", "NETNS", "IPV4", "IPV6", "MAC"], ...rows]).trimEnd());
  lines.push("");
  lines.push(`bridge ${r.bridge}: ${r.gateway4}/${r.prefix4}, ${r.gateway6}/${r.prefix6}`);
  lines.push(`free for LoadBalancer IPs: ${a.vipRange4}, ${a.vipCidr6}`);
  lines.push(`run a command on a node:  ip netns exec ${r.netns[0] ?? "?"} <command>`);
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
