import { expect } from "vitest";

import type { AllocationResult, ServiceRequest } from "../../../src/allocator/index.js";
import { parseConfig, type Config } from "../../../src/config/index.js";

/** Parses a config for a test, failing loudly when it is invalid. */
export function cfg(text: string): Config {
  const r = parseConfig(text);
  if (!r.ok) throw new Error(`test config invalid:\n${r.errors.map((e) => e.message).join("\n")}`);
  return r.config;
}

/** A one-family layer2 pool block for `cfg`. */
export function poolYaml(name: string, addresses: string[], extra = ""): string {
  const lines = [
    `- name: ${name}`,
    "  protocol: layer2",
    `  addresses: [${addresses.map((a) => JSON.stringify(a)).join(", ")}]`,
  ];
  for (const l of extra.split("\n")) if (l.trim() !== "") lines.push(`  ${l}`);
  return lines.join("\n");
}

export function pools(...blocks: string[]): Config {
  return cfg(`address-pools:\n${blocks.join("\n")}\n`);
}

/**
 * A Service request with sensible defaults: namespace "default" unless the name has one,
 * IPv4 single-stack, TCP/80, no sharing key, externalTrafficPolicy Cluster.
 */
export function svc(name: string, o: Partial<ServiceRequest> = {}): ServiceRequest {
  const [ns, n] = name.includes("/") ? name.split("/") : ["default", name];
  const namespace = ns ?? "default";
  return {
    key: `${namespace}/${n ?? name}`,
    namespace,
    labels: {},
    families: [4],
    familyPolicy: "SingleStack",
    requestedIPs: [],
    sharingKey: "",
    ports: [{ protocol: "TCP", port: 80 }],
    backendKey: "",
    ...o,
  };
}

/** Expects success with exactly these IPs (and pool, if given). */
export function expectIPs(r: AllocationResult, ips: string[], pool?: string, step = ""): void {
  if (!r.ok)
    throw new Error(
      `${step}: expected ${ips.join(",")}, got ${r.reason.code}: ${r.reason.message}`,
    );
  expect(r.ips, step).toEqual(ips);
  if (pool !== undefined) expect(r.pool, step).toBe(pool);
}

/** Expects failure with this code; returns the message for further checks. */
export function expectCode(r: AllocationResult, code: string, step = ""): string {
  if (r.ok) throw new Error(`${step}: expected ${code}, got ${r.ips.join(",")} from ${r.pool}`);
  expect(r.reason.code, `${step}: ${r.reason.message}`).toBe(code);
  return r.reason.message;
}
