import { existsSync } from "node:fs";
import { run } from "../util/proc.js";

/**
 * Runs one of the lab's build scripts (the control plane's and the nodes' Go builds, the
 * images): they build once, cache outside the work tree, report progress on stderr and print
 * their result on the last line of stdout, which is returned. `what` names the failure.
 */
export async function runBuildScript(
  script: string,
  args: readonly string[],
  onProgress: (line: string) => void,
  what: string,
): Promise<string> {
  if (!existsSync(script)) throw new Error(`${what}: ${script} is missing`);
  try {
    const { stdout, stderr } = await run("bash", [script, ...args], { timeoutMs: 60 * 60_000 });
    for (const line of stderr.split("\n")) if (line.trim() !== "") onProgress(line);
    const last = stdout.trim().split("\n").pop();
    if (!last) throw new Error(`${script} printed nothing`);
    return last;
  } catch (e: unknown) {
    throw new Error(what, { cause: e });
  }
}
