/**
 * What the data plane counts. The speaker turns these calls into Prometheus metrics; here
 * they are a narrow interface and a plain in-memory implementation (tests, benchmarks,
 * `barelb status`).
 *
 * Labels are bounded: per-IP counters exist only for IPs this node owns; frames for anything
 * else are counted per interface and reason.
 */

export type Protocol = "arp" | "ndp";

export interface DataPlaneMetrics {
  /** A request (ARP request, Neighbor Solicitation) for an owned IP arrived. */
  requestReceived(protocol: Protocol, ip: string, iface: string): void;
  /** A reply for an owned IP went out. */
  replySent(protocol: Protocol, ip: string, iface: string): void;
  /** A gratuitous ARP (request + reply count as one) or unsolicited NA went out. */
  gratuitousSent(protocol: Protocol, ip: string, iface: string): void;
  /** A frame was received and not answered, for `reason`. */
  ignored(protocol: Protocol, iface: string, reason: string): void;
  /** Sending failed with the given error code (EPERM, ENOBUFS, ...). */
  sendFailed(protocol: Protocol, iface: string, code: string): void;
}

type Counts = Record<string, number>;

export interface MetricsSnapshot {
  requestsReceived: Counts;
  repliesSent: Counts;
  gratuitousSent: Counts;
  ignored: Counts;
  sendFailed: Counts;
}

/** Counts in plain objects keyed "protocol ip iface" / "protocol iface reason". */
export class CounterMetrics implements DataPlaneMetrics {
  private readonly c: MetricsSnapshot = {
    requestsReceived: {},
    repliesSent: {},
    gratuitousSent: {},
    ignored: {},
    sendFailed: {},
  };

  private static bump(counts: Counts, key: string): void {
    counts[key] = (counts[key] ?? 0) + 1;
  }

  requestReceived(protocol: Protocol, ip: string, iface: string): void {
    CounterMetrics.bump(this.c.requestsReceived, `${protocol} ${ip} ${iface}`);
  }
  replySent(protocol: Protocol, ip: string, iface: string): void {
    CounterMetrics.bump(this.c.repliesSent, `${protocol} ${ip} ${iface}`);
  }
  gratuitousSent(protocol: Protocol, ip: string, iface: string): void {
    CounterMetrics.bump(this.c.gratuitousSent, `${protocol} ${ip} ${iface}`);
  }
  ignored(protocol: Protocol, iface: string, reason: string): void {
    CounterMetrics.bump(this.c.ignored, `${protocol} ${iface} ${reason}`);
  }
  sendFailed(protocol: Protocol, iface: string, code: string): void {
    CounterMetrics.bump(this.c.sendFailed, `${protocol} ${iface} ${code}`);
  }

  /** A copy of the counts so far. */
  snapshot(): MetricsSnapshot {
    return structuredClone(this.c);
  }

  /** Sum of one counter over all keys matching `prefix`. */
  total(counter: keyof MetricsSnapshot, prefix = ""): number {
    return Object.entries(this.c[counter])
      .filter(([k]) => k.startsWith(prefix))
      .reduce((s, [, v]) => s + v, 0);
  }
}

export const noMetrics: DataPlaneMetrics = {
  requestReceived: () => undefined,
  replySent: () => undefined,
  gratuitousSent: () => undefined,
  ignored: () => undefined,
  sendFailed: () => undefined,
};
