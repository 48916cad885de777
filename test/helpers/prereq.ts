import { execFileSync } from "node:child_process";

/**
 * Tests that need root, a host tool or the API server check for it here. In CI (CI=true) a
 * missing prerequisite is an error with the reason, never a silent skip; on a laptop the
 * test file is skipped and the reason printed.
 */

export type Prereq =
  "root" | "ip" | "arping" | "ndisc6" | "setpriv" | "curl" | "go" | "promtool" | "bird";

const commands: Record<Exclude<Prereq, "root">, { argv: string[]; install: string }> = {
  ip: { argv: ["ip", "-V"], install: "apt-get install iproute2" },
  arping: { argv: ["arping", "-V"], install: "apt-get install iputils-arping" },
  ndisc6: { argv: ["ndisc6", "-V"], install: "apt-get install ndisc6" },
  setpriv: { argv: ["setpriv", "--version"], install: "apt-get install util-linux" },
  curl: { argv: ["curl", "--version"], install: "apt-get install curl" },
  promtool: { argv: ["promtool", "--version"], install: "apt-get install prometheus" },
  bird: { argv: ["bird", "--version"], install: "apt-get install bird2" },
  go: { argv: ["go", "version"], install: "install Go >= 1.26 (builds kube-apiserver and etcd)" },
};

export function missingPrereqs(needs: readonly Prereq[]): string[] {
  const missing: string[] = [];
  for (const need of needs) {
    if (need === "root") {
      if (process.getuid?.() !== 0) missing.push("root (network namespaces need CAP_NET_ADMIN)");
      continue;
    }
    const { argv, install } = commands[need];
    try {
      execFileSync(argv[0] ?? need, argv.slice(1), { stdio: "ignore", timeout: 10_000 });
    } catch {
      missing.push(`${need} (${install}; scripts/install-host-deps.sh does it)`);
    }
  }
  return missing;
}

export const inCI =
  process.env.CI !== undefined && process.env.CI !== "" && process.env.CI !== "false";

/**
 * Returns true when the test file can run. In CI, throws if it cannot; elsewhere prints why
 * it will be skipped. Use as: `describe.runIf(prereqs("e2e", ["root", "ip"]))(...)`.
 */
export function prereqs(what: string, needs: readonly Prereq[]): boolean {
  const missing = missingPrereqs(needs);
  if (missing.length === 0) return true;
  const reason = `${what} needs: ${missing.join("; ")}`;
  if (inCI) throw new Error(`${reason} (CI=true: a missing prerequisite is a failure)`);
  console.warn(`SKIPPED ${reason}`);
  return false;
}
