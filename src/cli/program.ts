import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { MAX_NODES } from "../lab/lab.js";

/**
 * The `barelb` command line. Actions are passed in, so the argument handling can be tested
 * without doing anything; main.ts wires the real ones.
 */

export interface LabUpArgs {
  nodes: number;
  controlPlane: boolean;
  /** Stay in the foreground and remove the lab on exit (Ctrl-C), instead of leaving it up. */
  foreground: boolean;
}

export interface Actions {
  labUp(args: LabUpArgs): Promise<void>;
  labDown(args: { ids: string[] }): Promise<void>;
  labList(): Promise<void>;
  labDemo(args: { nodes: number }): Promise<void>;
  /** Returns the exit code: 0 valid, 1 invalid. */
  configValidate(args: { file: string }): Promise<number>;
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
    .option("--foreground", "keep running and remove the lab on Ctrl-C or SIGTERM", false)
    .action((opts: { nodes: number; controlPlane: boolean; foreground: boolean }) =>
      actions.labUp({
        nodes: opts.nodes,
        controlPlane: opts.controlPlane,
        foreground: opts.foreground,
      }),
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

  program
    .command("config")
    .description("the address pool configuration")
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

  return program;
}
