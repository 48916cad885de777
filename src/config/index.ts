export type { ConfigError } from "./errors.js";
export { extractConfigText, CONFIG_DATA_KEY, DEFAULT_CONFIGMAP_NAME } from "./extract.js";
export type { ExtractResult } from "./extract.js";
export { findPool, findPoolForIP, parseConfig } from "./parse.js";
export type { ConfigResult, ParseOptions } from "./parse.js";
export { BGP_MODE_AVAILABLE, BGP_NOT_IMPLEMENTED, usesBgp } from "./bgp.js";
export {
  labelKeyError,
  labelValueError,
  matchesAny,
  matchesSelector,
  namespaceNameError,
} from "./selector.js";
export type {
  AddressBlock,
  BfdProfile,
  BgpAdvertisement,
  BgpCommunity,
  BgpPeer,
  Config,
  LabelSelector,
  LabelSelectorRequirement,
  Pool,
  SelectorOperator,
} from "./types.js";
