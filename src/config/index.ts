export type { ConfigError } from "./errors.js";
export { extractConfigText, CONFIG_DATA_KEY, DEFAULT_CONFIGMAP_NAME } from "./extract.js";
export type { ExtractResult } from "./extract.js";
export { findPool, findPoolForIP, parseConfig } from "./parse.js";
export type { ConfigResult } from "./parse.js";
export {
  labelKeyError,
  labelValueError,
  matchesAny,
  matchesSelector,
  namespaceNameError,
} from "./selector.js";
export type {
  AddressBlock,
  Config,
  LabelSelector,
  LabelSelectorRequirement,
  Pool,
  SelectorOperator,
} from "./types.js";
