import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { hostname } from "node:os";
import { MAX_NODES } from "../lab/limits.js";
import { LOG_LEVELS } from "../log.js";
import { parseDuration } from "./duration.js";
// Types only: nothing of the programs is loaded to parse their command lines.
import type { ControllerOptions } from "../controller/run.js";
import type { SpeakerOptions } from "../speaker/run.js";

/**
 * The `barelb` command line. Actions are passed in, so the argument handling can be tested
 * without doing anything; main.ts wires the real ones.
 */

export interface LabUpArgs {
  nodes: number;
  controlPlane: boolean;
  /** Real nodes: kubelet, containerd and kube-proxy in each node namespace. */
  kubelet: boolean;
  /** Stay in the foreground and remove the lab on exit (Ctrl-C), instead of leaving it up. */
  foreground: boolean;
}

/**
 * What a program gets from its command line: its options, with a kubeconfig path and a log
 * level where the program takes an API client and a logger (built by its command module).
 */
export type FromCommandLine<T> = Omit<T, "client" | "log"> & {
  kubeconfig: string | undefined;
  logLevel: string;
};
export type ControllerArgs = FromCommandLine<ControllerOptions>;
export type SpeakerArgs = FromCommandLine<SpeakerOptions>;

export interface Actions {
  controller(args: ControllerArgs): Promise<void>;
  speaker(args: SpeakerArgs): Promise<void>;
  labUp(args: LabUpArgs): Promise<void>;
  labDown(args: { ids: string[] }): Promise<void>;
  labList(): Promise<void>;
  labDemo(args: { nodes: number }): Promise<void>;
  /** Returns the exit code: 0 valid, 1 invalid. */
  configValidate(args: { file: string }): Promise<number>;
  /** Returns the exit code: 0 imported, 1 nothing printed, 2 printed with --strict warnings. */
  configImportMetallb(args: { files: string[]; strict: boolean }): Promise<number>;
  /** Returns the exit code. */
  status(args: StatusArgs): Promise<number>;
}

/** `barelb status`: read-only, with the caller's kubeconfig. */
export interface StatusArgs {
  kubeconfig: string | undefined;
  namespace: string;
  configMap: string;
  lbClass: string | undefined;
  output: "text" | "json";
}

export interface ProgramIO {
  writeOut(s: string): void;
  writeErr(s: string): void;
}

export function parseNodeCount(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > MAX_NODES) {
    throw new InvalidArgumentError(`must be a whole number from 1 to ${MAX_NODES}`);
  }
  return n;
}

