import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { packageRoot } from "../../src/util/paths.js";
import { run } from "../../src/util/proc.js";
import { prereqs } from "../helpers/prereq.js";

// The image, built from the Dockerfile by scripts/image/build.sh (podman, a local stand-in for
// the official node base) and smoke-run by scripts/image/smoke.sh: `barelb --version`, the
// data-plane addon and netlink's binary load, `config validate` works, and the controller's and
// speaker's modules load without @kubernetes/client-node, as the image's user. arm64 is built
// and run under QEMU. (linux/arm/v7 is built by hand: its Node comes from Debian's testing
// suite, whose pinned package is replaced there every few weeks; see docs/development.md.)

const root = packageRoot();

describe.runIf(prereqs("image e2e", ["root"]))("barelb's image", () => {
  it.each(["linux/amd64", "linux/arm64"])(
    "builds for %s and its programs run",
    async (platform) => {
      const build = await run(
        "bash",
        [join(root, "scripts/image/build.sh"), "--platform", platform],
        {
          timeoutMs: 40 * 60_000,
        },
      );
      const archive = /ARCHIVE=(\S+)/.exec(build.stdout)?.[1];
      expect(archive).toBeDefined();
      const smoke = await run(
        "bash",
        [join(root, "scripts/image/smoke.sh"), "--platform", platform, "--archive", archive ?? ""],
        { timeoutMs: 10 * 60_000 },
      );
      expect(smoke.stdout.trim().split("\n").pop()).toBe(`SMOKE=ok PLATFORM=${platform}`);
    },
    50 * 60_000,
  );
});
