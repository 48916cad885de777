import type { Server } from "node:http";
import type { Registry } from "prom-client";
import type { Logger } from "pino";
import { http } from "../util/node-http.js";

/**
 * The HTTP endpoints of both programs: /metrics (Prometheus text), /healthz (the process is
 * alive and its loops are turning) and /readyz (it is doing its job: e.g. config loaded and
 * existing assignments restored). The checks are passed in; this module knows no domain.
 */

export interface HealthChecks {
  healthy(): string | null;
  ready(): string | null;
}

export function startHttpServer(
  address: string,
  port: number,
  registry: Registry,
  checks: HealthChecks,
  log: Logger,
): Promise<Server> {
  const check = (problem: string | null): [number, string] =>
    problem === null ? [200, "ok\n"] : [503, `${problem}\n`];
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const reply = (status: number, body: string, type = "text/plain; charset=utf-8") => {
      res.writeHead(status, { "content-type": type });
      res.end(body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") {
      reply(405, "method not allowed\n");
    } else if (path === "/metrics") {
      registry.metrics().then(
        (text) => {
          reply(200, text, registry.contentType);
        },
        (e: unknown) => {
          log.error({ err: e }, "cannot render metrics");
          reply(500, "cannot render metrics\n");
        },
      );
    } else if (path === "/healthz" || path === "/livez") {
      reply(...check(checks.healthy()));
    } else if (path === "/readyz") {
      reply(...check(checks.ready()));
    } else {
      reply(404, "not found: try /metrics, /healthz or /readyz\n");
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, address, () => {
      server.off("error", reject);
      log.info({ address, port }, "serving /metrics, /healthz, /readyz");
      resolve(server);
    });
  });
}

/**
 * Stops accepting connections and resolves once the open ones have ended; when `signal`
 * aborts first (a scrape that does not finish), they are cut.
 */
export function closeHttpServer(server: Server, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const cut = () => server.closeAllConnections();
    server.close(() => {
      signal.removeEventListener("abort", cut);
      resolve();
    });
    if (signal.aborted) cut();
    else signal.addEventListener("abort", cut, { once: true });
  });
}