export function buildProgram(actions: Actions, version: string, io?: ProgramIO): Command {
  const program = new Command("barelb")
    .description(
      "Bare-metal LoadBalancer for Kubernetes: IP pools, ARP/NDP announcements, fast failover",
    )
    .version(version, "-V, --version", "print the barelb version")
    .showHelpAfterError("(run with --help for usage)")
    .showSuggestionAfterError(true)
    .allowExcessArguments(false)
    // Throw CommanderError instead of calling process.exit; runCli maps it to an exit code.
    // Set before adding subcommands: they copy these settings when created.
    .exitOverride();
  if (io) program.configureOutput(io);

  const lab = program
    .command("lab")
    .description(
      "a local lab: a real API server, node and client network namespaces on a bridge (needs root)",
    )
    .allowExcessArguments(false);
  const nodesOption = () =>
    new Option("-n, --nodes <count>", `number of node namespaces (1-${MAX_NODES})`)
      .argParser(parseNodeCount)
      .default(3);

  lab
    .command("up")
    .description("create a lab and leave it running; prints KUBECONFIG=<path>")
    .addOption(nodesOption())
    .option("--no-control-plane", "namespaces and bridge only, without etcd and kube-apiserver")
    .option(
      "--kubelet",
      "real nodes: kubelet, containerd and kube-proxy in each node namespace, barelb's image " +
        "built and loaded into them; prints IMAGE=<repository>:<tag> for the chart",
      false,
    )
    .option("--foreground", "keep running and remove the lab on Ctrl-C or SIGTERM", false)
    .action(
      (
        opts: { nodes: number; controlPlane: boolean; kubelet: boolean; foreground: boolean },
        cmd: Command,
      ) => {
        if (opts.kubelet && !opts.controlPlane) {
          cmd.error("error: --kubelet needs the control plane (drop --no-control-plane)", {
            code: "commander.invalidArgument",
          });
        }
        return actions.labUp({
          nodes: opts.nodes,
          controlPlane: opts.controlPlane,
          kubelet: opts.kubelet,
          foreground: opts.foreground,
        });
      },
    );

  lab
    .command("down")
    .description("remove labs: the ones named, or every lab on this machine (and any leftovers)")
    .argument("[id...]", "lab ids as printed by `barelb lab up` / `barelb lab list`")
    .action((ids: string[]) => actions.labDown({ ids }));

  lab
    .command("list")
    .alias("ls")
    .description("list the labs on this machine")
    .action(() => actions.labList());

  lab
    .command("demo")
    .description("bring up a lab, show it working end to end, and remove it")
    .addOption(nodesOption())
    .action((opts: { nodes: number }) => actions.labDemo({ nodes: opts.nodes }));

  const config = program.command("config").description("the address pool configuration");
  config
    .command("validate")
    .description(
      "check a pool config with the controller's own parser: a ConfigMap manifest or the bare config YAML; - reads stdin",
    )
    .argument("<file>", "file to check, or - for standard input")
    .action(async (file: string) => {
      const code = await actions.configValidate({ file });
      // The report is printed already; only the exit code is left to set.
      if (code !== 0) throw new CommanderError(code, "barelb.configInvalid", "");
    });
  config
    .command("import")
    .description("turn another load balancer's configuration into barelb's pool ConfigMap")
    .command("metallb")
    .description(
      "print barelb's pool ConfigMap made from MetalLB's (IPAddressPool, L2Advertisement, ... " +
        "as YAML or a `kubectl get -o yaml` List, or the v0.12 ConfigMap); what has no barelb " +
        "equivalent is a comment in the output and a warning on stderr",
    )
    .argument("[file...]", "files to read, or - for standard input (the default)")
    .option(
      "--strict",
      "exit 2 when anything had no barelb equivalent (the ConfigMap is printed all the same)",
      false,
    )
    .action(async (files: string[], opts: { strict: boolean }) => {
      const code = await actions.configImportMetallb({ files, strict: opts.strict });
      if (code !== 0) throw new CommanderError(code, "barelb.configImport", "");
    });

  program
    .command("status")
    .description(
      "what barelb is doing and why: the config, each pool's use, who announces each " +
        "Service's IPs (or why nobody does), each node's speaker; reads only " +
        "(also `kubectl barelb status` with kubectl-barelb on the PATH)",
    )
    .option("--kubeconfig <path>", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    .option("-n, --namespace <ns>", "barelb's namespace (ConfigMap and Leases)", "barelb-system")
    .option("--config-map <name>", "the pool ConfigMap", "barelb-config")
    .option(
      "--lb-class <class>",
      "the loadBalancerClass barelb was started with (default: Services with none)",
    )
    .addOption(
      new Option("-o, --output <format>", "text, or json for scripts")
        .choices(["text", "json"])
        .default("text"),
    )
    .action(async (o: Record<string, unknown>) => {
      const code = await actions.status({
        kubeconfig: o.kubeconfig as string | undefined,
        namespace: o.namespace as string,
        configMap: o.configMap as string,
        lbClass: o.lbClass as string | undefined,
        output: o.output as "text" | "json",
      });
      if (code !== 0) throw new CommanderError(code, "barelb.status", "");
    });

  const controller = clusterCommand(program, "controller", {
    description: "assign IPs from the address pools to LoadBalancer Services (run in the cluster)",
    leases: "the leader Lease",
    lbClass: "handle",
    metricsPort: 7472,
  })
    .option(
      "--identity <id>",
      "this replica's name in the leader Lease",
      process.env.POD_NAME ?? hostname(),
    )
    .option("--no-leader-elect", "do not take the leader Lease (run a single replica only)")
    .addOption(
      durationOption(
        "--lease-duration <d>",
        "how long a leader Lease lasts without renewal",
        "15s",
      ),
    )
    .addOption(
      durationOption(
        "--renew-deadline <d>",
        "leader gives up if it cannot renew for this long",
        "10s",
      ),
    )
    .addOption(
      durationOption("--retry-period <d>", "how often the Lease is renewed or tried", "2s"),
    );
  controller.action((o: Record<string, unknown>) =>
    actions.controller({
      ...clusterArgs(o),
      identity: o.identity as string,
      leaderElect: o.leaderElect as boolean,
      leaseDurationMs: o.leaseDuration as number,
      renewDeadlineMs: o.renewDeadline as number,
      retryPeriodMs: o.retryPeriod as number,
    }),
  );

  const speaker = clusterCommand(program, "speaker", {
    description:
      "announce this node's share of the LoadBalancer IPs with ARP/NDP (run on every node)",
    leases: "the speaker's Lease",
    lbClass: "announce",
    metricsPort: 7473,
  })
    .requiredOption(
      "--node-name <name>",
      "this node's name (default: $NODE_NAME)",
      process.env.NODE_NAME,
    )
    .addOption(
      durationOption(
        "--lease-duration <d>",
        "how long this speaker's Lease lasts without renewal: peers whose heartbeats never " +
          "arrive (UDP filtered) count this node live until they have not seen its Lease " +
          "renewed for this long",
        "40s",
      ),
    )
    .addOption(
      durationOption(
        "--renew-interval <d>",
        "how often the Lease is renewed: one API write per interval (etcd), the speaker's " +
          "only steady write",
        "10s",
      ),
    )
    .addOption(
      durationOption(
        "--api-check-interval <d>",
        "how often the API server is read to know this node's view is current (a GET " +
          "answered from the API server's cache: no etcd, no write)",
        "2s",
      ),
    )
    .addOption(
      durationOption(
        "--api-stale-after <d>",
        "with no API answer (read or write) for this long, this node is API-stale: 5 s later " +
          "it stands down if another node is not (fencing); API down for every node: nobody does",
        "10s",
      ),
    )
    .addOption(
      portOption("--heartbeat-port <port>", "UDP port for speaker-to-speaker heartbeats", 7946),
    )
    .addOption(
      durationOption(
        "--heartbeat-interval <d>",
        "how often a heartbeat goes to each peer",
        "200ms",
      ),
    )
    .addOption(
      durationOption(
        "--dead-after <d>",
        "a peer silent this long is down (the failover time)",
        "1s",
      ),
    )
    .option(
      "--heartbeat-key-file <path>",
      "file holding the shared key (at least 32 bytes) that signs the heartbeats with " +
        "HMAC-SHA256; re-read when it changes, so a mounted Secret rotates without restarts",
      "/etc/barelb/heartbeat/key",
    )
    .addOption(
      durationOption(
        "--heartbeat-key-grace <d>",
        "after a key rotation: sign with the new key once it is this old / 2, accept the " +
          "replaced key until it is this old (every node must read the new key within half of it)",
        "3m",
      ),
    )
    .option(
      "--exclude-interfaces <regexes>",
      "comma-separated regexes of interfaces never to announce on (default: docker*, veth*, cni*, ...)",
      (v: string) =>
        v
          .split(",")
          .map((x) => x.trim())
          .filter((x) => x !== ""),
    )
    .addOption(
      new Option(
        "--refresh-announcements <d>",
        "while this node owns an IP, send one gratuitous ARP / unsolicited NA for it every " +
          "interval (spread over the interval), for switches that forget MACs before routers " +
          "forget ARP entries; at least 1s (e.g. 30s, 1m)",
      )
        .argParser((v: string) => {
          const ms = parseDuration(v);
          if (ms < 1000) throw new InvalidArgumentError("must be at least 1s");
          return ms;
        })
        .default(undefined, "off"),
    )
    .addOption(
      durationOption(
        "--node-check-interval <d>",
        "how often this node's setup is checked for what makes announcements fail (kube-proxy " +
          "IPVS without strictARP, a Wi-Fi interface); also checked when interfaces change",
        "30s",
      ),
    )
    .addOption(
      new Option(
        "--address-probe <d>",
        "before announcing an IP no node announced yet, check for this long that no other " +
          "host on the LAN uses it (ARP probes, IPv6 duplicate address probes; three spread " +
          "over it); takeovers are never probed; 0 turns it off (e.g. 300ms, 1s)",
      )
        .argParser((v: string) => (v.trim() === "0" ? 0 : parseDuration(v)))
        .default(parseDuration("300ms"), "300ms"),
    )
    .addOption(
      new Option(
        "--on-address-conflict <policy>",
        "a new IP another host on the LAN answers for: hold (not announced until that host " +
          "is gone, probed again every 30s) or announce (announced anyway, both answer); " +
          "either way a Warning Event AddressInUse on its Services",
      )
        .choices(["hold", "announce"])
        .default("hold"),
    );
  speaker.addHelpText(
    "after",
    `
Timings, with the defaults:
  a peer killed or cut off from the LAN   down after 1 s of heartbeat silence (--dead-after)
  a peer stopping (SIGTERM)               down at once (its leaving heartbeat, its Lease deleted)
  a peer whose heartbeats never arrive    judged by its Lease alone: down 40 s after its last
    (UDP filtered)                        renewal (--lease-duration): 30 to 40 s after it died
  this node cut off from the API server   API-stale after 10 s without an answer
    but not from the LAN                  (--api-stale-after), stands down 5 s later when
                                          another node is not: about 15 s
  the API server down for every node      nothing moves
API load per node: one Lease write every 10 s (--renew-interval), one cached read every
2 s (--api-check-interval), whatever the number of Services.
`,
  );
  speaker.action((o: Record<string, unknown>) =>
    actions.speaker({
      ...clusterArgs(o),
      nodeName: o.nodeName as string,
      leaseDurationMs: o.leaseDuration as number,
      renewIntervalMs: o.renewInterval as number,
      apiCheckIntervalMs: o.apiCheckInterval as number,
      apiStaleAfterMs: o.apiStaleAfter as number,
      heartbeatPort: o.heartbeatPort as number,
      heartbeatIntervalMs: o.heartbeatInterval as number,
      deadAfterMs: o.deadAfter as number,
      heartbeatKeyFile: o.heartbeatKeyFile as string,
      heartbeatKeyGraceMs: o.heartbeatKeyGrace as number,
      excludeInterfaces: o.excludeInterfaces as string[] | undefined,
      refreshAnnouncementsMs: o.refreshAnnouncements as number | undefined,
      nodeCheckIntervalMs: o.nodeCheckInterval as number,
      addressProbeMs: o.addressProbe as number,
      onAddressConflict: o.onAddressConflict as "hold" | "announce",
    }),
  );

  return program;
}

/** A program that runs in the cluster: the options the controller and the speaker share. */
function clusterCommand(
  program: Command,
  name: string,
  what: { description: string; leases: string; lbClass: string; metricsPort: number },
): Command {
  return program
    .command(name)
    .description(what.description)
    .option(
      "--kubeconfig <path>",
      "kubeconfig file (default: in-cluster ServiceAccount, or $KUBECONFIG)",
    )
    .option(
      "--namespace <ns>",
      `namespace of the ConfigMap and ${what.leases}`,
      process.env.POD_NAMESPACE ?? "barelb-system",
    )
    .option(
      "--config-map <name>",
      "ConfigMap holding the pools (data key: config)",
      "barelb-config",
    )
    .option(
      "--lb-class <class>",
      `${what.lbClass} only Services with this spec.loadBalancerClass (default: only those with none)`,
    )
    .option(
      "--pod-uid <uid>",
      `UID of this program's own Pod, named $POD_NAME (default: $POD_UID): ${what.leases} ` +
        "names the Pod as its owner, so it goes with the Pod even when the program cannot " +
        "remove it (killed, or its RBAC deleted first by helm uninstall)",
      process.env.POD_UID,
    )
    .option("--metrics-address <addr>", "address for /metrics, /healthz, /readyz", "0.0.0.0")
    .addOption(
      portOption("--metrics-port <port>", "port for /metrics, /healthz, /readyz", what.metricsPort),
    )
    .addOption(logLevelOption());
}

/** The shared options' values, as both programs' arguments name them. */
function clusterArgs(o: Record<string, unknown>) {
  return {
    kubeconfig: o.kubeconfig as string | undefined,
    namespace: o.namespace as string,
    configMap: o.configMap as string,
    lbClass: o.lbClass as string | undefined,
    metricsAddress: o.metricsAddress as string,
    metricsPort: o.metricsPort as number,
    logLevel: o.logLevel as string,
    ownerPod:
      typeof o.podUid === "string" && o.podUid !== "" && process.env.POD_NAME
        ? { name: process.env.POD_NAME, uid: o.podUid }
        : undefined,
  };
}

function durationOption(flags: string, description: string, def: string): Option {
  return new Option(flags, `${description} (e.g. 500ms, 2s)`)
    .argParser(parseDuration)
    .default(parseDuration(def), def);
}

function portOption(flags: string, description: string, def: number): Option {
  return new Option(flags, description)
    .argParser((v: string) => {
      const n = Number(v);
      if (!/^\d+$/.test(v) || n < 1 || n > 65535)
        throw new InvalidArgumentError("must be a port number, 1-65535");
      return n;
    })
    .default(def);
}

function logLevelOption(): Option {
  return new Option("--log-level <level>", "log level").choices([...LOG_LEVELS]).default("info");
}
