import type { Counter as CounterT, Gauge as GaugeT, Registry } from "prom-client";
import { Counter, Gauge, Histogram } from "../observability/prom-lite.js";
import type { DataPlaneMetrics, Protocol } from "../dataplane/index.js";
import type { HeartbeatMetrics } from "./heartbeat.js";
import { PerIPMetrics } from "./ip-metrics.js";
import { NODE_WARNING_KINDS } from "./node-warnings.js";
import type { SessionReport } from "../routing/bgp-speaker.js";

/**
 * The speaker's Prometheus metrics. Also the data plane's metrics sink: per-IP counters
 * exist only for IPs this node owns (see PerIPMetrics), so their label sets stay bounded.
 */
export class SpeakerMetrics implements DataPlaneMetrics {
  /** The heartbeat transport's counters (a separate object: its method names overlap). */
  readonly heartbeat: HeartbeatMetrics;
  readonly members: GaugeT;
  readonly membershipChanges: CounterT<"change" | "reason">;
  readonly ownershipChanges: CounterT<"change">;
  readonly apiHealthy: GaugeT;
  readonly fenced: GaugeT;
  /** IPs this node is elected for but has none of the pool's interfaces to announce on. */
  readonly announceFailed: GaugeT;
  /** 1 per kind of node-warnings.ts this node has now. */
  readonly nodeWarnings: GaugeT<"kind">;
  readonly addressConflicts: CounterT<"family">;
  /** Prefixes sent to a router in UPDATEs, by peer and change (announced, withdrawn). */
  readonly bgpRouteUpdates: CounterT<"peer" | "change">;
  /** BGP sessions that ended or failed to open, by peer and reason (session.ts DownReason). */
  readonly bgpSessionFailures: CounterT<"peer" | "reason">;
  private readonly perIP: PerIPMetrics;
  private readonly ignoredFrames: CounterT<"protocol" | "interface" | "reason">;
  private readonly sendFailures: CounterT<"protocol" | "interface" | "code">;

  /** `announcedIPs`: the IPs this node announces now. */
  constructor(
    private readonly registry: Registry,
    announcedIPs: () => Iterable<string>,
  ) {
    const registers = [registry];
    this.perIP = new PerIPMetrics(registry, announcedIPs);
    this.members = new Gauge({
      name: "barelb_speaker_members",
      help: "Speakers eligible to announce, as this node sees them",
      registers,
    });
    this.membershipChanges = new Counter({
      name: "barelb_speaker_membership_changes_total",
      help: "Speakers joining or leaving the eligible set, by reason",
      labelNames: ["change", "reason"],
      registers,
    });
    this.ownershipChanges = new Counter({
      name: "barelb_speaker_ownership_changes_total",
      help: "IPs this node started (gained) or stopped (lost) announcing",
      labelNames: ["change"],
      registers,
    });
    this.apiHealthy = new Gauge({
      name: "barelb_speaker_api_healthy",
      help: "1 while this node renews its Lease",
      registers,
    });
    this.fenced = new Gauge({
      name: "barelb_speaker_fenced",
      help: "1 while this node stands down: cut off from the API server while other speakers are not",
      registers,
    });
    this.announceFailed = new Gauge({
      name: "barelb_speaker_announce_failed",
      help: "IPs this node should announce but cannot: it has none of their pool's interfaces",
      registers,
    });
    this.nodeWarnings = new Gauge({
      name: "barelb_speaker_node_warnings",
      help: "1 while this node has a setup that makes announcements fail, by kind",
      labelNames: ["kind"],
      registers,
    });
    for (const kind of NODE_WARNING_KINDS) this.nodeWarnings.set({ kind }, 0);
    this.addressConflicts = new Counter({
      name: "barelb_speaker_address_conflicts_total",
      help:
        "Another host on the LAN using an IP this node was about to announce (its probe was " +
        "answered) or announces (a claim still standing 3 s later), by family",
      labelNames: ["family"],
      registers,
    });
    this.bgpRouteUpdates = new Counter({
      name: "barelb_speaker_bgp_route_updates_total",
      help: "Prefixes sent to a router in UPDATE messages, by peer and change (announced, withdrawn)",
      labelNames: ["peer", "change"],
      registers,
    });
    this.bgpSessionFailures = new Counter({
      name: "barelb_speaker_bgp_session_failures_total",
      help:
        "BGP sessions that went down or could not be opened, by peer and reason (connect-failed, " +
        "connection-lost, hold-timer-expired, notification-received, open-refused, message-error, " +
        "fsm-error, bfd-down)",
      labelNames: ["peer", "reason"],
      registers,
    });
    const hbSent = new Counter({
      name: "barelb_heartbeats_sent_total",
      help: "Heartbeat datagrams sent to peers",
      registers,
    });
    const hbReceived = new Counter({
      name: "barelb_heartbeats_received_total",
      help: "Heartbeat datagrams received",
      registers,
    });
    const hbFailed = new Counter({
      name: "barelb_heartbeat_send_failures_total",
      help: "Heartbeat datagrams that could not be sent, by error code",
      labelNames: ["code"],
      registers,
    });
    const hbDropped = new Counter({
      name: "barelb_heartbeats_dropped_total",
      help:
        "Heartbeat datagrams refused, by reason: malformed (short, magic, version, length, flags, " +
        "node-name, ...), not signed with a key this node accepts (unknown-key, old-key), forged " +
        "or altered (bad-mac), from an unknown node, from another run (bad-token), replayed or " +
        "reordered (old-incarnation, old-seq)",
      labelNames: ["reason"],
      registers,
    });
    const hbLate = new Histogram({
      name: "barelb_heartbeat_timer_late_seconds",
      help: "How late the heartbeat round fired: event-loop lag of this speaker",
      buckets: [0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2],
      registers,
    });
    this.heartbeat = {
      sent: () => hbSent.inc(),
      received: () => hbReceived.inc(),
      sendFailed: (code) => hbFailed.inc({ code }),
      dropped: (reason) => hbDropped.inc({ reason }),
      timerLate: (ms) => hbLate.observe(ms / 1000),
    };
    this.ignoredFrames = new Counter({
      name: "barelb_requests_ignored_total",
      help: "Frames received and not answered, by reason",
      labelNames: ["protocol", "interface", "reason"],
      registers,
    });
    this.sendFailures = new Counter({
      name: "barelb_send_failures_total",
      help: "Frames that could not be sent, by error code",
      labelNames: ["protocol", "interface", "code"],
      registers,
    });
  }

