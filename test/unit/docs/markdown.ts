import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../../../src/util/paths.js";

// Just enough Markdown for the docs tests: fenced code blocks, links, headings and the anchors
// GitHub makes of them. Not a Markdown parser: the docs are written to stay within this.

export const root = packageRoot();

export const read = (path: string): string => readFileSync(join(root, path), "utf8");

/** README.md, docs/*.md and bench/README.md, as paths from the package root. */
export function docFiles(): string[] {
  const docs = readdirSync(join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .sort()
    .map((f) => `docs/${f}`);
  return ["README.md", ...docs, "bench/README.md"];
}

export interface FencedBlock {
  /** The info string after the opening fence (`sh`, `yaml`, or ""). */
  info: string;
  body: string;
  /** 1-based line of the opening fence. */
  line: number;
}

/** The fenced code blocks (``` or ~~~), in order. */
export function fencedBlocks(text: string): FencedBlock[] {
  const blocks: FencedBlock[] = [];
  let open: { fence: string; info: string; line: number; body: string[] } | undefined;
  text.split("\n").forEach((l, i) => {
    if (open === undefined) {
      const m = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)/.exec(l);
      if (m?.[1] !== undefined) open = { fence: m[1], info: m[2] ?? "", line: i + 1, body: [] };
    } else if (l.trim().startsWith(open.fence) && l.trim().replace(/[`~]/g, "") === "") {
      blocks.push({ info: open.info, body: open.body.join("\n"), line: open.line });
      open = undefined;
    } else {
      open.body.push(l);
    }
  });
  return blocks;
}

/** The text with fenced blocks blanked (line numbers kept) and code spans made plain. */
function prose(text: string): string[] {
  const lines = text.split("\n");
  for (const b of fencedBlocks(text)) {
    const end = b.line + b.body.split("\n").length;
    for (let i = b.line - 1; i <= end && i < lines.length; i++) lines[i] = "";
  }
  // A code span's content is not Markdown: `[a](b)` inside one is no link.
  return lines.map((l) => l.replace(/`+[^`]*`+/g, (span) => span.replace(/[[\]()]/g, "_")));
}

export interface Link {
  target: string;
  /** 1-based line. */
  line: number;
}

/** Inline links and images, `[text](target)` and `![alt](target)`, outside code. */
export function links(text: string): Link[] {
  const out: Link[] = [];
  prose(text).forEach((l, i) => {
    for (const m of l.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      if (m[1] !== undefined) out.push({ target: m[1], line: i + 1 });
    }
  });
  return out;
}

/** GitHub's anchor for a heading's text: lower case, punctuation dropped, spaces to '-'. */
export function slug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // links: their text
    .replace(/[`*]/g, "") // code spans and emphasis: their content
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, "")
    .replace(/ /g, "-");
}

/** The anchors of every ATX heading (`## Title`), with `-1`, `-2` … for repeats. */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const l of prose(text)) {
    const m = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(l);
    if (m?.[1] === undefined) continue;
    const base = slug(m[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/**
 * The rows of the Markdown table(s) between `<!-- flags: NAME -->` and `<!-- /flags -->`, as
 * arrays of cells (header and separator rows left out).
 */
export function markedTable(text: string, name: string): string[][] {
  const start = text.indexOf(`<!-- flags: ${name} -->`);
  if (start === -1) return [];
  const end = text.indexOf("<!-- /flags -->", start);
  return text
    .slice(start, end === -1 ? undefined : end)
    .split("\n")
    .filter((l) => l.startsWith("|"))
    .slice(2)
    .map((l) =>
      l
        .slice(1, l.lastIndexOf("|"))
        .split("|")
        .map((c) => c.trim()),
    );
}
