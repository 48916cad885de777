import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { packageRoot } from "../../../src/util/paths.js";

// Product code must not run or import files under test/, and the package must not ship them:
// what `barelb lab` runs (the control-plane and node builds) lives in scripts/lab/. Every
// string in src/ is checked (comments may point to tests; code may not reach into them).

const root = packageRoot();

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? tsFiles(join(dir, e.name))
      : e.name.endsWith(".ts")
        ? [join(dir, e.name)]
        : [],
  );
}

/** The texts of the string literals and template pieces of a TypeScript source. */
export function stringsOf(source: string): string[] {
  const file = ts.createSourceFile("x.ts", source, ts.ScriptTarget.Latest, false);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (
      ts.isStringLiteral(node) ||
      ts.isNoSubstitutionTemplateLiteral(node) ||
      ts.isTemplateHead(node) ||
      ts.isTemplateMiddle(node) ||
      ts.isTemplateTail(node)
    ) {
      out.push(node.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return out;
}

/** A string that names test/ as a path: "test" (a path.join segment) or one with a test/ segment. */
export function namesTestPath(s: string): boolean {
  return s === "test" || /(^|[/\\])test[/\\]/.test(s);
}

describe("product code and the package leave test/ alone", () => {
  it("recognises test/ in strings and template pieces, not in comments or other words", () => {
    const src = [
      'join(packageRoot(), "test", "controlplane", "build.sh");',
      'import x from "../../test/helpers/k8s.js";',
      "const p = `${root}/test/fixtures/${name}`;",
      "// see test/unit/net for the tables",
      'const a = "latest/"; const b = "contest/x"; const c = "tests";',
    ].join("\n");
    expect(stringsOf(src).filter(namesTestPath)).toEqual([
      "test",
      "../../test/helpers/k8s.js",
      "/test/fixtures/",
    ]);
  });

  it("no file under src/ names a path under test/", () => {
    const offenders: string[] = [];
    for (const file of tsFiles(join(root, "src"))) {
      for (const s of stringsOf(readFileSync(file, "utf8")).filter(namesTestPath)) {
        offenders.push(`${relative(root, file)}: ${JSON.stringify(s)}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it("the package ships nothing from test/", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      files: string[];
    };
    expect(pkg.files.filter((f) => f === "test" || f.startsWith("test/"))).toEqual([]);
    // What the lab runs from the package instead.
    expect(pkg.files).toContain("scripts/lab/");
  });
});
