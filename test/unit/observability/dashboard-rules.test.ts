import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { packageRoot } from "../../../src/util/paths.js";
import { exportedMetricNames } from "../../helpers/metric-names.js";
import { prereqs } from "../../helpers/prereq.js";

// The Grafana dashboard (charts/barelb/dashboards/barelb.json) and the alert rules
// (config/prometheus-rules.yaml; the chart's PrometheusRule is checked equal to it in
// test/integration/chart.test.ts) use only metrics the code exports, and the rules are valid
// PromQL that fires when it should (promtool, from Debian's prometheus package).

const root = packageRoot();
const dashboardPath = join(root, "charts", "barelb", "dashboards", "barelb.json");
const rulesPath = join(root, "config", "prometheus-rules.yaml");
const run = promisify(execFile);

interface Target {
  expr: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
}
interface Dashboard {
  uid: string;
  title: string;
  templating: { list: { name: string; type: string; query: string }[] };
  panels: Panel[];
}
interface Rule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}

const dashboard = JSON.parse(readFileSync(dashboardPath, "utf8")) as Dashboard;
const rules = parse(readFileSync(rulesPath, "utf8")) as RuleFile;
const allRules = rules.groups.flatMap((g) => g.rules);

/** The barelb_ metric names a PromQL expression reads. */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\bbarelb_[a-z0-9_]*[a-z0-9]\b/g)].map((m) => m[0]);
}

/** The names in `used` that no metric exports (a histogram's _bucket/_sum/_count are its own). */
async function unknown(used: readonly string[]): Promise<string[]> {
  const exported = await exportedMetricNames();
  return used.filter(
    (n) => !exported.has(n) && !exported.has(n.replace(/_(bucket|sum|count)$/, "")),
  );
}

describe("unknown", () => {
  it("knows a histogram's _bucket series, and no made-up name", async () => {
    expect(await unknown(["barelb_heartbeat_timer_late_seconds_bucket"])).toEqual([]);
    expect(await unknown(["barelb_nope_bucket", "barelb_nope"])).toEqual([
      "barelb_nope_bucket",
      "barelb_nope",
    ]);
  });
});

describe("the Grafana dashboard", () => {
  const panels = dashboard.panels.filter((p) => p.type !== "row");
  const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));

  it("asks for a Prometheus data source and uses no other, by no fixed uid", () => {
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: "datasource", type: "datasource", query: "prometheus" }),
    );
    for (const p of panels) {
      expect(p.datasource, p.title).toEqual({ type: "prometheus", uid: "${datasource}" });
      for (const t of p.targets ?? []) expect(t.datasource).toEqual(p.datasource);
    }
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
  });

  it("queries only metrics the code exports", async () => {
    expect(exprs.length).toBeGreaterThan(20);
    expect(await unknown(exprs.flatMap(metricsIn))).toEqual([]);
  });

  it("shows pools, Services, config, leader, speakers, heartbeats, ARP/NDP, BGP, warnings and processes", () => {
    const used = new Set(exprs.flatMap(metricsIn).map((n) => n.replace(/_bucket$/, "")));
    for (const name of [
      "barelb_address_pool_addresses_total",
      "barelb_address_pool_addresses_in_use",
      "barelb_services_assigned",
      "barelb_allocation_failures_total",
      "barelb_config_loaded",
      "barelb_config_stale",
      "barelb_controller_leader",
      "barelb_speaker_members",
      "barelb_speaker_fenced",
      "barelb_speaker_api_healthy",
      "barelb_speaker_announced",
      "barelb_speaker_ownership_changes_total",
      "barelb_heartbeat_timer_late_seconds",
      "barelb_heartbeats_sent_total",
      "barelb_heartbeats_received_total",
      "barelb_heartbeats_dropped_total",
      "barelb_requests_received_total",
      "barelb_replies_sent_total",
      "barelb_send_failures_total",
      "barelb_controller_process_resident_memory_bytes",
      "barelb_speaker_process_resident_memory_bytes",
      "barelb_controller_process_cpu_seconds_total",
      "barelb_speaker_process_cpu_seconds_total",
      "barelb_config_warnings",
      "barelb_speaker_node_warnings",
      "barelb_controller_foreign_load_balancers",
      "barelb_speaker_address_conflicts_total",
      "barelb_speaker_announce_failed",
      "barelb_speaker_bgp_session_up",
      "barelb_speaker_bfd_session_up",
      "barelb_speaker_bgp_prefixes_advertised",
    ]) {
      expect(used, name).toContain(name);
    }
  });
});

