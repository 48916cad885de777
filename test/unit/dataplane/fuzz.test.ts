import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeArpFrame, encodeArpFrame } from "../../../src/dataplane/arp.js";
import { PACKET_BROADCAST } from "../../../src/dataplane/bpf.js";
import { icmpv6Checksum } from "../../../src/dataplane/checksum.js";
import { decodeNdpMessage, icmp6FromFrame } from "../../../src/dataplane/ndp.js";
import { OwnedSet } from "../../../src/dataplane/owned.js";
import { answerArp, answerNeighborSolicitation } from "../../../src/dataplane/responders.js";
import { arpRequest, ETH0, ip6, ipv6Frame, solicitation } from "./fixtures.js";

/**
 * Random and mutated frames into the decoders and responders: 1.2 million inputs in all.
 * Properties: nothing throws; whatever is accepted is well-formed by an independent reading
 * of the bytes; a reply is only ever produced for an owned IP.
 */

const RUNS = 300_000;

/** A valid frame with a few bytes overwritten, and maybe cut or extended. */
function mutated(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  return fc
    .record({
      edits: fc.array(fc.tuple(fc.nat(valid.length + 8), fc.integer({ min: 0, max: 255 })), {
        maxLength: 4,
      }),
      cut: fc.option(fc.nat(valid.length + 16), { nil: undefined }),
    })
    .map(({ edits, cut }) => {
      const out = new Uint8Array(Math.max(valid.length, cut ?? 0));
      out.set(valid);
      for (const [i, v] of edits) if (i < out.length) out[i] = v;
      return cut === undefined ? out : out.subarray(0, cut);
    });
}

const randomBytes = fc.uint8Array({ maxLength: 128 });

const { owned } = OwnedSet.from([
  ["192.0.2.40", {}],
  ["2001:db8::1:5", {}],
]);

/** Independent check of an accepted ARP frame: every fixed field as RFC 826 has it. */
function wellFormedArp(f: Uint8Array): boolean {
  const h = Buffer.from(f.buffer, f.byteOffset, f.byteLength);
  return (
    h.length >= 42 &&
    h.readUInt16BE(12) === 0x0806 &&
    h.readUInt16BE(14) === 1 &&
    h.readUInt16BE(16) === 0x0800 &&
    h[18] === 6 &&
    h[19] === 4 &&
    [1, 2].includes(h.readUInt16BE(20))
  );
}

/** Independent check of an accepted NS/NA: header, options exactly tiling the rest. */
function wellFormedNdp(m: Uint8Array, src: Uint8Array, dst: Uint8Array): boolean {
  if (m.length < 24 || (m[0] !== 135 && m[0] !== 136) || m[1] !== 0 || m[8] === 0xff) return false;
  let o = 24;
  while (o < m.length) {
    const len = (m[o + 1] ?? 0) * 8;
    if (len === 0) return false;
    o += len;
  }
  return o === m.length && icmpv6Checksum(src, dst, m) === 0;
}

function withChecksum(m: Uint8Array, src: Uint8Array, dst: Uint8Array): Uint8Array {
  const out = Buffer.from(m);
  out.writeUInt16BE(0, 2);
  out.writeUInt16BE(icmpv6Checksum(src, dst, out), 2);
  return out;
}

describe("fuzz: ARP", () => {
  const valid = arpRequest("192.0.2.40");

  it(`decodeArpFrame and answerArp on ${RUNS} random frames`, () => {
    fc.assert(
      fc.property(randomBytes, (f) => {
        const d = decodeArpFrame(f);
        if (d.ok && !wellFormedArp(f)) return false;
        const out = answerArp(f, PACKET_BROADCAST, ETH0, owned);
        return out.action === "ignore" || out.ip === "192.0.2.40";
      }),
      { numRuns: RUNS },
    );
  });

  it(`decodeArpFrame and answerArp on ${RUNS} mutated requests`, () => {
    let accepted = 0;
    fc.assert(
      fc.property(mutated(valid), (f) => {
        const d = decodeArpFrame(f);
        if (d.ok) {
          accepted++;
          if (!wellFormedArp(f)) return false;
          // Accepted frames re-encode to the same 42 bytes.
          if (
            Buffer.compare(
              encodeArpFrame(d.value).subarray(0, 42),
              Buffer.from(f.subarray(0, 42)),
            ) !== 0
          )
            return false;
        }
        const out = answerArp(f, PACKET_BROADCAST, ETH0, owned);
        return out.action === "ignore" || (d.ok && d.value.targetIp === "192.0.2.40");
      }),
      { numRuns: RUNS },
    );
    // The mutations are mild enough that many frames stay valid: the accepting path is fuzzed too.
    expect(accepted).toBeGreaterThan(RUNS / 10);
  });
});

describe("fuzz: NDP", () => {
  const valid = solicitation("2001:db8::1:5");
  const addrs = fc.constantFrom(
    { src: valid.src, dst: valid.dst },
    { src: new Uint8Array(16), dst: valid.dst },
    { src: ip6("fe80::1"), dst: ip6("ff02::1") },
  );

  it(`decodeNdpMessage and answerNeighborSolicitation on ${RUNS} random messages`, () => {
    fc.assert(
      fc.property(randomBytes, addrs, fc.constantFrom(255, 64, -1), (payload, a, hopLimit) => {
        const d = decodeNdpMessage(payload, a);
        if (d.ok && !wellFormedNdp(payload, a.src, a.dst)) return false;
        const out = answerNeighborSolicitation(
          { payload, ...a, ifindex: ETH0.index, hopLimit },
          ETH0,
          owned,
        );
        return out.action === "ignore" || (hopLimit === 255 && out.ip === "2001:db8::1:5");
      }),
      { numRuns: RUNS },
    );
  });

  it(`decodeNdpMessage and answerNeighborSolicitation on ${RUNS} mutated solicitations`, () => {
    let accepted = 0;
    fc.assert(
      fc.property(mutated(valid.payload), addrs, fc.boolean(), (mutant, a, fixChecksum) => {
        // Any edit breaks the checksum; fixing it half the time lets edits reach the parser.
        const payload =
          fixChecksum && mutant.length >= 4 ? withChecksum(mutant, a.src, a.dst) : mutant;
        const d = decodeNdpMessage(payload, a);
        if (d.ok) {
          accepted++;
          if (!wellFormedNdp(payload, a.src, a.dst)) return false;
        }
        const out = answerNeighborSolicitation(
          { payload, ...a, ifindex: ETH0.index, hopLimit: 255 },
          ETH0,
          owned,
        );
        return (
          out.action === "ignore" ||
          (d.ok && d.value.target === "2001:db8::1:5" && out.dst === a.src)
        );
      }),
      { numRuns: RUNS },
    );
    expect(accepted).toBeGreaterThan(RUNS / 20);
  });

  it(`icmp6FromFrame and answerNeighborSolicitation on ${RUNS} mutated unicast frames`, () => {
    const frame = ipv6Frame(solicitation("2001:db8::1:5", { dst: "target" }), { pad: 4 });
    fc.assert(
      fc.property(mutated(frame), (f) => {
        const d = icmp6FromFrame(f);
        if (!d.ok) return true;
        if (d.value.payload.length + 54 > f.length) return false;
        const out = answerNeighborSolicitation({ ...d.value, ifindex: ETH0.index }, ETH0, owned);
        return out.action === "ignore" || out.ip === "2001:db8::1:5";
      }),
      { numRuns: RUNS },
    );
  });
});
