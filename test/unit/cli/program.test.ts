import { describe, expect, it } from "vitest";
import { CommanderError } from "commander";
import { buildProgram, parseNodeCount, type Actions } from "../../../src/cli/program.js";
import { describeError } from "../../../src/cli/run.js";

// The CLI's argument handling, with recording actions passed in: nothing is executed.

function harness() {
  const calls: { action: string; args: unknown }[] = [];
  const record =
    (action: string) =>
    (args?: unknown): Promise<void> => {
      calls.push({ action, args });
      return Promise.resolve();
    };
  const actions: Actions = {
    labUp: record("labUp"),
    labDown: record("labDown"),
    labList: record("labList"),
    labDemo: record("labDemo"),
    controller: record("controller"),
    speaker: record("speaker"),
    configValidate: async (args) => {
      await record("configValidate")(args);
      return args.file === "bad.yaml" ? 1 : 0;
    },
    configImportMetallb: async (args) => {
      await record("configImportMetallb")(args);
      return 0;
    },
    status: async (args) => {
      await record("status")(args);
      return 0;
    },
  };
  let out = "";
  let err = "";
  const program = buildProgram(actions, "1.2.3", {
    writeOut: (s) => (out += s),
    writeErr: (s) => (err += s),
  });
  const parse = async (...argv: string[]) => {
    try {
      await program.parseAsync(argv, { from: "user" });
      return { code: 0 };
    } catch (e: unknown) {
      if (e instanceof CommanderError) return { code: e.exitCode, id: e.code };
      throw e;
    }
  };
  return { calls, parse, out: () => out, err: () => err };
}

