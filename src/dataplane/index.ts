/** The speaker's data plane: what other parts of barelb import. */
export {
  DataPlane,
  type DataPlaneOptions,
  type InterfaceStatus,
  type ProbeResult,
} from "./dataplane.js";
export type { AddressClaim, ClaimKind } from "./conflicts.js";
export { type Ownership } from "./owned.js";
export {
  DEFAULT_EXCLUDED_INTERFACES,
  interfacePolicy,
  staticInterfaces,
  type InterfacePolicy,
  type InterfaceSource,
  type NetInterface,
} from "./interfaces.js";
export { NetlinkInterfaces, readIPv4Addresses, type NetlinkInterfacesOptions } from "./netlink.js";
export {
  CounterMetrics,
  type DataPlaneMetrics,
  type MetricsSnapshot,
  type Protocol,
} from "./metrics.js";
export { DEFAULT_ANNOUNCE_SCHEDULE, type AnnounceSchedule } from "./announcer.js";
export type { DataPlaneLogger } from "./log.js";
export { trimMemory } from "./native.js";
