import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { join } from "node:path";
import type { InterfaceStatus } from "../../src/dataplane/index.js";
import type { Lab } from "../../src/lab/lab.js";
import { packageRoot } from "../../src/util/paths.js";
import { spawnProcess } from "../../src/util/proc.js";

/** Drives test/fixtures/dataplane-speaker.ts in a lab namespace. */

const fixture = join(packageRoot(), "dist-test", "test", "fixtures", "dataplane-speaker.js");

export interface SpeakerStatus {
  interfaces: InterfaceStatus[];
  skipped: { name: string; reason: string }[];
  owned: string[];
  announcing: string[];
  metrics: {
    requestsReceived: Record<string, number>;
    repliesSent: Record<string, number>;
    gratuitousSent: Record<string, number>;
    ignored: Record<string, number>;
    sendFailed: Record<string, number>;
  };
  rssBytes: number;
  heapUsedBytes: number;
  pid: number;
}

type Line = { id?: number; event?: string; level?: string; msg?: string } & Record<string, unknown>;

export class Speaker {
  readonly events: Line[] = [];
  private readonly pending = new Map<number, (l: Line) => void>();
  private nextId = 1;
  private exited = false;

  private constructor(
    readonly netns: string,
    private readonly child: ChildProcess,
  ) {
    child.on("exit", () => (this.exited = true));
  }

  /** Starts a speaker in `netns` and waits until it has read its interfaces. */
  static async start(
    netns: string,
    args: readonly string[] = [],
    nodeArgs: readonly string[] = [],
    wrapper: readonly string[] = [],
  ): Promise<{ speaker: Speaker; ready: SpeakerStatus }> {
    const argv = [
      "netns",
      "exec",
      netns,
      ...wrapper,
      process.execPath,
      ...nodeArgs,
      fixture,
      ...args,
    ];
    const child = spawnProcess("ip", argv, {
      tied: true,
      stdio: ["pipe", "pipe", "inherit"],
    });
    const s = new Speaker(netns, child);
    const ready = new Promise<SpeakerStatus>((resolve, reject) => {
      child.once("exit", (code) =>
        reject(new Error(`speaker in ${netns} exited with ${String(code)}`)),
      );
      if (child.stdout === null) throw new Error("no stdout");
      createInterface({ input: child.stdout }).on("line", (text) => {
        const l = JSON.parse(text) as Line;
        if (l.id !== undefined) {
          s.pending.get(l.id)?.(l);
          s.pending.delete(l.id);
        } else {
          s.events.push(l);
          if (l.event === "ready") resolve(l as unknown as SpeakerStatus);
        }
      });
    });
    return {
      speaker: s,
      ready: await withTimeout(ready, 15_000, `speaker in ${netns} did not start`),
    };
  }

  private request(cmd: object): Promise<Line> {
    if (this.exited) return Promise.reject(new Error(`speaker in ${this.netns} has exited`));
    const id = this.nextId++;
    const answer = new Promise<Line>((resolve) => this.pending.set(id, resolve));
    this.child.stdin?.write(`${JSON.stringify({ id, ...cmd })}\n`);
    return withTimeout(answer, 10_000, `speaker in ${this.netns} did not answer`);
  }

  async own(owned: [string, { interfaces?: string[] }][]): Promise<void> {
    const r = await this.request({ cmd: "own", owned });
    if ((r.errors as string[]).length > 0) throw new Error((r.errors as string[]).join("; "));
  }

  /** With `gc`, memory figures are taken after a full collection (needs --expose-gc). */
  async status(gc = false): Promise<SpeakerStatus> {
    return (await this.request({ cmd: "status", gc })) as unknown as SpeakerStatus;
  }

  get running(): boolean {
    return !this.exited;
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.kill("SIGTERM");
    await withTimeout(gone, 5_000, "speaker did not stop").catch(() => this.child.kill("SIGKILL"));
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]);
}

/** Runs a command as root with CAP_NET_RAW and no other capability, as the speaker's pod. */
export const NET_RAW_ONLY = ["setpriv", "--inh-caps=-all", "--bounding-set=-all,+net_raw", "--"];

export interface ArpingResult {
  /** MAC of each reply, in order. */
  replies: string[];
  sent: number;
}

/** Runs iputils arping in the client and collects the replies. */
export async function arping(lab: Lab, ip: string, count: number): Promise<ArpingResult> {
  const argv = ["arping", "-c", String(count), "-I", lab.client.ifname, ip];
  let stdout: string;
  try {
    ({ stdout } = await lab.exec(lab.client, argv, 20_000));
  } catch (e: unknown) {
    // No reply: arping exits 1, with its output.
    const out = (e as { stdout?: unknown }).stdout;
    if (typeof out !== "string") throw e;
    stdout = out;
  }
  const replies = [...stdout.matchAll(/reply from [\d.]+ \[([0-9A-Fa-f:]{17})\]/g)].map((m) =>
    (m[1] ?? "").toLowerCase(),
  );
  const sent = Number(/Sent (\d+) probes?/.exec(stdout)?.[1] ?? "NaN");
  return { replies, sent };
}

/** Sleeps. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a value other than undefined, or fails after `ms`. */
export async function eventually<T>(
  fn: () => Promise<T | undefined>,
  ms: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
