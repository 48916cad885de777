/**
 * `importMetallb`: MetalLB's configuration → barelb's pool ConfigMap, as text, with every
 * part that has no barelb equivalent named (a comment at its place and a warning).
 *
 * Input: MetalLB's CRD objects (IPAddressPool, L2Advertisement, BGPAdvertisement, BGPPeer,
 * BFDProfile, Community, the deprecated AddressPool), one per YAML document or inside a
 * `kind: List` as `kubectl get -o yaml` prints them, or MetalLB v0.12's legacy ConfigMap
 * (or its bare `config` YAML). Pure: no files, no cluster.
 *
 * How MetalLB decides, and how it maps (MetalLB `internal/config/config.go`,
 * `internal/allocator/allocator.go`):
 * - An IPAddressPool is a pool: `addresses`, `autoAssign` → `auto-assign`, `avoidBuggyIPs`
 *   → `avoid-buggy-ips`, `serviceAllocation.priority` (0 means none in MetalLB) →
 *   `priority`, `.namespaces` → `namespaces`, `.serviceSelectors` → `service-selectors`.
 *   MetalLB combines namespaces and selectors as barelb does (both must admit a Service).
 * - An L2Advertisement covers the pools it names in `ipAddressPools`, plus those whose labels
 *   match one of its `ipAddressPoolSelectors`; with neither, every pool. A pool's IPs may be
 *   announced from a node selected by any advertisement covering it (an advertisement without
 *   `nodeSelectors` selects every node; its selectors are ORed), so the pool's
 *   `node-selectors` are the union of its advertisements' selectors, or none when one of
 *   them selects every node: barelb ORs a pool's node selectors too, so this is exact.
 * - `interfaces` in MetalLB belong to each advertisement (on a node, the union of those of
 *   the advertisements selecting it; none = every interface); barelb's belong to the pool.
 *   Exact when every advertisement of the pool lists the same interfaces; otherwise the pool
 *   gets their union, on every node it may be announced from, with a warning.
 * - A pool no advertisement covers is not announced by MetalLB at all; barelb announces every
 *   pool: kept as layer2, so its Services keep their IPs, with a warning.
 * - BGP maps to MetalLB v0.12's own form. A BGPPeer is a `peers` entry (every field of v0.12;
 *   a `passwordSecret` is named, as barelb reads no Secret), a BFDProfile a `bfd-profiles`
 *   entry, a Community's entries `bgp-communities`. A pool covered by BGPAdvertisements and no
 *   L2Advertisement gets `protocol: bgp` with one `bgp-advertisements` entry per
 *   advertisement (aggregation lengths, local preference, communities); their node selectors
 *   become the pool's, as for layer 2. A pool covered by both kinds stays layer2, with a
 *   warning: a barelb pool has one protocol, and layer 2 is the one that keeps its IPs
 *   reachable from the nodes' LAN (the router included, when it is on that LAN). The legacy
 *   ConfigMap's and the AddressPool kind's BGP parts are copied as they are.
 * - CRD-only BGP fields (an advertisement's `peers`, a peer's `vrf`, `dynamicASN`, ...),
 *   `namespaceSelectors`, an L2Advertisement's `serviceSelectors` / `preferredNodeSelectors`,
 *   unknown kinds and fields: not imported, each with a warning.
 *
 * The result is checked with `parseConfig`, the parser the controller and the speaker use.
 */
import {
  Document,
  parseAllDocuments,
  type Node as YamlNode,
  type YAMLMap,
  type YAMLSeq,
} from "yaml";

import { CONFIG_DATA_KEY, DEFAULT_CONFIGMAP_NAME } from "./extract.js";
import { parseConfig, POOL_KEYS } from "./parse.js";
import { matchesAny, parseSelector, selectorKey } from "./selector.js";
import type { Config, LabelSelector } from "./types.js";

/** The namespace of the imported ConfigMap (the chart's default release namespace). */
export const IMPORT_NAMESPACE = "barelb-system";

export interface ImportInput {
  /** The file name, or `-` for standard input: named in errors. */
  readonly name: string;
  readonly text: string;
}

/** One part of the input that has no exact barelb equivalent. */
export interface ImportWarning {
  /** `Kind namespace/name` (or the input's name for a bare legacy config). */
  readonly object: string;
  /** The field, e.g. `spec.serviceSelectors`; absent for the whole object. */
  readonly field?: string;
  readonly reason: string;
  /** `object: field: reason`, the line shown on stderr and in the comment. */
  readonly message: string;
}

export type ImportResult =
  | {
      ok: true;
      /** The barelb-config ConfigMap manifest, with comments. */
      manifest: string;
      /** The config it holds, as `parseConfig` read it. */
      config: Config;
      /** True when the input was a legacy config barelb accepts as is: copied unchanged. */
      verbatim: boolean;
      warnings: readonly ImportWarning[];
    }
  | { ok: false; errors: readonly string[]; warnings: readonly ImportWarning[] };

type Obj = Record<string, unknown>;

