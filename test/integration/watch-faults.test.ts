import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { pino } from "pino";
import { ApiError, KubeClient } from "../../src/k8s/api.js";
import { watchResource } from "../../src/k8s/informer.js";
import { eventually } from "../helpers/k8s.js";

// The failures a real API server rarely shows on demand, from a scripted fake on loopback:
// paged lists, a watch that goes silent (half-open connection), server errors and backoff,
// a watch the server ends, stop() during a hanging watch, request timeouts, non-JSON errors.

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;
interface Obj {
  metadata: { name: string; namespace: string; resourceVersion: string };
}
const obj = (name: string, rv: string): Obj => ({
  metadata: { name, namespace: "ns", resourceVersion: rv },
});
const line = (type: string, object: unknown) => JSON.stringify({ type, object }) + "\n";
const log = pino({ level: process.env.BARELB_TEST_LOG ?? "silent" });

describe("list+watch against a scripted API server", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function fake(handler: Handler): Promise<{ client: KubeClient; requests: URL[] }> {
    const requests: URL[] = [];
    const open = new Set<ServerResponse>();
    const server: Server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://fake");
      requests.push(url);
      open.add(res);
      res.on("close", () => open.delete(res));
      handler(req, res, url);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const client = new KubeClient(
      {
        server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        insecureSkipTlsVerify: false,
        token: () => "t0ken",
        source: "fake",
      },
      { timeoutMs: 1_000 },
    );
    cleanups.push(async () => {
      client.close();
      for (const r of open) r.destroy();
      await new Promise((resolve) => server.close(resolve));
    });
    return { client, requests };
  }

  const json = (res: ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const list = (res: ServerResponse, rv: string, items: Obj[], cont?: string) =>
    json(res, 200, { metadata: { resourceVersion: rv, continue: cont }, items });

  it("lists every page, then watches from the list's resourceVersion", async () => {
    const { client, requests } = await fake((_req, res, url) => {
      if (url.searchParams.get("watch") === "1") {
        res.writeHead(200);
        res.write(line("ADDED", obj("c", "12")));
        return;
      }
      if (url.searchParams.get("continue") === null) list(res, "10", [obj("a", "1")], "next");
      else list(res, "11", [obj("b", "2")]);
    });
    const added: string[] = [];
    const w = watchResource<Obj>({
      client,
      path: "/api/v1/things",
      pageSize: 1,
      handlers: { add: (o) => added.push(o.metadata.name) },
      log,
      what: "things",
    });
    cleanups.push(() => w.stop());
    await w.synced;
    await eventually("the watch event", () => (added.length === 3 ? true : undefined));
    expect(added).toEqual(["a", "b", "c"]);
    expect(requests[0]?.searchParams.get("limit")).toBe("1");
    expect(requests[1]?.searchParams.get("continue")).toBe("next");
    const watch = requests[2];
    expect(watch?.searchParams.get("resourceVersion")).toBe("11");
    expect(watch?.searchParams.get("allowWatchBookmarks")).toBe("true");
    expect(watch?.searchParams.get("timeoutSeconds")).toMatch(/^\d+$/);
  });

  it("drops a silent watch and resumes from the last bookmark, without listing again", async () => {
    let watches = 0;
    const { requests, client } = await fake((_req, res, url) => {
      if (url.searchParams.get("watch") !== "1") {
        list(res, "5", [obj("a", "5")]);
        return;
      }
      watches++;
      res.writeHead(200);
      // A bookmark, then silence: a half-open connection looks exactly like this.
      if (watches === 1) res.write(line("BOOKMARK", { metadata: { resourceVersion: "42" } }));
    });
    const w = watchResource<Obj>({
      client,
      path: "/api/v1/things",
      idleTimeoutMs: 300,
      handlers: {},
      log,
      what: "things",
    });
    cleanups.push(() => w.stop());
    await eventually("a second watch", () => (watches >= 2 ? true : undefined), 5_000);
    const watchUrls = requests.filter((u) => u.searchParams.get("watch") === "1");
    expect(watchUrls.map((u) => u.searchParams.get("resourceVersion")).slice(0, 2)).toEqual([
      "5",
      "42",
    ]);
    expect(requests.filter((u) => u.searchParams.get("watch") === null)).toHaveLength(1);
  });

  it("watches again at once when the server ends a watch, and backs off after errors", async () => {
    const at: number[] = [];
    const { client } = await fake((_req, res, url) => {
      if (url.searchParams.get("watch") !== "1") {
        list(res, "1", []);
        return;
      }
      at.push(performance.now());
      if (at.length === 1) {
        res.writeHead(200);
        res.end(line("MODIFIED", obj("a", "3"))); // the server's timeoutSeconds: a clean end
      } else if (at.length <= 3) {
        json(res, 500, { kind: "Status", code: 500, reason: "InternalError", message: "boom" });
      } else {
        res.writeHead(200);
      }
    });
    const w = watchResource<Obj>({ client, path: "/x", handlers: {}, log, what: "x" });
    cleanups.push(() => w.stop());
    await eventually("four watch requests", () => (at.length >= 4 ? true : undefined), 8_000);
    const gaps = at.slice(1).map((t, i) => t - (at[i] ?? 0));
    expect(gaps[0]).toBeLessThan(500); // clean end: no wait
    expect(gaps[1]).toBeGreaterThanOrEqual(900); // first error: 1 s
    expect(gaps[2]).toBeGreaterThanOrEqual(1_900); // second: 2 s
    expect(w.cache.get("a", "ns")?.metadata.resourceVersion).toBe("3");
  }, 15_000);

  it("relists at once on 410 Gone, but backs off when 410s keep coming", async () => {
    let lists = 0;
    const { client } = await fake((_req, res, url) => {
      if (url.searchParams.get("watch") !== "1") {
        lists++;
        list(res, "7", []);
        return;
      }
      res.writeHead(200);
      const gone = { kind: "Status", code: 410, reason: "Expired", message: "too old" };
      res.end(line("ERROR", gone));
    });
    const w = watchResource<Obj>({ client, path: "/x", handlers: {}, log, what: "x" });
    cleanups.push(() => w.stop());
    await eventually("a relist", () => (lists >= 2 ? true : undefined));
    await new Promise((r) => setTimeout(r, 1_500));
    // 1 first list + 1 at once + 1 after 1 s (+ 1 after 2 s more at most): not a busy loop.
    expect(lists).toBeGreaterThanOrEqual(3);
    expect(lists).toBeLessThanOrEqual(4);
  });

  it("stops at once, even in the middle of a watch that sends nothing", async () => {
    let watching = false;
    const { client } = await fake((_req, res, url) => {
      if (url.searchParams.get("watch") !== "1") {
        list(res, "1", []);
        return;
      }
      watching = true;
      res.writeHead(200);
    });
    const w = watchResource<Obj>({ client, path: "/x", handlers: {}, log, what: "x" });
    await eventually("the watch", () => (watching ? true : undefined));
    const t0 = performance.now();
    await w.stop();
    expect(performance.now() - t0).toBeLessThan(200);
  });

  it("times out a request that gets no answer and reports non-JSON errors", async () => {
    const { client } = await fake((req, res) => {
      if (req.url === "/slow") return; // never answers
      res.writeHead(502, { "content-type": "text/html" });
      res.end("<html>bad gateway</html>");
    });
    await expect(client.get("/slow")).rejects.toThrow(/GET \/slow .*failed/);
    await expect(client.get("/slow")).rejects.toSatisfy(
      (e: unknown) => e instanceof Error && /timed out after 1000 ms/.test(String(e.cause)),
    );
    await expect(client.get("/proxy")).rejects.toSatisfy(
      (e: unknown) =>
        e instanceof ApiError && e.code === 502 && e.message.includes("<html>bad gateway"),
    );
  });

  it("sends the bearer token, JSON and the merge-patch content type", async () => {
    const seen: { method?: string; auth?: string; type?: string; body: string }[] = [];
    const { client } = await fake((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        seen.push({
          method: req.method,
          auth: req.headers.authorization,
          type: req.headers["content-type"],
          body,
        });
        json(res, 200, { ok: true });
      });
    });
    await client.mergePatch("/p", { a: null });
    await client.create("/c", { b: 1 });
    expect(seen).toEqual([
      {
        method: "PATCH",
        auth: "Bearer t0ken",
        type: "application/merge-patch+json",
        body: '{"a":null}',
      },
      { method: "POST", auth: "Bearer t0ken", type: "application/json", body: '{"b":1}' },
    ]);
  });
});
