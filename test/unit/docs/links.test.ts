import { existsSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { anchors, docFiles, fencedBlocks, links, read, root, slug } from "./markdown.js";

// The front page and the manual in docs/: every relative link leads somewhere, and the
// README still starts with the two commands that .ci/run and reviewers rely on.

describe("the Markdown helpers", () => {
  it("make GitHub's anchors", () => {
    expect(slug("Real nodes: `lab up --kubelet`")).toBe("real-nodes-lab-up---kubelet");
    expect(slug("`src/`, folder by folder")).toBe("src-folder-by-folder");
    expect(slug("linux/arm/v7 runs Debian's Node 24")).toBe("linuxarmv7-runs-debians-node-24");
    expect([...anchors("# A\n## A\n```\n# not a heading\n```\n### b_c")]).toEqual([
      "a",
      "a-1",
      "b_c",
    ]);
  });

  it("find links outside code only", () => {
    const text = [
      "See [the page](docs/a.md#x) and ![img](b.png).",
      "`[not](a-link.md)` and [https](https://example.com/x)",
      "```md",
      "[nor](this.md)",
      "```",
    ].join("\n");
    expect(links(text)).toEqual([
      { target: "docs/a.md#x", line: 1 },
      { target: "b.png", line: 1 },
      { target: "https://example.com/x", line: 2 },
    ]);
  });
});

describe.each(docFiles())("%s", (file) => {
  const text = read(file);
  const here = dirname(file);

  it("has only relative links that lead to an existing file and heading", () => {
    const broken: string[] = [];
    for (const { target, line } of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: …
      const hash = target.indexOf("#");
      const path = hash === -1 ? target : target.slice(0, hash);
      const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
      const resolved = path === "" ? file : normalize(join(here, decodeURIComponent(path)));
      const where = `${file}:${line}: ${target}`;
      if (relative(root, join(root, resolved)).startsWith("..")) {
        broken.push(`${where} (leaves the repository)`);
      } else if (!existsSync(join(root, resolved))) {
        broken.push(`${where} (no such file: ${resolved})`);
      } else if (anchor !== undefined) {
        if (!resolved.endsWith(".md") || statSync(join(root, resolved)).isDirectory()) {
          broken.push(`${where} (an anchor into a file that is not Markdown)`);
        } else if (!anchors(read(resolved)).has(anchor)) {
          broken.push(`${where} (no heading #${anchor} in ${resolved})`);
        }
      }
    }
    expect(broken).toEqual([]);
  });
});

describe("the manual", () => {
  it("is linked from the front page, every page of it", () => {
    const fromReadme = new Set(
      links(read("README.md")).map(({ target }) => target.split("#")[0] ?? ""),
    );
    const pages = docFiles().filter((f) => f.startsWith("docs/"));
    expect(pages.length).toBeGreaterThan(0);
    expect(pages.filter((p) => !fromReadme.has(p))).toEqual([]);
  });
});

describe("README.md's first code block", () => {
  const readme = read("README.md");
  const first = fencedBlocks(readme)[0];
  const commands = (first?.body ?? "")
    .split("\n")
    .map((l) => l.replace(/\s+#.*$/, "").trim())
    .filter((l) => l !== "");

  it("comes first, right under the title", () => {
    const before = readme.slice(0, readme.indexOf("```")).trim();
    expect(before).toBe("# barelb");
    expect(first?.info).toBe("sh");
  });

  it("holds the test command that .ci/run runs, exactly", () => {
    // .ci/run's last command line is "the README's test command".
    const ciCommands = read(".ci/run")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
    const ciTest = ciCommands.find((l) => l.includes("npm test"));
    expect(ciTest, ".ci/run runs npm test").toBeDefined();
    expect(commands).toContain(ciTest);
  });

  it("holds the two commands: set up and run the lab demo, set up and run every test", () => {
    expect(commands).toEqual([
      "bash scripts/install-host-deps.sh && npm ci && npm run lab",
      "bash scripts/install-host-deps.sh && npm ci && npm test",
    ]);
  });
});
