import type { Logger, LevelWithSilent } from "pino";
import { loadKubeClient, type KubeClient } from "../k8s/api.js";
import { createLogger } from "../log.js";
import type { FromCommandLine } from "./program.js";

/** What runProgram needs of a started program. */
export interface ProgramHandle {
  /** Resolves when the program has stopped (after `stop` is aborted). */
  readonly done: Promise<void>;
  /** The stop steps still running, named for the log if the stop overruns its deadline. */
  stopping?(): readonly string[];
}

/**
 * Runs `barelb controller` or `barelb speaker` until SIGTERM/SIGINT: builds the API client and
 * the logger from the command line, starts the program, and on a signal asks it to stop and
 * waits until it has (the controller releases its leader Lease; the speaker stops answering,
 * tells its peers it is leaving and deletes its Lease).
 *
 * The stop is bounded: each of its steps gives up after a short timeout (the API server may
 * be gone), and if the program has still not stopped `stopDeadlineMs` after the signal, the
 * process logs what it was waiting for and exits with status 1. The deadline fits within the
 * chart's terminationGracePeriodSeconds, so the log says why before the kubelet's SIGKILL.
 */
export async function runProgram<O extends { client: KubeClient; log: Logger }>(
  component: string,
  args: FromCommandLine<O>,
  context: Record<string, unknown>,
  start: (opts: O, stop: AbortSignal) => ProgramHandle,
  stopDeadlineMs: number,
): Promise<void> {
  const { kubeconfig, logLevel, ...options } = args;
  const log = createLogger(logLevel as LevelWithSilent, component).child(context);
  const stop = new AbortController();
  const running: { handle?: ProgramHandle } = {};
  const onSignal = (signal: string) => {
    log.info({ signal, deadlineMs: stopDeadlineMs }, "stopping");
    stop.abort();
    // Unreferenced: it fires only if something still holds the process at the deadline.
    setTimeout(() => {
      const waitingFor = running.handle?.stopping?.() ?? [];
      log.error(
        { deadlineMs: stopDeadlineMs, waitingFor },
        waitingFor.length > 0
          ? "did not stop in time: exiting without waiting further"
          : "did not stop in time (still starting, or an open handle): exiting",
      );
      process.exit(1);
    }, stopDeadlineMs).unref();
  };
  // Before anything else: a signal that came before its handler would kill at once.
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  log.info({ options: options as Record<string, unknown> }, "starting");
  // The command line gives every option but these two (FromCommandLine).
  const client = loadKubeClient(kubeconfig);
  const handle = start({ ...options, client, log } as unknown as O, stop.signal);
  running.handle = handle;
  await handle.done;
  // Requests the stop gave up on (an API server that does not answer) would hold the
  // process until their own timeout: end them with their connections.
  client.close();
  log.info("stopped");
}