function isMap(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** An object read from the input. */
interface Source {
  readonly kind: string;
  readonly namespace: string | undefined;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly raw: Obj;
  /** `Kind namespace/name`. */
  readonly ref: string;
  /** A bare legacy config's own text. */
  readonly text?: string;
}

/** Where a comment goes: above a pool (or one of its keys), above a peer, or at the top. */
type Place = { pool: string; key?: string } | { peer: number } | "top";

/** A pool on its way out: barelb keys in output order, comments by place. */
interface Draft {
  readonly name: string;
  readonly from: string;
  readonly keys: Obj;
  /** The protocol MetalLB gives it without advertisements (legacy ConfigMap, AddressPool). */
  readonly fixedProtocol?: "layer2" | "bgp";
  readonly labels: Readonly<Record<string, string>>;
}

/** An L2Advertisement, read. */
interface L2Ad {
  readonly src: Source;
  readonly pools: readonly string[];
  readonly poolSelectors: readonly LabelSelector[];
  /** Undefined when a selector cannot be read (the advertisement is then left out). */
  readonly nodeSelectors: readonly LabelSelector[] | undefined;
  readonly interfaces: readonly string[];
}

interface BgpAd {
  readonly src: Source;
  readonly pools: readonly string[];
  readonly poolSelectors: readonly LabelSelector[];
  /** Undefined when a selector cannot be read (the advertisement is then left out). */
  readonly nodeSelectors: readonly LabelSelector[] | undefined;
  /** The v0.12 `bgp-advertisements` entry. */
  readonly advertisement: Obj;
  /** `spec.peers`: the BGPPeers it is limited to (empty: every peer). */
  readonly peers: readonly string[];
}

/** The BGP parts of the output, in v0.12's form: top-level keys beside `address-pools`. */
interface BgpTop {
  /** `peers` entries, each with the object it came from. */
  readonly peers: { from: string; keys: Obj }[];
  readonly communities: Map<string, { value: unknown; from: string }>;
  readonly bfdProfiles: { from: string; keys: Obj }[];
  /** BGPPeer names (CRDs), for an advertisement's `spec.peers`. */
  readonly peerNames: string[];
}

class Findings {
  readonly errors: string[] = [];
  readonly warnings: ImportWarning[] = [];
  /** Comment lines per place key ("" = top; pool name; pool name + "\0" + key). */
  readonly comments = new Map<string, string[]>();

  warn(object: string, field: string | undefined, reason: string, places: Place[] = ["top"]) {
    const message = [object, field, reason].filter((p) => p !== undefined).join(": ");
    if (!this.warnings.some((w) => w.message === message)) {
      const w: { -readonly [K in keyof ImportWarning]: ImportWarning[K] } = {
        object,
        reason,
        message,
      };
      if (field !== undefined) w.field = field;
      this.warnings.push(Object.freeze(w));
    }
    for (const p of places.length > 0 ? places : ["top" as const]) this.note(p, message);
  }

  /** A comment only (no warning): where a pool came from. */
  note(place: Place, text: string) {
    const k =
      place === "top"
        ? ""
        : "peer" in place
          ? `\0peer${place.peer}`
          : place.key === undefined
            ? place.pool
            : `${place.pool}\0${place.key}`;
    const list = this.comments.get(k) ?? [];
    if (!list.includes(text)) list.push(text);
    this.comments.set(k, list);
  }
}

function refOf(kind: string, namespace: string | undefined, name: string): string {
  return `${kind} ${namespace === undefined ? "" : `${namespace}/`}${name}`;
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isMap(v)) for (const [k, x] of Object.entries(v)) if (typeof x === "string") out[k] = x;
  return out;
}

function firstLine(message: string): string {
  return (message.split("\n")[0] ?? message).replace(/:$/, "");
}

/** Every Kubernetes object of the inputs (List items unfolded), and bare legacy configs. */
function readObjects(inputs: readonly ImportInput[], f: Findings): Source[] {
  const out: Source[] = [];
  const add = (raw: unknown, where: string, text: string) => {
    if (raw === null || raw === undefined) return;
    if (!isMap(raw)) {
      f.errors.push(
        `${where}: expected a Kubernetes object (a map), found a ${Array.isArray(raw) ? "list" : typeof raw}`,
      );
      return;
    }
    const kind = raw.kind;
    if (kind === undefined && ("address-pools" in raw || "peers" in raw)) {
      // A bare legacy config, as MetalLB v0.12 kept under the ConfigMap's `config` key.
      out.push({ kind: "", namespace: undefined, name: where, labels: {}, raw, ref: where, text });
      return;
    }
    if (typeof kind !== "string" || kind === "") {
      f.errors.push(
        `${where}: expected a Kubernetes object with a kind, or a MetalLB v0.12 config`,
      );
      return;
    }
    if (kind === "List" || (kind.endsWith("List") && Array.isArray(raw.items))) {
      const items = Array.isArray(raw.items) ? (raw.items as unknown[]) : [];
      items.forEach((item, i) => add(item, `${where} items[${i}]`, ""));
      return;
    }
    const meta = isMap(raw.metadata) ? raw.metadata : {};
    const name = typeof meta.name === "string" ? meta.name : "(no name)";
    const namespace = typeof meta.namespace === "string" ? meta.namespace : undefined;
    out.push({
      kind,
      namespace,
      name,
      labels: stringMap(meta.labels),
      raw,
      ref: refOf(kind, namespace, name),
    });
  };
  for (const input of inputs) {
    const docs = parseAllDocuments(input.text, { merge: true, prettyErrors: true });
    if (!Array.isArray(docs)) continue;
    docs.forEach((doc, i) => {
      const where = docs.length > 1 ? `${input.name} document ${i + 1}` : input.name;
      const problem = doc.errors[0];
      if (problem !== undefined) {
        f.errors.push(`${where}: YAML: ${firstLine(problem.message)}`);
        return;
      }
      let js: unknown;
      try {
        js = doc.toJS({ maxAliasCount: 100 });
      } catch (e: unknown) {
        f.errors.push(`${where}: YAML: ${firstLine(e instanceof Error ? e.message : String(e))}`);
        return;
      }
      add(js, where, docs.length === 1 ? input.text : doc.toString());
    });
  }
  return out;
}

