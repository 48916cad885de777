import { describe, expect, it } from "vitest";

import { matchesSelector, type LabelSelector } from "../../../src/config/index.js";

const sel = (s: Partial<LabelSelector>): LabelSelector => ({
  matchLabels: {},
  matchExpressions: [],
  ...s,
});

describe("matchesSelector (Kubernetes semantics)", () => {
  const labels = { app: "shop", tier: "web", env: "prod" };
  it.each<[string, LabelSelector, Record<string, string>, boolean]>([
    ["empty selector matches everything", sel({}), labels, true],
    ["empty selector matches no labels", sel({}), {}, true],
    ["matchLabels all present", sel({ matchLabels: { app: "shop", tier: "web" } }), labels, true],
    ["matchLabels one differs", sel({ matchLabels: { app: "shop", tier: "db" } }), labels, false],
    ["matchLabels key absent", sel({ matchLabels: { zone: "a" } }), labels, false],
    [
      "In",
      sel({ matchExpressions: [{ key: "env", operator: "In", values: ["prod", "staging"] }] }),
      labels,
      true,
    ],
    [
      "In, value not listed",
      sel({ matchExpressions: [{ key: "env", operator: "In", values: ["dev"] }] }),
      labels,
      false,
    ],
    [
      "In, key absent",
      sel({ matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }] }),
      labels,
      false,
    ],
    [
      "NotIn, value listed",
      sel({ matchExpressions: [{ key: "env", operator: "NotIn", values: ["prod"] }] }),
      labels,
      false,
    ],
    [
      "NotIn, key absent holds",
      sel({ matchExpressions: [{ key: "zone", operator: "NotIn", values: ["a"] }] }),
      labels,
      true,
    ],
    [
      "Exists",
      sel({ matchExpressions: [{ key: "app", operator: "Exists", values: [] }] }),
      labels,
      true,
    ],
    [
      "Exists, absent",
      sel({ matchExpressions: [{ key: "zone", operator: "Exists", values: [] }] }),
      labels,
      false,
    ],
    [
      "DoesNotExist",
      sel({ matchExpressions: [{ key: "zone", operator: "DoesNotExist", values: [] }] }),
      labels,
      true,
    ],
    [
      "DoesNotExist, present",
      sel({ matchExpressions: [{ key: "app", operator: "DoesNotExist", values: [] }] }),
      labels,
      false,
    ],
    [
      "labels and expressions are ANDed",
      sel({
        matchLabels: { app: "shop" },
        matchExpressions: [{ key: "env", operator: "In", values: ["dev"] }],
      }),
      labels,
      false,
    ],
    [
      "inherited properties are not labels",
      sel({ matchExpressions: [{ key: "toString", operator: "Exists", values: [] }] }),
      {},
      false,
    ],
  ])("%s", (_name, selector, l, expected) => {
    expect(matchesSelector(selector, l)).toBe(expected);
  });
});
