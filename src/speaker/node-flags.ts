import { setFlagsFromString } from "node:v8";

/**
 * The speaker's memory settings. A speaker runs on every node, so what it holds is paid once
 * per node; these were chosen with `npm run bench -- speaker-memory` (see bench/README.md).
 *
 * Given on Node's command line: the chart's speaker container runs
 * `node <SPEAKER_NODE_FLAGS> /app/dist/cli/main.js speaker ...`, and the lab starts its
 * speakers the same way.
 * - `--max-semi-space-size=1`: a young generation of 1 MiB per semi-space instead of growing
 *   to 16. The speaker's garbage is short-lived (frames, watch events); the larger young
 *   generation was the largest part of its memory. Only works from the start.
 * - `--no-opt --no-maglev`: no optimizing compilers; their code and working memory cost more
 *   than the speaker's hot paths (answering ARP/NDP, recomputing ownership) gain from them.
 *   The baseline compiler still runs. `bench/arp.ts` measures the data plane both ways.
 * - `--optimize-for-size`: V8's trade of speed for memory (smaller heap growth steps among
 *   others); about 6 MiB less with 5,000 owned IPs.
 */
export const SPEAKER_NODE_FLAGS = [
  "--max-semi-space-size=1",
  "--no-opt",
  "--no-maglev",
  "--optimize-for-size",
] as const;

/** Of those, the ones V8 also takes at run time: all but the young generation's size. */
const RUNTIME_FLAGS = SPEAKER_NODE_FLAGS.filter((f) => !f.startsWith("--max-semi-space-size"));

/** Whether Node was started with every one of SPEAKER_NODE_FLAGS. */
export function startedWithSpeakerNodeFlags(): boolean {
  return SPEAKER_NODE_FLAGS.every((f) => process.execArgv.includes(f));
}

/**
 * For a speaker started without SPEAKER_NODE_FLAGS: sets those V8 takes at run time (it then
 * gets part of the saving; its startup log says so).
 */
export function applySpeakerNodeFlags(): void {
  if (!startedWithSpeakerNodeFlags()) for (const f of RUNTIME_FLAGS) setFlagsFromString(f);
}