/** The legacy config text of a ConfigMap or bare config, or undefined if it is neither. */
function legacyText(src: Source): string | undefined {
  if (src.kind === "") return src.text;
  if (src.kind !== "ConfigMap") return undefined;
  const data = src.raw.data;
  return isMap(data) && typeof data[CONFIG_DATA_KEY] === "string"
    ? data[CONFIG_DATA_KEY]
    : undefined;
}

/** Reads a list of label selectors; reports each one barelb cannot read. */
function selectors(
  raw: unknown,
  src: Source,
  field: string,
  f: Findings,
  places: Place[],
): LabelSelector[] | undefined {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    f.warn(src.ref, field, "must be a list of label selectors; not imported", places);
    return undefined;
  }
  const out: LabelSelector[] = [];
  let valid = true;
  for (const [i, item] of (raw as unknown[]).entries()) {
    const problems: string[] = [];
    const sel = parseSelector(item, `${field}[${i}]`, (key, value, reason) =>
      problems.push(`${key}${value === undefined ? "" : ` ${JSON.stringify(value)}`}: ${reason}`),
    );
    if (sel === undefined) {
      valid = false;
      for (const p of problems) f.warn(src.ref, undefined, `${p}; cannot be expressed`, places);
    } else if (!out.some((s) => selectorKey(s) === selectorKey(sel))) {
      out.push(sel);
    }
  }
  return valid ? out : undefined;
}

function stringList(raw: unknown): string[] {
  return Array.isArray(raw) ? raw.filter((x): x is string => typeof x === "string") : [];
}

/** A selector as kubectl's `-l` takes it, for the namespaceSelectors hint. */
function selectorText(s: LabelSelector): string {
  const parts = Object.entries(s.matchLabels).map(([k, v]) => `${k}=${v}`);
  for (const r of s.matchExpressions) {
    if (r.operator === "In") parts.push(`${r.key} in (${r.values.join(",")})`);
    else if (r.operator === "NotIn") parts.push(`${r.key} notin (${r.values.join(",")})`);
    else if (r.operator === "Exists") parts.push(r.key);
    else parts.push(`!${r.key}`);
  }
  return parts.join(",");
}

/** The selector as barelb's config writes it (empty parts left out). */
function selectorYaml(s: LabelSelector): Obj {
  const out: Obj = {};
  if (Object.keys(s.matchLabels).length > 0) out.matchLabels = { ...s.matchLabels };
  if (s.matchExpressions.length > 0) {
    out.matchExpressions = s.matchExpressions.map((r) =>
      r.values.length > 0
        ? { key: r.key, operator: r.operator, values: [...r.values] }
        : { key: r.key, operator: r.operator },
    );
  }
  return out;
}

function unknownFields(
  raw: Obj,
  known: readonly string[],
  src: Source,
  prefix: string,
  f: Findings,
  places: Place[],
) {
  for (const k of Object.keys(raw)) {
    if (!known.includes(k)) {
      f.warn(src.ref, `${prefix}${k}`, "unknown field; not imported", places);
    }
  }
}

function poolFromIPAddressPool(src: Source, f: Findings): Draft {
  const spec = isMap(src.raw.spec) ? src.raw.spec : {};
  const here: Place[] = [{ pool: src.name }];
  unknownFields(
    spec,
    ["addresses", "autoAssign", "avoidBuggyIPs", "serviceAllocation"],
    src,
    "spec.",
    f,
    here,
  );
  const keys = commonPoolKeys(src.name, spec);
  const alloc = spec.serviceAllocation;
  if (isMap(alloc)) {
    unknownFields(
      alloc,
      ["priority", "namespaces", "namespaceSelectors", "serviceSelectors"],
      src,
      "spec.serviceAllocation.",
      f,
      here,
    );
    // MetalLB: 0 (or unset) sorts after every set priority, as barelb's "no priority" does.
    if (alloc.priority !== undefined && alloc.priority !== null && alloc.priority !== 0) {
      keys.priority = alloc.priority;
    }
    const namespaces = Array.isArray(alloc.namespaces) ? alloc.namespaces : [];
    if (alloc.namespaces !== undefined && alloc.namespaces !== null)
      keys.namespaces = alloc.namespaces;
    if (Array.isArray(alloc.serviceSelectors) && alloc.serviceSelectors.length > 0) {
      keys["service-selectors"] = alloc.serviceSelectors;
    } else if (alloc.serviceSelectors !== undefined && !Array.isArray(alloc.serviceSelectors)) {
      keys["service-selectors"] = alloc.serviceSelectors;
    }
    const nsSel = Array.isArray(alloc.namespaceSelectors) ? alloc.namespaceSelectors : [];
    if (nsSel.length > 0) {
      const parsed = selectors(nsSel, src, "spec.serviceAllocation.namespaceSelectors", f, here);
      const hint =
        parsed === undefined
          ? ""
          : ` (kubectl get namespaces ${parsed.map((s) => `-l '${selectorText(s)}'`).join(" / ")})`;
      f.warn(
        src.ref,
        "spec.serviceAllocation.namespaceSelectors",
        "not supported: barelb does not read Namespace labels; add the namespaces they select " +
          `to namespaces${hint}` +
          (namespaces.length === 0
            ? "; until then the pool admits Services of every namespace"
            : ""),
        namespaces.length > 0 ? [{ pool: src.name, key: "namespaces" }] : here,
      );
    }
    const serviceSelectors = Array.isArray(alloc.serviceSelectors) ? alloc.serviceSelectors : [];
    if (namespaces.length === 0 && nsSel.length === 0 && serviceSelectors.length === 0) {
      f.warn(
        src.ref,
        "spec.serviceAllocation",
        "names no namespaces or serviceSelectors: MetalLB then hands this pool's addresses only to " +
          "Services that ask for the pool or an address in it; barelb assigns from it like any " +
          "pool (set auto-assign: false to keep MetalLB's behaviour)",
        here,
      );
    }
  }
  return { name: src.name, from: src.ref, keys, labels: src.labels };
}

