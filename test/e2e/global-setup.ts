import { chmod } from "node:fs/promises";
import { join } from "node:path";
import { packageRoot } from "../../src/util/paths.js";
import { run } from "../../src/util/proc.js";
import { cleanupStaleLabs } from "../../src/lab/lab.js";
import { missingPrereqs } from "../helpers/prereq.js";

/**
 * e2e tests start programs inside network namespaces, so those programs must exist as
 * JavaScript: compile the product (dist/) and the test fixtures (dist-test/) first, so an
 * e2e run always exercises the current sources. Also removes labs left by killed runs.
 */
export default async function setup(): Promise<void> {
  await run("tsc", ["-p", "tsconfig.build.json"], { timeoutMs: 300_000 });
  // As `npm run build` does: the bin is executable (kubectl runs kubectl-barelb directly).
  await chmod(join(packageRoot(), "dist", "cli", "main.js"), 0o755);
  await run("tsc", ["-p", "tsconfig.programs.json"], { timeoutMs: 300_000 });
  if (missingPrereqs(["root", "ip"]).length === 0) {
    for (const id of await cleanupStaleLabs()) console.log(`removed stale lab ${id}`);
  }
}
