/**
 * One config problem, located by pool, key and value so the user can find it.
 *
 * `message` is the full line shown to users (Event, log, `barelb config validate`), e.g.
 * `pool "lan": addresses[1] "192.168.3.300/24": invalid IPv4 address`; `reason` is its last
 * part alone ("invalid IPv4 address").
 */
export interface ConfigError {
  /** The pool's name, when it has a usable one. */
  readonly pool?: string;
  /**
   * Path of the key inside the pool (`addresses[1]`, `service-selectors[0].matchLabels`), or
   * from the top of the document when no pool applies (`address-pools[2].name`, `peers`).
   */
  readonly key?: string;
  /** The offending value as text, when there is one. */
  readonly value?: string;
  readonly reason: string;
  readonly message: string;
}

/** Where a problem is: a named pool, or a position in `address-pools` when it has no name. */
export interface ErrorLocation {
  readonly pool?: string;
  /** Prefix for the key when the pool has no usable name (e.g. `address-pools[2]`). */
  readonly keyPrefix?: string;
}

function joinKey(prefix: string | undefined, key: string | undefined): string | undefined {
  if (prefix === undefined) return key;
  if (key === undefined || key === "") return prefix;
  return key.startsWith("[") ? `${prefix}${key}` : `${prefix}.${key}`;
}

/** Builds a `ConfigError` and its user-facing `message`. */
export function configError(
  at: ErrorLocation,
  key: string | undefined,
  value: string | undefined,
  reason: string,
): ConfigError {
  const fullKey = joinKey(at.keyPrefix, key);
  const parts: string[] = [];
  if (at.pool !== undefined) parts.push(`pool ${JSON.stringify(at.pool)}`);
  if (fullKey !== undefined) {
    parts.push(value === undefined ? fullKey : `${fullKey} ${JSON.stringify(value)}`);
  } else if (value !== undefined) {
    parts.push(JSON.stringify(value));
  }
  parts.push(reason);
  const e: { -readonly [K in keyof ConfigError]: ConfigError[K] } = {
    reason,
    message: parts.join(": "),
  };
  if (at.pool !== undefined) e.pool = at.pool;
  if (fullKey !== undefined) e.key = fullKey;
  if (value !== undefined) e.value = value;
  return Object.freeze(e);
}

/** Renders any YAML value briefly for an error message. */
export function describeValue(v: unknown): string {
  if (typeof v === "string") return v;
  if (v === null || v === undefined) return "null";
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (Array.isArray(v)) return "a list";
  return "a map";
}

/** Names the YAML type of a value for "wrong type" messages. */
export function typeName(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a map";
  if (typeof v === "string") return "a string";
  if (typeof v === "number") return "a number";
  if (typeof v === "boolean") return "a boolean";
  return typeof v;
}
