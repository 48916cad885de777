import { createRequire } from "node:module";

/**
 * `node:http`, loaded with require. An ESM `import ... from "node:http"` makes Node 22 fill
 * the module's export namespace at once, and reading its lazy `WebSocket`, `fetch`-related
 * getters loads all of undici and compiles its WebAssembly HTTP parser: about 10 MiB of RSS
 * that barelb never uses (measured: a process importing node:http 56.9 MiB, requiring it
 * 46.7 MiB). Type-only imports of node:http are fine.
 */
export const http = createRequire(import.meta.url)("node:http") as typeof import("node:http");
