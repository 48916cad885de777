import { readFile } from "node:fs/promises";
import { extractConfigText, parseConfig } from "../config/index.js";
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

async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
