// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const clientNode = {
  name: "@kubernetes/client-node",
  message:
    "runtime code uses barelb's own client (src/k8s/api.ts); client-node is for the lab and tests",
  allowTypeImports: true,
};
const k8sClient = {
  group: ["**/k8s/client.js"],
  message: "src/k8s/client.ts wraps client-node: the lab and tests only",
  allowTypeImports: true,
};

/**
 * A layer's boundary: `files` import nothing from the folders `above` (and, like all runtime
 * code, no value of client-node).
 */
function boundary(files, above, message) {
  return {
    files,
    rules: {
      "@typescript-eslint/no-restricted-imports": [
        "error",
        {
          paths: [clientNode],
          patterns: [k8sClient, { group: above.map((dir) => `**/${dir}/*`), message }],
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ["dist/", "dist-test/", "node_modules/", "native/build/", "coverage/"] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true }],
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
      "@typescript-eslint/no-confusing-void-expression": ["error", { ignoreArrowShorthand: true }],
      // @kubernetes/client-node declares its API objects as classes, but they are plain
      // data: object literals and spreads of them are the normal way to build requests.
      "@typescript-eslint/no-unsafe-class-instance-assignment": "off",
      "@typescript-eslint/no-misused-spread": "off",
    },
  },
  // Boundaries (see docs/development.md, "Boundaries checked by lint"), checked here rather than
  // promised in comments.
  // Runtime code never loads @kubernetes/client-node (~90 MiB of RSS on import): only the lab
  // and the tests do; its types are free.
  {
    files: ["src/**/*.ts"],
    ignores: ["src/lab/**", "src/k8s/client.ts", "src/cli/lab-commands.ts"],
    rules: {
      "@typescript-eslint/no-restricted-imports": [
        "error",
        { paths: [clientNode], patterns: [k8sClient] },
      ],
    },
  },
  // The pure core (addresses, the config parser, the allocator, the BGP codecs, BFD) knows nothing
  // of Kubernetes, sockets or the programs built on it.
  {
    files: [
      "src/net/**/*.ts",
      "src/config/**/*.ts",
      "src/allocator/**/*.ts",
      "src/bgp/**/*.ts",
      "src/bfd/**/*.ts",
    ],
    rules: {
      "@typescript-eslint/no-restricted-imports": [
        "error",
        {
          paths: [
            clientNode,
            ...["node:net", "node:dgram", "node:http", "node:https", "netlink"].map((name) => ({
              name,
              message: "the pure core does no I/O: pass results in from the edges",
            })),
          ],
          patterns: [
            {
              group: [
                "**/k8s/*",
                "**/dataplane/*",
                "**/speaker/*",
                "**/controller/*",
                "**/lab/*",
                "**/cli/*",
              ],
              message: "the pure core imports nothing above it",
            },
          ],
        },
      ],
    },
  },
  // The two programs are siblings over shared adapters (src/adapters, src/k8s): the speaker
  // never imports the controller, and what lies below both (adapters, the data plane)
  // imports neither program.
  boundary(
    ["src/speaker/**/*.ts"],
    ["controller"],
    "the speaker and the controller are siblings: move what both need to src/adapters",
  ),
  boundary(
    ["src/adapters/**/*.ts", "src/dataplane/**/*.ts"],
    ["controller", "speaker", "cli", "lab"],
    "adapters and the data plane lie below both programs: they import neither",
  ),
  // The routing edges (BGP, BFD) run the pure protocol cores over sockets for the speaker: they
  // use the pure core, src/net, src/util and the addon, never the programs or Kubernetes.
  boundary(
    ["src/routing/**/*.ts"],
    ["speaker", "controller", "cli", "lab", "k8s", "status", "adapters"],
    "the routing edges lie below the speaker: pass what they need in",
  ),
  // `barelb status` only reads the API: it runs on a laptop, without root or the data plane.
  boundary(
    ["src/status/**/*.ts"],
    ["dataplane", "lab"],
    "barelb status only reads the API: no data plane, no lab",
  ),
  { files: ["**/*.js"], ...tseslint.configs.disableTypeChecked },
);
