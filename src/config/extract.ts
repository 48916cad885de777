/**
 * `extractConfigText`: finds the pool config inside what a user hands to
 * `barelb config validate FILE`: either a ConfigMap manifest (its `data.config`) or the bare
 * config YAML itself.
 */
import { parseAllDocuments } from "yaml";

import { configError, typeName, type ConfigError } from "./errors.js";

/** The ConfigMap name barelb reads by default; preferred when a file holds several. */
export const DEFAULT_CONFIGMAP_NAME = "barelb-config";
/** The data key holding the config (the same as MetalLB's). */
export const CONFIG_DATA_KEY = "config";

export type ExtractResult =
  | {
      ok: true;
      /** The config YAML, ready for `parseConfig`. */
      text: string;
      /** `configmap` when it came from a ConfigMap's `data.config`, `config` when bare. */
      source: "configmap" | "config";
      /** The ConfigMap's `metadata.name`, when it came from one. */
      name?: string;
    }
  | { ok: false; errors: readonly ConfigError[] };

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function nameOf(obj: Record<string, unknown>): string | undefined {
  const meta = obj.metadata;
  return isMap(meta) && typeof meta.name === "string" ? meta.name : undefined;
}

function failed(reason: string, key?: string): ExtractResult {
  return { ok: false, errors: [configError({}, key, undefined, reason)] };
}

/**
 * Accepts a ConfigMap manifest (YAML with `kind: ConfigMap` and `data.config`; in a
 * multi-document file, the ConfigMap named `barelb-config` or the only ConfigMap with
 * `data.config`) or the bare config YAML, which is returned unchanged. A YAML syntax error in
 * a bare config is left for `parseConfig` to report.
 */
export function extractConfigText(text: string): ExtractResult {
  const docs = parseAllDocuments(text, { prettyErrors: true });
  if (!Array.isArray(docs)) return { ok: true, text, source: "config" };
  const objects: Record<string, unknown>[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      // Cannot tell what it is; parseConfig will report the syntax errors of a bare config.
      if (docs.length === 1) return { ok: true, text, source: "config" };
      const first = doc.errors[0];
      const line = (first?.message ?? "syntax error").split("\n")[0] ?? "syntax error";
      return failed(`YAML: ${line.replace(/:$/, "")}`);
    }
    const js: unknown = doc.toJS({ maxAliasCount: 100 });
    if (isMap(js)) objects.push(js);
  }
  const manifests = objects.filter((o) => o.kind !== undefined || o.apiVersion !== undefined);
  if (manifests.length === 0) {
    if (docs.length > 1) return failed("expected one YAML document, found several (---)");
    return { ok: true, text, source: "config" };
  }
  const configMaps = manifests.filter((o) => o.kind === "ConfigMap");
  if (configMaps.length === 0) {
    const kinds = manifests.map((o) => (typeof o.kind === "string" ? o.kind : "(no kind)"));
    return failed(
      `expected a ConfigMap with data.${CONFIG_DATA_KEY} or a bare barelb config, found ${kinds.join(", ")}`,
      "kind",
    );
  }
  let chosen: Record<string, unknown> | undefined;
  if (configMaps.length === 1) {
    chosen = configMaps[0];
  } else {
    const named = configMaps.filter((o) => nameOf(o) === DEFAULT_CONFIGMAP_NAME);
    const withConfig = configMaps.filter(
      (o) => isMap(o.data) && o.data[CONFIG_DATA_KEY] !== undefined,
    );
    chosen = named.length === 1 ? named[0] : withConfig.length === 1 ? withConfig[0] : undefined;
    if (chosen === undefined) {
      return failed(
        `found ${configMaps.length} ConfigMaps; keep only one, or name the barelb one ${DEFAULT_CONFIGMAP_NAME}`,
      );
    }
  }
  if (chosen === undefined) return failed("no ConfigMap found");
  const data = chosen.data;
  const name = nameOf(chosen);
  if (!isMap(data) || data[CONFIG_DATA_KEY] === undefined) {
    return failed(`the ConfigMap has no data.${CONFIG_DATA_KEY}`, `data.${CONFIG_DATA_KEY}`);
  }
  const config = data[CONFIG_DATA_KEY];
  if (typeof config !== "string") {
    return failed(
      `must be a string (use "config: |" for a block of YAML), not ${typeName(config)}`,
      `data.${CONFIG_DATA_KEY}`,
    );
  }
  return name === undefined
    ? { ok: true, text: config, source: "configmap" }
    : { ok: true, text: config, source: "configmap", name };
}
