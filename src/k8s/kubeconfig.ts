import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, dirname, isAbsolute, join, resolve } from "node:path";
import { parse } from "yaml";

/**
 * Where and how to reach the API server: a kubeconfig file (explicit path, else the first
 * entry of $KUBECONFIG, else ~/.kube/config) or, in a pod, the ServiceAccount. Only what
 * barelb needs is supported: bearer tokens (inline or from a file), client certificates, a
 * CA bundle or insecure-skip-tls-verify. Exec plugins, auth providers, proxies and the like
 * are refused with an error that names them, rather than half-working.
 */

export interface Credentials {
  /** e.g. https://10.0.0.1:6443 (no trailing slash). */
  readonly server: string;
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly insecureSkipTlsVerify: boolean;
  /** The bearer token to send now, if any (re-read from its file at most once a minute). */
  token(): string | undefined;
  /** Where these came from, for error messages. */
  readonly source: string;
}

export const IN_CLUSTER_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** How often a token file is read again: bound ServiceAccount tokens rotate. */
const TOKEN_REREAD_MS = 60_000;

export class KubeconfigError extends Error {
  override name = "KubeconfigError";
}

export interface LoadOptions {
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Defaults to os.homedir(). */
  home?: string;
  /** Defaults to IN_CLUSTER_DIR. */
  inClusterDir?: string;
  /** Monotonic clock for token re-reads (tests). */
  now?: () => number;
}

/**
 * Loads credentials: `path` if given, else $KUBECONFIG (first entry), else ~/.kube/config
 * if it exists, else the in-cluster ServiceAccount.
 */
export function loadCredentials(path?: string, opts: LoadOptions = {}): Credentials {
  const env = opts.env ?? process.env;
  if (path !== undefined && path !== "") return credentialsFromFile(path, opts);
  const fromEnv = (env.KUBECONFIG ?? "").split(delimiter).find((p) => p !== "");
  if (fromEnv !== undefined) return credentialsFromFile(fromEnv, opts);
  const home = join(opts.home ?? homedir(), ".kube", "config");
  if (existsSync(home)) return credentialsFromFile(home, opts);
  if (env.KUBERNETES_SERVICE_HOST !== undefined) return inClusterCredentials(opts);
  throw new KubeconfigError(
    `no kubeconfig: none given, $KUBECONFIG unset, no ${home}, and not in a pod (KUBERNETES_SERVICE_HOST unset)`,
  );
}

/** The pod's ServiceAccount: token and CA from `inClusterDir`, server from the environment. */
export function inClusterCredentials(opts: LoadOptions = {}): Credentials {
  const env = opts.env ?? process.env;
  const dir = opts.inClusterDir ?? IN_CLUSTER_DIR;
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (host === undefined || host === "" || port === undefined || port === "") {
    throw new KubeconfigError(
      "in-cluster config needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT",
    );
  }
  const tokenPath = join(dir, "token");
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    ca: readFile(join(dir, "ca.crt"), "in-cluster CA"),
    insecureSkipTlsVerify: false,
    token: tokenFromFile(tokenPath, opts.now),
    source: `in-cluster ServiceAccount (${dir})`,
  };
}

