import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CONTROLLER_STOP_DEADLINE_MS, SPEAKER_STOP_DEADLINE_MS } from "../../src/cli/run.js";
import { loadKubeConfig } from "../../src/k8s/client.js";
import {
  ensureControlPlaneBinaries,
  freePort,
  startControlPlane,
  type ControlPlane,
} from "../../src/lab/controlplane.js";
import { writeHeartbeatKey } from "../../src/lab/cluster.js";
import { registerNodes } from "../../src/lab/nodes.js";
import { packageRoot } from "../../src/util/paths.js";
import { run, spawnProcess } from "../../src/util/proc.js";
import { eventually, integrationKubeConfig } from "../helpers/k8s.js";

// A program whose API server stops answering must still exit soon after SIGTERM: the real
// `barelb controller` and `barelb speaker` (dist/, built here) as child processes, against an
// API server of this file's own that the test freezes with SIGSTOP, as a host that has gone
// away looks from the client's side (connections open, nothing answers). Bounds are asserted
// generously (the program's own deadline + 5 s); what matters is that the exit happens at all
// rather than after the client's 30 s request timeouts, and how it is logged.
//
// The speaker runs in this network namespace with every interface excluded: it opens no packet
// socket and sends nothing but its API requests (to loopback) and heartbeats (to no peer).

const shared = integrationKubeConfig(); // null when Go or setpriv is missing (reason printed)
const root = packageRoot();

interface LogLine {
  level: string;
  msg: string;
  [k: string]: unknown;
}

