import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseDocument } from "yaml";
import { packageRoot } from "../../../src/util/paths.js";

// The release workflow (.github/workflows/release.yml) cannot run outside GitHub Actions, so
// this keeps it consistent with the rest of the repository by reading files only: the trigger,
// the image's platforms (as the Dockerfile and docs/install.md list them), the registry, and the
// versions and image repository the chart defaults to.

const root = packageRoot();
const read = (...path: string[]): string => readFileSync(join(root, ...path), "utf8");

interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  with?: Record<string, string | number | boolean>;
}
interface Workflow {
  on: Record<string, unknown>;
  permissions: Record<string, string>;
  jobs: Record<string, { permissions?: Record<string, string>; steps: Step[] }>;
}

const workflowText = read(".github", "workflows", "release.yml");
const workflow = parse(workflowText) as Workflow;
const steps = Object.values(workflow.jobs).flatMap((j) => j.steps);
const chart = parse(read("charts", "barelb", "Chart.yaml")) as {
  version: string;
  appVersion: string;
};
const values = parse(read("charts", "barelb", "values.yaml")) as {
  image: { repository: string };
};
const pkg = JSON.parse(read("package.json")) as { version: string };

function step(action: string): Step {
  const found = steps.filter((s) => s.uses?.split("@")[0] === action);
  expect(found, `steps using ${action}`).toHaveLength(1);
  return found[0] as Step;
}

/** The linux/... platforms in a comma-separated list, sorted. */
function platforms(list: string): string[] {
  return list
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "")
    .sort();
}

describe("release workflow (.github/workflows/release.yml)", () => {
  it("parses as YAML without errors or warnings", () => {
    const doc = parseDocument(workflowText);
    expect(doc.errors).toEqual([]);
    expect(doc.warnings).toEqual([]);
    expect(Object.keys(workflow.jobs)).toEqual(["release"]);
  });

  it("runs only on pushed version tags", () => {
    expect(workflow.on).toEqual({ push: { tags: ["v*.*.*"] } });
  });

  it("builds exactly the platforms the Dockerfile and docs/install.md list", () => {
    const built = step("docker/build-push-action").with?.platforms;
    expect(typeof built).toBe("string");
    const fromWorkflow = platforms(built as string);
    // The Dockerfile's header shows the buildx command; docs/install.md "Building your own image" too.
    const dockerfile = /docker buildx build --platform (\S+)/.exec(read("Dockerfile"));
    const docs = /docker buildx build --platform (\S+)/.exec(read("docs", "install.md"));
    expect(dockerfile?.[1]).toBeDefined();
    expect(docs?.[1]).toBeDefined();
    expect(fromWorkflow).toEqual(["linux/amd64", "linux/arm/v7", "linux/arm64"]);
    expect(fromWorkflow).toEqual(platforms(dockerfile?.[1] ?? ""));
    expect(fromWorkflow).toEqual(platforms(docs?.[1] ?? ""));
    // QEMU emulates the platforms that are not the amd64 runner's own.
    expect(platforms(String(step("docker/setup-qemu-action").with?.platforms))).toEqual([
      "arm",
      "arm64",
    ]);
  });

  it("builds the repository's Dockerfile with provenance and an SBOM, and pushes it", () => {
    const build = step("docker/build-push-action").with ?? {};
    expect(build).toMatchObject({ context: ".", file: "./Dockerfile", push: true, sbom: true });
    expect(String(build.provenance)).toMatch(/^mode=max$/);
  });

  it("pushes the image and the chart to ghcr.io, where the chart's default image is", () => {
    expect(step("docker/login-action").with?.registry).toBe("ghcr.io");
    const tags = String(step("docker/build-push-action").with?.tags).trim();
    // One tag: ghcr.io/<owner>/barelb:<version>.
    expect(tags).toMatch(/^ghcr\.io\/\$\{\{ [^}]+ \}\}\/barelb:\$\{\{ [^}]+ \}\}$/);
    expect(values.image.repository).toBe("ghcr.io/barelb/barelb");
    const helmPush = steps.filter((s) => s.run?.includes("helm push"));
    expect(helmPush).toHaveLength(1);
    expect(helmPush[0]?.run).toMatch(/"oci:\/\/ghcr\.io\/\$\{OWNER\}\/charts"/);
    const job = workflow.jobs.release;
    expect(job?.permissions).toEqual({ contents: "write", packages: "write" });
    expect(workflow.permissions).toEqual({});
  });

  it("packages the chart before building the image, and releases last", () => {
    const at = (pred: (s: Step) => boolean): number => steps.findIndex(pred);
    const pkgStep = at((s) => s.run?.includes("helm package charts/barelb") === true);
    const image = at((s) => s.uses?.startsWith("docker/build-push-action@") === true);
    const push = at((s) => s.run?.includes("helm push") === true);
    const release = at((s) => s.run?.includes("gh release create") === true);
    expect(pkgStep).toBeGreaterThan(0);
    expect(pkgStep).toBeLessThan(image);
    expect(image).toBeLessThan(push);
    expect(push).toBeLessThan(release);
  });

  it("pins every action to an exact version tag or a commit SHA", () => {
    const uses = steps.flatMap((s) => (s.uses === undefined ? [] : [s.uses]));
    expect(uses.length).toBeGreaterThan(0);
    for (const u of uses) expect(u).toMatch(/@(v\d+\.\d+\.\d+|[0-9a-f]{40})$/);
    expect(step("actions/setup-node").with?.["node-version"]).toBe(22);
  });
});

describe("versions a release publishes", () => {
  it("the chart's appVersion (the image tag it defaults to) is package.json's version", () => {
    expect(chart.appVersion).toBe(pkg.version);
  });
});
