import { InvalidArgumentError } from "commander";

const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** Parses `500ms`, `2s`, `1.5s`, `1m` into milliseconds (a bare number is seconds). */
export function parseDuration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  const n = m?.[1];
  if (n === undefined) throw new InvalidArgumentError("must be a duration such as 500ms, 2s or 1m");
  const ms = Number(n) * (units[m?.[2] ?? "s"] ?? 1_000);
  if (ms <= 0) throw new InvalidArgumentError("must be longer than zero");
  return Math.round(ms);
}