interface Program {
  child: ChildProcess;
  lines: LogLine[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits for a log line with this message. */
  logged(msg: string, timeoutMs?: number): Promise<LogLine>;
}

describe.runIf(shared !== null)("bounded stop when the API server does not answer", () => {
  let cp: ControlPlane | undefined;
  let dir = "";
  let ns = "";
  const programs: Program[] = [];

  beforeAll(async () => {
    // The programs run as users run them: compiled, from dist/.
    await run("tsc", ["-p", "tsconfig.build.json"], { timeoutMs: 300_000 });
    dir = await mkdtemp(join(tmpdir(), "barelb-it-stop-"));
    cp = await startControlPlane({
      bindAddress: "127.0.0.1",
      workDir: dir,
      binDir: await ensureControlPlaneBinaries(),
      tied: true,
    });
    const core = loadKubeConfig(cp.kubeconfigPath).makeApiClient(CoreV1Api);
    ns = "it-stop";
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await registerNodes(cp.kubeconfigPath, [{ name: "stop-node", ipv4: "127.0.0.1", ipv6: "::1" }]);
  }, 300_000);

  afterEach(async () => {
    resumeApiServer();
    for (const p of programs.splice(0)) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
      await p.exited;
    }
  });

  afterAll(async () => {
    resumeApiServer();
    await cp?.stop();
    if (dir !== "") await rm(dir, { recursive: true, force: true });
  });

  function freezeApiServer(): void {
    if (cp !== undefined) process.kill(cp.apiserver.pid, "SIGSTOP");
  }
  function resumeApiServer(): void {
    if (cp !== undefined) process.kill(cp.apiserver.pid, "SIGCONT");
  }

  function start(args: string[], script = join(root, "dist", "cli", "main.js")): Program {
    const child = spawnProcess(
      process.execPath,
      [script, ...args, "--kubeconfig", cp?.kubeconfigPath ?? ""],
      { tied: true, stdio: ["ignore", "pipe", "pipe"] },
    );
    const lines: LogLine[] = [];
    const text: string[] = [];
    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue;
      createInterface({ input: stream }).on("line", (l) => {
        text.push(l);
        try {
          lines.push(JSON.parse(l) as LogLine);
        } catch {
          // not a log line (a crash's stack trace): kept in `text` for the failure message
        }
      });
    }
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on("exit", (code, signal) => resolve({ code, signal })),
    );
    const program: Program = {
      child,
      lines,
      exited,
      logged: (msg, timeoutMs = 30_000) =>
        eventually(
          `log line "${msg}" (so far:\n${text.slice(-20).join("\n")})`,
          () => lines.find((l) => l.msg === msg),
          timeoutMs,
          50,
        ),
    };
    programs.push(program);
    return program;
  }

  /** SIGTERMs `p` and waits at most `boundMs` for it to exit; the exit, or a failure naming the last lines. */
  async function stopWithin(p: Program, boundMs: number) {
    p.child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">(
      (resolve) => (timer = setTimeout(() => resolve("late"), boundMs)),
    );
    const result = await Promise.race([p.exited, late]);
    clearTimeout(timer);
    if (result === "late") {
      const tail = p.lines.slice(-10).map((l) => `${l.level} ${l.msg}`);
      throw new Error(`still running ${boundMs} ms after SIGTERM; last lines:\n${tail.join("\n")}`);
    }
    return result;
  }

  it("a leading controller exits after SIGTERM although its API server has stopped answering", async () => {
    const metricsPort = await freePort("127.0.0.1");
    const p = start([
      "controller",
      "--namespace",
      ns,
      "--identity",
      "stop-test",
      "--lb-class",
      "barelb.test/shutdown",
      "--metrics-address",
      "127.0.0.1",
      "--metrics-port",
      String(metricsPort),
    ]);
    await p.logged("became leader");
    freezeApiServer();
    // Past the retry period (2 s): a renewal is now in flight to a server that never answers.
    await new Promise((r) => setTimeout(r, 2_500));
    const exit = await stopWithin(p, CONTROLLER_STOP_DEADLINE_MS + 5_000);
    expect(exit).toEqual({ code: 0, signal: null });
    const msgs = p.lines.map((l) => l.msg);
    expect(msgs).toContain("stopping");
    // The Lease could not be released (it is left to expire), and the log says so before the
    // end: the release request was abandoned, not left to run on past the stop.
    expect(msgs).not.toContain("released leadership");
    const failed = msgs.indexOf("cannot release leader Lease");
    expect(failed).toBeGreaterThan(msgs.indexOf("stopping"));
    expect(msgs.indexOf("stopped")).toBeGreaterThan(failed);
  });

  it("a running speaker exits after SIGTERM although its API server has stopped answering", async () => {
    const p = await startSpeaker();
    await p.logged("speaker running");
    freezeApiServer();
    // Past the API check interval (2 s): a read of its Lease is now in flight, never answered.
    await new Promise((r) => setTimeout(r, 2_500));
    const exit = await stopWithin(p, SPEAKER_STOP_DEADLINE_MS + 5_000);
    expect(exit).toEqual({ code: 0, signal: null });
    // (The renewal in flight, cut when the process closes its connections, may be logged after.)
    expect(p.lines.map((l) => l.msg)).toContain("stopped");
    expect(
      p.lines.some(
        (l) => l.msg === "stop step given up" && l.step === "delete the speaker Lease",
      ) || p.lines.some((l) => l.msg === "cannot delete speaker Lease"),
    ).toBe(true);
  });

  it("a speaker stopped while starting, its API server silent, still stops cleanly in time", async () => {
    // Frozen before the speaker starts: it never gets past reading its Node. The start-up's
    // waits on the API server end with the stop, which undoes what was started.
    freezeApiServer();
    const p = await startSpeaker();
    await p.logged("starting");
    const exit = await stopWithin(p, SPEAKER_STOP_DEADLINE_MS + 5_000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(p.lines.map((l) => l.msg)).toContain("stopped");
    expect(p.lines.map((l) => l.msg)).not.toContain("speaker running");
  });

  it("a program that does not stop is ended at its deadline, with status 1 and what it waited for", async () => {
    // runProgram itself (dist/cli/run-program.js) around a program whose stop never ends.
    const script = join(dir, "stuck.mjs");
    const runProgram = pathToFileURL(join(root, "dist", "cli", "run-program.js")).href;
    await writeFile(
      script,
      `import { runProgram } from ${JSON.stringify(runProgram)};
const kubeconfig = process.argv[process.argv.indexOf("--kubeconfig") + 1];
await runProgram("stuck", { kubeconfig, logLevel: "info" }, {}, () => ({
  done: new Promise(() => setInterval(() => undefined, 1_000)),
  stopping: () => ["a step that never ends"],
}), 1_500);
`,
    );
    const p = start([], script);
    await p.logged("starting");
    const exit = await stopWithin(p, 1_500 + 5_000);
    expect(exit).toEqual({ code: 1, signal: null });
    const last = p.lines.at(-1);
    expect(last?.msg).toMatch(/^did not stop in time/);
    expect(last?.level).toBe("error");
    expect(last?.deadlineMs).toBe(1_500);
    expect(last?.waitingFor).toEqual(["a step that never ends"]);
  });

  async function startSpeaker(): Promise<Program> {
    const keyFile = join(dir, "heartbeat-key");
    await writeHeartbeatKey(keyFile);
    return start([
      "speaker",
      "--heartbeat-key-file",
      keyFile,
      "--node-name",
      "stop-node",
      "--namespace",
      ns,
      "--lb-class",
      "barelb.test/shutdown",
      "--exclude-interfaces",
      ".*",
      "--heartbeat-port",
      String(await freePort("127.0.0.1")),
      "--metrics-address",
      "127.0.0.1",
      "--metrics-port",
      String(await freePort("127.0.0.1")),
    ]);
  }
});
