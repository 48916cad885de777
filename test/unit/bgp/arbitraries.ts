import fc from "fast-check";
import type {
  AsPathSegment,
  Capability,
  Message,
  MpReach,
  MpUnreach,
  Open,
  PathAttributes,
  Prefix,
  RawAttribute,
  Update,
} from "../../../src/bgp/index.js";
import { formatIPValue, type IP, type IPFamily } from "../../../src/net/ip.js";

/**
 * fast-check generators of every message value the encoders accept, made so that the decoded
 * value is equal to the one generated: keys absent rather than undefined, prefixes without
 * host bits, the attributes an UPDATE needs when it announces routes.
 */

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u8 = fc.integer({ min: 0, max: 0xff });

const address = (family: IPFamily): fc.Arbitrary<IP> =>
  fc
    .bigInt({ min: 0n, max: (1n << (family === 4 ? 32n : 128n)) - 1n })
    .map((value) => ({ family, value }));

export const prefixOf = (family: IPFamily): fc.Arbitrary<Prefix> => {
  const bits = family === 4 ? 32 : 128;
  return fc.tuple(address(family), fc.integer({ min: 0, max: bits })).map(([ip, length]) => {
    const host = BigInt(bits - length);
    return { ip: { family, value: (ip.value >> host) << host }, length };
  });
};

const KNOWN_CAPABILITIES = new Set([1, 2, 65]);
const capability: fc.Arbitrary<Capability> = fc.oneof(
  fc.record({ kind: fc.constant("multiprotocol" as const), afi: u16, safi: u8 }),
  fc.constant({ kind: "route-refresh" as const }),
  fc.record({
    kind: fc.constant("unknown" as const),
    code: u8.filter((c) => !KNOWN_CAPABILITIES.has(c)),
    value: fc.uint8Array({ maxLength: 16 }),
  }),
);

export const open: fc.Arbitrary<Open> = fc
  .record({
    asn: fc.integer({ min: 1, max: 0xffff_ffff }),
    holdTime: fc.oneof(fc.constant(0), fc.integer({ min: 3, max: 0xffff })),
    routerId: fc.integer({ min: 1, max: 0xffff_ffff }).map((n) => formatIPValue(4, BigInt(n))),
    capabilities: fc.array(capability, { maxLength: 8 }),
    fourOctetAt: fc.option(fc.nat(8), { nil: undefined }),
  })
  .map(({ asn, holdTime, routerId, capabilities, fourOctetAt }) => {
    // An AS over 65535 needs the capability; a smaller one may have it, anywhere in the list.
    const at = fourOctetAt ?? (asn > 0xffff ? 0 : undefined);
    const caps = [...capabilities];
    if (at !== undefined) caps.splice(at, 0, { kind: "four-octet-as", asn });
    return { asn, holdTime, routerId, capabilities: caps };
  });

const segment: fc.Arbitrary<AsPathSegment> = fc.record({
  type: fc.constantFrom("set", "sequence", "confed-sequence", "confed-set"),
  asns: fc.array(u32, { minLength: 1, maxLength: 6 }),
});

const mpReach: fc.Arbitrary<MpReach> = fc.oneof(
  fc.record({
    afi: fc.constant(1),
    safi: fc.constant(1),
    nextHop: address(4),
    nlri: fc.array(prefixOf(4), { maxLength: 10 }),
  }),
  fc.record(
    {
      afi: fc.constant(2),
      safi: fc.constant(1),
      nextHop: address(6),
      linkLocalNextHop: address(6),
      nlri: fc.array(prefixOf(6), { maxLength: 10 }),
    },
    { requiredKeys: ["afi", "safi", "nextHop", "nlri"] },
  ),
);

const mpUnreach: fc.Arbitrary<MpUnreach> = fc.oneof(
  fc.record({ afi: fc.constant(1), safi: fc.constant(1), withdrawn: fc.array(prefixOf(4)) }),
  fc.record({
    afi: fc.constant(2),
    safi: fc.constant(1),
    withdrawn: fc.array(prefixOf(6), { maxLength: 10 }),
  }),
);

const KNOWN_ATTRIBUTES = new Set([1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 32]);
const rawAttribute: fc.Arbitrary<RawAttribute> = fc.record({
  flags: fc.constantFrom(0x80, 0xa0, 0xc0, 0xe0),
  type: u8.filter((t) => !KNOWN_ATTRIBUTES.has(t)),
  value: fc.uint8Array({ maxLength: 300 }),
});

const attributes: fc.Arbitrary<PathAttributes> = fc.record(
  {
    origin: fc.constantFrom("igp", "egp", "incomplete"),
    asPath: fc.array(segment, { maxLength: 3 }),
    nextHop: address(4),
    med: u32,
    localPref: u32,
    atomicAggregate: fc.constant(true as const),
    aggregator: fc.record({ asn: u32, ip: address(4) }),
    communities: fc.array(u32, { maxLength: 80 }),
    largeCommunities: fc.array(fc.record({ global: u32, local1: u32, local2: u32 }), {
      maxLength: 5,
    }),
    mpReach,
    mpUnreach,
    // Sent in type code order, so decoded in it.
    unknown: fc
      .uniqueArray(rawAttribute, { minLength: 1, maxLength: 3, selector: (a) => a.type })
      .map((list) => list.sort((x, y) => x.type - y.type)),
  },
  { requiredKeys: [] },
);

export const update: fc.Arbitrary<Update> = fc
  .record({
    withdrawn: fc.array(prefixOf(4), { maxLength: 20 }),
    attributes,
    nlri: fc.array(prefixOf(4), { maxLength: 20 }),
  })
  .map(({ withdrawn, attributes: a, nlri }) => {
    // Routes announced come with the well-known attributes RFC 4271 and 4760 require.
    const announces = nlri.length > 0 || a.mpReach !== undefined;
    const attrs: PathAttributes = {
      ...(announces ? { origin: "igp" as const, asPath: [] } : {}),
      ...(nlri.length > 0 ? { nextHop: { family: 4 as const, value: 1n } } : {}),
      ...a,
    };
    return { withdrawn, attributes: attrs, nlri };
  });

export const message: fc.Arbitrary<Message> = fc.oneof(
  open.map((o) => ({ type: "open" as const, open: o })),
  update.map((u) => ({ type: "update" as const, update: u })),
  fc
    .record({ code: u8, subcode: u8, data: fc.uint8Array({ maxLength: 64 }) })
    .map((n) => ({ type: "notification" as const, notification: n })),
  fc.constant({ type: "keepalive" as const }),
  fc.record({ type: fc.constant("route-refresh" as const), afi: u16, safi: u8 }),
);
