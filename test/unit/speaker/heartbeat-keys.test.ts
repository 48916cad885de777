import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { decodeHeartbeat, encodeHeartbeat } from "../../../src/speaker/heartbeat-codec.js";
import {
  HeartbeatKeyFile,
  heartbeatKeyFromText,
  HeartbeatKeyring,
  parseHeartbeatKey,
  readHeartbeatKeyFileSync,
} from "../../../src/speaker/heartbeat-keys.js";

// The shared heartbeat key: its file, and rotation with a grace window (heartbeat-keys.ts).

const K1 = heartbeatKeyFromText("1".repeat(32));
const K2 = heartbeatKeyFromText("2".repeat(32));
const K3 = heartbeatKeyFromText("3".repeat(32));
const GRACE = 60_000;
const hb = {
  node: "node-2",
  token: "00112233445566778899aabbccddeeff",
  incarnation: 1,
  seq: 7,
  apiHealthy: true,
  leaving: false,
};

describe("heartbeat key material", () => {
  it("takes the file's bytes less trailing white space, at least 32 of them", () => {
    expect(parseHeartbeatKey(Buffer.from("a".repeat(31) + "\n"))).toMatch(/31 bytes.*at least 32/);
    const k = parseHeartbeatKey(Buffer.from("a".repeat(32) + " \r\n"));
    expect(k).toEqual(heartbeatKeyFromText("a".repeat(32)));
    expect(typeof k !== "string" && k.secret.length).toBe(32);
  });

  it("names each key by a stable id", () => {
    expect(heartbeatKeyFromText("1".repeat(32)).id).toBe(K1.id);
    expect(new Set([K1.id, K2.id, K3.id]).size).toBe(3);
  });
});

describe("heartbeat key rotation (grace 60 s: sign with a new key after 30 s)", () => {
  // One keyring through a rotation, in order; t is this node's monotonic clock, seconds.
  let t = 0;
  const ring = new HeartbeatKeyring(K1, { graceMs: GRACE, now: () => t * 1000 });
  const signedBy = (k: typeof K1) => decodeHeartbeat(encodeHeartbeat(hb, k), ring);
  const steps: [string, () => void][] = [
    [
      "t=0: the key of the start signs at once",
      () => {
        expect(ring.signingKey()).toBe(K1);
        expect(signedBy(K1).ok).toBe(true);
        expect(signedBy(K2)).toEqual({ ok: false, error: "unknown-key" });
      },
    ],
    [
      "t=10: a new key is read: accepted at once, the old one still signs",
      () => {
        t = 10;
        expect(ring.load(K1)).toBe("unchanged");
        expect(ring.load(K2)).toBe("rotated");
        expect(ring.signingKey()).toBe(K1);
        expect(signedBy(K1).ok).toBe(true);
        expect(signedBy(K2).ok).toBe(true);
      },
    ],
    [
      "t=39.999: still signing with the old key",
      () => {
        t = 39.999;
        expect(ring.signingKey()).toBe(K1);
      },
    ],
    [
      "t=40 (30 s after reading it): signs with the new key",
      () => {
        t = 40;
        expect(ring.signingKey()).toBe(K2);
        expect(signedBy(K1).ok).toBe(true);
      },
    ],
    [
      "t=69.999: the old key is accepted to the end of its grace",
      () => {
        t = 69.999;
        expect(signedBy(K1).ok).toBe(true);
        expect(ring.acceptedIds()).toEqual([K2.id, K1.id]);
      },
    ],
    [
      "t=70: after the grace, a datagram signed with the old key is refused as old-key",
      () => {
        t = 70;
        expect(signedBy(K1)).toEqual({ ok: false, error: "old-key" });
        expect(signedBy(K2).ok).toBe(true);
        expect(ring.acceptedIds()).toEqual([K2.id]);
      },
    ],
    [
      "t=100: two rotations within 30 s: each key signs in turn, none early",
      () => {
        t = 100;
        ring.load(K3);
        t = 110;
        ring.load(K1); // a rotation undone: the old key comes back as new
        expect(ring.signingKey()).toBe(K2);
        t = 130;
        expect(ring.signingKey()).toBe(K3);
        t = 140;
        expect(ring.signingKey()).toBe(K1);
        expect(ring.acceptedIds()).toEqual([K1.id, K3.id, K2.id]);
        t = 170;
        expect(ring.acceptedIds()).toEqual([K1.id]);
        expect(signedBy(K3)).toEqual({ ok: false, error: "old-key" });
      },
    ],
  ];
  for (const [name, step] of steps) it(name, step);
});

describe("heartbeat key file", () => {
  let dir = "";
  afterEach(async () => {
    if (dir !== "") await rm(dir, { recursive: true, force: true });
    dir = "";
  });
  const quiet = { info() {}, warn() {} };

  it("a missing or short key file stops the speaker with what to fix", async () => {
    dir = await mkdtemp(join(tmpdir(), "barelb-key-"));
    const file = join(dir, "key");
    expect(() => readHeartbeatKeyFileSync(file)).toThrow(
      /heartbeat key file .*key: cannot be read\. .*Secret.*--heartbeat-key-file/,
    );
    await writeFile(file, "short\n");
    expect(() => HeartbeatKeyFile.open(file, quiet)).toThrow(
      /5 bytes long; it must be at least 32/,
    );
  });

  it("re-reads the file: a new key rotates, an unreadable one keeps the keys in force", async () => {
    dir = await mkdtemp(join(tmpdir(), "barelb-key-"));
    const file = join(dir, "key");
    await writeFile(file, `${"1".repeat(32)}\n`);
    const logs: string[] = [];
    const log = {
      info: (_: object, m: string) => logs.push(m),
      warn: (_: object, m: string) => logs.push(m),
    };
    const f = HeartbeatKeyFile.open(file, log, { pollMs: 60_000 });
    try {
      expect(f.keyring.acceptedIds()).toEqual([K1.id]);
      await writeFile(file, "2".repeat(32));
      await f.poll();
      expect(f.keyring.acceptedIds()).toEqual([K2.id, K1.id]);
      await rm(file);
      await f.poll();
      await f.poll();
      expect(f.keyring.acceptedIds()).toEqual([K2.id, K1.id]);
      expect(logs).toEqual([
        "heartbeat key loaded",
        "heartbeat key rotated",
        "cannot re-read the heartbeat key; the current keys stay in force",
      ]);
    } finally {
      f.close();
    }
  });
});