  /** The BGP and BFD gauges, read from the sessions at each scrape (none without peers). */
  bgpSessions(reports: () => readonly SessionReport[]): void {
    const registers = [this.registry];
    new Gauge({
      name: "barelb_speaker_bgp_session_up",
      help: "1 while the BGP session with this router is Established",
      labelNames: ["peer"],
      registers,
      collect() {
        this.reset();
        for (const r of reports()) this.set({ peer: r.peer }, r.established ? 1 : 0);
      },
    });
    new Gauge({
      name: "barelb_speaker_bgp_prefixes_advertised",
      help: "Prefixes this node advertises to this router now",
      labelNames: ["peer"],
      registers,
      collect() {
        this.reset();
        for (const r of reports()) this.set({ peer: r.peer }, r.prefixes);
      },
    });
    new Gauge({
      name: "barelb_speaker_bfd_session_up",
      help: "1 while the BFD session with this router is Up (peers with a bfd-profile only)",
      labelNames: ["peer"],
      registers,
      collect() {
        this.reset();
        for (const r of reports())
          if (r.bfd !== undefined) this.set({ peer: r.peer }, r.bfd === "Up" ? 1 : 0);
      },
    });
  }

  requestReceived(_protocol: Protocol, ip: string, iface: string): void {
    this.perIP.requestReceived(ip, iface);
  }
  replySent(_protocol: Protocol, ip: string, iface: string): void {
    this.perIP.replySent(ip, iface);
  }
  gratuitousSent(_protocol: Protocol, ip: string, iface: string): void {
    this.perIP.gratuitousSent(ip, iface);
  }
  ignored(protocol: Protocol, iface: string, reason: string): void {
    this.ignoredFrames.inc({ protocol, interface: iface, reason });
  }
  sendFailed(protocol: Protocol, iface: string, code: string): void {
    this.sendFailures.inc({ protocol, interface: iface, code });
  }

  /** An IP is no longer announced here: its counters go (the gauge follows the owned set). */
  forgetIP(ip: string): void {
    this.perIP.forget(ip);
  }
}
