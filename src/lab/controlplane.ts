import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { request as httpRequest } from "node:http";
import { createServer } from "node:net";
import { join } from "node:path";
import { stringify } from "yaml";
import { packageRoot } from "../util/paths.js";
import { terminate, type ProcessRef } from "../util/proc.js";
import { runBuildScript } from "./build-script.js";
import { launch, waitFor } from "./daemon.js";

/**
 * A real Kubernetes control plane (etcd + kube-apiserver, built from pinned Go modules by
 * scripts/lab/build.sh) for barelb's integration tests and the lab. RBAC is on, and
 * ServiceAccount tokens are signed, so callers can act as a ServiceAccount and be refused.
 */

/** Builds (first time) or finds (cached) the binaries; returns their directory. */
export async function ensureControlPlaneBinaries(
  onProgress: (line: string) => void = () => undefined,
): Promise<string> {
  if (process.env.BARELB_CONTROLPLANE_BIN) return process.env.BARELB_CONTROLPLANE_BIN;
  return runBuildScript(
    join(packageRoot(), "scripts", "lab", "build.sh"),
    [],
    onProgress,
    "could not build kube-apiserver and etcd from Go modules",
  );
}

export interface ControlPlaneOptions {
  /** Address the API server binds to and advertises: 127.0.0.1, or a lab bridge address. */
  bindAddress: string;
  /** Holds etcd data, keys, certificates, logs and the kubeconfig. Must exist. */
  workDir: string;
  binDir: string;
  /** Tie etcd and kube-apiserver to this process's life (tests); off for `lab up`. */
  tied: boolean;
  /** Service ClusterIP ranges (comma-separated, one per family); default: bookkeeping ranges. */
  serviceClusterIPRange?: string;
}

export interface ControlPlaneInfo {
  /** https://address:port */
  server: string;
  kubeconfigPath: string;
  /** PEM bundle that verifies the API server's certificate. */
  caPem: string;
  adminToken: string;
  etcd: ProcessRef;
  apiserver: ProcessRef;
}

export interface ControlPlane extends ControlPlaneInfo {
  /** Stops kube-apiserver, then etcd. Data stays in workDir for the caller to remove. */
  stop(): Promise<void>;
}

/**
 * The Service ClusterIP ranges of a lab without kube-proxy: bookkeeping inside the API server,
 * never on any interface and never a packet's destination.
 */
const defaultServiceClusterIPRange = "10.96.0.0/16,fd00:10:96::/108";

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const { workDir, bindAddress } = opts;
  const pki = join(workDir, "pki");
  const logs = join(workDir, "logs");
  await mkdir(pki, { recursive: true });
  await mkdir(logs, { recursive: true });

  // ServiceAccount token signing key (ES256) and a static admin token (system:masters).
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  await writeFile(join(pki, "sa.key"), privateKey.export({ type: "pkcs8", format: "pem" }), {
    mode: 0o600,
  });
  await writeFile(join(pki, "sa.pub"), publicKey.export({ type: "spki", format: "pem" }));
  const adminToken = randomBytes(24).toString("hex");
  await writeFile(
    join(pki, "tokens.csv"),
    `${adminToken},barelb-admin,barelb-admin,"system:masters"\n`,
    {
      mode: 0o600,
    },
  );

  const daemon = (name: string) => ({
    name,
    bin: join(opts.binDir, name),
    logFile: join(logs, `${name}.log`),
    tied: opts.tied,
  });
  const etcdClientPort = await freePort("127.0.0.1");
  const etcdPeerPort = await freePort("127.0.0.1");
  const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
  const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
  const etcd = launch(daemon("etcd"), [
    "--name=barelb",
    `--data-dir=${join(workDir, "etcd")}`,
    `--listen-client-urls=${etcdUrl}`,
    `--advertise-client-urls=${etcdUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=barelb=${peerUrl}`,
    // A throwaway test store: durability across power loss does not matter, speed does.
    "--unsafe-no-fsync",
    "--log-level=warn",
  ]);
  const stopEtcd = () => terminate(etcd, 10_000);
  try {
    await waitFor("etcd", etcd, join(logs, "etcd.log"), 30_000, () => etcdHealthy(etcdUrl));
  } catch (e: unknown) {
    await stopEtcd();
    throw e;
  }

  const port = await freePort(bindAddress);
  const apiserver = launch(daemon("kube-apiserver"), [
    `--etcd-servers=${etcdUrl}`,
    `--bind-address=${bindAddress}`,
    `--advertise-address=${bindAddress}`,
    `--secure-port=${port}`,
    `--cert-dir=${pki}`,
    `--token-auth-file=${join(pki, "tokens.csv")}`,
    "--authorization-mode=RBAC",
    "--service-account-issuer=https://kubernetes.default.svc",
    `--service-account-key-file=${join(pki, "sa.pub")}`,
    `--service-account-signing-key-file=${join(pki, "sa.key")}`,
    `--service-cluster-ip-range=${opts.serviceClusterIPRange ?? defaultServiceClusterIPRange}`,
    // Reach kubelets (logs, exec) at their InternalIP: the lab has no DNS for node names.
    "--kubelet-preferred-address-types=InternalIP",
    "--profiling=false",
    "--v=0",
  ]);
  const server = `https://${bindAddress.includes(":") ? `[${bindAddress}]` : bindAddress}:${port}`;
  const certFile = join(pki, "apiserver.crt");
  let caPem = "";
  const stop = async () => {
    await terminate(apiserver, 15_000);
    await stopEtcd();
  };
  try {
    await waitFor(
      "kube-apiserver",
      apiserver,
      join(logs, "kube-apiserver.log"),
      90_000,
      async () => {
        if (!existsSync(certFile)) return false;
        caPem = await readFile(certFile, "utf8");
        return apiReady(server, caPem, adminToken);
      },
    );
  } catch (e: unknown) {
    await stop();
    throw e;
  }

  const kubeconfigPath = join(workDir, "kubeconfig");
  await writeFile(kubeconfigPath, kubeconfigYaml(server, caPem, adminToken), { mode: 0o600 });
  return { server, kubeconfigPath, caPem, adminToken, etcd, apiserver, stop };
}

/** A kubeconfig for `server` that authenticates with a bearer token. */
export function kubeconfigYaml(
  server: string,
  caPem: string,
  token: string,
  user = "barelb-admin",
): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "barelb-lab",
        cluster: { server, "certificate-authority-data": Buffer.from(caPem).toString("base64") },
      },
    ],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: "barelb-lab", context: { cluster: "barelb-lab", user } }],
    "current-context": "barelb-lab",
  });
}

function etcdHealthy(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest(`${url}/health`, { timeout: 2_000 }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve(res.statusCode === 200 && body.includes('"true"')));
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

function apiReady(server: string, ca: string, token: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      `${server}/readyz`,
      { ca, headers: { authorization: `Bearer ${token}` }, timeout: 2_000 },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode === 200));
      },
    );
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

/** A TCP port free on `host` right now. */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
