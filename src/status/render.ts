import { table } from "../cli/table.js";
import { formatSession, type StatusReport } from "./explain.js";

/** The report for a person: the config, the pools, the Services, the nodes, then what is wrong. */
export function renderStatus(r: StatusReport): string {
  const out: string[] = [];
  out.push(
    `Config:      ${r.config.configMap}: ${r.config.state}${r.config.error === null ? "" : ` (${r.config.error})`}\n`,
  );
  out.push(
    `Controller:  ${r.controller.state}${r.controller.leader === null ? "" : ` (leader ${r.controller.leader})`}\n`,
  );
  if (r.pools.length > 0) {
    out.push("\n");
    out.push(
      table([
        ["POOL", "FAMILY", "ADDRESSES", "IN USE"],
        ...r.pools.map((p) => [p.name, p.family, String(p.total), String(p.inUse)]),
      ]),
    );
  }
  out.push("\n");
  if (r.services.length === 0) out.push("No LoadBalancer Services that barelb handles.\n");
  else
    out.push(
      table([
        ["SERVICE", "IPS", "POOL", "ANNOUNCED BY"],
        ...r.services.map((s) => [
          `${s.namespace}/${s.name}`,
          s.ips.length === 0 ? "<pending>" : s.ips.join(","),
          s.pool ?? "-",
          announcers(s),
        ]),
      ]),
    );
  if (r.nodes.length > 0) {
    out.push("\n");
    const [header, ...rows] = table([
      ["NODE", "SPEAKER", "WARNINGS"],
      ...r.nodes.map((n) => [
        n.name,
        n.state,
        n.warnings.length === 0 ? "-" : n.warnings.map((w) => w.kind).join(","),
      ]),
    ]).split("\n");
    out.push(`${header ?? ""}\n`);
    // Each node's BGP sessions on a line under its row; nodes without any show none.
    r.nodes.forEach((n, i) => {
      out.push(`${rows[i] ?? ""}\n`);
      if (n.bgpSessions.length > 0)
        out.push(`  bgp: ${n.bgpSessions.map((x) => formatSession(x)).join("; ")}\n`);
    });
  }
  const problems = [
    ...r.services
      .filter((s) => s.reason !== null)
      .map((s) => `Service ${s.namespace}/${s.name}: ${s.reason ?? ""}`),
    ...r.nodes.filter((n) => n.reason !== null).map((n) => `Node ${n.name}: ${n.reason ?? ""}`),
    ...r.warnings.map((w) => `${w.kind} (${w.object}): ${w.message}`),
    ...r.unreadable.map(
      (u) => `Not checked: you may not read ${u}, so this report leaves out what they would show`,
    ),
  ];
  out.push("\n");
  if (problems.length === 0) out.push("Nothing to report: every Service has its IPs announced.\n");
  else {
    out.push("Why:\n");
    for (const p of problems) out.push(`  - ${p}\n`);
  }
  return out.join("");
}

/** Layer 2's node per IP with its interfaces, and BGP's nodes: `n2 (eth0)`, `BGP: n1, n3`. */
function announcers(s: StatusReport["services"][number]): string {
  const parts = [
    ...s.announcedBy.map((a) => `${a.node} (${a.interfaces.join(",")})`),
    ...s.advertisedBy.map(
      (a) =>
        `BGP: ${a.nodes.slice(0, 3).join(", ")}${a.nodes.length > 3 ? ` +${a.nodes.length - 3}` : ""}`,
    ),
  ];
  return parts.length === 0 ? "-" : [...new Set(parts)].join(", ");
}
