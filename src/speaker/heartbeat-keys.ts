import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";

/**
 * The shared key that signs the speakers' heartbeats (HMAC-SHA256, see heartbeat-codec.ts),
 * and its rotation.
 *
 * What the key protects: a heartbeat says "node X is alive (and API-healthy)" or "node X is
 * leaving", and the membership moves IPs on it. Without the key, nobody can make a speaker
 * believe such a datagram: not a host on the LAN that sniffed earlier ones, nor one that can
 * read the Leases. Replays of genuine datagrams are refused by the membership (the run
 * token, incarnation and seq they carry are signed too).
 * What it does not protect: the LAN itself. A host on the LAN can still answer ARP/NDP for any
 * IP, drop or delay heartbeats (a silenced node fails over, as with a cut cable), and replay
 * recorded datagrams of a run its peer's Lease still names to a speaker that has not seen
 * them yet (one that started since): each counts once, in order, so a recording of N rounds
 * keeps that peer live for N rounds at most, and only until a new run replaces the token.
 * Heartbeats are signed, not encrypted: node names and flags travel in clear.
 *
 * Key material: the key file's bytes, less trailing white space, at least 32 bytes (the chart
 * puts 64 random characters in a Secret). Its id, sent in every datagram so the receiver picks
 * the key, is the first 4 bytes of SHA-256("barelb heartbeat key id\0" + key): it names the
 * key and reveals nothing usable about it.
 *
 * Rotation, without restarts. The file is re-read every few seconds (kubelet swaps a mounted
 * Secret's files atomically, some time after the Secret changed: each node at its own moment,
 * within about a minute by default). With G the grace (--heartbeat-key-grace):
 *  - a node that reads a new key accepts it at once, and keeps accepting the key it replaced
 *    for G, then refuses it ("old-key");
 *  - it keeps signing with the replaced key for G/2, then signs with the new one, so the peers
 *    that read the new key later still understand it.
 * No heartbeat is lost when every node reads the new key within G/2 of the first one, which
 * the default G (3 min) leaves room for. A speaker that starts during a rotation knows only
 * the new key: until the others switch (G/2 at most) it counts them by their Leases alone.
 * The key a node loaded at its start is its signing key at once.
 */

export const HEARTBEAT_KEY_MIN_BYTES = 32;
export const DEFAULT_HEARTBEAT_KEY_GRACE_MS = 180_000;
/** How often the key file is re-read. */
export const HEARTBEAT_KEY_POLL_MS = 5_000;
/** Older key ids remembered (to tell "old-key" from "unknown-key"). */
const RETIRED_IDS_KEPT = 8;

export interface HeartbeatKey {
  /** 4 bytes, as a uint32. */
  readonly id: number;
  /** The HMAC key. */
  readonly secret: Buffer;
}

export type HeartbeatKeyLookup =
  { ok: true; key: HeartbeatKey } | { ok: false; error: "unknown-key" | "old-key" };

/** What the codec needs: a key to sign with, and the key for an id received. */
export interface HeartbeatKeys {
  signingKey(): HeartbeatKey;
  lookup(id: number): HeartbeatKeyLookup;
}

export function heartbeatKeyId(secret: Uint8Array): number {
  const h = createHash("sha256").update("barelb heartbeat key id\0").update(secret).digest();
  return h.readUInt32BE(0);
}

/** A key from a key file's bytes; an error message when they cannot be one. */
export function parseHeartbeatKey(bytes: Uint8Array): HeartbeatKey | string {
  let end = bytes.length;
  while (end > 0 && [0x20, 0x09, 0x0a, 0x0d].includes(bytes[end - 1] ?? 0)) end--;
  if (end < HEARTBEAT_KEY_MIN_BYTES) {
    return `the key is ${end} bytes long; it must be at least ${HEARTBEAT_KEY_MIN_BYTES}`;
  }
  const secret = Buffer.from(bytes.subarray(0, end));
  return { id: heartbeatKeyId(secret), secret };
}

/** A key from text (tests, fixtures, the lab). */
export function heartbeatKeyFromText(text: string): HeartbeatKey {
  const k = parseHeartbeatKey(Buffer.from(text, "utf8"));
  if (typeof k === "string") throw new Error(k);
  return k;
}

interface Entry {
  key: HeartbeatKey;
  /** When this node read it (monotonic ms); -Infinity for the key loaded at start. */
  loadedAt: number;
  /** When a newer key replaced it; null for the newest. */
  replacedAt: number | null;
}

/**
 * The keys this node knows, newest last. Pure: fed key material and a monotonic clock.
 */
export class HeartbeatKeyring implements HeartbeatKeys {
  private readonly entries: Entry[] = [];
  private readonly retired: number[] = [];
  private readonly graceMs: number;
  private readonly now: () => number;

  constructor(first: HeartbeatKey, opts: { graceMs?: number; now?: () => number } = {}) {
    this.graceMs = opts.graceMs ?? DEFAULT_HEARTBEAT_KEY_GRACE_MS;
    if (!Number.isFinite(this.graceMs) || this.graceMs < 0) {
      throw new Error(`heartbeat key grace must be >= 0 ms, not ${this.graceMs}`);
    }
    this.now = opts.now ?? (() => performance.now());
    this.entries.push({ key: first, loadedAt: -Infinity, replacedAt: null });
  }

