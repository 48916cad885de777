import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { configValidate } from "../../../src/cli/config-commands.js";

// `barelb config validate`: the controller's parser on a file; exit code and report.

const dir = mkdtempSync(join(tmpdir(), "barelb-validate-"));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const validate = async (path: string, stdin = "") => {
  let out = "";
  const code = await configValidate(
    path,
    (s) => (out += s),
    () => Promise.resolve(stdin),
  );
  return { code, out };
};

const bare = `address-pools:
- name: default
  protocol: layer2
  addresses:
  - 192.168.3.100-192.168.3.200
`;

describe("barelb config validate", () => {
  it("accepts the MetalLB legacy config as is and summarises each pool", async () => {
    const r = await validate(file("bare.yaml", bare));
    expect(r.code).toBe(0);
    expect(r.out).toContain("config is valid: 1 pool\n");
    expect(r.out).toMatch(/^default\s+IPv4\s+101\s+yes\s+-$/m);
  });

  it("reads the config out of a ConfigMap manifest", async () => {
    const manifest = `apiVersion: v1
kind: ConfigMap
metadata:
  namespace: barelb-system
  name: barelb-config
data:
  config: |
${bare.replace(/^/gm, "    ")}`;
    const r = await validate(file("cm.yaml", manifest));
    expect(r.code).toBe(0);
    expect(r.out).toContain("(ConfigMap barelb-config, key config)");
  });

  it("reads standard input for -", async () => {
    expect((await validate("-", bare)).code).toBe(0);
  });

  it("lists every error, one per line, and exits 1", async () => {
    const bad = `address-pools:
- name: lan
  protocol: layer2
  addresses: [192.168.3.300/24, 10.0.0.9-10.0.0.1]
  colour: blue
`;
    const r = await validate(file("bad.yaml", bad));
    expect(r.code).toBe(1);
    const errors = r.out.split("\n").filter((l) => l.startsWith("error: "));
    expect(errors).toHaveLength(3);
    expect(errors.join("\n")).toContain('pool "lan": addresses[0] "192.168.3.300/24"');
    expect(errors.join("\n")).toContain('pool "lan": addresses[1] "10.0.0.9-10.0.0.1"');
    expect(errors.join("\n")).toContain('pool "lan": colour');
    expect(r.out).toContain("3 errors: the config is refused as a whole");
  });

  it("checks a BGP section: lists its mistakes, and accepts it once they are fixed", async () => {
    const bgp = `peers:
- peer-address: 192.0.2.1
  peer-asn: 64501
  my-asn: 64500
  hold-time: 2s
address-pools:
- name: routed
  protocol: bgp
  addresses: [198.51.100.0/26]
  bgp-advertisements:
  - aggregation-length: 24
`;
    const r = await validate(file("bgp.yaml", bgp));
    expect(r.code).toBe(1);
    const errors = r.out.split("\n").filter((l) => l.startsWith("error: "));
    expect(errors).toEqual([
      'error: peers[0].hold-time "2s": must be 0 (no keepalives) or at least 3s (RFC 4271)',
      expect.stringContaining('pool "routed": bgp-advertisements[0].aggregation-length "24"'),
    ]);
    const fixed = bgp.replace("hold-time: 2s", "hold-time: 3s").replace("length: 24", "length: 26");
    const again = await validate(file("bgp-fixed.yaml", fixed));
    expect(again.out.split("\n").filter((l) => l.startsWith("error: "))).toEqual([]);
    expect(again.code).toBe(0);
  });

  it("says when the file cannot be read", async () => {
    const r = await validate(join(dir, "missing.yaml"));
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^cannot read .*missing\.yaml: ENOENT/);
  });
});