describe("barelb command line", () => {
  it.each([
    [
      ["lab", "up"],
      {
        action: "labUp",
        args: { nodes: 3, controlPlane: true, kubelet: false, foreground: false },
      },
    ],
    [
      ["lab", "up", "-n", "2", "--no-control-plane", "--foreground"],
      {
        action: "labUp",
        args: { nodes: 2, controlPlane: false, kubelet: false, foreground: true },
      },
    ],
    [
      ["lab", "up", "--nodes", "8"],
      {
        action: "labUp",
        args: { nodes: 8, controlPlane: true, kubelet: false, foreground: false },
      },
    ],
    [
      ["lab", "up", "--kubelet"],
      { action: "labUp", args: { nodes: 3, controlPlane: true, kubelet: true, foreground: false } },
    ],
    [["lab", "down"], { action: "labDown", args: { ids: [] } }],
    [
      ["lab", "down", "abc123", "def456"],
      { action: "labDown", args: { ids: ["abc123", "def456"] } },
    ],
    [["lab", "list"], { action: "labList", args: undefined }],
    [["lab", "ls"], { action: "labList", args: undefined }],
    [["lab", "demo", "--nodes", "2"], { action: "labDemo", args: { nodes: 2 } }],
    [
      ["config", "validate", "pools.yaml"],
      { action: "configValidate", args: { file: "pools.yaml" } },
    ],
    [["config", "validate", "-"], { action: "configValidate", args: { file: "-" } }],
    [
      ["config", "import", "metallb"],
      { action: "configImportMetallb", args: { files: [], strict: false } },
    ],
    [
      ["config", "import", "metallb", "--strict", "a.yaml", "-"],
      { action: "configImportMetallb", args: { files: ["a.yaml", "-"], strict: true } },
    ],
    [
      ["status"],
      {
        action: "status",
        args: {
          kubeconfig: undefined,
          namespace: "barelb-system",
          configMap: "barelb-config",
          lbClass: undefined,
          output: "text",
        },
      },
    ],
    [
      ["status", "-o", "json", "-n", "lb", "--lb-class", "x", "--kubeconfig", "k"],
      {
        action: "status",
        args: {
          kubeconfig: "k",
          namespace: "lb",
          configMap: "barelb-config",
          lbClass: "x",
          output: "json",
        },
      },
    ],
  ])("%j calls the right action with the right arguments", async (argv, expected) => {
    const h = harness();
    expect(await h.parse(...argv)).toEqual({ code: 0 });
    expect(h.calls).toEqual([expected]);
  });

  it.each([
    [["bogus"], "commander.unknownCommand", "unknown command 'bogus'"],
    [["lab", "upp"], "commander.unknownCommand", "(Did you mean up?)"],
    [["lab", "up", "--bogus"], "commander.unknownOption", "unknown option '--bogus'"],
    [
      ["lab", "up", "--kubelet", "--no-control-plane"],
      "commander.invalidArgument",
      "--kubelet needs the control plane",
    ],
    [
      ["lab", "up", "--nodes", "0"],
      "commander.invalidArgument",
      "must be a whole number from 1 to 8",
    ],
    [
      ["lab", "up", "--nodes", "9"],
      "commander.invalidArgument",
      "must be a whole number from 1 to 8",
    ],
    [
      ["lab", "up", "--nodes", "two"],
      "commander.invalidArgument",
      "must be a whole number from 1 to 8",
    ],
    [["lab", "up", "--nodes"], "commander.optionMissingArgument", "argument missing"],
    [["lab", "list", "extra"], "commander.excessArguments", "too many arguments"],
    [["config", "validate"], "commander.missingArgument", "missing required argument 'file'"],
  ])("%j is refused with a non-zero exit and a clear message", async (argv, id, message) => {
    const h = harness();
    const res = await h.parse(...argv);
    expect(res.code).not.toBe(0);
    expect(res.id).toBe(id);
    expect(h.err()).toContain(message);
    expect(h.calls).toEqual([]);
  });

  it("parses controller flags with defaults", async () => {
    const h = harness();
    await h.parse(
      "controller",
      "--lb-class",
      "barelb.io/x",
      "--lease-duration",
      "5s",
      "--retry-period",
      "500ms",
      "--no-leader-elect",
    );
    const args = h.calls[0]?.args as Record<string, unknown>;
    expect(args).toMatchObject({
      configMap: "barelb-config",
      lbClass: "barelb.io/x",
      leaderElect: false,
      leaseDurationMs: 5_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 500,
      metricsPort: 7472,
      logLevel: "info",
    });
  });

  it.each([
    [["controller", "--lease-duration", "soon"], "must be a duration"],
    [["controller", "--metrics-port", "70000"], "must be a port number"],
    [
      ["controller", "--log-level", "loud"],
      "Allowed choices are fatal, error, warn, info, debug, trace, silent",
    ],
  ])("refuses bad controller flag %j", async (argv, message) => {
    const h = harness();
    expect((await h.parse(...argv)).code).toBe(1);
    expect(h.err()).toContain(message);
  });

  it("speaker: announcement refresh is off by default, a duration of at least 1 s when set", async () => {
    const off = harness();
    await off.parse("speaker", "--node-name", "n1");
    expect((off.calls[0]?.args as Record<string, unknown>).refreshAnnouncementsMs).toBeUndefined();
    const on = harness();
    await on.parse("speaker", "--node-name", "n1", "--refresh-announcements", "30s");
    expect(on.calls[0]?.args).toMatchObject({ refreshAnnouncementsMs: 30_000 });
    const short = harness();
    expect(
      (await short.parse("speaker", "--node-name", "n1", "--refresh-announcements", "500ms")).code,
    ).toBe(1);
    expect(short.err()).toContain("must be at least 1s");
  });

  it("speaker: new IPs probed for 300 ms and held on a conflict by default; 0 turns probing off", async () => {
    const def = harness();
    await def.parse("speaker", "--node-name", "n1");
    expect(def.calls[0]?.args).toMatchObject({ addressProbeMs: 300, onAddressConflict: "hold" });
    const set = harness();
    await set.parse(
      "speaker",
      "--node-name",
      "n1",
      "--address-probe",
      "0",
      "--on-address-conflict",
      "announce",
    );
    expect(set.calls[0]?.args).toMatchObject({ addressProbeMs: 0, onAddressConflict: "announce" });
    const bad = harness();
    expect(
      (await bad.parse("speaker", "--node-name", "n1", "--on-address-conflict", "fight")).code,
    ).toBe(1);
  });

  it("exits 1 when the config is invalid, printing nothing more than the report", async () => {
    const h = harness();
    expect(await h.parse("config", "validate", "bad.yaml")).toEqual({
      code: 1,
      id: "barelb.configInvalid",
    });
    expect(h.err()).toBe("");
  });

  it("prints help listing the lab commands", async () => {
    const h = harness();
    expect((await h.parse("lab", "--help")).id).toBe("commander.helpDisplayed");
    for (const sub of ["up", "down", "list", "demo"])
      expect(h.out()).toMatch(new RegExp(`^\\s+${sub}\\b`, "m"));
  });

  it("prints its version", async () => {
    const h = harness();
    expect((await h.parse("--version")).id).toBe("commander.version");
    expect(h.out().trim()).toBe("1.2.3");
  });

  it("parses node counts strictly", () => {
    expect(parseNodeCount("1")).toBe(1);
    expect(() => parseNodeCount("1.5")).toThrow(/whole number/);
    expect(() => parseNodeCount("-1")).toThrow(/whole number/);
    expect(() => parseNodeCount("")).toThrow(/whole number/);
  });
});

describe("error output", () => {
  it("prints the message and every cause", () => {
    const e = new Error("could not build kube-apiserver", { cause: new Error("go: not found") });
    expect(describeError(e)).toBe("could not build kube-apiserver\n  caused by: go: not found");
  });
  it("lists each error of an aggregate", () => {
    const e = new AggregateError([new Error("a"), new Error("b")], "cleanup left something behind");
    expect(describeError(e)).toBe("cleanup left something behind\n  - a\n  - b");
  });
});
