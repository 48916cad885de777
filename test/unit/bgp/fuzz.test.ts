import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeHeader,
  decodeMessage,
  encodeMessage,
  errorName,
  type BgpResult,
  type Message,
} from "../../../src/bgp/index.js";
import { message } from "./arbitraries.js";

/**
 * Random and mutated bytes into the decoders. Properties: nothing throws; a refusal is a
 * NOTIFICATION the RFCs define (code 1-3 with a named subcode); an accepted message
 * re-encodes, and decodes again to the same value (what is read is what is meant).
 */

const RUNS = 50_000;

/** A refusal names a code and subcode of the catalogue, and never one it made up. */
function isDefinedError(r: BgpResult<unknown>): boolean {
  if (r.ok) return true;
  const { code, subcode } = r.error;
  return code >= 1 && code <= 3 && !/subcode|error \d/.test(errorName(code, subcode));
}

/** An accepted message means one thing: its re-encoding decodes to the same value. */
function stable(value: Message): boolean {
  const again = decodeMessage(encodeMessage(value));
  expect(again).toEqual({ ok: true, value });
  return true;
}

/** A BGP header of the right length and a type 1-5 around random bytes: reaches the bodies. */
const framed = fc
  .tuple(fc.integer({ min: 1, max: 5 }), fc.uint8Array({ maxLength: 160 }))
  .map(([type, body]) => {
    const out = Buffer.alloc(19 + body.length, 0xff);
    out.writeUInt16BE(out.length, 16);
    out[18] = type;
    out.set(body, 19);
    return out;
  });

/** A valid message with a few bytes overwritten, maybe cut or extended, maybe re-framed. */
const mutated = fc
  .record({
    valid: message.map(encodeMessage),
    edits: fc.array(fc.tuple(fc.nat(400), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
    cut: fc.option(fc.nat(420), { nil: undefined }),
    fixLength: fc.boolean(),
  })
  .map(({ valid, edits, cut, fixLength }) => {
    let out = Buffer.alloc(Math.max(valid.length, cut ?? 0));
    out.set(valid);
    // Edits land in the body, past the header, most of the time.
    for (const [i, v] of edits) {
      const at = 19 + (i % Math.max(1, out.length - 19));
      if (at < out.length) out[at] = v;
    }
    if (cut !== undefined) out = out.subarray(0, cut);
    if (fixLength && out.length >= 19) out.writeUInt16BE(out.length, 16);
    return out;
  });

describe("fuzz: BGP decoders", () => {
  it(`decodeMessage and decodeHeader on ${RUNS} random byte strings`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const h = decodeHeader(bytes);
        const d = decodeMessage(bytes);
        return isDefinedError(h) && isDefinedError(d) && (!d.ok || stable(d.value));
      }),
      { numRuns: RUNS },
    );
  });

  it(`decodeMessage on ${RUNS} random bodies behind a valid header`, () => {
    let accepted = 0;
    fc.assert(
      fc.property(framed, (bytes) => {
        const d = decodeMessage(bytes);
        if (d.ok) accepted++;
        return isDefinedError(d) && (!d.ok || stable(d.value));
      }),
      { numRuns: RUNS },
    );
    expect(accepted).toBeGreaterThan(RUNS / 20);
  });

  it(`decodeMessage on ${RUNS} mutated valid messages`, () => {
    let accepted = 0;
    const refused = new Set<string>();
    fc.assert(
      fc.property(mutated, (bytes) => {
        const d = decodeMessage(bytes);
        if (d.ok) accepted++;
        else refused.add(`${d.error.code}/${d.error.subcode}`);
        return isDefinedError(d) && (!d.ok || stable(d.value));
      }),
      { numRuns: RUNS },
    );
    // Mild mutations keep many messages valid, and the refusals reach deep into UPDATE.
    expect(accepted).toBeGreaterThan(RUNS / 10);
    expect(refused).toContain("3/1");
    expect(refused).toContain("3/4");
  });
});
