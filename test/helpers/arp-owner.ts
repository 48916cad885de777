import { CoreV1Api } from "@kubernetes/client-node";
import { loadKubeConfig } from "../../src/k8s/client.js";
import type { Lab } from "../../src/lab/lab.js";
import { eventually } from "./k8s.js";

/** The nodes whose MACs answered `arping` for `ip` (usually one; none when nobody owns it). */
export async function answering(lab: Lab, ip: string, count = 2): Promise<string[]> {
  const byMac = new Map(lab.nodes.map((n) => [n.mac.toLowerCase(), n.name]));
  let out: string;
  try {
    out = (
      await lab.exec(lab.client, [
        "arping",
        "-c",
        String(count),
        "-w",
        String(count + 1),
        "-I",
        "eth0",
        ip,
      ])
    ).stdout;
  } catch (e: unknown) {
    out = (e as { stdout?: string }).stdout ?? "";
  }
  const macs = [...out.matchAll(/reply from \S+ \[([0-9A-Fa-f:]+)\]/g)].map((m) =>
    (m[1] ?? "").toLowerCase(),
  );
  return [...new Set(macs.map((m) => byMac.get(m) ?? `unknown ${m}`))].sort();
}

/** The one node answering ARP for `ip` (other than `not`), waited for up to 30 s. */
export async function owner(lab: Lab, ip: string, what: string, not?: string): Promise<string> {
  return eventually(
    what,
    async () => {
      const a = await answering(lab, ip, 1);
      return a.length === 1 && a[0] !== not ? a[0] : undefined;
    },
    30_000,
  );
}

/** The first IP in the status of Service `namespace/name`, waited for up to 30 s. */
export async function serviceIP(lab: Lab, namespace: string, name: string): Promise<string> {
  const core = loadKubeConfig(lab.kubeconfig).makeApiClient(CoreV1Api);
  return eventually(
    `the IP of Service ${namespace}/${name}`,
    async () =>
      (await core.readNamespacedService({ name, namespace })).status?.loadBalancer?.ingress?.[0]
        ?.ip,
    30_000,
  );
}
