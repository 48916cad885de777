import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../util/paths.js";
import { CommanderError } from "commander";
import {
  buildProgram,
  type ControllerArgs,
  type LabUpArgs,
  type ProgramIO,
  type SpeakerArgs,
  type StatusArgs,
} from "./program.js";
import { configImportMetallb, configValidate } from "./config-commands.js";
import { runProgram } from "./run-program.js";

/**
 * How long after SIGTERM each program may take to stop before it exits anyway (status 1):
 * below the chart's terminationGracePeriodSeconds (controller 10 s, speaker 5 s by default),
 * above the sum of the stop steps' own timeouts (about 2 s each; see StopSteps).
 */
export const CONTROLLER_STOP_DEADLINE_MS = 8_000;
export const SPEAKER_STOP_DEADLINE_MS = 4_500;

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

async function labActions() {
  return (await import("./lab-commands.js")).labActions();
}

/** What the CLI reads and writes; tests pass their own. */
export interface CliIO extends ProgramIO {
  /** Standard input, read whole (default: the process's). */
  readStdin?: () => Promise<string>;
}

/** Runs the CLI and returns the process exit code. */
export async function runCli(argv: readonly string[], io?: CliIO): Promise<number> {
  const writeErr = io ? (s: string) => io.writeErr(s) : (s: string) => process.stderr.write(s);
  const out = io ? (s: string) => io.writeOut(s) : (s: string) => process.stdout.write(s);
  const actions = {
    // The lab (and the client-node it uses) loads only for `barelb lab …`.
    labUp: async (args: LabUpArgs) => (await labActions()).labUp(args),
    labDown: async (args: { ids: string[] }) => (await labActions()).labDown(args),
    labList: async () => (await labActions()).labList(),
    labDemo: async (args: { nodes: number }) => (await labActions()).labDemo(args),
    configValidate: ({ file }: { file: string }) => configValidate(file, out, io?.readStdin),
    configImportMetallb: (args: { files: string[]; strict: boolean }) =>
      configImportMetallb(args, { out, err: writeErr, readStdin: io?.readStdin }),
    // Loaded only for `barelb status` (it runs the controller's rules, dry).
    status: async (args: StatusArgs) =>
      (await import("./status-command.js")).statusCommand(args, out),
    // Each program loads only its own modules: the controller never loads the data plane.
    controller: async (args: ControllerArgs) => {
      const { runController } = await import("../controller/run.js");
      await runProgram("controller", args, {}, runController, CONTROLLER_STOP_DEADLINE_MS);
    },
    speaker: async (args: SpeakerArgs) => {
      (await import("../speaker/node-flags.js")).applySpeakerNodeFlags();
      const { runSpeaker } = await import("../speaker/run.js");
      await runProgram(
        "speaker",
        args,
        { node: args.nodeName },
        runSpeaker,
        SPEAKER_STOP_DEADLINE_MS,
      );
    },
  };
  const program = buildProgram(
    actions,
    packageVersion(),
    io && { writeOut: (s) => io.writeOut(s), writeErr: (s) => io.writeErr(s) },
  );
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (e: unknown) {
    if (e instanceof CommanderError) return e.exitCode; // commander already printed why
    writeErr(`barelb: ${describeError(e)}\n`);
    return 1;
  }
}

/** The message of an error and of each cause below it, one per line. */
export function describeError(e: unknown): string {
  const lines: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur !== undefined && depth < 8; depth++) {
    if (cur instanceof AggregateError) {
      lines.push(cur.message, ...cur.errors.map((x: unknown) => `  - ${describeError(x)}`));
    } else if (cur instanceof Error) {
      lines.push(depth === 0 ? cur.message : `  caused by: ${cur.message}`);
    } else {
      lines.push(typeof cur === "string" ? cur : JSON.stringify(cur));
    }
    cur = cur instanceof Error ? cur.cause : undefined;
  }
  return lines.join("\n");
}