/** The keys both pool kinds carry the same way: name, addresses, auto-assign, avoid-buggy-ips. */
function commonPoolKeys(name: string, spec: Obj): Obj {
  const keys: Obj = { name, protocol: "layer2", addresses: spec.addresses };
  if (spec.autoAssign !== undefined && spec.autoAssign !== true)
    keys["auto-assign"] = spec.autoAssign;
  if (spec.avoidBuggyIPs !== undefined && spec.avoidBuggyIPs !== false) {
    keys["avoid-buggy-ips"] = spec.avoidBuggyIPs;
  }
  return keys;
}

/** The deprecated AddressPool kind (MetalLB v0.13): a pool with its own protocol. */
function poolFromAddressPool(src: Source, f: Findings): Draft {
  const spec = isMap(src.raw.spec) ? src.raw.spec : {};
  const here: Place[] = [{ pool: src.name }];
  unknownFields(
    spec,
    ["protocol", "addresses", "autoAssign", "avoidBuggyIPs", "bgpAdvertisements"],
    src,
    "spec.",
    f,
    here,
  );
  const keys = commonPoolKeys(src.name, spec);
  if (spec.protocol === "bgp") {
    keys.protocol = "bgp";
    if (Array.isArray(spec.bgpAdvertisements)) {
      keys["bgp-advertisements"] = (spec.bgpAdvertisements as unknown[]).map((ad, i) =>
        isMap(ad)
          ? advertisementKeys(ad, src, `spec.bgpAdvertisements[${i}].`, AD_FIELDS, f, here)
          : ad,
      );
    } else if (spec.bgpAdvertisements !== undefined) {
      keys["bgp-advertisements"] = spec.bgpAdvertisements;
    }
  } else if (spec.bgpAdvertisements !== undefined) {
    // Left for the parser to refuse, as MetalLB does.
    keys["bgp-advertisements"] = spec.bgpAdvertisements;
  }
  return {
    name: src.name,
    from: src.ref,
    keys,
    fixedProtocol: spec.protocol === "bgp" ? "bgp" : "layer2",
    labels: src.labels,
  };
}

/** The pools of a MetalLB v0.12 config; its BGP parts go to `top` as they are. */
function poolsFromLegacy(src: Source, root: Obj, top: BgpTop, f: Findings): Draft[] {
  for (const [key, value] of Object.entries(root)) {
    if (key === "address-pools") continue;
    if (key === "peers") {
      const list = Array.isArray(value) ? (value as unknown[]) : [value];
      for (const p of list) top.peers.push({ from: src.ref, keys: isMap(p) ? p : { value: p } });
    } else if (key === "bfd-profiles") {
      const list = Array.isArray(value) ? (value as unknown[]) : [value];
      for (const p of list)
        top.bfdProfiles.push({ from: src.ref, keys: isMap(p) ? p : { value: p } });
    } else if (key === "bgp-communities" && isMap(value)) {
      for (const [name, v] of Object.entries(value)) addCommunity(top, name, v, src.ref, f);
    } else f.warn(src.ref, key, "unknown key; not imported");
  }
  const pools = Array.isArray(root["address-pools"]) ? (root["address-pools"] as unknown[]) : [];
  const out: Draft[] = [];
  pools.forEach((raw, i) => {
    if (!isMap(raw) || typeof raw.name !== "string") {
      f.errors.push(`${src.ref}: address-pools[${i}]: a pool must be a map with a name`);
      return;
    }
    // As written: the parser reports a missing or unknown protocol.
    const keys: Obj = { ...raw };
    out.push({
      name: raw.name,
      from: src.ref,
      keys,
      fixedProtocol: raw.protocol === "bgp" ? "bgp" : "layer2",
      labels: {},
    });
  });
  return out;
}

function readL2Ad(src: Source, f: Findings): L2Ad {
  const spec = isMap(src.raw.spec) ? src.raw.spec : {};
  for (const k of Object.keys(spec)) {
    if (["ipAddressPools", "ipAddressPoolSelectors", "nodeSelectors", "interfaces"].includes(k))
      continue;
    const reason =
      k === "serviceSelectors"
        ? "not supported: barelb announces every Service of a pool; imported as if absent"
        : k === "preferredNodeSelectors"
          ? "not supported: barelb has no per-pool node preference (a Service may name one with the " +
            "barelb.io/preferred-node annotation); imported as if absent"
          : "unknown field; not imported";
    f.warn(src.ref, `spec.${k}`, reason);
  }
  return {
    src,
    pools: stringList(spec.ipAddressPools),
    poolSelectors:
      selectors(spec.ipAddressPoolSelectors, src, "spec.ipAddressPoolSelectors", f, ["top"]) ?? [],
    nodeSelectors: selectors(spec.nodeSelectors, src, "spec.nodeSelectors", f, ["top"]),
    interfaces: stringList(spec.interfaces),
  };
}

