import { describe, expect, it } from "vitest";
import { Registry } from "prom-client";
import { SpeakerMetrics } from "../../../src/speaker/metrics.js";

const lines = async (r: Registry, prefix: string) =>
  (await r.metrics()).split("\n").filter((l) => l.startsWith(prefix));

describe("per-IP metrics", () => {
  it("renders the announced gauge from the owned set and counts per IP and interface", async () => {
    const registry = new Registry();
    let owned = ["192.0.2.40", "2001:db8::1:5"];
    const m = new SpeakerMetrics(registry, () => owned);
    m.requestReceived("arp", "192.0.2.40", "eth0");
    m.requestReceived("arp", "192.0.2.40", "eth0");
    m.replySent("arp", "192.0.2.40", "eth0");
    m.gratuitousSent("arp", "192.0.2.40", "eth1");
    m.gratuitousSent("ndp", "2001:db8::1:5", "eth0");

    expect(await lines(registry, "barelb_speaker_announced")).toEqual([
      'barelb_speaker_announced{ip="192.0.2.40"} 1',
      'barelb_speaker_announced{ip="2001:db8::1:5"} 1',
    ]);
    expect(await lines(registry, "barelb_requests_received_total")).toEqual([
      'barelb_requests_received_total{protocol="arp",ip="192.0.2.40",interface="eth0"} 2',
    ]);
    expect(await lines(registry, "barelb_replies_sent_total")).toEqual([
      'barelb_replies_sent_total{protocol="arp",ip="192.0.2.40",interface="eth0"} 1',
    ]);
    expect(await lines(registry, "barelb_gratuitous_sent_total")).toEqual([
      'barelb_gratuitous_sent_total{protocol="arp",ip="192.0.2.40",interface="eth1"} 1',
      'barelb_gratuitous_sent_total{protocol="ndp",ip="2001:db8::1:5",interface="eth0"} 1',
    ]);
    // HELP and TYPE as for any other metric.
    const text = await registry.metrics();
    expect(text).toContain("# TYPE barelb_gratuitous_sent_total counter");
    expect(text).toContain("# TYPE barelb_speaker_announced gauge");

    // An IP no longer announced: its gauge and its counters go.
    owned = ["2001:db8::1:5"];
    m.forgetIP("192.0.2.40");
    expect(await lines(registry, "barelb_speaker_announced")).toEqual([
      'barelb_speaker_announced{ip="2001:db8::1:5"} 1',
    ]);
    expect(await lines(registry, "barelb_requests_received_total")).toEqual([]);
    expect(await lines(registry, "barelb_gratuitous_sent_total")).toHaveLength(1);
  });
});
