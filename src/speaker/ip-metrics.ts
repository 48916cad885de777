import type { Registry } from "prom-client";
import type { Protocol } from "../dataplane/index.js";

/**
 * The per-IP metrics: requests received, replies sent and gratuitous sent for each owned IP
 * and interface, and the announced gauge. A speaker may own thousands of IPs, so these are
 * not prom-client metrics (about 200 bytes per label set each, measured): the counts live in
 * one map, three numbers per IP and interface, the gauge is read from the owned set, and the
 * series are written out only when /metrics is scraped. An IP's counters go when this node
 * stops announcing it, so memory follows the IPs owned now (Prometheus reads a series that
 * comes back as a counter reset).
 */

// An IP's counts: one flat array of [interface, requests, replies, gratuitous] per interface it
// was seen on (nearly always one), the cheapest shape V8 has for this.
const STRIDE = 4;
const REQUESTS = 1;
const REPLIES = 2;
const GRATUITOUS = 3;
type Counts = (string | number)[];

interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** The shape prom-client's Registry reads from a metric when it renders /metrics. */
interface CollectedMetric {
  name: string;
  help: string;
  type: "counter" | "gauge";
  aggregator: "sum";
  get(): Promise<{
    name: string;
    help: string;
    type: "counter" | "gauge";
    aggregator: "sum";
    values: Sample[];
  }>;
  reset(): void;
}

export class PerIPMetrics {
  private readonly counts = new Map<string, Counts>();

  constructor(
    registry: Registry,
    /** The IPs announced now (the gauge's series). */
    private readonly announcedIPs: () => Iterable<string>,
  ) {
    const register = (m: CollectedMetric) =>
      registry.registerMetric(m as unknown as Parameters<Registry["registerMetric"]>[0]);
    register(
      this.family(
        "barelb_speaker_announced",
        "1 for each IP this node announces",
        "gauge",
        function* (ips) {
          for (const ip of ips()) yield { labels: { ip }, value: 1 };
        },
      ),
    );
    const counter = (name: string, help: string, index: number) =>
      register(this.family(name, help, "counter", (_ips, counts) => perInterface(counts, index)));
    counter(
      "barelb_requests_received_total",
      "ARP requests / neighbor solicitations received for owned IPs",
      REQUESTS,
    );
    counter("barelb_replies_sent_total", "ARP replies / neighbor advertisements sent", REPLIES);
    counter(
      "barelb_gratuitous_sent_total",
      "Gratuitous ARPs / unsolicited neighbor advertisements sent",
      GRATUITOUS,
    );
  }

  requestReceived(ip: string, iface: string): void {
    this.bump(ip, iface, REQUESTS);
  }
  replySent(ip: string, iface: string): void {
    this.bump(ip, iface, REPLIES);
  }
  gratuitousSent(ip: string, iface: string): void {
    this.bump(ip, iface, GRATUITOUS);
  }

  /** The IP is no longer announced here: its counters go. */
  forget(ip: string): void {
    this.counts.delete(ip);
  }

  private bump(ip: string, iface: string, index: number): void {
    let c = this.counts.get(ip);
    if (c === undefined) {
      c = [iface, 0, 0, 0];
      this.counts.set(ip, c);
    }
    let at = 0;
    while (at < c.length && c[at] !== iface) at += STRIDE;
    if (at === c.length) c.push(iface, 0, 0, 0);
    c[at + index] = (c[at + index] as number) + 1;
  }

  private family(
    name: string,
    help: string,
    type: "counter" | "gauge",
    samples: (ips: () => Iterable<string>, counts: ReadonlyMap<string, Counts>) => Iterable<Sample>,
  ): CollectedMetric {
    const ips = this.announcedIPs;
    const counts = this.counts;
    return {
      name,
      help,
      type,
      aggregator: "sum",
      get: () =>
        Promise.resolve({
          name,
          help,
          type,
          aggregator: "sum" as const,
          values: [...samples(ips, counts)],
        }),
      reset: () => undefined,
    };
  }
}

function* perInterface(counts: ReadonlyMap<string, Counts>, index: number): Iterable<Sample> {
  for (const [ip, c] of counts) {
    const protocol: Protocol = ip.includes(":") ? "ndp" : "arp";
    for (let at = 0; at < c.length; at += STRIDE) {
      const value = c[at + index] as number;
      if (value > 0) yield { labels: { protocol, ip, interface: c[at] as string }, value };
    }
  }
}