/** BGPAdvertisement fields that make the v0.12 advertisement (camelCase → kebab-case). */
const AD_FIELDS: Readonly<Record<string, string>> = {
  aggregationLength: "aggregation-length",
  aggregationLengthV6: "aggregation-length-v6",
  localPref: "localpref",
  communities: "communities",
};
/** A v0.12 `bgp-advertisements` entry from a CRD's camelCase fields; others are named. */
function advertisementKeys(
  spec: Obj,
  src: Source,
  prefix: string,
  fields: Readonly<Record<string, string>>,
  f: Findings,
  places: Place[],
  skip: readonly string[] = [],
): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(spec)) {
    if (skip.includes(k)) continue;
    const to = fields[k];
    if (to === undefined) {
      f.warn(src.ref, `${prefix}${k}`, "unknown field; not imported", places);
    } else if (v !== undefined && v !== null) {
      out[to] = v;
    }
  }
  return out;
}

function readBgpAd(src: Source, f: Findings): BgpAd {
  const spec = isMap(src.raw.spec) ? src.raw.spec : {};
  const advertisement = advertisementKeys(
    spec,
    src,
    "spec.",
    AD_FIELDS,
    f,
    ["top"],
    ["ipAddressPools", "ipAddressPoolSelectors", "nodeSelectors", "peers"],
  );
  return {
    src,
    pools: stringList(spec.ipAddressPools),
    poolSelectors:
      selectors(spec.ipAddressPoolSelectors, src, "spec.ipAddressPoolSelectors", f, ["top"]) ?? [],
    nodeSelectors: selectors(spec.nodeSelectors, src, "spec.nodeSelectors", f, ["top"]),
    advertisement,
    peers: stringList(spec.peers),
  };
}

/** BGPPeer fields and their v0.12 `peers` keys. */
const PEER_FIELDS: Readonly<Record<string, string>> = {
  myASN: "my-asn",
  peerASN: "peer-asn",
  peerAddress: "peer-address",
  peerPort: "peer-port",
  sourceAddress: "source-address",
  holdTime: "hold-time",
  keepaliveTime: "keepalive-time",
  routerID: "router-id",
  password: "password",
  bfdProfile: "bfd-profile",
  ebgpMultiHop: "ebgp-multihop",
};

/** BGPPeer fields of later MetalLB versions that v0.12's form cannot say, and what follows. */
const PEER_UNSUPPORTED: Readonly<Record<string, string>> = {
  vrf: "not supported: barelb's sessions use the node's default routing table; imported without it",
  connectTime: "not supported: barelb retries connecting on its own schedule; imported without it",
  enableGracefulRestart:
    "not supported: barelb does not do BGP graceful restart; imported without it",
  disableMP:
    "not supported: barelb sends each family in its own multiprotocol attributes; imported without it",
  dualStackAddressFamily:
    "not supported: a session carries the family of its peer-address only; imported without it",
  interface: "not supported: barelb peers with an address (peer-address), not an interface",
  dynamicASN: "not supported: write the router's AS number as peer-asn",
};

/** A BGPPeer as a v0.12 `peers` entry. */
function peerFromBGPPeer(src: Source, top: BgpTop, f: Findings): void {
  const spec = isMap(src.raw.spec) ? src.raw.spec : {};
  const index = top.peers.length;
  const here: Place[] = [{ peer: index }];
  const keys: Obj = {};
  for (const [k, v] of Object.entries(spec)) {
    const to = PEER_FIELDS[k];
    if (to !== undefined) {
      if (v !== undefined && v !== null && v !== "") keys[to] = v;
    } else if (k === "nodeSelectors") {
      const sel = selectors(v, src, "spec.nodeSelectors", f, ["top"]);
      if (sel === undefined) {
        // Without its selectors the peer would be opened from every node: left out instead.
        f.warn(src.ref, "spec.nodeSelectors", "cannot be expressed; this peer is left out");
        return;
      }
      if (sel.length > 0) keys["node-selectors"] = sel.map(v012Selector);
    } else if (k === "passwordSecret") {
      const ref = isMap(v) ? v : {};
      const name = typeof ref.name === "string" ? ref.name : "";
      if (name === "") continue;
      const ns = typeof ref.namespace === "string" ? ref.namespace : (src.namespace ?? "");
      f.warn(
        src.ref,
        "spec.passwordSecret",
        `barelb reads no Secret: write the "password" key of Secret ${ns === "" ? "" : `${ns}/`}${name} ` +
          "as password here (as it stands, the session has no TCP MD5 key and the router refuses it)",
        here,
      );
    } else if (PEER_UNSUPPORTED[k] !== undefined) {
      if (v === undefined || v === null || v === "" || v === false) continue;
      f.warn(src.ref, `spec.${k}`, PEER_UNSUPPORTED[k], here);
    } else {
      f.warn(src.ref, `spec.${k}`, "unknown field; not imported", here);
    }
  }
  top.peers.push({ from: src.ref, keys });
  top.peerNames.push(src.name);
}

/** A selector in v0.12's peer spelling: match-labels, match-expressions. */
function v012Selector(s: LabelSelector): Obj {
  const out: Obj = {};
  const k8s = selectorYaml(s);
  if (k8s.matchLabels !== undefined) out["match-labels"] = k8s.matchLabels;
  if (k8s.matchExpressions !== undefined) out["match-expressions"] = k8s.matchExpressions;
  return out;
}

