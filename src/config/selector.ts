/**
 * Kubernetes label selectors: syntax checks (the rules of the API server's validation of
 * label keys and values) and matching.
 */
import { describeValue, typeName } from "./errors.js";
import type { LabelSelector, LabelSelectorRequirement, SelectorOperator } from "./types.js";

const NAME_RE = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const OPERATORS: readonly SelectorOperator[] = ["In", "NotIn", "Exists", "DoesNotExist"];

/**
 * Why `key` is not a valid label key (`[prefix/]name`: prefix a DNS subdomain of at most 253
 * characters, name at most 63 alphanumerics, `-`, `_`, `.`, starting and ending
 * alphanumeric), or undefined when it is valid.
 */
export function labelKeyError(key: string): string | undefined {
  const slash = key.indexOf("/");
  let name = key;
  if (slash !== -1) {
    const prefix = key.slice(0, slash);
    name = key.slice(slash + 1);
    if (prefix === "" || prefix.length > 253 || !DNS_SUBDOMAIN_RE.test(prefix)) {
      return "invalid label key: the prefix before '/' must be a DNS subdomain (lowercase alphanumerics, '-', '.'; at most 253 characters)";
    }
  }
  if (name === "") return "invalid label key: the name part is empty";
  if (name.length > 63) return "invalid label key: the name part is longer than 63 characters";
  if (!NAME_RE.test(name)) {
    return "invalid label key: the name part must be alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric";
  }
  return undefined;
}

/** Why `value` is not a valid label value (empty, or a name as above), or undefined. */
export function labelValueError(value: string): string | undefined {
  if (value === "") return undefined;
  if (value.length > 63) return "invalid label value: longer than 63 characters";
  if (!NAME_RE.test(value)) {
    return "invalid label value: must be alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric";
  }
  return undefined;
}

/** Why `name` is not a valid namespace name (a DNS-1123 label), or undefined. */
export function namespaceNameError(name: string): string | undefined {
  if (name.length > 63 || !DNS_LABEL_RE.test(name)) {
    return "invalid namespace name: must be lowercase alphanumerics or '-', start and end alphanumeric, at most 63 characters";
  }
  return undefined;
}

/** Reports one problem at `key` (a path relative to the pool). */
export type Report = (key: string, value: string | undefined, reason: string) => void;

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parseRequirement(
  raw: unknown,
  key: string,
  report: Report,
): LabelSelectorRequirement | undefined {
  if (!isMap(raw)) {
    report(
      key,
      describeValue(raw),
      `must be a map with key, operator and values, not ${typeName(raw)}`,
    );
    return undefined;
  }
  let valid = true;
  for (const k of Object.keys(raw)) {
    if (k !== "key" && k !== "operator" && k !== "values") {
      report(`${key}.${k}`, undefined, "unknown key (expected key, operator, values)");
      valid = false;
    }
  }
  const labelKey = raw.key;
  if (typeof labelKey !== "string") {
    report(
      `${key}.key`,
      undefined,
      labelKey === undefined ? "missing" : `must be a string, not ${typeName(labelKey)}`,
    );
    valid = false;
  } else {
    const err = labelKeyError(labelKey);
    if (err !== undefined) {
      report(`${key}.key`, labelKey, err);
      valid = false;
    }
  }
  const op = raw.operator;
  let operator: SelectorOperator | undefined;
  if (typeof op !== "string") {
    report(
      `${key}.operator`,
      undefined,
      op === undefined ? "missing" : `must be a string, not ${typeName(op)}`,
    );
    valid = false;
  } else if (!(OPERATORS as readonly string[]).includes(op)) {
    report(`${key}.operator`, op, `must be one of ${OPERATORS.join(", ")}`);
    valid = false;
  } else {
    operator = op as SelectorOperator;
  }
  const values: string[] = [];
  const rawValues = raw.values;
  if (rawValues !== undefined && rawValues !== null && !Array.isArray(rawValues)) {
    report(
      `${key}.values`,
      describeValue(rawValues),
      `must be a list of strings, not ${typeName(rawValues)}`,
    );
    valid = false;
  } else if (Array.isArray(rawValues)) {
    rawValues.forEach((v: unknown, i) => {
      const vk = `${key}.values[${i}]`;
      if (typeof v !== "string") {
        report(vk, describeValue(v), `must be a string, not ${typeName(v)} (quote it)`);
        valid = false;
        return;
      }
      const err = labelValueError(v);
      if (err !== undefined) {
        report(vk, v, err);
        valid = false;
      } else if (values.includes(v)) {
        report(vk, v, "duplicate value");
        valid = false;
      } else {
        values.push(v);
      }
    });
  }
  if (operator === "In" || operator === "NotIn") {
    if (values.length === 0 && valid) {
      report(`${key}.values`, undefined, `must not be empty for operator ${operator}`);
      valid = false;
    }
  } else if (operator !== undefined && Array.isArray(rawValues) && rawValues.length > 0) {
    report(`${key}.values`, undefined, `must be empty for operator ${operator}`);
    valid = false;
  }
  if (!valid || operator === undefined || typeof labelKey !== "string") return undefined;
  return { key: labelKey, operator, values };
}

