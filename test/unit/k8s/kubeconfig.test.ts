import { mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  credentialsFromFile,
  inClusterCredentials,
  KubeconfigError,
  loadCredentials,
} from "../../../src/k8s/kubeconfig.js";

// Kubeconfig files written to a temp dir, read the way the controller and speaker read them.

const PEM = (what: string) => `-----BEGIN ${what}-----\nAAAA\n-----END ${what}-----\n`;
const b64 = (s: string) => Buffer.from(s).toString("base64");

function kubeconfig(cluster: Record<string, unknown>, user: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    "current-context": "ctx",
    contexts: [
      { name: "other", context: { cluster: "nope", user: "nope" } },
      { name: "ctx", context: { cluster: "c", user: "u" } },
    ],
    clusters: [{ name: "c", cluster: { server: "https://10.0.0.1:6443/", ...cluster } }],
    users: [{ name: "u", user }],
  });
}

describe("kubeconfig loading", () => {
  let dir = "";
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "barelb-kc-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const write = async (name: string, text: string) => {
    const p = join(dir, name);
    await writeFile(p, text);
    return p;
  };

  it("reads the current context's server and inline token", async () => {
    const p = await write(
      "config",
      kubeconfig({ "insecure-skip-tls-verify": true }, { token: "abc" }),
    );
    const c = credentialsFromFile(p);
    expect(c.server).toBe("https://10.0.0.1:6443");
    expect(c.token()).toBe("abc");
    expect(c.insecureSkipTlsVerify).toBe(true);
    expect(c.ca).toBeUndefined();
    expect(c.cert).toBeUndefined();
  });

  it("reads YAML as well as JSON", async () => {
    const yaml = [
      "apiVersion: v1",
      "current-context: ctx",
      "contexts: [{name: ctx, context: {cluster: c, user: u}}]",
      "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:8080'}}]",
      "users: [{name: u, user: {}}]",
    ].join("\n");
    const c = credentialsFromFile(await write("config", yaml));
    expect(c.server).toBe("http://127.0.0.1:8080");
    expect(c.token()).toBeUndefined();
  });

  it("reads client certificate, key and CA from inline data", async () => {
    const p = await write(
      "config",
      kubeconfig(
        { "certificate-authority-data": b64(PEM("CA")) },
        {
          "client-certificate-data": b64(PEM("CERTIFICATE")),
          "client-key-data": b64(PEM("KEY")),
        },
      ),
    );
    const c = credentialsFromFile(p);
    expect(c.ca?.toString()).toBe(PEM("CA"));
    expect(c.cert?.toString()).toBe(PEM("CERTIFICATE"));
    expect(c.key?.toString()).toBe(PEM("KEY"));
    expect(c.insecureSkipTlsVerify).toBe(false);
  });

  it("reads the CA, certificate and key from files relative to the kubeconfig", async () => {
    await write("ca.crt", PEM("CA"));
    await write("client.crt", PEM("CERTIFICATE"));
    await write("client.key", PEM("KEY"));
    const p = await write(
      "config",
      kubeconfig(
        { "certificate-authority": "ca.crt" },
        { "client-certificate": join(dir, "client.crt"), "client-key": "client.key" },
      ),
    );
    const c = credentialsFromFile(p);
    expect(c.ca?.toString()).toBe(PEM("CA"));
    expect(c.cert?.toString()).toBe(PEM("CERTIFICATE"));
    expect(c.key?.toString()).toBe(PEM("KEY"));
  });

  it("reads a tokenFile, and again after a minute (tokens rotate)", async () => {
    await write("token", "first\n");
    let now = 0;
    const p = await write("config", kubeconfig({}, { tokenFile: "token" }));
    const c = credentialsFromFile(p, { now: () => now });
    expect(c.token()).toBe("first");
    await write("token", "second\n");
    now = 59_000;
    expect(c.token()).toBe("first");
    now = 60_000;
    expect(c.token()).toBe("second");
    await rm(join(dir, "token"));
    now = 200_000;
    expect(c.token()).toBe("second"); // a failed re-read keeps the last token
  });

  it("refuses exec plugins and auth providers, naming them", async () => {
    const exec = await write(
      "exec",
      kubeconfig({}, { exec: { command: "aws", apiVersion: "client.authentication.k8s.io/v1" } }),
    );
    expect(() => credentialsFromFile(exec)).toThrow(KubeconfigError);
    expect(() => credentialsFromFile(exec)).toThrow(/unsupported authentication exec/);
    const ap = await write("ap", kubeconfig({}, { "auth-provider": { name: "oidc" } }));
    expect(() => credentialsFromFile(ap)).toThrow(/unsupported authentication auth-provider/);
  });

  it("explains what is missing or broken", async () => {
    expect(() => credentialsFromFile(join(dir, "missing"))).toThrow(/cannot read kubeconfig/);
    const noCtx = await write("a", JSON.stringify({ clusters: [] }));
    expect(() => credentialsFromFile(noCtx)).toThrow(/no current-context/);
    const badCa = await write("b", kubeconfig({ "certificate-authority": "nope.crt" }, {}));
    expect(() => credentialsFromFile(badCa)).toThrow(/cannot read .*CA .*nope\.crt/);
    const halfCert = await write("c", kubeconfig({}, { "client-certificate-data": b64("x") }));
    expect(() => credentialsFromFile(halfCert)).toThrow(/both certificate and key/);
  });

  it("prefers an explicit path, then the first $KUBECONFIG entry, then ~/.kube/config", async () => {
    const a = await write("a", kubeconfig({}, { token: "from-a" }));
    const b = await write("b", kubeconfig({}, { token: "from-b" }));
    const env = { KUBECONFIG: `${b}:${a}` };
    expect(loadCredentials(a, { env }).token()).toBe("from-a");
    expect(loadCredentials(undefined, { env }).token()).toBe("from-b");
    const home = join(dir, "home");
    await write("home-config", kubeconfig({}, { token: "from-home" }));
    await mkdir(join(home, ".kube"), { recursive: true });
    await rename(join(dir, "home-config"), join(home, ".kube", "config"));
    expect(loadCredentials(undefined, { env: {}, home }).token()).toBe("from-home");
    expect(() => loadCredentials(undefined, { env: {}, home: join(dir, "none") })).toThrow(
      /no kubeconfig/,
    );
  });

  it("uses the in-cluster ServiceAccount when there is no kubeconfig", async () => {
    await write("token", "sa-token");
    await write("ca.crt", PEM("CA"));
    let now = 0;
    const opts = {
      env: { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" },
      home: join(dir, "none"),
      inClusterDir: dir,
      now: () => now,
    };
    const c = loadCredentials(undefined, opts);
    expect(c.server).toBe("https://10.96.0.1:443");
    expect(c.ca?.toString()).toBe(PEM("CA"));
    expect(c.token()).toBe("sa-token");
    await write("token", "rotated");
    now = 61_000;
    expect(c.token()).toBe("rotated");

    const v6 = inClusterCredentials({
      ...opts,
      env: { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "6443" },
    });
    expect(v6.server).toBe("https://[fd00::1]:6443");
    expect(() => inClusterCredentials({ ...opts, env: {} })).toThrow(/KUBERNETES_SERVICE_HOST/);
  });
});