/** BFDProfile fields and their v0.12 `bfd-profiles` keys. */
const BFD_FIELDS: Readonly<Record<string, string>> = {
  receiveInterval: "receive-interval",
  transmitInterval: "transmit-interval",
  detectMultiplier: "detect-multiplier",
  echoInterval: "echo-interval",
  echoMode: "echo-mode",
  passiveMode: "passive-mode",
  minimumTtl: "minimum-ttl",
};

function bfdFromBFDProfile(src: Source, top: BgpTop, f: Findings): void {
  const spec = isMap(src.raw.spec) ? src.raw.spec : {};
  const keys: Obj = { name: src.name };
  for (const [k, v] of Object.entries(spec)) {
    const to = BFD_FIELDS[k];
    if (to === undefined) f.warn(src.ref, `spec.${k}`, "unknown field; not imported");
    else if (v !== undefined && v !== null) keys[to] = v;
  }
  top.bfdProfiles.push({ from: src.ref, keys });
}

function communitiesFromCommunity(src: Source, top: BgpTop, f: Findings): void {
  const spec = isMap(src.raw.spec) ? src.raw.spec : {};
  for (const k of Object.keys(spec))
    if (k !== "communities") f.warn(src.ref, `spec.${k}`, "unknown field; not imported");
  const list = Array.isArray(spec.communities) ? (spec.communities as unknown[]) : [];
  list.forEach((c, i) => {
    if (!isMap(c) || typeof c.name !== "string") {
      f.warn(src.ref, `spec.communities[${i}]`, "needs a name and a value; not imported");
      return;
    }
    addCommunity(top, c.name, c.value, src.ref, f);
  });
}

function addCommunity(top: BgpTop, name: string, value: unknown, from: string, f: Findings) {
  const have = top.communities.get(name);
  if (have === undefined) {
    top.communities.set(name, { value, from });
  } else if (have.value !== value) {
    f.warn(
      from,
      `communities ${name}`,
      `${JSON.stringify(value)} differs from ${JSON.stringify(have.value)} in ${have.from}; ` +
        "the first is imported",
    );
  }
}