/** The key names of a selector's two parts: Kubernetes' camelCase or MetalLB v0.12's kebab-case. */
export interface SelectorSpelling {
  readonly labels: string;
  readonly expressions: string;
}

const KUBERNETES_SPELLING: SelectorSpelling = {
  labels: "matchLabels",
  expressions: "matchExpressions",
};

/**
 * Validates one selector (`{matchLabels, matchExpressions}`) found at `key`; reports every
 * problem and returns the selector only when it is wholly valid.
 */
export function parseSelector(
  raw: unknown,
  key: string,
  report: Report,
  spelling: SelectorSpelling = KUBERNETES_SPELLING,
): LabelSelector | undefined {
  const { labels: labelsKey, expressions: exprsKey } = spelling;
  if (!isMap(raw)) {
    report(
      key,
      describeValue(raw),
      `must be a label selector map (${labelsKey}, ${exprsKey}), not ${typeName(raw)}`,
    );
    return undefined;
  }
  let valid = true;
  for (const k of Object.keys(raw)) {
    if (k !== labelsKey && k !== exprsKey) {
      report(`${key}.${k}`, undefined, `unknown key (expected ${labelsKey}, ${exprsKey})`);
      valid = false;
    }
  }
  const matchLabels: Record<string, string> = {};
  const rawLabels = raw[labelsKey];
  if (rawLabels !== undefined && rawLabels !== null) {
    if (!isMap(rawLabels)) {
      report(
        `${key}.${labelsKey}`,
        describeValue(rawLabels),
        `must be a map of label keys to values, not ${typeName(rawLabels)}`,
      );
      valid = false;
    } else {
      for (const [k, v] of Object.entries(rawLabels)) {
        const lk = `${key}.${labelsKey}`;
        const keyErr = labelKeyError(k);
        if (keyErr !== undefined) {
          report(lk, k, keyErr);
          valid = false;
        }
        if (typeof v !== "string") {
          report(`${lk}.${k}`, describeValue(v), `must be a string, not ${typeName(v)} (quote it)`);
          valid = false;
          continue;
        }
        const valueErr = labelValueError(v);
        if (valueErr !== undefined) {
          report(`${lk}.${k}`, v, valueErr);
          valid = false;
          continue;
        }
        matchLabels[k] = v;
      }
    }
  }
  const matchExpressions: LabelSelectorRequirement[] = [];
  const rawExprs = raw[exprsKey];
  if (rawExprs !== undefined && rawExprs !== null) {
    if (!Array.isArray(rawExprs)) {
      report(
        `${key}.${exprsKey}`,
        describeValue(rawExprs),
        `must be a list, not ${typeName(rawExprs)}`,
      );
      valid = false;
    } else {
      rawExprs.forEach((r: unknown, i) => {
        const req = parseRequirement(r, `${key}.${exprsKey}[${i}]`, report);
        if (req === undefined) valid = false;
        else matchExpressions.push(req);
      });
    }
  }
  return valid ? { matchLabels, matchExpressions } : undefined;
}

/**
 * Whether `labels` satisfy `selector` (Kubernetes semantics): every matchLabels pair is
 * present, and every requirement holds (`NotIn` and `DoesNotExist` hold when the key is
 * absent). An empty selector matches everything.
 */
export function matchesSelector(
  selector: LabelSelector,
  labels: Readonly<Record<string, string>>,
): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels)) {
    if (!Object.hasOwn(labels, k) || labels[k] !== v) return false;
  }
  for (const req of selector.matchExpressions) {
    const has = Object.hasOwn(labels, req.key);
    const value = has ? labels[req.key] : undefined;
    switch (req.operator) {
      case "In":
        if (value === undefined || !req.values.includes(value)) return false;
        break;
      case "NotIn":
        if (value !== undefined && req.values.includes(value)) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
    }
  }
  return true;
}

/** Whether any selector in the list matches (false for an empty list). */
export function matchesAny(
  selectors: readonly LabelSelector[],
  labels: Readonly<Record<string, string>>,
): boolean {
  return selectors.some((s) => matchesSelector(s, labels));
}

/** A stable text form of a selector, for duplicate detection and messages. */
export function selectorKey(s: LabelSelector): string {
  const labels = Object.entries(s.matchLabels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([labels, s.matchExpressions]);
}
