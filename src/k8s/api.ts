import type { Agent as HttpAgent, IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { http } from "../util/node-http.js";
import { loadCredentials, type Credentials } from "./kubeconfig.js";

/**
 * A small Kubernetes API client: plain JSON over one keep-alive connection pool per client.
 * It replaces @kubernetes/client-node in the controller and speaker, whose generated index
 * alone costs ~90 MiB of RSS on import and whose fetch path opens a new TLS connection per
 * request. Objects are plain JSON, typed with client-node's types through `import type` only
 * (timestamps stay strings). Paths come from `resourcePath`; only the verbs barelb uses exist.
 */

/** A metav1.Status, as the API server sends with every error. */
export interface Status {
  kind?: string;
  code?: number;
  reason?: string;
  message?: string;
}

/** An error answer from the API server (non-2xx), with the Status it carried. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    message: string,
    /** The HTTP status code. */
    readonly code: number,
    /** The Status reason, e.g. NotFound, Conflict, Forbidden, Expired. */
    readonly reason: string,
    readonly status?: Status,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface KubeList<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** A resource type: group "" (or absent) is the core group under /api. */
export interface ResourceRef {
  group?: string;
  version: string;
  resource: string;
}

export const RESOURCES = {
  configMaps: { version: "v1", resource: "configmaps" },
  endpointSlices: { group: "discovery.k8s.io", version: "v1", resource: "endpointslices" },
  events: { version: "v1", resource: "events" },
  leases: { group: "coordination.k8s.io", version: "v1", resource: "leases" },
  namespaces: { version: "v1", resource: "namespaces" },
  nodes: { version: "v1", resource: "nodes" },
  pods: { version: "v1", resource: "pods" },
  services: { version: "v1", resource: "services" },
} as const satisfies Record<string, ResourceRef>;

/**
 * The URL path of a collection (no name) or an object, optionally namespaced and optionally
 * a subresource: `resourcePath(RESOURCES.services, { namespace: "a", name: "b",
 * subresource: "status" })` → `/api/v1/namespaces/a/services/b/status`.
 */
export function resourcePath(
  ref: ResourceRef,
  at: { namespace?: string | undefined; name?: string | undefined; subresource?: string } = {},
): string {
  const seg = encodeURIComponent;
  let p =
    ref.group === undefined || ref.group === ""
      ? `/api/${ref.version}`
      : `/apis/${ref.group}/${ref.version}`;
  if (at.namespace !== undefined) p += `/namespaces/${seg(at.namespace)}`;
  p += `/${ref.resource}`;
  if (at.name !== undefined) p += `/${seg(at.name)}`;
  if (at.subresource !== undefined) {
    if (at.name === undefined) throw new Error("a subresource needs an object name");
    p += `/${at.subresource}`;
  }
  return p;
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  contentType?: string;
  /** Whole-request timeout; the client's default if absent. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Per-call bounds of a verb: a timeout shorter than the client's, or a signal to abort it. */
export type CallOptions = Pick<RequestOptions, "timeoutMs" | "signal">;

export interface KubeClientOptions {
  /** Default whole-request timeout (ms). */
  timeoutMs?: number;
  userAgent?: string;
}

export class KubeClient {
  private readonly agent: HttpAgent;
  private readonly secure: boolean;
  private readonly timeoutMs: number;
  private readonly userAgent: string;

  constructor(
    readonly credentials: Credentials,
    opts: KubeClientOptions = {},
  ) {
    this.secure = credentials.server.startsWith("https:");
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.userAgent = opts.userAgent ?? "barelb";
    // One pool of kept-alive connections for every request of this client; watches hold a
    // connection each while they stream.
    const common = { keepAlive: true, keepAliveMsecs: 30_000, maxFreeSockets: 32 };
    this.agent = this.secure
      ? new HttpsAgent({
          ...common,
          ...(credentials.ca === undefined ? {} : { ca: credentials.ca }),
          ...(credentials.cert === undefined ? {} : { cert: credentials.cert }),
          ...(credentials.key === undefined ? {} : { key: credentials.key }),
          rejectUnauthorized: !credentials.insecureSkipTlsVerify,
        })
      : new http.Agent(common);
  }

  get<T>(path: string, query?: Query, call?: CallOptions): Promise<T> {
    return this.request<T>("GET", path, { ...call, ...(query === undefined ? {} : { query }) });
  }

  list<T>(path: string, query?: Query): Promise<KubeList<T>> {
    return this.get<KubeList<T>>(path, query);
  }

  create<T>(path: string, body: unknown, call?: CallOptions): Promise<T> {
    return this.request<T>("POST", path, { ...call, body });
  }

  replace<T>(path: string, body: unknown, call?: CallOptions): Promise<T> {
    return this.request<T>("PUT", path, { ...call, body });
  }

  /**
   * A JSON merge patch (RFC 7386): null deletes a field. `fieldManager` names the writer in
   * managedFields (else the API server derives it from the user agent).
   */
  mergePatch<T>(
    path: string,
    patch: unknown,
    call: CallOptions & { fieldManager?: string } = {},
  ): Promise<T> {
    const { fieldManager, ...rest } = call;
    return this.request<T>("PATCH", path, {
      ...rest,
      ...(fieldManager === undefined ? {} : { query: { fieldManager } }),
      body: patch,
      contentType: "application/merge-patch+json",
    });
  }

  /**
   * A server-side apply: `body` is the whole intent of `fieldManager` for this object (fields
   * it applied before and leaves out now are removed); `force` takes over fields another
   * manager owns instead of failing with a Conflict.
   */
  apply<T>(
    path: string,
    body: unknown,
    fieldManager: string,
    opts: { force?: boolean } & CallOptions = {},
  ): Promise<T> {
    const { force, ...call } = opts;
    return this.request<T>("PATCH", path, {
      ...call,
      body,
      query: { fieldManager, ...(force === true ? { force: true } : {}) },
      // JSON is YAML: the API server parses it as it is.
      contentType: "application/apply-patch+yaml",
    });
  }

  delete(path: string, call?: CallOptions): Promise<unknown> {
    return this.request<unknown>("DELETE", path, { ...call });
  }

  /** One JSON request; resolves with the parsed body of a 2xx answer, else an ApiError. */
  async request<T>(method: string, path: string, opts: RequestOptions): Promise<T> {
    const body = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const res = await this.send(method, path, opts, body, timeoutMs, true);
    const text = await readBody(res);
    if (text === "") return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch (e: unknown) {
      throw new Error(`${method} ${path}: the answer is not JSON`, { cause: e });
    }
  }

  /**
   * Opens a streaming GET (a watch) and resolves with the response once its status is 2xx;
   * the caller reads it and must destroy it when done. Only the wait for the response
   * headers is timed; the stream itself is not.
   */
  stream(path: string, query: Query, signal?: AbortSignal): Promise<IncomingMessage> {
    return this.send(
      "GET",
      path,
      { query, ...(signal === undefined ? {} : { signal }) },
      undefined,
      this.timeoutMs,
      false,
    );
  }

  /** Closes the idle kept-alive connections (open watches end when they are stopped). */
  close(): void {
    this.agent.destroy();
  }

  private send(
    method: string,
    path: string,
    opts: RequestOptions,
    body: Buffer | undefined,
    timeoutMs: number,
    wholeRequest: boolean,
  ): Promise<IncomingMessage> {
    const url = this.credentials.server + path + queryString(opts.query);
    const headers: Record<string, string> = {
      accept: "application/json",
      "user-agent": this.userAgent,
    };
    const token = this.credentials.token();
    if (token !== undefined && token !== "") headers.authorization = `Bearer ${token}`;
    if (body !== undefined) {
      headers["content-type"] = opts.contentType ?? "application/json";
      headers["content-length"] = String(body.length);
    }
    const what = `${method} ${path}`;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const signal = opts.signal;
      if (signal?.aborted === true) {
        reject(new Error(`${what}: aborted`, { cause: signal.reason }));
        return;
      }
      const req = (this.secure ? httpsRequest : http.request)(url, {
        method,
        headers,
        agent: this.agent,
      });
      let settled = false;
      const timer = setTimeout(() => {
        req.destroy(new Error(`timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const onAbort = () => req.destroy(new Error("aborted", { cause: signal?.reason }));
      signal?.addEventListener("abort", onAbort, { once: true });
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      req.on("error", (e: unknown) => {
        cleanup();
        if (settled) return;
        settled = true;
        reject(new Error(`${what} (${this.credentials.server}) failed`, { cause: e }));
      });
      req.on("response", (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) {
          settled = true;
          readBody(res).then(
            (text) => {
              cleanup();
              reject(apiError(what, status, res.statusMessage ?? "", text));
            },
            (e: unknown) => {
              cleanup();
              reject(apiError(what, status, res.statusMessage ?? "", "", e));
            },
          );
          return;
        }
        if (wholeRequest) {
          // The timer and abort keep running until the body has been read.
          res.once("close", cleanup);
        } else {
          clearTimeout(timer);
          // An abort now ends the stream: the reader sees an error or close.
          res.once("close", cleanup);
        }
        settled = true;
        resolve(res);
      });
      req.end(body);
    });
  }
}

/** A client from a kubeconfig path, $KUBECONFIG, ~/.kube/config or the in-cluster account. */
export function loadKubeClient(path?: string, opts?: KubeClientOptions): KubeClient {
  return new KubeClient(loadCredentials(path), opts);
}

function queryString(query: Query | undefined): string {
  if (query === undefined) return "";
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.append(k, String(v));
  const s = params.toString();
  return s === "" ? "" : `?${s}`;
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on("data", (c: Buffer) => chunks.push(c));
    res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    res.on("error", reject);
    res.on("aborted", () => reject(new Error("connection closed before the answer was complete")));
  });
}

function apiError(
  what: string,
  code: number,
  statusText: string,
  text: string,
  cause?: unknown,
): ApiError {
  let status: Status | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === "object" && parsed !== null) status = parsed;
  } catch {
    // Not a Status (a proxy's HTML page, say): keep the text as the message.
  }
  const reason = status?.reason ?? statusText;
  const message = status?.message ?? (text.trim().slice(0, 200) || statusText);
  return new ApiError(
    `${what}: ${code} ${reason}: ${message}`,
    code,
    reason,
    status,
    cause === undefined ? undefined : { cause },
  );
}