/** Whether an advertisement covers a pool (by name, by label, or all when it names none). */
function covers(
  ad: { pools: readonly string[]; poolSelectors: readonly LabelSelector[] },
  pool: Draft,
) {
  if (ad.pools.length === 0 && ad.poolSelectors.length === 0) return true;
  return ad.pools.includes(pool.name) || matchesAny(ad.poolSelectors, pool.labels);
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** Sets a CRD pool's node-selectors and interfaces from the advertisements covering it. */
function announce(
  pool: Draft,
  l2: readonly L2Ad[],
  bgp: readonly BgpAd[],
  top: BgpTop,
  f: Findings,
) {
  const here: Place[] = [{ pool: pool.name }];
  const ads = l2.filter((ad) => covers(ad, pool));
  const usable = ads.filter((ad) => ad.nodeSelectors !== undefined);
  for (const ad of ads) {
    if (ad.nodeSelectors === undefined) {
      f.warn(
        ad.src.ref,
        "spec.nodeSelectors",
        "cannot be expressed; this advertisement is left out",
        here,
      );
    }
  }
  if (ads.length > 0)
    f.note({ pool: pool.name }, `announced per ${ads.map((a) => a.src.ref).join(", ")}`);
  const viaBgp = bgp.filter((ad) => covers(ad, pool));
  if (usable.length === 0 && viaBgp.length > 0) {
    advertise(pool, viaBgp, top, f);
    return;
  }
  if (usable.length === 0) {
    f.warn(
      pool.from,
      undefined,
      "no L2Advertisement or BGPAdvertisement covers it, so MetalLB assigns its addresses but " +
        "does not announce them; barelb announces every pool (remove the pool, or limit it " +
        "with node-selectors, if these addresses must not be announced)",
      here,
    );
    return;
  }
  if (viaBgp.length > 0) {
    f.warn(
      pool.from,
      undefined,
      `MetalLB announces it with layer2 and with BGP (${viaBgp.map((a) => a.src.ref).join(", ")}); ` +
        "a barelb pool has one protocol: imported as layer2, which keeps its addresses reachable " +
        "from the nodes' LAN (for BGP instead, set protocol: bgp and bgp-advertisements, and " +
        "drop interfaces)",
      here,
    );
  }
  setNodeSelectors(pool, usable);
  // interfaces: exact when they agree, or when one advertisement covers every node on every
  // interface (it is a superset of the others); else their union, with a warning.
  const sets = usable.map((ad) => ad.interfaces);
  const first = sets[0] ?? [];
  const agree = sets.every((s) => sameSet(s, first));
  const everything = usable.some(
    (ad) => (ad.nodeSelectors ?? []).length === 0 && ad.interfaces.length === 0,
  );
  if (agree) {
    if (first.length > 0) pool.keys.interfaces = [...first];
  } else if (!everything) {
    const anyInterface = sets.some((s) => s.length === 0);
    const union = [...new Set(sets.flat())];
    if (!anyInterface) pool.keys.interfaces = union;
    const each = usable
      .map(
        (ad) =>
          `${ad.src.ref}: ${ad.interfaces.length === 0 ? "every interface" : ad.interfaces.join(", ")}`,
      )
      .join("; ");
    f.warn(
      pool.from,
      undefined,
      `its L2Advertisements list different interfaces (${each}); barelb's interfaces belong to ` +
        "the pool: imported as " +
        (anyInterface ? "every interface" : `their union (${union.join(", ")})`) +
        " on every node that may announce it",
      here,
    );
  }
}

/**
 * node-selectors: the union of the advertisements'; an advertisement without selectors selects
 * every node, and then the pool has none.
 */
function setNodeSelectors(
  pool: Draft,
  ads: readonly { nodeSelectors: readonly LabelSelector[] | undefined }[],
) {
  const everyNode = ads.some((ad) => (ad.nodeSelectors ?? []).length === 0);
  if (everyNode) return;
  const union: LabelSelector[] = [];
  for (const ad of ads) {
    for (const s of ad.nodeSelectors ?? []) {
      if (!union.some((u) => selectorKey(u) === selectorKey(s))) union.push(s);
    }
  }
  pool.keys["node-selectors"] = union.map(selectorYaml);
}

/** A pool MetalLB announces with BGP only: `protocol: bgp`, one entry per advertisement. */
function advertise(pool: Draft, ads: readonly BgpAd[], top: BgpTop, f: Findings) {
  const here: Place[] = [{ pool: pool.name }];
  const usable = ads.filter((ad) => ad.nodeSelectors !== undefined);
  for (const ad of ads) {
    if (ad.nodeSelectors === undefined) {
      f.warn(
        ad.src.ref,
        "spec.nodeSelectors",
        "cannot be expressed; this advertisement is left out",
        here,
      );
    }
  }
  pool.keys.protocol = "bgp";
  f.note({ pool: pool.name }, `advertised per ${ads.map((a) => a.src.ref).join(", ")}`);
  if (usable.length === 0) return;
  pool.keys["bgp-advertisements"] = usable.map((ad) => ({ ...ad.advertisement }));
  setNodeSelectors(pool, usable);
  const keys = usable.map((ad) => JSON.stringify(ad.nodeSelectors?.map(selectorKey) ?? []));
  if (new Set(keys).size > 1) {
    f.warn(
      pool.from,
      undefined,
      "its BGPAdvertisements select different nodes; barelb's node-selectors belong to the pool: " +
        "every node any of them selects sends every advertisement",
      here,
    );
  }
  for (const ad of usable) {
    const limited = ad.peers.filter((p) => top.peerNames.includes(p));
    if (ad.peers.length > 0 && !top.peerNames.every((p) => limited.includes(p))) {
      f.warn(
        ad.src.ref,
        "spec.peers",
        "not supported: barelb sends a BGP pool's routes to every peer of the node; imported as if absent",
        here,
      );
    }
  }
}

/** The config text: pools in input order, comments at their places. */
function render(drafts: readonly Draft[], top: BgpTop, f: Findings): string {
  const root: Obj = {};
  if (top.peers.length > 0) root.peers = top.peers.map((p) => orderPeerKeys(p.keys));
  if (top.communities.size > 0)
    root["bgp-communities"] = Object.fromEntries(
      [...top.communities].map(([name, c]) => [name, c.value]),
    );
  if (top.bfdProfiles.length > 0) root["bfd-profiles"] = top.bfdProfiles.map((p) => p.keys);
  root["address-pools"] = drafts.map((d) => orderKeys(d.keys));
  const doc = new Document(root);
  const wrap = (lines: readonly string[]) => lines.map((l) => ` ${l}`).join("\n");
  const heading = f.comments.get("");
  if (heading !== undefined) doc.commentBefore = wrap(heading);
  const seq = doc.get("address-pools", true) as YAMLSeq<YAMLMap>;
  drafts.forEach((d, i) => {
    const item = seq.items[i];
    if (item === undefined) return;
    const lines = [`from ${d.from}`, ...(f.comments.get(d.name) ?? [])];
    item.commentBefore = wrap(lines);
    for (const pair of item.items) {
      const key = pair.key as YamlNode & { value?: unknown };
      const notes = f.comments.get(`${d.name}\0${String(key.value)}`);
      if (notes !== undefined) key.commentBefore = wrap(notes);
    }
  });
  const peers = top.peers.length > 0 ? (doc.get("peers", true) as YAMLSeq<YAMLMap>) : undefined;
  top.peers.forEach((p, i) => {
    const item = peers?.items[i];
    if (item === undefined) return;
    item.commentBefore = wrap([`from ${p.from}`, ...(f.comments.get(`\0peer${i}`) ?? [])]);
  });
  return doc.toString({ lineWidth: 0 });
}

/** A pool's keys in the order barelb's docs write them. */
const KEY_ORDER: readonly string[] = POOL_KEYS;

/** A peer's keys in the order of v0.12's documentation. */
function orderPeerKeys(keys: Obj): Obj {
  const order = ["peer-address", "peer-asn", "my-asn", ...Object.values(PEER_FIELDS)];
  const out: Obj = {};
  for (const k of order) if (k in keys) out[k] = keys[k];
  for (const [k, v] of Object.entries(keys)) if (!(k in out)) out[k] = v;
  return out;
}

function orderKeys(keys: Obj): Obj {
  const out: Obj = {};
  for (const k of KEY_ORDER) if (k in keys) out[k] = keys[k];
  for (const [k, v] of Object.entries(keys)) if (!(k in out)) out[k] = v;
  return out;
}

/** The barelb-config ConfigMap holding `config`. */
function manifest(config: string, header: readonly string[]): string {
  const doc = new Document({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: DEFAULT_CONFIGMAP_NAME, namespace: IMPORT_NAMESPACE },
    data: { [CONFIG_DATA_KEY]: config },
  });
  doc.commentBefore = header.map((l) => ` ${l}`).join("\n");
  return doc.toString({ lineWidth: 0 });
}

