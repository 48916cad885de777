#!/usr/bin/env node
// Entry point of the `barelb` command. It checks the Node.js version before loading
// anything else, because the Kubernetes client does not load on older Node versions and
// would otherwise fail with an unrelated-looking error.
const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(
    `barelb needs Node.js >= 22.19; this is ${process.versions.node}.\n` +
      "In a checkout of barelb, run it through npm (npm run barelb -- <command>), which puts the\n" +
      "project's own Node 22 first on the PATH.\n",
  );
  process.exit(1);
}

const { runCli } = await import("./run.js");
process.exitCode = await runCli(process.argv);
