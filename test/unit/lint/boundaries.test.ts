import { describe, expect, it } from "vitest";
import { ESLint } from "eslint";

// The import boundaries of eslint.config.js, checked by linting a two-line text as if it were
// a file of each layer (an existing one: the type-aware parser needs it in the project): a
// crossing import must fail with the boundary's rule, an allowed one must pass.

const RULE = "@typescript-eslint/no-restricted-imports";
const eslint = new ESLint({ ruleFilter: ({ ruleId }) => ruleId === RULE });

/** The messages of `rule` for `code` as if it were the file `path`. */
async function restricted(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path });
  return (result?.messages ?? []).filter((m) => m.ruleId === RULE).map((m) => m.message);
}

// The first lint starts the TypeScript project service: seconds on a busy machine.
describe("import boundaries (eslint.config.js)", { timeout: 120_000 }, () => {
  it.each([
    [
      "src/speaker/run.ts",
      'import { ServiceController } from "../controller/service-controller.js";\nexport const x = ServiceController;\n',
      /siblings/,
    ],
    [
      "src/dataplane/index.ts",
      'import { runController } from "../controller/run.js";\nexport const x = runController;\n',
      /below both programs/,
    ],
    [
      "src/adapters/service.ts",
      'import { runSpeaker } from "../speaker/run.js";\nexport const x = runSpeaker;\n',
      /below both programs/,
    ],
    [
      "src/config/index.ts",
      'import { watchResource } from "../k8s/informer.js";\nexport const x = watchResource;\n',
      /pure core/,
    ],
    [
      "src/net/ip.ts",
      'import { createSocket } from "node:dgram";\nexport const x = createSocket;\n',
      /pure core does no I\/O/,
    ],
    [
      "src/bgp/header.ts",
      'import { connect } from "node:net";\nexport const x = connect;\n',
      /pure core does no I\/O/,
    ],
    [
      "src/bgp/update.ts",
      'import { runSpeaker } from "../speaker/run.js";\nexport const x = runSpeaker;\n',
      /pure core/,
    ],
    [
      "src/bfd/session.ts",
      'import { createSocket } from "node:dgram";\nexport const x = createSocket;\n',
      /pure core does no I\/O/,
    ],
    [
      "src/bfd/packet.ts",
      'import { runSpeaker } from "../speaker/run.js";\nexport const x = runSpeaker;\n',
      /pure core/,
    ],
    [
      "src/allocator/allocator.ts",
      'import { runSpeaker } from "../speaker/run.js";\nexport const x = runSpeaker;\n',
      /pure core/,
    ],
    [
      "src/status/explain.ts",
      'import { DataPlane } from "../dataplane/index.js";\nexport const x = DataPlane;\n',
      /only reads the API/,
    ],
    [
      "src/controller/run.ts",
      'import { CoreV1Api } from "@kubernetes/client-node";\nexport const x = CoreV1Api;\n',
      /barelb's own client/,
    ],
    [
      "src/speaker/world.ts",
      'import { loadKubeConfig } from "../k8s/client.js";\nexport const x = loadKubeConfig;\n',
      /lab and tests only/,
    ],
    [
      "src/routing/bfd.ts",
      'import { runSpeaker } from "../speaker/run.js";\nexport const x = runSpeaker;\n',
      /routing edges lie below the speaker/,
    ],
    [
      "src/routing/bgp-peer.ts",
      'import { createLab } from "../lab/lab.js";\nexport const x = createLab;\n',
      /routing edges lie below the speaker/,
    ],
  ])("%s: a crossing import fails", async (path, code, why) => {
    const messages = await restricted(path, code);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(why);
  });

  it.each([
    [
      "src/speaker/run.ts",
      'import { eventTarget } from "../adapters/service.js";\nexport const x = eventTarget;\n',
    ],
    [
      "src/controller/run.ts",
      'import { watchPoolConfig } from "../adapters/pool-config.js";\nexport const x = watchPoolConfig;\n',
    ],
    [
      "src/speaker/run.ts",
      'import type { V1Service } from "@kubernetes/client-node";\nexport type X = V1Service;\n',
    ],
    [
      "src/lab/lab.ts",
      'import { CoreV1Api } from "@kubernetes/client-node";\nexport const x = CoreV1Api;\n',
    ],
    ["src/bgp/open.ts", 'import { parseIP } from "../net/ip.js";\nexport const x = parseIP;\n'],
    [
      "src/bfd/profile.ts",
      'import type { BfdProfile } from "../config/types.js";\nexport type X = BfdProfile;\n',
    ],
    [
      "src/routing/bfd-sockets.ts",
      'import { loadAddon } from "../dataplane/native.js";\nexport const x = loadAddon;\n',
    ],
    [
      "src/routing/bgp-peer.ts",
      'import { loadAddon } from "../dataplane/native.js";\nimport { step } from "../bgp/session.js";\nexport const x = [loadAddon, step];\n',
    ],
  ])("%s: an allowed import passes", async (path, code) => {
    expect(await restricted(path, code)).toEqual([]);
  });
});
