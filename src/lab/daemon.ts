import { closeSync, openSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { isRunning, processRef, spawnProcess, type ProcessRef } from "../util/proc.js";

/**
 * Long-running programs of the lab (etcd, kube-apiserver, and on kubelet nodes containerd,
 * kubelet, kube-proxy, kube-controller-manager, kube-scheduler): started with their output in
 * a log file, optionally inside a node's network namespace, and awaited until ready.
 */

export interface DaemonSpec {
  name: string;
  bin: string;
  logFile: string;
  /** Tie the program to this process's life (tests, `lab up --foreground`). */
  tied: boolean;
  /**
   * Run it in this network namespace (by `nsenter --net`, which keeps the host's mount
   * namespace and cgroups: `ip netns exec` remounts /sys and hides /sys/fs/cgroup).
   */
  netns?: string;
}

export function launch(spec: DaemonSpec, args: readonly string[]): ProcessRef {
  const logFd = openSync(spec.logFile, "a");
  try {
    const [file, argv] =
      spec.netns === undefined
        ? [spec.bin, args]
        : ["nsenter", [`--net=/run/netns/${spec.netns}`, "--", spec.bin, ...args]];
    const child = spawnProcess(file, argv, {
      tied: spec.tied,
      detached: !spec.tied,
      stdio: ["ignore", logFd, logFd],
    });
    if (child.pid === undefined) throw new Error(`could not start ${spec.name}`);
    child.on("error", () => undefined);
    child.unref();
    const ref = processRef(child.pid);
    if (ref === undefined) throw new Error(`${spec.name} exited at once; see ${spec.logFile}`);
    return ref;
  } finally {
    closeSync(logFd);
  }
}

/** Polls `ready` until it says yes; fails early with the log's tail if the process exits. */
export async function waitFor(
  name: string,
  proc: ProcessRef,
  logFile: string,
  timeoutMs: number,
  ready: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isRunning(proc)) {
      throw new Error(
        `${name} exited during start-up; last lines of ${logFile}:\n${await tail(logFile)}`,
      );
    }
    if (await ready().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(
    `${name} not ready after ${timeoutMs / 1000} s; last lines of ${logFile}:\n${await tail(logFile)}`,
  );
}

export async function tail(file: string, lines = 20): Promise<string> {
  try {
    return (await readFile(file, "utf8")).trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}
