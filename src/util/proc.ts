import { execFile, spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/** A command that exited non-zero, with what it printed, so callers can say what failed. */
export class CommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly code: number | null,
    readonly stdout: string,
    readonly stderr: string,
    options?: ErrorOptions,
  ) {
    const detail = stderr.trim() || stdout.trim() || `exit code ${String(code)}`;
    super(`${argv.join(" ")}: ${detail}`, options);
    this.name = "CommandError";
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs a command to completion and returns its output; rejects with CommandError on failure. */
export function run(
  file: string,
  args: readonly string[],
  options: { timeoutMs?: number; input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" },
      (err, stdout, stderr) => {
        if (err) {
          const code = typeof err.code === "number" ? err.code : null;
          reject(new CommandError([file, ...args], code, stdout, stderr, { cause: err }));
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/**
 * The kernel's start time of a process (clock ticks since boot), used with the pid to
 * recognise a process again later without mistaking a reused pid for it.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 2 (comm) may contain spaces and parentheses: count fields after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return rest[19];
  } catch {
    return undefined;
  }
}

/** A process recorded by pid and start time. */
export interface ProcessRef {
  pid: number;
  start: string;
}

export function processRef(pid: number): ProcessRef | undefined {
  const start = processStartTime(pid);
  return start === undefined ? undefined : { pid, start };
}

/** True while the very process recorded in `ref` is running (not a zombie, not a reused pid). */
export function isRunning(ref: ProcessRef): boolean {
  if (processStartTime(ref.pid) !== ref.start) return false;
  try {
    const state = readFileSync(`/proc/${ref.pid}/stat`, "utf8");
    return state.slice(state.lastIndexOf(")") + 2, state.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function terminate(ref: ProcessRef, graceMs = 5_000): Promise<void> {
  if (!isRunning(ref)) return;
  signal(ref.pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (isRunning(ref) && Date.now() < deadline) await sleep(25);
  if (!isRunning(ref)) return;
  signal(ref.pid, "SIGKILL");
  const killDeadline = Date.now() + 5_000;
  while (isRunning(ref) && Date.now() < killDeadline) await sleep(25);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
  }
}

export interface SpawnTiedOptions extends SpawnOptions {
  /**
   * Tie the child's life to this process: the kernel kills it if we die, even by SIGKILL
   * (prctl PR_SET_PDEATHSIG via setpriv). Off for processes meant to outlive us.
   */
  tied: boolean;
}

/** Spawns a long-running process, optionally tied to this one's life. */
export function spawnProcess(
  file: string,
  args: readonly string[],
  options: SpawnTiedOptions,
): ChildProcess {
  const { tied, ...spawnOptions } = options;
  return tied
    ? spawn("setpriv", ["--pdeathsig", "KILL", "--", file, ...args], spawnOptions)
    : spawn(file, args, spawnOptions);
}
