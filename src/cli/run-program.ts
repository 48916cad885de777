import type { Logger, LevelWithSilent } from "pino";
import { loadKubeClient, type KubeClient } from "../k8s/api.js";
import { createLogger } from "../log.js";
import type { FromCommandLine } from "./program.js";

/**
 * Runs `barelb controller` or `barelb speaker` until SIGTERM/SIGINT: builds the API client and
 * the logger from the command line, starts the program, and on a signal asks it to stop and
 * waits until it has (the controller releases its leader Lease; the speaker stops answering,
 * tells its peers it is leaving and deletes its Lease).
 */
export async function runProgram<O extends { client: KubeClient; log: Logger }>(
  component: string,
  args: FromCommandLine<O>,
  context: Record<string, unknown>,
  start: (opts: O, stop: AbortSignal) => { done: Promise<void> },
): Promise<void> {
  const { kubeconfig, logLevel, ...options } = args;
  const log = createLogger(logLevel as LevelWithSilent, component).child(context);
  const stop = new AbortController();
  const onSignal = (signal: string) => {
    log.info({ signal }, "stopping");
    stop.abort();
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  log.info({ options: options as Record<string, unknown> }, "starting");
  // The command line gives every option but these two (FromCommandLine).
  const handle = start(
    { ...options, client: loadKubeClient(kubeconfig), log } as unknown as O,
    stop.signal,
  );
  await handle.done;
  log.info("stopped");
}
