import { readFile } from "node:fs/promises";
import { extractConfigText, parseConfig } from "../config/index.js";
import { importMetallb, type ImportInput } from "../config/import-metallb.js";
import { familyName } from "../net/ip.js";
import { table } from "./table.js";

/**
 * `barelb config validate FILE|-`: the controller's own parser run on a file, so what it
 * accepts here is exactly what the controller will accept. Returns the exit code.
 */
export async function configValidate(
  file: string,
  out: (s: string) => void,
  readStdin: () => Promise<string> = readAllStdin,
): Promise<number> {
  let text: string;
  try {
    text = file === "-" ? await readStdin() : await readFile(file, "utf8");
  } catch (e: unknown) {
    out(`cannot read ${file}: ${(e as Error).message}\n`);
    return 1;
  }
  const extracted = extractConfigText(text);
  if (!extracted.ok) {
    for (const err of extracted.errors) out(`error: ${err.message}\n`);
    return 1;
  }
  const result = parseConfig(extracted.text);
  if (!result.ok) {
    for (const err of result.errors) out(`error: ${err.message}\n`);
    out(
      `${result.errors.length} error${result.errors.length === 1 ? "" : "s"}: the config is refused as a whole\n`,
    );
    return 1;
  }
  const { pools } = result.config;
  const from =
    extracted.source === "configmap" ? ` (ConfigMap ${extracted.name ?? "?"}, key config)` : "";
  out(`config is valid${from}: ${pools.length} pool${pools.length === 1 ? "" : "s"}\n`);
  if (pools.length > 0) {
    const rows = pools.map((p) => [
      p.name,
      p.families.map(familyName).join("+"),
      p.families.map((f) => String(p.size[f])).join("+"),
      p.autoAssign ? "yes" : "no",
      p.priority === undefined ? "-" : String(p.priority),
    ]);
    out(table([["POOL", "FAMILIES", "ADDRESSES", "AUTO-ASSIGN", "PRIORITY"], ...rows]));
  }
  for (const w of result.warnings) out(`warning: ${w.message}\n`);
  return 0;
}

/**
 * `barelb config import metallb [FILE...|-]`: MetalLB's configuration read from the files (or
 * stdin), barelb's pool ConfigMap on stdout, one `warning:` line on stderr for each part with
 * no barelb equivalent (also a comment in the ConfigMap). Exit 0; 1 when nothing could be
 * printed (unreadable input, or a result barelb's parser refuses); 2 with `strict` when there
 * were warnings (the ConfigMap is printed all the same).
 */
export async function configImportMetallb(
  args: { files: readonly string[]; strict: boolean },
  io: {
    out: (s: string) => void;
    err: (s: string) => void;
    readStdin?: (() => Promise<string>) | undefined;
  },
): Promise<number> {
  const readStdin = io.readStdin ?? readAllStdin;
  const names = args.files.length === 0 ? ["-"] : args.files;
  const inputs: ImportInput[] = [];
  let stdinRead = false;
  for (const name of names) {
    try {
      if (name === "-") {
        if (stdinRead) continue; // stdin once, however often it is named
        stdinRead = true;
        inputs.push({ name: "stdin", text: await readStdin() });
      } else {
        inputs.push({ name, text: await readFile(name, "utf8") });
      }
    } catch (e: unknown) {
      io.err(`error: cannot read ${name}: ${(e as Error).message}\n`);
      return 1;
    }
  }
  const result = importMetallb(inputs);
  for (const w of result.warnings) io.err(`warning: ${w.message}\n`);
  if (!result.ok) {
    for (const e of result.errors) io.err(`error: ${e}\n`);
    io.err("nothing printed: fix the input, or edit the output by hand\n");
    return 1;
  }
  io.out(result.manifest);
  const n = result.warnings.length;
  if (n > 0) {
    io.err(
      `${n} part${n === 1 ? "" : "s"} of the MetalLB configuration had no barelb equivalent ` +
        "(see the warnings above and the comments in the output)\n",
    );
  }
  return args.strict && n > 0 ? 2 : 0;
}

async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
