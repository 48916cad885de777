// Runs one benchmark by name: `npm run bench -- <name> [args]` (e.g. `npm run bench -- controlplane`).
// Benchmarks print their figures and write JSON to bench/results/<name>.json. They are
// measurements, not tests: nothing here passes or fails on a figure.
import { readdirSync } from "node:fs";

const [name, ...args] = process.argv.slice(2);
const here = new URL(".", import.meta.url);
const available = readdirSync(here)
  .filter((f) => f.endsWith(".js") && f !== "index.js" && !f.startsWith("_"))
  .map((f) => f.slice(0, -3));
if (name === undefined || !available.includes(name)) {
  process.stderr.write(
    `usage: npm run bench -- <name> [args]\nbenchmarks: ${available.join(", ")}\n`,
  );
  process.exit(2);
}
const mod = (await import(new URL(`${name}.js`, here).href)) as {
  main(args: string[]): Promise<void>;
};
await mod.main(args);
