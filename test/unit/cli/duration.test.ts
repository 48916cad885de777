import { describe, expect, it } from "vitest";
import { parseDuration } from "../../../src/cli/duration.js";

describe("durations on the command line", () => {
  it.each([
    ["500ms", 500],
    ["2s", 2_000],
    ["1.5s", 1_500],
    ["3", 3_000],
    ["1m", 60_000],
    ["1h", 3_600_000],
  ])("%s is %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
  it.each(["", "s", "-1s", "0s", "1d", "1 s s", "abc"])("%j is refused", (text) => {
    expect(() => parseDuration(text)).toThrow(/duration|longer than zero/);
  });
});
