import type { LevelWithSilent } from "pino";
import { loadKubeClient } from "../k8s/api.js";
import { createLogger } from "../log.js";
import { runSpeaker } from "../speaker/run.js";
import type { SpeakerArgs } from "./program.js";

/**
 * `barelb speaker`: runs until SIGTERM/SIGINT, then stops answering, tells its peers it is
 * leaving and deletes its Lease, so another node takes its IPs over at once.
 */
export async function speakerCommand(args: SpeakerArgs): Promise<void> {
  const log = createLogger(args.logLevel as LevelWithSilent, "speaker").child({
    node: args.nodeName,
  });
  const stop = new AbortController();
  const onSignal = (signal: string) => {
    log.info({ signal }, "stopping");
    stop.abort();
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  const handle = runSpeaker(
    {
      client: loadKubeClient(args.kubeconfig),
      nodeName: args.nodeName,
      namespace: args.namespace,
      configMap: args.configMap,
      lbClass: args.lbClass,
      leaseDurationMs: args.leaseDurationMs,
      renewIntervalMs: args.renewIntervalMs,
      heartbeatPort: args.heartbeatPort,
      heartbeatIntervalMs: args.heartbeatIntervalMs,
      deadAfterMs: args.deadAfterMs,
      excludeInterfaces: args.excludeInterfaces,
      metricsAddress: args.metricsAddress,
      metricsPort: args.metricsPort,
      log,
    },
    stop.signal,
  );
  await handle.done;
  log.info("stopped");
}