/** Converts MetalLB's configuration to barelb's ConfigMap. Never throws on bad input. */
export function importMetallb(inputs: readonly ImportInput[]): ImportResult {
  const f = new Findings();
  const objects = readObjects(inputs, f);
  if (f.errors.length > 0) return { ok: false, errors: f.errors, warnings: f.warnings };

  // A legacy config barelb accepts as it is: copied unchanged, comments and all.
  if (objects.length === 1) {
    const only = objects[0];
    const text = only === undefined ? undefined : legacyText(only);
    if (only !== undefined && text !== undefined) {
      const parsed = parseConfig(text);
      if (parsed.ok) {
        return {
          ok: true,
          manifest: manifest(text, [
            `barelb's pool config, imported from MetalLB's ${only.ref} (config key) unchanged:`,
            "barelb reads MetalLB v0.12's format as it is.",
          ]),
          config: parsed.config,
          verbatim: true,
          warnings: [],
        };
      }
    }
  }

  const drafts: Draft[] = [];
  const l2: L2Ad[] = [];
  const bgp: BgpAd[] = [];
  const top: BgpTop = { peers: [], communities: new Map(), bfdProfiles: [], peerNames: [] };
  const namespaces = new Set<string>();
  for (const src of objects) {
    if (src.namespace !== undefined && src.kind !== "") namespaces.add(src.namespace);
    switch (src.kind) {
      case "":
        drafts.push(...poolsFromLegacy(src, src.raw, top, f));
        break;
      case "IPAddressPool":
        drafts.push(poolFromIPAddressPool(src, f));
        break;
      case "AddressPool":
        drafts.push(poolFromAddressPool(src, f));
        break;
      case "L2Advertisement":
        l2.push(readL2Ad(src, f));
        break;
      case "BGPAdvertisement":
        bgp.push(readBgpAd(src, f));
        break;
      case "BGPPeer":
        peerFromBGPPeer(src, top, f);
        break;
      case "BFDProfile":
        bfdFromBFDProfile(src, top, f);
        break;
      case "Community":
        communitiesFromCommunity(src, top, f);
        break;
      case "ConfigMap": {
        const text = legacyText(src);
        if (text === undefined) {
          f.warn(
            src.ref,
            undefined,
            `no data.${CONFIG_DATA_KEY}: not a MetalLB v0.12 config; not imported`,
          );
          break;
        }
        const root = parseLegacy(text, src, f);
        if (root !== undefined) drafts.push(...poolsFromLegacy(src, root, top, f));
        break;
      }
      default:
        f.warn(src.ref, undefined, "not a MetalLB configuration kind; not imported");
    }
  }
  if (namespaces.size > 1) {
    f.warn(
      "input",
      undefined,
      `objects from several namespaces (${[...namespaces].join(", ")}): MetalLB reads only those ` +
        "of its own namespace; all are imported",
    );
  }
  for (const ad of [...l2, ...bgp]) {
    for (const name of ad.pools) {
      if (!drafts.some((d) => d.name === name)) {
        f.warn(
          ad.src.ref,
          "spec.ipAddressPools",
          `names ${JSON.stringify(name)}, which is not in the input`,
        );
      }
    }
  }
  for (const ad of bgp) {
    for (const name of ad.peers) {
      if (!top.peerNames.includes(name)) {
        f.warn(
          ad.src.ref,
          "spec.peers",
          `names ${JSON.stringify(name)}, which is not in the input`,
        );
      }
    }
  }
  for (const d of drafts) if (d.fixedProtocol === undefined) announce(d, l2, bgp, top, f);
  if (l2.length > 0 && drafts.every((d) => d.fixedProtocol !== undefined)) {
    for (const ad of l2)
      f.warn(ad.src.ref, undefined, "applies to IPAddressPools only; none in the input");
  }
  if (f.errors.length > 0) return { ok: false, errors: f.errors, warnings: f.warnings };

  const config = render(drafts, top, f);
  const parsed = parseConfig(config);
  if (!parsed.ok) {
    return {
      ok: false,
      errors: parsed.errors.map((e) => `the imported config is not valid: ${e.message}`),
      warnings: f.warnings,
    };
  }
  const sources = [...new Set(objects.map((o) => o.ref))];
  const header = [
    `barelb's pool config, imported from MetalLB by \`barelb config import metallb\` (${sources.length} object${sources.length === 1 ? "" : "s"}).`,
    f.warnings.length === 0
      ? "Everything had a barelb equivalent."
      : `${f.warnings.length} part${f.warnings.length === 1 ? "" : "s"} had none: see the comments in config.`,
  ];
  return {
    ok: true,
    manifest: manifest(config, header),
    config: parsed.config,
    verbatim: false,
    warnings: f.warnings,
  };
}

/** A legacy ConfigMap's `config` text as a map (empty: no pools); undefined after an error. */
function parseLegacy(text: string, src: Source, f: Findings): Obj | undefined {
  const where = `${src.ref}: data.${CONFIG_DATA_KEY}`;
  const docs = parseAllDocuments(text, { merge: true });
  if (!Array.isArray(docs) || docs.length === 0) return {};
  const [doc] = docs;
  if (docs.length > 1 || doc === undefined) {
    f.errors.push(`${where}: expected one YAML document, found several (---)`);
    return undefined;
  }
  const problem = doc.errors[0];
  if (problem !== undefined) {
    f.errors.push(`${where}: YAML: ${firstLine(problem.message)}`);
    return undefined;
  }
  const root: unknown = doc.toJS({ maxAliasCount: 100 });
  if (root === null || root === undefined) return {};
  if (!isMap(root)) {
    f.errors.push(`${where}: expected a map with address-pools`);
    return undefined;
  }
  return root;
}