/** Parses a kubeconfig file; relative file references are resolved against its directory. */
export function credentialsFromFile(path: string, opts: LoadOptions = {}): Credentials {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e: unknown) {
    throw new KubeconfigError(`cannot read kubeconfig ${path}`, { cause: e });
  }
  return credentialsFromText(text, { ...opts, baseDir: dirname(resolve(path)), source: path });
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses kubeconfig YAML (or JSON) text. */
export function credentialsFromText(
  text: string,
  opts: LoadOptions & { baseDir?: string; source?: string } = {},
): Credentials {
  const source = opts.source ?? "kubeconfig";
  const baseDir = opts.baseDir ?? process.cwd();
  const fail = (msg: string, cause?: unknown): never => {
    throw new KubeconfigError(`${source}: ${msg}`, cause === undefined ? undefined : { cause });
  };
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e: unknown) {
    return fail("not valid YAML", e);
  }
  if (!isObject(doc)) return fail("not a kubeconfig (expected a mapping)");
  const current = doc["current-context"];
  if (typeof current !== "string" || current === "") return fail("no current-context");
  const named = (list: string, key: string, name: string): Json => {
    const items = doc[list];
    const entry = Array.isArray(items)
      ? (items as unknown[]).find((i) => isObject(i) && i.name === name)
      : undefined;
    if (!isObject(entry)) return fail(`${list}: no entry named "${name}"`);
    const body = entry[key];
    if (!isObject(body)) return fail(`${list} "${name}" has no ${key}`);
    return body;
  };
  const context = named("contexts", "context", current);
  const clusterName = context.cluster;
  if (typeof clusterName !== "string") return fail(`context "${current}" names no cluster`);
  const cluster = named("clusters", "cluster", clusterName);
  const userName = context.user;
  const user: Json =
    typeof userName === "string" && userName !== "" ? named("users", "user", userName) : {};

  const unsupportedCluster = ["proxy-url", "tls-server-name", "disable-compression"].filter(
    (k) => cluster[k] !== undefined,
  );
  if (unsupportedCluster.length > 0) {
    fail(`cluster "${clusterName}": unsupported setting ${unsupportedCluster.join(", ")}`);
  }
  const unsupportedUser = [
    "exec",
    "auth-provider",
    "username",
    "password",
    "as",
    "as-uid",
    "as-groups",
    "as-user-extra",
  ].filter((k) => user[k] !== undefined);
  if (unsupportedUser.length > 0) {
    fail(
      `user "${String(userName)}": unsupported authentication ${unsupportedUser.join(", ")} ` +
        "(barelb supports token, tokenFile and client-certificate/client-key)",
    );
  }

  const server = cluster.server;
  if (typeof server !== "string" || server === "")
    return fail(`cluster "${clusterName}" has no server`);
  if (!/^https?:\/\//.test(server))
    return fail(`cluster "${clusterName}": server must be http(s)://…`);
  const abs = (p: string) => (isAbsolute(p) ? p : join(baseDir, p));
  const material = (obj: Json, dataKey: string, fileKey: string, what: string) => {
    const data = obj[dataKey];
    if (typeof data === "string" && data !== "") return Buffer.from(data, "base64");
    const file = obj[fileKey];
    if (typeof file === "string" && file !== "") return readFile(abs(file), `${source}: ${what}`);
    return undefined;
  };
  const ca = material(cluster, "certificate-authority-data", "certificate-authority", "CA");
  const cert = material(
    user,
    "client-certificate-data",
    "client-certificate",
    "client certificate",
  );
  const key = material(user, "client-key-data", "client-key", "client key");
  if ((cert === undefined) !== (key === undefined)) {
    fail(`user "${String(userName)}": a client certificate needs both certificate and key`);
  }
  const insecure = cluster["insecure-skip-tls-verify"] === true;
  let token: () => string | undefined = () => undefined;
  if (typeof user.token === "string" && user.token !== "") {
    const t = user.token;
    token = () => t;
  } else if (typeof user.tokenFile === "string" && user.tokenFile !== "") {
    token = tokenFromFile(abs(user.tokenFile), opts.now);
  }
  return {
    server: server.replace(/\/+$/, ""),
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    insecureSkipTlsVerify: insecure,
    token,
    source,
  };
}

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e: unknown) {
    throw new KubeconfigError(`cannot read ${what} ${path}`, { cause: e });
  }
}

/**
 * A token read from `path` now (failing if it cannot be) and again whenever it is older than
 * a minute; if a later read fails, the last token read is kept.
 */
function tokenFromFile(path: string, now: () => number = () => performance.now()): () => string {
  let token = readFile(path, "token file").toString("utf8").trim();
  let readAt = now();
  return () => {
    if (now() - readAt >= TOKEN_REREAD_MS) {
      readAt = now();
      try {
        token = readFileSync(path, "utf8").trim();
      } catch {
        // Keep the last token: the kubelet rewrites the file atomically, so this is rare.
      }
    }
    return token;
  };
}