  /** The key file's current content: "rotated" when it is a new key. */
  load(key: HeartbeatKey): "unchanged" | "rotated" {
    const newest = this.entries[this.entries.length - 1];
    if (newest !== undefined && sameKey(newest.key, key)) return "unchanged";
    const now = this.now();
    // A key that comes back (a rotation undone) starts over as new.
    const i = this.entries.findIndex((e) => sameKey(e.key, key));
    if (i >= 0) this.entries.splice(i, 1);
    for (const e of this.entries) e.replacedAt ??= now;
    this.entries.push({ key, loadedAt: now, replacedAt: null });
    this.expire(now);
    return "rotated";
  }

  signingKey(): HeartbeatKey {
    const now = this.now();
    this.expire(now);
    // The newest key this node has known for G/2 (or since its start).
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i];
      if (e !== undefined && now - e.loadedAt >= this.graceMs / 2) return e.key;
    }
    // Unreachable: an entry is dropped only G after a newer one came, by then established.
    return (this.entries[0] as Entry).key;
  }

  lookup(id: number): HeartbeatKeyLookup {
    this.expire(this.now());
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i];
      if (e !== undefined && e.key.id === id) return { ok: true, key: e.key };
    }
    return { ok: false, error: this.retired.includes(id) ? "old-key" : "unknown-key" };
  }

  /** Ids of the keys accepted now, newest first (diagnostics). */
  acceptedIds(): number[] {
    this.expire(this.now());
    return this.entries.map((e) => e.key.id).reverse();
  }

  private expire(now: number): void {
    for (let i = 0; i < this.entries.length;) {
      const e = this.entries[i] as Entry;
      if (e.replacedAt !== null && now - e.replacedAt >= this.graceMs) {
        this.entries.splice(i, 1);
        this.retired.push(e.key.id);
        if (this.retired.length > RETIRED_IDS_KEPT) this.retired.shift();
      } else {
        i++;
      }
    }
  }
}

function sameKey(a: HeartbeatKey, b: HeartbeatKey): boolean {
  return a.id === b.id && a.secret.equals(b.secret);
}

/** Reads a key file; throws an error that says what to fix. */
export async function readHeartbeatKeyFile(path: string): Promise<HeartbeatKey> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e: unknown) {
    throw keyFileError(path, "cannot be read", e);
  }
  return keyOf(path, bytes);
}

/** The same, synchronously: the speaker's first read, before it starts anything. */
export function readHeartbeatKeyFileSync(path: string): HeartbeatKey {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e: unknown) {
    throw keyFileError(path, "cannot be read", e);
  }
  return keyOf(path, bytes);
}

function keyOf(path: string, bytes: Uint8Array): HeartbeatKey {
  const key = parseHeartbeatKey(bytes);
  if (typeof key === "string") throw keyFileError(path, key);
  return key;
}

function keyFileError(path: string, what: string, cause?: unknown): Error {
  const fix =
    "The speakers sign their heartbeats with a shared key: mount a Secret holding at least " +
    `${HEARTBEAT_KEY_MIN_BYTES} random bytes at ${path} (the Helm chart does), or give the ` +
    "file with --heartbeat-key-file, e.g. `openssl rand -base64 48 > FILE`";
  return new Error(`heartbeat key file ${path}: ${what}. ${fix}`, { cause });
}

export interface KeyFileLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * The speaker's keys from a key file: read once, synchronously (throws when unusable: the
 * speaker does not start), then re-read every `pollMs` (an unref'd timer) and fed to the
 * keyring. A file that
 * becomes unreadable or invalid keeps the keys in force, with a warning.
 */
export class HeartbeatKeyFile {
  readonly keyring: HeartbeatKeyring;
  private timer: NodeJS.Timeout | undefined;
  private failing: string | null = null;
  private reading = false;

  private constructor(
    private readonly path: string,
    first: HeartbeatKey,
    private readonly log: KeyFileLogger,
    opts: { graceMs?: number; now?: () => number },
  ) {
    this.keyring = new HeartbeatKeyring(first, opts);
  }

  static open(
    path: string,
    log: KeyFileLogger,
    opts: { graceMs?: number; now?: () => number; pollMs?: number } = {},
  ): HeartbeatKeyFile {
    const f = new HeartbeatKeyFile(path, readHeartbeatKeyFileSync(path), log, opts);
    log.info({ file: path, keyId: keyIdText(f.keyring.signingKey().id) }, "heartbeat key loaded");
    f.timer = setInterval(() => void f.poll(), opts.pollMs ?? HEARTBEAT_KEY_POLL_MS);
    f.timer.unref();
    return f;
  }

  /** Re-reads the file now (also what the timer does). */
  async poll(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      const key = await readHeartbeatKeyFile(this.path);
      this.failing = null;
      if (this.keyring.load(key) === "rotated") {
        this.log.info(
          {
            file: this.path,
            keyId: keyIdText(key.id),
            accepted: this.keyring.acceptedIds().map(keyIdText),
          },
          "heartbeat key rotated",
        );
      }
    } catch (e: unknown) {
      const msg = e instanceof Error ? e.message : String(e);
      if (this.failing !== msg) {
        this.failing = msg;
        this.log.warn(
          { err: e },
          "cannot re-read the heartbeat key; the current keys stay in force",
        );
      }
    } finally {
      this.reading = false;
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}

export function keyIdText(id: number): string {
  return id.toString(16).padStart(8, "0");
}
