import type { LevelWithSilent } from "pino";
import { runController } from "../controller/run.js";
import { loadKubeClient } from "../k8s/api.js";
import { createLogger } from "../log.js";
import type { ControllerArgs } from "./program.js";

/** `barelb controller`: runs until SIGTERM/SIGINT, then releases the leader Lease and exits. */
export async function controllerCommand(args: ControllerArgs): Promise<void> {
  const log = createLogger(args.logLevel as LevelWithSilent, "controller");
  const stop = new AbortController();
  const onSignal = (signal: string) => {
    log.info({ signal }, "stopping");
    stop.abort();
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  log.info(
    {
      identity: args.identity,
      namespace: args.namespace,
      configMap: args.configMap,
      lbClass: args.lbClass,
    },
    "starting",
  );
  const handle = runController(
    {
      client: loadKubeClient(args.kubeconfig),
      namespace: args.namespace,
      configMap: args.configMap,
      lbClass: args.lbClass,
      identity: args.identity,
      leaderElect: args.leaderElect,
      leaseDurationMs: args.leaseDurationMs,
      renewDeadlineMs: args.renewDeadlineMs,
      retryPeriodMs: args.retryPeriodMs,
      metricsAddress: args.metricsAddress,
      metricsPort: args.metricsPort,
      log,
    },
    stop.signal,
  );
  await handle.done;
  log.info("stopped");
}
