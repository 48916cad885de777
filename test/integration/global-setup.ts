import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { ensureControlPlaneBinaries, startControlPlane } from "../../src/lab/controlplane.js";
import { inCI, missingPrereqs } from "../helpers/prereq.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** Path of an admin kubeconfig for the shared API server; "" when it could not start. */
    kubeconfig: string;
    /** Why there is no API server (local runs only; CI fails instead). */
    controlPlaneMissing: string;
  }
}

/**
 * One real etcd + kube-apiserver on loopback for the whole integration project. Each test
 * file works in namespaces of its own, so files can share it.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const missing = missingPrereqs(["go", "setpriv"]);
  if (missing.length > 0) {
    const reason = `integration tests need: ${missing.join("; ")}`;
    if (inCI) throw new Error(`${reason} (CI=true: a missing prerequisite is a failure)`);
    project.provide("kubeconfig", "");
    project.provide("controlPlaneMissing", reason);
    return () => Promise.resolve();
  }
  const binDir = await ensureControlPlaneBinaries((line) => {
    console.log(line);
  });
  const dir = await mkdtemp(join(tmpdir(), "barelb-it-"));
  const cp = await startControlPlane({
    bindAddress: "127.0.0.1",
    workDir: dir,
    binDir,
    tied: true,
  });
  project.provide("kubeconfig", cp.kubeconfigPath);
  project.provide("controlPlaneMissing", "");
  return async () => {
    await cp.stop();
    await rm(dir, { recursive: true, force: true });
  };
}
