import { defineConfig } from "vitest/config";

// Three projects, one folder each (see docs/development.md "Tests"):
//   unit         pure logic, no root, no network, no API server
//   integration  a real kube-apiserver + etcd on loopback, started once for the run
//   e2e          network namespaces (root), each file builds and removes its own lab
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          globalSetup: ["test/integration/global-setup.ts"],
          testTimeout: 60_000,
          // A cold build of the control plane happens in globalSetup and takes minutes.
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          globalSetup: ["test/e2e/global-setup.ts"],
          // Labs are heavy (an API server each) and the machine is small: one file at a time.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
