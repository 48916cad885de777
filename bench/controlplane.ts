// Control plane and lab start-up times: `npm run bench -- controlplane [--cold] [--runs N]`.
//   warm start   etcd + kube-apiserver from cached binaries until /readyz answers 200
//   lab up       bridge + 3 node namespaces + client + control plane + Node objects (root)
//   cold build   (--cold) build.sh with empty Go build and module caches, in temp dirs, so
//                the machine's real caches are untouched; takes minutes
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packageRoot } from "../src/util/paths.js";
import { performance } from "node:perf_hooks";
import { ensureControlPlaneBinaries, startControlPlane } from "../src/lab/controlplane.js";
import { createLab } from "../src/lab/lab.js";
import { run } from "../src/util/proc.js";
import { summary, writeResult } from "./_report.js";

export async function main(args: string[]): Promise<void> {
  const runsArg = args.indexOf("--runs");
  const runs = runsArg >= 0 ? Number(args[runsArg + 1]) : 5;
  const result: Record<string, unknown> = {};

  if (args.includes("--cold")) {
    const tmp = await mkdtemp(join(tmpdir(), "barelb-cold-"));
    const script = join(packageRoot(), "scripts", "lab", "build.sh");
    const env = {
      ...process.env,
      GOCACHE: join(tmp, "gocache"),
      GOMODCACHE: join(tmp, "gomod"),
      BARELB_CACHE_DIR: join(tmp, "cache"),
    };
    console.log(
      "cold build (empty Go caches; downloads modules, compiles etcd, kube-apiserver, kubectl)...",
    );
    const t0 = performance.now();
    await runWithEnv("bash", [script], env);
    const seconds = (performance.now() - t0) / 1000;
    console.log(`cold build: ${seconds.toFixed(0)} s`);
    result.coldBuildSeconds = Math.round(seconds);
    await run("chmod", ["-R", "u+w", tmp]); // the Go module cache is read-only
    await rm(tmp, { recursive: true, force: true });
  }

  const binDir = await ensureControlPlaneBinaries();
  const warm: number[] = [];
  for (let i = 0; i < runs; i++) {
    const dir = await mkdtemp(join(tmpdir(), "barelb-bench-cp-"));
    const t0 = performance.now();
    const cp = await startControlPlane({
      bindAddress: "127.0.0.1",
      workDir: dir,
      binDir,
      tied: true,
    });
    warm.push(performance.now() - t0);
    await cp.stop();
    await rm(dir, { recursive: true, force: true });
  }
  result.warmStartMs = summary(warm.map(Math.round));
  console.log(`warm start (etcd + kube-apiserver ready), ${runs} runs: ${fmt(warm)}`);

  if (process.getuid?.() === 0) {
    const labUp: number[] = [];
    const labDown: number[] = [];
    for (let i = 0; i < Math.min(runs, 3); i++) {
      const t0 = performance.now();
      const lab = await createLab({ nodes: 3, controlPlane: true, persistent: false });
      labUp.push(performance.now() - t0);
      const t1 = performance.now();
      await lab.down();
      labDown.push(performance.now() - t1);
    }
    result.labUpMs = summary(labUp.map(Math.round));
    result.labDownMs = summary(labDown.map(Math.round));
    console.log(`lab up (3 nodes + client + control plane): ${fmt(labUp)}`);
    console.log(`lab down: ${fmt(labDown)}`);
  }
  console.log(`wrote ${writeResult("controlplane", result)}`);
}

function fmt(ms: number[]): string {
  const s = summary(ms);
  return `median ${(s.p50 / 1000).toFixed(2)} s, min ${(s.min / 1000).toFixed(2)} s, max ${(s.max / 1000).toFixed(2)} s`;
}

async function runWithEnv(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const { spawn } = await import("node:child_process");
  await new Promise<void>((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ["ignore", "inherit", "inherit"] });
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`${file} exited with ${String(code)}`)),
    );
  });
}