describe("the alert rules (config/prometheus-rules.yaml)", () => {
  it("has the ten alerts, each with a for, a severity, a summary and a description", () => {
    expect(allRules.map((r) => r.alert)).toEqual([
      "BarelbConfigRefused",
      "BarelbPoolNearlyExhausted",
      "BarelbIPNotAnnounced",
      "BarelbSpeakerFenced",
      "BarelbAnnouncementSendFailures",
      "BarelbAnnounceFailed",
      "BarelbSetupWarning",
      "BarelbAddressConflict",
      "BarelbBGPSessionDown",
      "BarelbBFDSessionDown",
    ]);
    for (const r of allRules) {
      expect(r.for, r.alert).toMatch(/^[0-9]+[smh]$/);
      expect(["warning", "critical"], r.alert).toContain(r.labels.severity);
      expect(r.annotations.summary, r.alert).toBeTruthy();
      expect(r.annotations.description, r.alert).toBeTruthy();
    }
  });

  it("reads only metrics the code exports", async () => {
    const used = allRules.flatMap((r) => metricsIn(r.expr));
    expect(used.length).toBeGreaterThan(5);
    expect(await unknown(used)).toEqual([]);
  });
});

describe.runIf(prereqs("promtool checks of the alert rules", ["promtool"]))("promtool", () => {
  let work = "";
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "barelb-rules-"));
  });
  afterAll(async () => {
    if (work !== "") await rm(work, { recursive: true, force: true });
  });

  it("check rules: the rule file is valid", async () => {
    const { stdout } = await run("promtool", ["check", "rules", rulesPath]);
    expect(stdout).toContain("SUCCESS: 10 rules found");
  });

  it("test rules: each alert fires on the series it is for, and not on the others", async () => {
    // Without annotations: promtool compares them whole, and their wording is not the point.
    const bare: RuleFile = {
      groups: rules.groups.map((g) => ({
        ...g,
        rules: g.rules.map(({ annotations: _a, ...r }) => r as Rule),
      })),
    };
    await writeFile(join(work, "rules.yaml"), stringify(bare));
    const leader = [
      { series: 'barelb_controller_leader{instance="c1:7472"}', values: "1x40" },
      // A replica that lost the lead keeps its last pool gauges: they must not count.
      { series: 'barelb_controller_leader{instance="c2:7472"}', values: "0x40" },
    ];
    const pool = (instance: string, pool: string, inUse: number, total: number) => [
      {
        series: `barelb_address_pool_addresses_in_use{instance="${instance}",pool="${pool}",family="IPv4"}`,
        values: `${inUse}x40`,
      },
      {
        series: `barelb_address_pool_addresses_total{instance="${instance}",pool="${pool}",family="IPv4"}`,
        values: `${total}x40`,
      },
    ];
    const announced = (instance: string, ip: string) => ({
      series: `barelb_speaker_announced{instance="${instance}",ip="${ip}"}`,
      values: "1x40",
    });
    const at = (minutes: number, alertname: string, ...alerts: Record<string, string>[]) => ({
      eval_time: `${minutes}m`,
      alertname,
      exp_alerts: alerts.map((exp_labels) => ({ exp_labels })),
    });
    const tests = [
      {
        interval: "1m",
        input_series: [{ series: 'barelb_config_stale{instance="c1:7472"}', values: "0 1x20" }],
        alert_rule_test: [
          at(4, "BarelbConfigRefused"),
          at(7, "BarelbConfigRefused", { instance: "c1:7472", severity: "warning" }),
        ],
      },
      {
        interval: "1m",
        input_series: [
          ...leader,
          ...pool("c1:7472", "a", 95, 100),
          ...pool("c1:7472", "b", 10, 100),
          ...pool("c2:7472", "b", 99, 100),
        ],
        alert_rule_test: [
          at(10, "BarelbPoolNearlyExhausted"),
          at(20, "BarelbPoolNearlyExhausted", { pool: "a", family: "IPv4", severity: "warning" }),
        ],
      },
      {
        // Three IPs held, two announced (one by two nodes while it moves): one IP unannounced.
        interval: "1m",
        input_series: [
          ...leader,
          ...pool("c1:7472", "a", 3, 100),
          ...pool("c2:7472", "a", 0, 100),
          announced("s1:7473", "192.0.2.1"),
          announced("s1:7473", "192.0.2.2"),
          announced("s2:7473", "192.0.2.2"),
        ],
        alert_rule_test: [
          at(3, "BarelbIPNotAnnounced"),
          at(6, "BarelbIPNotAnnounced", { severity: "critical" }),
        ],
      },
      {
        interval: "1m",
        input_series: [
          ...leader,
          ...pool("c1:7472", "a", 3, 100),
          announced("s1:7473", "192.0.2.1"),
          announced("s1:7473", "192.0.2.2"),
          announced("s2:7473", "192.0.2.3"),
        ],
        alert_rule_test: [at(6, "BarelbIPNotAnnounced")],
      },
      {
        // No speaker announces anything at all (every speaker down).
        interval: "1m",
        input_series: [...leader, ...pool("c1:7472", "a", 3, 100)],
        alert_rule_test: [at(6, "BarelbIPNotAnnounced", { severity: "critical" })],
      },
      {
        interval: "1m",
        input_series: [
          { series: 'barelb_speaker_fenced{instance="s1:7473"}', values: "0 0 1x20" },
          { series: 'barelb_speaker_fenced{instance="s2:7473"}', values: "0x20" },
        ],
        alert_rule_test: [
          at(3, "BarelbSpeakerFenced"),
          at(6, "BarelbSpeakerFenced", { instance: "s1:7473", severity: "warning" }),
        ],
      },
      {
        interval: "1m",
        input_series: [
          {
            series:
              'barelb_send_failures_total{instance="s1:7473",protocol="arp",interface="eth0",code="ENOBUFS"}',
            values: "0+1x40",
          },
          {
            series:
              'barelb_send_failures_total{instance="s2:7473",protocol="ndp",interface="eth0",code="EPERM"}',
            values: "5x40",
          },
        ],
        alert_rule_test: [
          at(8, "BarelbAnnouncementSendFailures"),
          at(25, "BarelbAnnouncementSendFailures", {
            instance: "s1:7473",
            protocol: "arp",
            interface: "eth0",
            code: "ENOBUFS",
            severity: "warning",
          }),
        ],
      },
      {
        interval: "1m",
        input_series: [
          { series: 'barelb_speaker_announce_failed{instance="s1:7473"}', values: "0 0 2x20" },
          { series: 'barelb_speaker_announce_failed{instance="s2:7473"}', values: "0x20" },
        ],
        alert_rule_test: [
          at(4, "BarelbAnnounceFailed"),
          at(8, "BarelbAnnounceFailed", { instance: "s1:7473", severity: "warning" }),
        ],
      },
      {
        // One finding of each source; a replica's and a node's zero gauges do not count.
        interval: "1m",
        input_series: [
          {
            series: 'barelb_config_warnings{instance="c1:7472",kind="AllNodesExcluded"}',
            values: "1x30",
          },
          {
            series: 'barelb_config_warnings{instance="c1:7472",kind="PoolOverlapsNode"}',
            values: "0x30",
          },
          {
            series: 'barelb_speaker_node_warnings{instance="s1:7473",kind="WirelessInterface"}',
            values: "1x30",
          },
          {
            series: 'barelb_speaker_node_warnings{instance="s2:7473",kind="WirelessInterface"}',
            values: "0x30",
          },
          {
            series: 'barelb_controller_foreign_load_balancers{instance="c1:7472",kind="ServiceLB"}',
            values: "0 0 0 0 0 0 0 0 0 0 1x20",
          },
        ],
        alert_rule_test: [
          at(10, "BarelbSetupWarning"),
          at(
            20,
            "BarelbSetupWarning",
            { kind: "AllNodesExcluded", severity: "warning" },
            { kind: "WirelessInterface", instance: "s1:7473", severity: "warning" },
          ),
          at(
            27,
            "BarelbSetupWarning",
            { kind: "AllNodesExcluded", severity: "warning" },
            { kind: "WirelessInterface", instance: "s1:7473", severity: "warning" },
            { kind: "ServiceLB", severity: "warning" },
          ),
        ],
      },
      {
        interval: "1m",
        input_series: [
          {
            series: 'barelb_speaker_address_conflicts_total{instance="s1:7473",family="IPv4"}',
            values: "0 0 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
          },
          {
            series: 'barelb_speaker_address_conflicts_total{instance="s2:7473",family="IPv6"}',
            values: "3x30",
          },
        ],
        alert_rule_test: [
          at(2, "BarelbAddressConflict"),
          at(6, "BarelbAddressConflict", {
            instance: "s1:7473",
            family: "IPv4",
            severity: "warning",
          }),
          at(25, "BarelbAddressConflict"),
        ],
      },
      {
        // One BGP session drops (its BFD session stays up); another, to an IPv6 peer on
        // another port, stays up.
        interval: "1m",
        input_series: [
          {
            series: 'barelb_speaker_bgp_session_up{instance="s1:7473",node="n1",peer="192.0.2.5"}',
            values: "1 1 0x20",
          },
          {
            series:
              'barelb_speaker_bgp_session_up{instance="s2:7473",node="n2",peer="[2001:db8::5]:1179"}',
            values: "1x20",
          },
          {
            series: 'barelb_speaker_bfd_session_up{instance="s1:7473",node="n1",peer="192.0.2.5"}',
            values: "1x20",
          },
        ],
        alert_rule_test: [
          at(3, "BarelbBGPSessionDown"),
          at(5, "BarelbBGPSessionDown", {
            instance: "s1:7473",
            node: "n1",
            peer: "192.0.2.5",
            severity: "warning",
          }),
          at(10, "BarelbBFDSessionDown"),
        ],
      },
      {
        // A BFD session drops while its BGP session still counts as up.
        interval: "1m",
        input_series: [
          {
            series:
              'barelb_speaker_bfd_session_up{instance="s2:7473",node="n2",peer="[2001:db8::5]:1179"}',
            values: "1 1 0x20",
          },
          {
            series: 'barelb_speaker_bfd_session_up{instance="s1:7473",node="n1",peer="192.0.2.5"}',
            values: "1x20",
          },
          {
            series:
              'barelb_speaker_bgp_session_up{instance="s2:7473",node="n2",peer="[2001:db8::5]:1179"}',
            values: "1x20",
          },
        ],
        alert_rule_test: [
          at(2, "BarelbBFDSessionDown"),
          at(3, "BarelbBFDSessionDown", {
            instance: "s2:7473",
            node: "n2",
            peer: "[2001:db8::5]:1179",
            severity: "warning",
          }),
          at(10, "BarelbBGPSessionDown"),
        ],
      },
    ];
    const testFile = join(work, "rules.test.yaml");
    await writeFile(
      testFile,
      stringify({ rule_files: ["rules.yaml"], evaluation_interval: "1m", tests }),
    );
    const r = await run("promtool", ["test", "rules", testFile]).catch((e: unknown) => {
      const { stdout, stderr } = e as { stdout?: string; stderr?: string };
      return { stdout: stdout ?? "", stderr: stderr ?? "" };
    });
    expect(r.stdout + r.stderr).toContain("SUCCESS");
  });
});
